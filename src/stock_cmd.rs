//! `bourse serve stock`: instruments, the calendar and market data, on its own. Trades,
//! bars and listings come from RabbitMQ (the market queue the bridge declares) into
//! PostgreSQL; quotes and books from the gateway's market data feed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use bourse_bus::rabbit::QueueSpec;
use bourse_shell::config::ShellArgs;
use bourse_stock::{LiveBook, StockState, app, ingest, prepare};
use bourse_user::keys::Keys;

/// Arguments of `bourse serve stock`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(long, env = "BOURSE_STOCK_LISTEN", default_value = "127.0.0.1:8083")]
    listen: SocketAddr,
    /// The gateway's market data feed (ZeroMQ PUB; `off`: no quotes or books).
    #[arg(long, env = "BOURSE_FEED", default_value = "tcp://127.0.0.1:5556")]
    feed: String,
    #[command(flatten)]
    shell: ShellArgs,
    #[command(flatten)]
    gateway: bourse_gateway_client::GatewayArgs,
    #[command(flatten)]
    bus: crate::bridge_cmd::BusArgs,
}

/// Runs the stock service until SIGINT or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    crate::http_role::serve("stock", args.listen, args.shell.log_json, || async move {
        let pool = args.shell.pool().await?;
        // Keys live in the user service's tables: theirs first.
        bourse_user::prepare(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("migrating the user schema: {}", e.message))?;
        prepare(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("migrating the stock schema: {}", e.message))?;
        let auth = args.shell.auth(Arc::new(Keys::pg(pool.clone())))?;
        let engine = args
            .gateway
            .connect()
            .context("logging in on the gateway with the service key")?;
        let book = LiveBook::new();
        let stop = Arc::new(AtomicBool::new(false));
        if args.feed != "off" {
            let ctx = zmq::Context::new();
            bourse_stock::book::follow(&ctx, &args.feed, book.clone(), stop.clone())
                .with_context(|| format!("subscribing to the market data feed {}", args.feed))?;
        }
        let rabbit = args.bus.rabbit();
        let queue = QueueSpec::market(&args.bus.market_queue);
        let consuming = Arc::new(AtomicBool::new(false));
        let store: Arc<dyn bourse_stock::store::MarketStore> =
            Arc::new(bourse_stock::store::pg::PgMarket::new(pool.clone()));
        let ingest_store = store.clone();
        let up = consuming.clone();
        tokio::spawn(async move {
            let consumer = rabbit.consumers(&queue, ingest::PREFETCH);
            ingest::run(ingest_store, consumer, up, stop, |_| {}).await;
        });
        Ok(app(
            StockState {
                store,
                auth,
                engine,
                book,
                bar_interval: bourse_stock::stream::BAR_INTERVAL,
            },
            Some(consuming),
        ))
    })
}
