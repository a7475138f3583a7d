//! Logs and metrics: structured tracing (one span per request, carrying its
//! `x-request-id`), and Prometheus metrics served at `/metrics`:
//!
//! - `http_requests_total{service, method, route, status}`
//! - `http_request_duration_seconds{service, method, route}` (histogram)
//! - `websocket_connections{service}` (gauge: sockets open now)
//!
//! `route` is the matched route template (`/v2/orders/{id}`), never the raw path, so
//! the number of series stays bounded.
//!
//! Parts of a process that keep their own figures (the gateway's lock-free counters)
//! add them to the same page with [`set_source`].

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Sets up logging once per process: `RUST_LOG` filters (default `info`); `json`
/// writes one JSON object a line, for log collectors.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second call (tests, the all-in-one process) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The process's Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            )
            .expect("valid buckets")
            .install_recorder()
            .expect("one recorder per process")
    })
}

/// Something that writes metrics of its own in Prometheus' text format.
type Source = Box<dyn Fn(&mut String) + Send + Sync>;

fn sources() -> &'static Mutex<Vec<(&'static str, Source)>> {
    static SOURCES: OnceLock<Mutex<Vec<(&'static str, Source)>>> = OnceLock::new();
    SOURCES.get_or_init(Mutex::default)
}

/// Adds `render` to what `/metrics` serves, under `name`: it appends complete metric
/// families (HELP, TYPE and samples) to the page. A second source of the same name
/// replaces the first (a family may appear once on a page).
pub fn set_source(name: &'static str, render: impl Fn(&mut String) + Send + Sync + 'static) {
    let mut sources = sources()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    sources.retain(|(n, _)| *n != name);
    sources.push((name, Box::new(render)));
}

/// The whole metrics page: the recorder's metrics, then every added source's.
pub fn render() -> String {
    let mut page = prometheus().render();
    for (_, source) in sources()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        source(&mut page);
    }
    page
}

/// One open WebSocket, counted in `websocket_connections{service}` for as long as
/// it lives.
#[derive(Debug)]
pub struct OpenSocket(&'static str);

impl OpenSocket {
    /// Counts a socket of `service` as open until the value is dropped.
    pub fn new(service: &'static str) -> Self {
        metrics::gauge!("websocket_connections", "service" => service).increment(1.0);
        OpenSocket(service)
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        metrics::gauge!("websocket_connections", "service" => self.0).decrement(1.0);
    }
}

/// `GET /metrics` in Prometheus' text format.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/metrics", get(|| async { render() }))
}

/// Serves `/metrics` alone on `addr` (for the roles without an HTTP API: the engine,
/// the bridge, settlement), on a thread of its own, for as long as the process runs.
/// Returns the address bound.
pub fn serve_alone(addr: std::net::SocketAddr) -> std::io::Result<std::net::SocketAddr> {
    prometheus();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (listener, bound) = rt.block_on(crate::server::bind(addr))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            rt.block_on(async move {
                let app = routes::<()>().fallback(crate::error::not_found);
                let _ = axum::serve(listener, app).await;
            });
        })?;
    Ok(bound)
}

/// Middleware counting and timing each request by route.
pub async fn track(service: &'static str, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "service" => service, "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("http_request_duration_seconds", "service" => service, "method" => method, "route" => route).record(start.elapsed().as_secs_f64());
    response
}
