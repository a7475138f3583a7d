//! What every HTTP role of `bourse serve` does around its service: logging, a runtime,
//! the listener (the chosen address printed, for port 0), and serving until SIGINT or
//! SIGTERM with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;

/// Builds the service's app with `build` inside a runtime, then serves it on `listen`.
pub(crate) fn serve<F, Fut>(
    name: &str,
    listen: SocketAddr,
    log_json: bool,
    build: F,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<axum::Router>>,
{
    bourse_shell::telemetry::init_logging(log_json);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let app = build().await?;
        let (listener, addr) = bourse_shell::server::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        tracing::info!(%addr, "{name} service listening");
        println!("bourse {name} service on http://{addr}");
        bourse_shell::server::serve(listener, app, bourse_shell::server::signal()).await?;
        Ok(())
    })
}

/// Migrates the trader service's schema and those its tables stand on, in order:
/// settlement's, the stock service's, the user service's, then the trader's (the roles
/// that read the trader's tables start with this).
pub(crate) async fn prepare_trader(pool: &deadpool_postgres::Pool) -> anyhow::Result<()> {
    bourse_order::service::prepare(pool)
        .await
        .context("migrating the settlement schema (is PostgreSQL up?)")?;
    bourse_stock::prepare(pool)
        .await
        .map_err(|e| anyhow::anyhow!("migrating the stock schema: {}", e.message))?;
    bourse_user::prepare(pool)
        .await
        .map_err(|e| anyhow::anyhow!("migrating the user schema: {}", e.message))?;
    bourse_trader::prepare(pool)
        .await
        .map_err(|e| anyhow::anyhow!("migrating the trader schema: {}", e.message))
}
