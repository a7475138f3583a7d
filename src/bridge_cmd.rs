//! `bourse bridge`: the engine's events from the journal into RabbitMQ.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bourse_bridge::{BridgeConfig, run};
use bourse_bus::rabbit::{QueueSpec, RabbitConfig};

/// Arguments of `bourse bridge`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// The gateway's data directory (its journal is read, never written).
    #[arg(long, env = "BOURSE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    #[command(flatten)]
    bus: BusArgs,
    #[command(flatten)]
    metrics: crate::metrics_args::MetricsArgs,
}

/// Where the events travel: shared by `bourse bridge` and `bourse order`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct BusArgs {
    /// RabbitMQ.
    #[arg(
        long,
        env = "BOURSE_AMQP",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub(crate) amqp: String,
    /// The durable topic exchange.
    #[arg(long, default_value = "bourse.events")]
    pub(crate) exchange: String,
    /// The settlement queue (the bridge declares it before publishing anything).
    #[arg(long, default_value = "bourse.settlement")]
    pub(crate) queue: String,
    /// The market data queue (trades and listings, for the stock service; also
    /// declared by the bridge before it publishes).
    #[arg(long, default_value = "bourse.market")]
    pub(crate) market_queue: String,
}

impl BusArgs {
    /// The broker configuration these arguments name.
    pub(crate) fn rabbit(&self) -> RabbitConfig {
        RabbitConfig {
            uri: self.amqp.clone(),
            exchange: self.exchange.clone(),
            queues: vec![
                QueueSpec::settlement(&self.queue),
                QueueSpec::market(&self.market_queue),
            ],
        }
    }
}

/// A stop flag that Ctrl-C (or SIGTERM) sets.
pub(crate) fn stop_on_signal(rt: &tokio::runtime::Runtime) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    rt.spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        flag.store(true, Ordering::Relaxed);
    });
    stop
}

/// Runs the bridge until interrupted.
pub(crate) fn run_bridge(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let stop = stop_on_signal(&rt);
    let config = BridgeConfig::new(&args.data_dir, crate::serve_cmd::engine_config());
    let rabbit = args.bus.rabbit();
    args.metrics.serve("bridge")?;
    eprintln!(
        "bourse bridge: {} → {} (exchange {}, settlement queue {})",
        args.data_dir.display(),
        args.bus.amqp,
        args.bus.exchange,
        args.bus.queue
    );
    rt.block_on(async move {
        let connect = rabbit.publishers();
        let mut last_report = std::time::Instant::now();
        let mut last_published = 0;
        run(config, connect, stop, |p| {
            p.export();
            let secs = last_report.elapsed().as_secs_f64();
            if secs < 5.0 {
                return;
            }
            last_report = std::time::Instant::now();
            let rate = (p.published - last_published) as f64 / secs;
            last_published = p.published;
            eprintln!(
                "bourse bridge: at command {} of {} (lag {} commands), event {}; {} messages confirmed ({rate:.0}/s)",
                p.checkpoint.cmd_seq,
                p.journal_head,
                p.lag(),
                p.checkpoint.event_seq,
                p.published
            );
            if let Some(d) = &p.waiting_at {
                eprintln!(
                    "bourse bridge: waiting at byte {} of {}: {} (a torn write the gateway's recovery cuts on its restart)",
                    d.offset,
                    d.path.display(),
                    d.reason
                );
            }
        })
        .await
    })?;
    Ok(())
}
