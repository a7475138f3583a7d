//! Serving a service: the shell's layers around its routes, a listener, and graceful
//! shutdown (in-flight requests finish; new connections are refused).
//!
//! Layers, outermost first: a request id (`x-request-id`, kept if the client or NGINX
//! sent one, else made) returned on the response; a tracing span per request; the
//! metrics middleware; a body size limit (413); JSON 404 for unknown routes.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::http::HeaderName;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::health::{self, Checks};

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Wraps a service's routes in the shell: health, readiness, metrics, request ids,
/// tracing, request metrics, the body limit and the JSON 404.
pub fn app(service: &'static str, routes: Router, checks: Checks) -> Router {
    // Installed before the first request, so that no request goes uncounted.
    crate::telemetry::prometheus();
    routes
        .merge(health::routes(checks))
        .merge(crate::telemetry::routes())
        .fallback(crate::error::not_found)
        .layer(axum::middleware::from_fn(move |req, next| {
            crate::telemetry::track(service, req, next)
        }))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Binds `addr` (port 0: any free port) and returns the listener and its address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Completes on SIGINT or SIGTERM.
pub async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
