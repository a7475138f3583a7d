//! `bourse serve auto`: conditional orders (stop, stop-limit, trailing stop) held by
//! the trader service, fired into the engine when a trade from RabbitMQ triggers them.
//! One instance holds the trade queue at a time (single active consumer); another
//! started beside it stands by.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use bourse_auto::service::{PREFETCH, Status, Stores};
use bourse_auto::store::AutoStore;
use bourse_bus::rabbit::QueueSpec;
use bourse_shell::config::ShellArgs;

/// Arguments of `bourse serve auto`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Address to listen on: price alerts, health, readiness and metrics (port 0: any
    /// free port).
    #[arg(long, env = "BOURSE_AUTO_LISTEN", default_value = "127.0.0.1:8085")]
    listen: SocketAddr,
    /// The auto service's trade queue (declared here, bound to `trade.*`).
    #[arg(long, env = "BOURSE_AUTO_QUEUE", default_value = "bourse.auto")]
    auto_queue: String,
    #[command(flatten)]
    shell: ShellArgs,
    #[command(flatten)]
    gateway: bourse_gateway_client::GatewayArgs,
    #[command(flatten)]
    bus: crate::bridge_cmd::BusArgs,
}

/// Runs the auto service until SIGINT or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    crate::http_role::serve("auto", args.listen, args.shell.log_json, || async move {
        let pool = args.shell.pool().await?;
        // It reads the trader's held orders and the stock service's last trades:
        // their schemas (and what they stand on) first.
        crate::http_role::prepare_trader(&pool).await?;
        let store = bourse_auto::store::pg::PgAuto::new(pool.clone());
        store
            .prepare()
            .await
            .map_err(|e| anyhow::anyhow!("migrating the auto schema: {}", e.message))?;
        let engine = args
            .gateway
            .connect()
            .context("logging in on the gateway with the service key")?
            .context("--gateway is required: fired orders go to the engine")?;
        let status = Arc::new(Status::default());
        let auth = args
            .shell
            .auth(Arc::new(bourse_user::keys::Keys::pg(pool.clone())))?;
        let stores = Stores {
            auto: Arc::new(store),
            trader: Arc::new(bourse_trader::store::pg::PgTrader::new(pool.clone())),
            market: Arc::new(bourse_stock::store::pg::PgMarket::new(pool)),
        };
        let app = bourse_auto::app(
            bourse_auto::alerts::AutoState {
                store: stores.auto.clone(),
                market: stores.market.clone(),
                auth,
                clock: Arc::new(bourse_auto::recurring::SystemClock),
            },
            &status,
        );
        let (rabbit, queue) = (args.bus.rabbit(), QueueSpec::auto(&args.auto_queue));
        let consumer = rabbit.consumers(&queue, PREFETCH);
        let stop = Arc::new(AtomicBool::new(false));
        // Held day orders expire at the close (a compare-and-set: any instance may),
        // and the engine's day ends (the instance that claims the close sends it).
        let mut close = bourse_auto::session::Close::new(
            stores.auto.clone(),
            Some(engine.clone()),
            Arc::new(bourse_auto::recurring::SystemClock),
            Arc::new(std::sync::atomic::AtomicU64::new(0)),
        );
        close.round().await;
        tokio::spawn(close.run(bourse_auto::recurring::TICK, stop.clone()));
        // Recurring orders: every instance looks; a run is claimed by one.
        tokio::spawn(bourse_auto::recurring::run(
            stores.clone(),
            engine.clone(),
            Arc::new(bourse_auto::recurring::SystemClock),
            bourse_auto::recurring::TICK,
            Arc::new(bourse_auto::recurring::Counters::default()),
            stop.clone(),
        ));
        tokio::spawn(bourse_auto::service::run(
            stores, engine, consumer, status, stop,
        ));
        Ok(app)
    })
}
