//! `bourse serve portfolio`: the live portfolio over WebSocket, on its own. Holdings from
//! settlement's tables in PostgreSQL, prices from the gateway's market data feed,
//! reload hints (`portfolio.changed.*`) from RabbitMQ on a queue of this instance's own.
//! Stateless: run several side by side (each socket lives on one).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use bourse_bus::rabbit::QueueSpec;
use bourse_portfolio::{Hub, PortfolioState, StreamConfig, app, changes, prices};
use bourse_shell::config::ShellArgs;
use bourse_user::keys::Keys;

/// Arguments of `bourse serve portfolio`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(
        long,
        env = "BOURSE_PORTFOLIO_LISTEN",
        default_value = "127.0.0.1:8084"
    )]
    listen: SocketAddr,
    /// The gateway's market data feed (ZeroMQ PUB).
    #[arg(long, env = "BOURSE_FEED", default_value = "tcp://127.0.0.1:5556")]
    feed: String,
    /// At most one message per socket per this many milliseconds.
    #[arg(long, env = "BOURSE_PORTFOLIO_INTERVAL_MS", default_value_t = 100)]
    interval_ms: u64,
    /// A socket whose client has not taken a message within this many milliseconds is
    /// closed (code 1008).
    #[arg(
        long,
        env = "BOURSE_PORTFOLIO_SEND_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    send_timeout_ms: u64,
    #[command(flatten)]
    shell: ShellArgs,
    #[command(flatten)]
    bus: crate::bridge_cmd::BusArgs,
}

/// Runs the portfolio service until SIGINT or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    crate::http_role::serve(
        "portfolio",
        args.listen,
        args.shell.log_json,
        || async move {
            let pool = args.shell.pool().await?;
            // Keys live in the user service's tables, holdings in the order service's.
            bourse_user::prepare(&pool)
                .await
                .map_err(|e| anyhow::anyhow!("migrating the user schema: {}", e.message))?;
            bourse_order::service::prepare(&pool)
                .await
                .context("migrating the settlement schema")?;
            let auth = args.shell.auth(Arc::new(Keys::pg(pool.clone())))?;
            let (interest, subscriptions, catch_ups) = prices::interest();
            let hub = Hub::new(interest);
            let stop = Arc::new(AtomicBool::new(false));
            prices::follow(
                &zmq::Context::new(),
                &args.feed,
                Arc::downgrade(&hub),
                subscriptions,
                stop.clone(),
            )
            .with_context(|| format!("subscribing to the market data feed {}", args.feed))?;
            let holdings: Arc<dyn bourse_order::holdings::HoldingsReader> =
                Arc::new(bourse_order::store::pg::PgSettlement::new(pool.clone()));
            tokio::spawn(prices::catch_up(
                holdings.clone(),
                Arc::downgrade(&hub),
                catch_ups,
                Duration::from_millis(500),
            ));
            let rabbit = args.bus.rabbit();
            // One queue per instance: every instance needs every hint for its own sockets.
            let queue = QueueSpec::transient("bourse.portfolio", &[changes::PATTERN]);
            let consuming = Arc::new(AtomicBool::new(false));
            let (hints_pool, hints_hub, up) = (holdings.clone(), hub.clone(), consuming.clone());
            tokio::spawn(async move {
                let consumer = rabbit.consumers(&queue, 100);
                changes::run(hints_pool, hints_hub, consumer, up, stop).await;
            });
            let stream = StreamConfig {
                interval: Duration::from_millis(args.interval_ms),
                send_timeout: Duration::from_millis(args.send_timeout_ms),
                ..StreamConfig::default()
            };
            Ok(app(
                PortfolioState {
                    holdings,
                    auth,
                    hub,
                    stream,
                },
                Some(consuming),
            ))
        },
    )
}
