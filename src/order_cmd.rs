//! `bourse order`: the order service's settlement, from RabbitMQ into PostgreSQL.

use bourse_order::service::{ServiceConfig, prepare, run};

use crate::bridge_cmd::{BusArgs, stop_on_signal};

/// Arguments of `bourse order`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// PostgreSQL (`postgres://user@host:port/db` or `host=... user=... dbname=...`).
    #[arg(
        long,
        alias = "database-url",
        env = "DATABASE_URL",
        default_value = "host=127.0.0.1 user=postgres dbname=postgres"
    )]
    pg: String,
    /// Work in this schema (created if missing).
    #[arg(long, env = "BOURSE_DB_SCHEMA")]
    schema: Option<String>,
    #[command(flatten)]
    bus: BusArgs,
    #[command(flatten)]
    metrics: crate::metrics_args::MetricsArgs,
}

/// Runs settlement until interrupted.
pub(crate) fn run_order(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let stop = stop_on_signal(&rt);
    let rabbit = args.bus.rabbit();
    let queue = rabbit.queues[0].clone();
    args.metrics.serve("order")?;
    rt.block_on(async move {
        let pool = bourse_order::db::pool(&args.pg, args.schema.as_deref(), 4).await?;
        prepare(&pool).await?;
        eprintln!(
            "bourse order: settling {} from {} into PostgreSQL",
            args.bus.queue, args.bus.amqp
        );
        let consumer = rabbit.consumers(&queue, bourse_order::service::PREFETCH);
        let publisher = rabbit.publishers();
        let mut last_report = std::time::Instant::now();
        run(
            std::sync::Arc::new(bourse_order::store::pg::PgSettlement::new(pool)),
            ServiceConfig::default(),
            consumer,
            publisher,
            stop,
            |p| {
                p.export();
                if last_report.elapsed().as_secs() >= 5 {
                    last_report = std::time::Instant::now();
                    eprintln!(
                        "bourse order: settled {} events ({} trades) in {} batches, up to event {}",
                        p.settled, p.trades, p.batches, p.last_seq
                    );
                }
            },
        )
        .await?;
        anyhow::Ok(())
    })
}
