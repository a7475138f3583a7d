//! The service loop: take a batch from the settlement queue, settle it in one
//! transaction, acknowledge it only after the commit, then tell the portfolio service
//! which users changed. Every failure — broker, database, this process — ends in the
//! batch being delivered again and settled once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bourse_bus::{BusError, Consumer, Message, Publisher};
use deadpool_postgres::Pool;

use crate::event::EngineEvent;
use crate::settle::Settler;
use crate::{OrderError, migrate};

/// How the service batches.
#[derive(Clone, Copy, Debug)]
pub struct ServiceConfig {
    /// Most deliveries per transaction.
    pub batch: usize,
    /// How long to wait for more deliveries before settling a partial batch.
    pub linger: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            batch: 2_000,
            linger: Duration::from_millis(2),
        }
    }
}

/// What the service reports after each committed batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// The highest event sequence number settled so far.
    pub last_seq: u64,
    /// Events settled (duplicates not counted).
    pub settled: u64,
    /// Trades recorded.
    pub trades: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Deliveries seen again (redelivered or duplicate) and dropped.
    pub duplicates: u64,
}

/// Applies the migrations with a connection from `pool` (retrying until the database
/// answers).
pub async fn prepare(pool: &Pool) -> Result<(), OrderError> {
    let mut client = pool.get().await?;
    migrate::migrate(&mut client).await?;
    Ok(())
}

async fn backoff(delay: &mut Duration) {
    tokio::time::sleep(*delay).await;
    *delay = (*delay * 2).min(Duration::from_secs(2));
}

/// Runs until `shutdown` is set. `consumer` and `publisher` connect to the bus (again
/// after any failure).
pub async fn run<C, P, CF, PF, CFut, PFut>(
    pool: Pool,
    config: ServiceConfig,
    mut consumer: CF,
    mut publisher: PF,
    shutdown: Arc<AtomicBool>,
    mut on_progress: impl FnMut(Progress),
) -> Result<(), OrderError>
where
    C: Consumer,
    P: Publisher,
    CF: FnMut() -> CFut,
    PF: FnMut() -> PFut,
    CFut: Future<Output = Result<C, BusError>>,
    PFut: Future<Output = Result<P, BusError>>,
{
    let mut progress = Progress::default();
    let mut delay = Duration::from_millis(50);
    let mut source: Option<C> = None;
    let mut sink: Option<P> = None;
    let mut events = Vec::new();
    let mut tags = Vec::new();
    // Loaded from the database on start and after any failure (a commit whose
    // outcome is unknown must be read back, not assumed).
    let mut settler: Option<Settler> = None;
    while !shutdown.load(Ordering::Relaxed) {
        let c = match source.as_mut() {
            Some(c) => c,
            None => match consumer().await {
                Ok(c) => source.insert(c),
                Err(e) => {
                    eprintln!("bourse-order: cannot consume ({e}); retrying");
                    backoff(&mut delay).await;
                    continue;
                }
            },
        };
        // A batch: wait for the first delivery, then take what comes within `linger`.
        events.clear();
        tags.clear();
        let mut failed = false;
        let mut wait = Duration::from_millis(100);
        while events.len() < config.batch {
            match c.next_within(wait).await {
                Ok(Some(d)) => {
                    tags.push(d.tag);
                    match serde_json::from_slice::<EngineEvent>(&d.message.body) {
                        Ok(e) => events.push(e),
                        Err(err) => eprintln!(
                            "bourse-order: dropping unreadable message {} ({}): {err}",
                            d.message.seq, d.message.routing_key
                        ),
                    }
                    wait = config.linger;
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("bourse-order: consuming failed ({e}); reconnecting");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            // Unacknowledged deliveries come back on the next connection.
            source = None;
            backoff(&mut delay).await;
            continue;
        }
        let Some(&last_tag) = tags.last() else {
            continue;
        };
        // Settle, retrying until the database takes it (the deliveries stay ours).
        let outcome = loop {
            if shutdown.load(Ordering::Relaxed) {
                return Ok(());
            }
            let result = match pool.get().await {
                Ok(mut client) => {
                    let loaded = match settler.take() {
                        Some(s) => Ok(s),
                        None => Settler::load(&client).await,
                    };
                    match loaded {
                        Ok(mut s) => {
                            let r = s.settle(&mut client, &events).await;
                            if r.is_ok() {
                                settler = Some(s);
                            }
                            r
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(o) => break o,
                Err(e) => {
                    eprintln!("bourse-order: settling failed ({e}); retrying");
                    backoff(&mut delay).await;
                }
            }
        };
        if let Err(e) = c.ack_upto(last_tag).await {
            // Committed but not acknowledged: redelivered and then dropped by seq.
            eprintln!("bourse-order: acknowledging failed ({e}); reconnecting");
            source = None;
        }
        delay = Duration::from_millis(50);
        let last_seq = events.iter().map(EngineEvent::seq).max().unwrap_or(0);
        progress.last_seq = progress.last_seq.max(last_seq);
        progress.settled += outcome.applied as u64;
        progress.trades += outcome.trades as u64;
        progress.batches += 1;
        progress.duplicates += (tags.len() - outcome.applied) as u64;
        // The portfolio service's signal to reload: a hint, sent after the commit.
        if !outcome.touched.is_empty() {
            let msgs: Vec<Message> = outcome
                .touched
                .iter()
                .map(|u| Message {
                    routing_key: format!("portfolio.changed.{u}"),
                    seq: last_seq,
                    body: format!("{{\"user\":{u},\"seq\":{last_seq}}}").into_bytes(),
                })
                .collect();
            let sent = match sink.as_mut() {
                Some(p) => p.publish(&msgs).await,
                None => match publisher().await {
                    Ok(p) => sink.insert(p).publish(&msgs).await,
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = sent {
                eprintln!("bourse-order: portfolio.changed not sent ({e})");
                sink = None;
            }
        }
        on_progress(progress);
    }
    Ok(())
}
