//! `/healthz` (the process answers) and `/readyz` (every dependency answers: ready to
//! take traffic). A load balancer sends requests only to ready instances; an
//! orchestrator restarts an instance that stops being healthy.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::BoxFuture;

/// One dependency's readiness check.
pub trait Check: Send + Sync {
    /// The dependency's name (`database`, `broker`, ...).
    fn name(&self) -> &str;
    /// `Err(reason)` unless it answers now.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// A PostgreSQL pool is ready when a connection runs `SELECT 1`.
#[derive(Clone, Debug)]
pub struct Database(pub deadpool_postgres::Pool);

impl Check for Database {
    fn name(&self) -> &str {
        "database"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let client = self.0.get().await.map_err(|e| e.to_string())?;
            client
                .simple_query("SELECT 1")
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// A connection kept by a background task (a bus consumer, a feed subscriber): ready
/// while the task says it is up.
#[derive(Clone, Debug)]
pub struct Flag {
    /// The dependency's name.
    pub name: &'static str,
    /// Set by the task while its connection is up.
    pub up: Arc<std::sync::atomic::AtomicBool>,
}

impl Check for Flag {
    fn name(&self) -> &str {
        self.name
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        let up = self.up.load(std::sync::atomic::Ordering::Relaxed);
        Box::pin(async move {
            if up {
                Ok(())
            } else {
                Err("not connected".into())
            }
        })
    }
}

/// The checks of one service.
pub type Checks = Arc<Vec<Box<dyn Check>>>;

/// The two routes, for a service's checks.
pub fn routes<S: Clone + Send + Sync + 'static>(checks: Checks) -> Router<S> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/readyz", get(ready))
        .with_state(checks)
}

async fn ready(State(checks): State<Checks>) -> (StatusCode, axum::Json<Value>) {
    let mut failed = serde_json::Map::new();
    for c in checks.iter() {
        if let Err(e) = c.check().await {
            failed.insert(c.name().to_string(), e.into());
        }
    }
    if failed.is_empty() {
        (StatusCode::OK, axum::Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "not ready", "failing": failed})),
        )
    }
}
