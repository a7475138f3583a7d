//! The service loop: take a batch from the settlement queue, settle it in one
//! transaction, acknowledge it only after the commit, then tell the portfolio service
//! which users changed; the next batch is collected and planned while the last one
//! commits. Every failure — broker, database, this process — ends in the batch being
//! delivered again and settled once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bourse_bus::{BusError, Consumer, Message, Publisher};
use deadpool_postgres::Pool;

use crate::OrderError;
use crate::event::EngineEvent;
use crate::settle::{Incoming, Outcome, Settler};
use crate::store::SettlementStore;

/// Deliveries a settlement consumer should let the broker have in flight: room for two
/// full batches (one committing, the next being collected) and a full
/// [`ServiceConfig::hold_limit`] of held deliveries.
pub const PREFETCH: u16 = 26_000;

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

/// A batch whose transaction is in flight while the next one is collected and planned.
struct InFlight {
    commit: tokio::task::JoinHandle<Result<Outcome, OrderError>>,
    /// Its deliveries to acknowledge once it committed: applied, duplicate or unreadable
    /// (not those held for a later batch).
    done: Vec<u64>,
    /// Deliveries in it.
    delivered: usize,
    /// The highest event sequence number in it.
    last_seq: u64,
}

/// How finishing a batch in flight went.
enum Finished {
    /// Committed and acknowledged.
    Done,
    /// Committed, not acknowledged: reconnect (the broker delivers it again, and the
    /// settlement position drops it).
    Unacknowledged,
    /// Not committed: load the settler again and have everything delivered again.
    Failed,
}

/// Everything [`run`] keeps between batches besides the consumer.
struct Loop<P, PF> {
    store: Arc<dyn SettlementStore>,
    publisher: PF,
    sink: Option<P>,
    progress: Progress,
}

impl<P, PF, PFut> Loop<P, PF>
where
    P: Publisher,
    PF: FnMut() -> PFut,
    PFut: Future<Output = Result<P, BusError>>,
{
    /// Waits for `batch`'s commit, then acknowledges its deliveries (with one
    /// cumulative acknowledgement unless a delivery still outstanding, `lowest_kept`,
    /// comes before one of them), reports progress and tells the portfolio service who
    /// changed.
    async fn finish<C: Consumer>(
        &mut self,
        batch: InFlight,
        consumer: Option<&mut C>,
        lowest_kept: Option<u64>,
        on_progress: &mut impl FnMut(Progress),
    ) -> Finished {
        let outcome = match batch.commit.await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                eprintln!("bourse-order: settling failed ({e}); settling again");
                return Finished::Failed;
            }
            Err(e) => {
                eprintln!("bourse-order: the settling task ended ({e}); settling again");
                return Finished::Failed;
            }
        };
        let acked = match (consumer, batch.done.iter().max()) {
            (None, _) => Err(BusError::Closed),
            (Some(_), None) => Ok(()),
            (Some(c), Some(&max)) => {
                if lowest_kept.is_none_or(|k| k > max) {
                    c.ack_upto(max).await
                } else {
                    let mut r = Ok(());
                    for &t in &batch.done {
                        r = c.ack(t).await;
                        if r.is_err() {
                            break;
                        }
                    }
                    r
                }
            }
        };
        let p = &mut self.progress;
        p.last_seq = p.last_seq.max(batch.last_seq);
        p.settled += outcome.applied as u64;
        p.trades += outcome.trades as u64;
        p.batches += 1;
        p.duplicates += (batch.delivered - outcome.applied - outcome.early.len()) as u64;
        p.early += outcome.early.len() as u64;
        // The portfolio service's signal to reload: a hint, sent after the commit.
        if !outcome.touched.is_empty() {
            let seq = batch.last_seq;
            let msgs: Vec<Message> = outcome
                .touched
                .iter()
                .map(|u| Message {
                    routing_key: format!("portfolio.changed.{u}"),
                    seq,
                    prev_seq: None,
                    body: format!("{{\"user\":{u},\"seq\":{seq}}}").into_bytes(),
                })
                .collect();
            let sent = match self.sink.as_mut() {
                Some(p) => p.publish(&msgs).await,
                None => match (self.publisher)().await {
                    Ok(p) => self.sink.insert(p).publish(&msgs).await,
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = sent {
                eprintln!("bourse-order: portfolio.changed not sent ({e})");
                self.sink = None;
            }
        }
        on_progress(self.progress);
        match acked {
            Ok(()) => Finished::Done,
            Err(e) => {
                // Committed but not acknowledged: redelivered and then dropped by seq.
                eprintln!("bourse-order: acknowledging failed ({e}); reconnecting");
                Finished::Unacknowledged
            }
        }
    }
}

/// Runs until `shutdown` is set. `consumer` and `publisher` connect to the bus (again
/// after any failure).
///
/// Pipelined: while one batch's transaction commits (on a task of its own), the next
/// batch is collected, decoded and planned ([`Settler::plan`]); its transaction starts
/// only once the one before committed, and a batch is acknowledged only after its own
/// commit. If a commit fails, the settler is loaded again from the database and the
/// consumer reconnects, so that the broker delivers every unacknowledged delivery
/// again (the settlement position drops what was settled).
pub async fn run<C, P, CF, PF, CFut, PFut>(
    store: Arc<dyn SettlementStore>,
    config: ServiceConfig,
    mut consumer: CF,
    publisher: PF,
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
    let mut state = Loop {
        store,
        publisher,
        sink: None,
        progress: Progress::default(),
    };
    let mut delay = Duration::from_millis(50);
    let mut source: Option<C> = None;
    let mut events = Vec::new();
    let mut tags = Vec::new();
    // Deliveries that came before their predecessor: unacknowledged, settled later.
    let mut held: Vec<(u64, Incoming)> = Vec::new();
    let mut unreadable = Vec::new();
    // Loaded from the database on start and after any failure (a commit whose
    // outcome is unknown must be read back, not assumed).
    let mut settler: Option<Settler> = None;
    let mut inflight: Option<InFlight> = None;
    'batches: while !shutdown.load(Ordering::Relaxed) {
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
        let mut until = Instant::now() + Duration::from_millis(100);
        while fresh < config.batch {
            // The batch in flight is finished as soon as its commit is: its
            // acknowledgements and `portfolio.changed` hints do not wait for the next
            // batch to fill (so, meanwhile, wait for deliveries in short steps).
            if inflight.as_ref().is_some_and(|b| b.commit.is_finished()) {
                let batch = inflight.take().expect("checked");
                let lowest_kept = tags.iter().chain(&unreadable).min().copied();
                match state
                    .finish(batch, Some(&mut *c), lowest_kept, &mut on_progress)
                    .await
                {
                    Finished::Done => {}
                    outcome => {
                        // What this connection delivered comes again on the next one.
                        if let Finished::Failed = outcome {
                            settler = None;
                        }
                        failed = true;
                        break;
                    }
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            let step = match &inflight {
                Some(_) => left.min(Duration::from_millis(1)),
                None => left,
            };
            match c.next_within(step).await {
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
                    until = Instant::now() + config.linger;
                }
                Ok(None) if step < left => {}
                Ok(None) => break,
                Err(e) => {
                    eprintln!("bourse-order: consuming failed ({e}); reconnecting");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            // Unacknowledged deliveries come back on the next connection; the batch in
            // flight still commits (or not) before the settler is used again.
            if let Some(batch) = inflight.take()
                && let Finished::Failed =
                    state.finish::<C>(batch, None, None, &mut on_progress).await
            {
                settler = None;
            }
            source = None;
            backoff(&mut delay).await;
            continue;
        }
        let lowest_kept = tags.iter().chain(&unreadable).min().copied();
        if fresh == 0 {
            // Quiet: finish the batch in flight and keep waiting.
            if let Some(batch) = inflight.take() {
                match state
                    .finish(batch, Some(c), lowest_kept, &mut on_progress)
                    .await
                {
                    Finished::Done => {}
                    Finished::Unacknowledged => source = None,
                    Finished::Failed => {
                        (settler, source) = (None, None);
                        backoff(&mut delay).await;
                        continue;
                    }
                }
            }
            held.extend(tags.drain(..).zip(events.drain(..)));
            continue;
        }
        // Plan this batch (loading the settler first if a failure dropped it, once
        // nothing is in flight).
        let s = loop {
            if let Some(s) = settler.as_mut() {
                break s;
            }
            if shutdown.load(Ordering::Relaxed) {
                break 'batches;
            }
            match Settler::load(&*state.store).await {
                Ok(s) => break settler.insert(s),
                Err(e) => {
                    eprintln!("bourse-order: cannot load the settlement position ({e}); retrying");
                    backoff(&mut delay).await;
                }
            }
        };
        let planned = s.plan(&events);
        let early = &planned.outcome().early;
        let mut is_held = vec![false; events.len()];
        for &i in early {
            is_held[i] = true;
            held.push((tags[i], events[i].clone()));
        }
        if !early.is_empty() {
            eprintln!(
                "bourse-order: {} events came before their predecessor (settled up to {}); held for a later batch",
                early.len(),
                s.position()
            );
        }
        let done: Vec<u64> = tags
            .iter()
            .zip(&is_held)
            .filter(|(_, h)| !**h)
            .map(|(t, _)| *t)
            .chain(unreadable.iter().copied())
            .collect();
        // The batch before commits first; this one's transaction starts after it.
        if let Some(before) = inflight.take() {
            match state
                .finish(before, Some(c), lowest_kept, &mut on_progress)
                .await
            {
                Finished::Done => {}
                outcome => {
                    // This batch was planned on top of the one before and its
                    // deliveries belong to this connection: drop both and start over
                    // from the database on a new connection.
                    (settler, source) = (None, None);
                    if let Finished::Failed = outcome {
                        backoff(&mut delay).await;
                    }
                    continue;
                }
            }
        }
        let batch = InFlight {
            commit: {
                let store = state.store.clone();
                tokio::spawn(async move { planned.commit(&*store).await })
            },
            done,
            delivered: tags.len(),
            last_seq: events.iter().map(|e| e.event.seq()).max().unwrap_or(0),
        };
        if held.len() > config.hold_limit {
            eprintln!(
                "bourse-order: {} deliveries wait for a predecessor that has not come; reconnecting to have them delivered again",
                held.len()
            );
            // Acknowledge this batch on the connection it came from first.
            let lowest_held = held.iter().map(|(t, _)| *t).min();
            if let Finished::Failed = state
                .finish(batch, source.as_mut(), lowest_held, &mut on_progress)
                .await
            {
                settler = None;
            }
            source = None;
        } else {
            inflight = Some(batch);
        }
        delay = Duration::from_millis(50);
    }
    if let Some(batch) = inflight.take() {
        let lowest_held = held.iter().map(|(t, _)| *t).min();
        state
            .finish(batch, source.as_mut(), lowest_held, &mut on_progress)
            .await;
    }
    Ok(())
}
