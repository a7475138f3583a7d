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

use crate::OrderError;
use crate::event::EngineEvent;
use crate::settle::{Incoming, Settler};
use crate::store::SettlementStore;

/// Deliveries a settlement consumer should let the broker have in flight: room for a
/// full batch and a full [`ServiceConfig::hold_limit`] of held deliveries.
pub const PREFETCH: u16 = 16_000;

/// How the service batches.
#[derive(Clone, Copy, Debug)]
pub struct ServiceConfig {
    /// Most deliveries per transaction.
    pub batch: usize,
    /// How long to wait for more deliveries before settling a partial batch.
    pub linger: Duration,
    /// Most deliveries held back, unacknowledged, because they came before their
    /// predecessor (keep it below the consumer's prefetch, or the broker stops
    /// delivering the predecessor). Past it the service reconnects, and the broker
    /// delivers everything unacknowledged again.
    pub hold_limit: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            // A transaction's fixed costs (round trips, the commit's fsync) spread over
            // more rows: 10,000 settled 1.6–1.9× faster than 2,000 (PERF.md).
            batch: 10_000,
            linger: Duration::from_millis(2),
            hold_limit: 6_000,
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
    /// Deliveries that came before their predecessor on the account stream and were
    /// held for a later batch (counted each time they are held).
    pub early: u64,
}

impl Progress {
    /// Sets the process's `bourse_settlement_*` metrics to where settlement stands.
    /// Settlement lag is the engine's `bourse_engine_event_seq` minus
    /// `bourse_settlement_event_seq` (a recording rule in `docker/prometheus`).
    pub fn export(&self) {
        metrics::gauge!("bourse_settlement_event_seq").set(self.last_seq as f64);
        metrics::counter!("bourse_settlement_events_total").absolute(self.settled);
        metrics::counter!("bourse_settlement_trades_total").absolute(self.trades);
        metrics::counter!("bourse_settlement_batches_total").absolute(self.batches);
        metrics::counter!("bourse_settlement_duplicates_total").absolute(self.duplicates);
    }
}

/// Applies the migrations with a connection from `pool` (retrying until the database
/// answers).
pub async fn prepare(pool: &Pool) -> Result<(), OrderError> {
    crate::store::pg::PgSettlement::new(pool.clone())
        .prepare()
        .await
}

async fn backoff(delay: &mut Duration) {
    tokio::time::sleep(*delay).await;
    *delay = (*delay * 2).min(Duration::from_secs(2));
}

/// Runs until `shutdown` is set. `consumer` and `publisher` connect to the bus (again
/// after any failure).
pub async fn run<C, P, CF, PF, CFut, PFut>(
    store: Arc<dyn SettlementStore>,
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
    // Deliveries that came before their predecessor: unacknowledged, settled later.
    let mut held: Vec<(u64, Incoming)> = Vec::new();
    let mut unreadable = Vec::new();
    // Loaded from the database on start and after any failure (a commit whose
    // outcome is unknown must be read back, not assumed).
    let mut settler: Option<Settler> = None;
    while !shutdown.load(Ordering::Relaxed) {
        let c = match source.as_mut() {
            Some(c) => c,
            None => match consumer().await {
                Ok(c) => {
                    held.clear(); // a new session delivers them again
                    source.insert(c)
                }
                Err(e) => {
                    eprintln!("bourse-order: cannot consume ({e}); retrying");
                    backoff(&mut delay).await;
                    continue;
                }
            },
        };
        // A batch: the held deliveries, then wait for the first new one and take what
        // comes within `linger`.
        events.clear();
        tags.clear();
        unreadable.clear();
        for (tag, e) in held.drain(..) {
            tags.push(tag);
            events.push(e);
        }
        let mut failed = false;
        let mut fresh = 0;
        let mut wait = Duration::from_millis(100);
        while fresh < config.batch {
            match c.next_within(wait).await {
                Ok(Some(d)) => {
                    fresh += 1;
                    match serde_json::from_slice::<EngineEvent>(&d.message.body) {
                        Ok(event) => {
                            tags.push(d.tag);
                            events.push(Incoming {
                                event,
                                prev_seq: d.message.prev_seq,
                            });
                        }
                        Err(err) => {
                            unreadable.push(d.tag);
                            eprintln!(
                                "bourse-order: dropping unreadable message {} ({}): {err}",
                                d.message.seq, d.message.routing_key
                            )
                        }
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
        if fresh == 0 {
            held.extend(tags.drain(..).zip(events.drain(..)));
            continue;
        }
        // Settle, retrying until the database takes it (the deliveries stay ours).
        let outcome = loop {
            if shutdown.load(Ordering::Relaxed) {
                return Ok(());
            }
            let loaded = match settler.take() {
                Some(s) => Ok(s),
                None => Settler::load(&*store).await,
            };
            let result = match loaded {
                Ok(mut s) => {
                    let r = s.settle(&*store, &events).await;
                    if r.is_ok() {
                        settler = Some(s);
                    }
                    r
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(o) => break o,
                Err(e) => {
                    eprintln!("bourse-order: settling failed ({e}); retrying");
                    backoff(&mut delay).await;
                }
            }
        };
        // Hold the early ones; acknowledge the rest (all at once when nothing is held).
        let mut is_held = vec![false; events.len()];
        for &i in &outcome.early {
            is_held[i] = true;
            held.push((tags[i], events[i].clone()));
        }
        let done = tags
            .iter()
            .zip(&is_held)
            .filter(|(_, h)| !**h)
            .map(|(t, _)| *t)
            .chain(unreadable.iter().copied());
        let acked = if held.is_empty() {
            match done.max() {
                Some(t) => c.ack_upto(t).await,
                None => Ok(()),
            }
        } else {
            let mut r = Ok(());
            for t in done {
                r = c.ack(t).await;
                if r.is_err() {
                    break;
                }
            }
            r
        };
        if let Err(e) = acked {
            // Committed but not acknowledged: redelivered and then dropped by seq.
            eprintln!("bourse-order: acknowledging failed ({e}); reconnecting");
            source = None;
        } else if held.len() > config.hold_limit {
            eprintln!(
                "bourse-order: {} deliveries wait for a predecessor that has not come; reconnecting to have them delivered again",
                held.len()
            );
            source = None;
        }
        delay = Duration::from_millis(50);
        let last_seq = events.iter().map(|e| e.event.seq()).max().unwrap_or(0);
        if !outcome.early.is_empty() {
            eprintln!(
                "bourse-order: {} events came before their predecessor (settled up to {}); held for a later batch",
                outcome.early.len(),
                settler.as_ref().map_or(0, Settler::position)
            );
        }
        progress.last_seq = progress.last_seq.max(last_seq);
        progress.settled += outcome.applied as u64;
        progress.trades += outcome.trades as u64;
        progress.batches += 1;
        progress.duplicates += (tags.len() - outcome.applied - outcome.early.len()) as u64;
        progress.early += outcome.early.len() as u64;
        // The portfolio service's signal to reload: a hint, sent after the commit.
        if !outcome.touched.is_empty() {
            let msgs: Vec<Message> = outcome
                .touched
                .iter()
                .map(|u| Message {
                    routing_key: format!("portfolio.changed.{u}"),
                    seq: last_seq,
                    prev_seq: None,
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
