//! `bourse serve trader`: order entry and reads in Alpaca's API v2 shapes, on its own.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bourse_bus::rabbit::QueueSpec;
use bourse_shell::config::ShellArgs;
use bourse_trader::{TraderState, app};
use bourse_user::keys::Keys;

/// Arguments of `bourse serve trader`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(long, env = "BOURSE_TRADER_LISTEN", default_value = "127.0.0.1:8082")]
    listen: SocketAddr,
    /// MiB of rendered `GET /v2/orders` pages this instance keeps, answered again while
    /// their user's orders have not changed (0: none).
    #[arg(long, env = "BOURSE_TRADER_PAGE_CACHE_MIB", default_value_t = bourse_trader::pages::DEFAULT_BYTES >> 20)]
    page_cache_mib: u64,
    #[command(flatten)]
    shell: ShellArgs,
    #[command(flatten)]
    gateway: bourse_gateway_client::GatewayArgs,
    #[command(flatten)]
    bus: crate::bridge_cmd::BusArgs,
}

/// Runs the trader service until SIGINT or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    crate::http_role::serve("trader", args.listen, args.shell.log_json, || async move {
        let pool = args.shell.pool().await?;
        // It reads the order service's and the user service's tables: theirs first.
        crate::http_role::prepare_trader(&pool).await?;
        let auth = args.shell.auth(Arc::new(Keys::pg(pool.clone())))?;
        let engine = args
            .gateway
            .connect()
            .context("logging in on the gateway with the service key")?;
        if engine.is_none() {
            tracing::warn!("no --gateway: order entry answers 503");
        }
        let state = TraderState::new(pool, auth, engine.clone()).with_pages(
            bourse_trader::pages::PageCache::new(args.page_cache_mib << 20),
        );
        if let Some(engine) = engine {
            // Orders whose verdict never came: rejected once it is certain the engine
            // never received them.
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            tokio::spawn(bourse_trader::reconcile::run(
                state.store.clone(),
                engine,
                bourse_trader::reconcile::GRACE,
                stop,
            ));
        }
        // trade_updates: the engine's exec.* events on a queue of this instance's own.
        let rabbit = args.bus.rabbit();
        let queue = QueueSpec::transient("bourse.trade-updates", &[bourse_trader::stream::PATTERN]);
        let (stores, listeners) = (state.stream_stores(), state.listeners.clone());
        tokio::spawn(async move {
            let consumer = rabbit.consumers(&queue, 500);
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            bourse_trader::stream::run(stores, listeners, consumer, stop).await;
        });
        Ok(app(state))
    })
}
