//! The running gateway: the ZeroMQ I/O loop and the ring-buffer pipeline behind it.
//!
//! ```text
//!  clients ──DEALER──▶ ROUTER (I/O thread: decode, login, throttle)
//!                        │ publish Inbound                    ▲ send reports
//!                        ▼                                    │
//!                  ┌─▶ journal stage: append; fsync per batch ──▶ durable mark
//!        input ring ┤                                                   │ (gates)
//!                  └─▶ engine stage: execute (own, pinned core) ─▶ output ring ─▶ I/O
//! ```
//!
//! # Ordering and durability
//! The journal stage and the engine stage read the input ring side by side, as LMAX's
//! journaller and business logic do: the engine matches a batch while the journal
//! appends it and `fdatasync`s it, so the sync is no longer on the matching path. Every
//! event on the output ring carries its command's number, and its readers (the
//! I/O thread sending reports, the market data stage) pass it on only once the journal
//! stage's durable mark has reached that command (`release`): every report leaving the
//! gateway is about a command that is already durable, and an `Accepted` is never lost
//! by a crash. A crash loses the engine's state with the reports it held back.
//!
//! # Small batches on the I/O thread
//! At everyday rates a batch is a command or two, and handing it to two threads and
//! being woken back by them costs more than the work (on a shared core, tens of
//! microseconds of system calls and wake-ups each way). So a batch of at most
//! `inline_batch` commands that finds the pipeline idle — every command handed over
//! before it journaled and executed — while the journal's syncs cover few commands (on
//! average over about eight syncs, at most half of `inline_batch`), is run by the I/O
//! thread itself with the stages' own code: appended and synced (the durable mark
//! moves), then executed, its events going through the output ring as ever. The order and the invariant are the same; the stages' state sits behind a lock
//! that a stage takes once a batch and the I/O thread only while the stage is idle, so
//! nobody waits for it on the command path. Under load the syncs cover many commands
//! and every batch goes to the stages, which journal one while the engine matches the
//! next. Commands are numbered by the I/O thread (`Inbound::seq`) whichever way they
//! go: the durable mark and the events count in those numbers, not in ring sequences.
//!
//! # Threads
//! Three: the I/O thread (the caller's), the journal stage and the engine stage (plus
//! ZeroMQ's own I/O thread, and the market data stage when the feed is on). With
//! `spin`, the stages and the I/O loop busy-spin, for dedicated cores; otherwise each
//! sleeps when idle and is woken by the thread that gives it work (`wake`), which is
//! what few shared cores need: a spinning thread there delays the very thread it waits
//! for.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Instant;

use bourse_core::{Command, Engine, EngineConfig, Event, EventKind, Symbol, SymbolId, UserId};
use bourse_journal::{Journal, JournalOptions, Snapshotter};
use disruptor::wait_strategies::WaitStrategy;
use disruptor::{
    BusySpinWithSpinLoopHint, Polling, ProcessorSettings, Producer, build_single_producer,
};
use parking_lot::{ArcMutexGuard, Mutex, RawMutex};

use crate::keys::{KeyStore, SharedKeys};
use crate::metrics::{GatewayMetrics, LocalHistogram, RejectSource, SAMPLE_EVERY, Stage, clock_ns};
use crate::protocol::{
    ClientMsg, EnterOrder, ForRequest, ServerMsg, ServiceMsg, decode_client, encode_for,
    encode_server,
};
use crate::release::{DurableMark, FromCommand, Release};
use crate::service::{self, Origin};
use crate::session::{Session, Throttle};
use crate::wake::{
    ENGINE_THREAD, FEED_THREAD, IoWaker, JOURNAL_THREAD, PARK_TIMEOUT, Park, Stages, io_wake_pipe,
};
use bourse_feeds::{Feed, MarketDataSink, ZmqPublisher};

/// How the gateway runs.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// ZeroMQ endpoint to bind, e.g. `tcp://127.0.0.1:5555` (`:*` picks a free port).
    pub bind: String,
    /// Journal and snapshots.
    pub data_dir: PathBuf,
    /// Accepted API keys (replaceable while running).
    pub keys: SharedKeys,
    /// Messages per second per session (0: unlimited).
    pub throttle: u32,
    /// Pin the engine stage to this core.
    pub engine_core: Option<usize>,
    /// Busy-spin the pipeline stages instead of yielding when idle.
    pub spin: bool,
    /// Ring size (a power of two).
    pub ring_size: usize,
    /// Take a snapshot every this many commands (0: never); [`SNAPSHOT_EVERY_COMMANDS`]
    /// by default.
    pub snapshot_every: u64,
    /// Journal segments are preallocated to this many bytes, zero-filled ahead of need,
    /// so that each group commit's `fdatasync` flushes data and no file size (0:
    /// segments grow as written); [`JOURNAL_SEGMENT_BYTES`] by default.
    pub segment_bytes: u64,
    /// A batch of at most this many commands that finds the pipeline idle (everything
    /// handed over before it journaled and executed), while the journal's syncs cover
    /// on average at most half this many commands, is journaled and executed by the
    /// I/O thread itself: the same stages' code in the same order, without waking the
    /// journal and engine threads and being woken back by them. 0: every batch goes
    /// through the stages. Ignored with `spin` (the stages have cores of their own).
    /// [`INLINE_BATCH`] by default.
    pub inline_batch: usize,
    /// Engine preallocation.
    pub engine: EngineConfig,
    /// Commands applied (and journaled) once, when the journal is empty: instruments,
    /// users, deposits.
    pub bootstrap: Vec<Command>,
    /// Publish market data on a ZeroMQ PUB socket bound here (`None`: no feed).
    pub feed: Option<String>,
    /// Where the gateway counts and times what it does (render it to serve
    /// `/metrics`).
    pub metrics: Arc<GatewayMetrics>,
}

/// The default snapshot interval, in commands. A restart replays at most this many
/// commands after loading the newest snapshot: with 1,000,000 orders resting, 500,000
/// keeps the worst restart under 2 s on the reference machine (1.5–1.7 s against
/// 2.3–2.9 s at 1,000,000; PERF.md, "Restart time with a large book"), for ~15% more
/// snapshot work a command on the background snapshot thread.
pub const SNAPSHOT_EVERY_COMMANDS: u64 = 500_000;

/// The default [`GatewayConfig::inline_batch`]. At everyday rates a batch is a command
/// or two, or a market maker's burst of quotes, and on a shared core each hand-over
/// between threads costs tens of microseconds of system calls and wake-ups; under load,
/// batches grow past this and go to the stages, which journal one batch while the
/// engine matches the next (PERF.md, "Small batches on the I/O thread" and "The demo's
/// round trip taken apart": 16 lets syncs of up to eight commands on average count as
/// light load, where 8 sent a maker's bursts of six to the stages).
pub const INLINE_BATCH: usize = 16;

/// The default journal segment size: 64 MiB, about 900,000 orders, zero-filled on a
/// background thread in well under a second (PERF.md, "Preallocated journal segments").
pub const JOURNAL_SEGMENT_BYTES: u64 = 64 << 20;

impl GatewayConfig {
    /// Defaults for a data directory and key store: `tcp://127.0.0.1:5555`, 10,000
    /// messages a second per session, yielding stages, 64Ki-slot rings.
    pub fn new(data_dir: impl Into<PathBuf>, keys: impl Into<SharedKeys>) -> Self {
        GatewayConfig {
            bind: "tcp://127.0.0.1:5555".into(),
            data_dir: data_dir.into(),
            keys: keys.into(),
            throttle: 10_000,
            engine_core: None,
            spin: false,
            ring_size: 1 << 16,
            snapshot_every: SNAPSHOT_EVERY_COMMANDS,
            segment_bytes: JOURNAL_SEGMENT_BYTES,
            inline_batch: INLINE_BATCH,
            engine: EngineConfig::default(),
            bootstrap: Vec::new(),
            feed: None,
            metrics: Arc::default(),
        }
    }
}

/// Errors that stop the gateway from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The journal could not be recovered or opened.
    #[error(transparent)]
    Journal(#[from] bourse_journal::JournalError),
    /// ZeroMQ refused (bad endpoint, address in use, ...).
    #[error("zeromq: {0}")]
    Zmq(#[from] zmq::Error),
    /// An endpoint could not be bound (taken by another process, or not an address of
    /// this machine).
    #[error("binding {endpoint}: {source}")]
    Bind {
        /// The endpoint asked for.
        endpoint: String,
        /// ZeroMQ's reason.
        source: zmq::Error,
    },
    /// The wake pipe between the pipeline and the I/O thread, or the gateway's own
    /// thread, could not be made.
    #[error("wake pipe or thread: {0}")]
    Wake(std::io::Error),
    /// The engine was to be pinned to a core this process may not run on.
    #[error("no core {0} to pin the engine to (this process may run on {1:?})")]
    NoSuchCore(usize, Vec<usize>),
    /// The output ring shut down under the I/O thread (the pipeline stopped).
    #[error("the pipeline stopped")]
    Shutdown,
}

/// A command on its way through the pipeline, with the order it came from (echoed in
/// the `Accepted` report).
#[derive(Clone, Copy, Debug)]
struct Inbound {
    cmd: Command,
    order: Option<EnterOrder>,
    origin: Origin,
    /// When the I/O thread decoded it ([`clock_ns`]).
    received: u64,
    /// Its number among the commands the I/O thread handed to the pipeline or ran
    /// itself, from 0: what the durable mark and the engine stage's progress count.
    seq: i64,
}

/// An engine event on its way back, with the order of the command that caused it.
#[derive(Clone, Copy, Debug)]
struct Outbound {
    event: Event,
    order: Option<EnterOrder>,
    /// The service request it answers, if a service session sent the command.
    origin: Origin,
    /// The last event of its command (market data publishes between commands).
    last: bool,
    /// The instrument its command listed (market data names it from then on).
    listed: Option<(SymbolId, Symbol)>,
    /// When its command arrived ([`clock_ns`]).
    received: u64,
    /// Its command's number ([`Inbound::seq`]): it leaves the gateway once that is
    /// durable.
    command: i64,
}

impl FromCommand for Outbound {
    fn command(&self) -> i64 {
        self.command
    }
}

fn empty_inbound() -> Inbound {
    Inbound {
        cmd: Command::EndOfDay,
        order: None,
        origin: Origin::default(),
        received: 0,
        seq: -1,
    }
}

fn empty_outbound() -> Outbound {
    Outbound {
        event: Event {
            seq: bourse_core::Seq(0),
            kind: EventKind::Done {
                op: bourse_core::AdminOp::EndOfDay,
                user: None,
            },
        },
        order: None,
        origin: Origin::default(),
        last: false,
        listed: None,
        received: 0,
        command: -1,
    }
}

/// What the gateway says once it is listening.
#[derive(Clone, Debug)]
pub struct Ready {
    /// The endpoint actually bound (with the real port).
    pub endpoint: String,
    /// The market data PUB endpoint, if the feed runs.
    pub feed_endpoint: Option<String>,
    /// The last command recovered from the journal.
    pub recovered_seq: u64,
}

/// A gateway running on a thread of its own ([`spawn`]).
#[derive(Debug)]
pub struct Running {
    /// Where it listens, and what it recovered.
    pub ready: Ready,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<(), GatewayError>>>,
}

impl Running {
    /// Stops it and waits until it has drained and exited.
    pub fn stop(mut self) -> Result<(), GatewayError> {
        self.halt()
    }

    fn halt(&mut self) -> Result<(), GatewayError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(GatewayError::Shutdown),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// Runs the gateway on a thread of its own and returns once it listens (or failed to
/// start). Dropping the handle stops it.
pub fn spawn(config: GatewayConfig) -> Result<Running, GatewayError> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("gateway".into())
        .spawn(move || run(config, flag, |ready| drop(tx.send(ready))))
        .map_err(GatewayError::Wake)?;
    match rx.recv() {
        Ok(ready) => Ok(Running {
            ready,
            stop,
            thread: Some(thread),
        }),
        // It ended before it was ready: its error says why.
        Err(_) => Err(match thread.join() {
            Ok(Err(e)) => e,
            _ => GatewayError::Shutdown,
        }),
    }
}

/// Recovers the engine from the journal, then serves until `shutdown` is set.
/// `on_ready` is called once the socket is bound.
pub fn run(
    config: GatewayConfig,
    shutdown: Arc<AtomicBool>,
    on_ready: impl FnOnce(Ready),
) -> Result<(), GatewayError> {
    if let Some(core) = config.engine_core {
        let cores: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect();
        if !cores.contains(&core) {
            return Err(GatewayError::NoSuchCore(core, cores));
        }
    }
    if config.spin {
        run_with(config, shutdown, on_ready, BusySpinWithSpinLoopHint, None)
    } else {
        let stages = Stages::leak(PARK_TIMEOUT);
        run_with(config, shutdown, on_ready, Park::new(stages), Some(stages))
    }
}

fn abort(what: &str, e: &dyn std::fmt::Display) -> ! {
    // Acknowledged commands must be durable: without the journal the exchange stops.
    eprintln!("bourse-gateway: fatal: {what}: {e}");
    std::process::abort();
}

struct JournalStage {
    journal: Journal,
    snapshots: Snapshotter,
    every: u64,
    /// The newest snapshot's command (on disk or being written).
    last_snapshot: u64,
    metrics: Arc<GatewayMetrics>,
    /// Arrival times of the batch's commands (preallocated to the ring's size).
    received: Vec<u64>,
    durable: LocalHistogram,
    /// Where the readers of the engine's events learn what is durable.
    mark: DurableMark,
    /// Woken when more is durable: the I/O thread and the market data stage.
    io_waker: Arc<IoWaker>,
    stages: Option<&'static Stages>,
    /// Commands per sync, an exponential average over about the last eight syncs, in
    /// sixteenths: the load the I/O thread reads to decide whether a small batch may run
    /// on it (many commands a sync mean the stages are needed, journaling one batch
    /// while the engine matches the next; one small batch among large ones is not a
    /// lull).
    sync_load: Arc<AtomicUsize>,
}

impl JournalStage {
    /// Appends one command; at the end of a batch, makes the batch durable and moves
    /// the durable mark to it.
    fn on(&mut self, slot: &Inbound, end_of_batch: bool) {
        self.journal.append(&slot.cmd);
        if self.received.len() < self.received.capacity() {
            self.received.push(slot.received);
        }
        if !end_of_batch {
            return;
        }
        let fsync_start = Instant::now();
        let durable = match self.journal.commit() {
            Ok(d) => d,
            Err(e) => abort("journal commit", &e),
        };
        self.metrics
            .fsync
            .record(fsync_start.elapsed().as_nanos() as u64);
        // `received` holds the whole batch: a batch never exceeds the ring.
        let load = self.sync_load.load(Ordering::Relaxed);
        self.sync_load
            .store(load - load / 8 + self.received.len() * 2, Ordering::Relaxed);
        // The engine's events about this batch may leave now.
        self.mark.set(slot.seq);
        self.io_waker.wake();
        if let Some(stages) = self.stages {
            stages.feed.wake();
        }
        self.metrics.journal_seq.store(durable, Ordering::Relaxed);
        self.metrics
            .journal_preallocated
            .store(u64::from(self.journal.preallocated()), Ordering::Relaxed);
        self.durable.record_since(clock_ns(), &self.received);
        self.received.clear();
        self.durable.flush(self.metrics.stage(Stage::Durable));
        if let Some(done) = self.snapshots.finished() {
            self.snapshot_ended(done);
        }
        if self.every > 0 && durable - self.last_snapshot >= self.every && !self.snapshots.busy() {
            if let Err(e) = self.journal.rotate() {
                abort("journal rotate", &e);
            }
            self.snapshots.start(durable);
            self.last_snapshot = durable;
        }
    }

    /// Records a finished snapshot and prunes the segments it covers.
    fn snapshot_ended(&mut self, done: Result<u64, bourse_journal::JournalError>) {
        match done {
            Ok(seq) => {
                self.metrics.snapshot_done(seq);
                if let Err(e) = self.journal.prune(seq) {
                    eprintln!("bourse-gateway: pruning after snapshot {seq}: {e}");
                }
            }
            Err(e) => eprintln!("bourse-gateway: snapshot failed (journal kept): {e}"),
        }
    }
}

impl Drop for JournalStage {
    /// At shutdown, a snapshot in flight is finished rather than abandoned half-built:
    /// its commands are durable, and the next start replays from it.
    fn drop(&mut self) {
        if let Some(done) = self.snapshots.wait() {
            self.snapshot_ended(done);
        }
    }
}

/// The engine stage: the engine, and what it keeps between commands.
struct EngineStage {
    engine: Engine,
    /// One command's events (preallocated).
    events: Vec<Event>,
    /// Events on their way to the output ring (preallocated to the ring's size).
    buf: Vec<Outbound>,
    /// The most events published to the output ring at once: half of it.
    chunk: usize,
    out: OutProducer,
    io_waker: Arc<IoWaker>,
    mark: DurableMark,
    stages: Option<&'static Stages>,
    metrics: Arc<GatewayMetrics>,
    executed: u64,
    emitted: u64,
    timed: LocalHistogram,
    /// Arrival times of the batch's commands (preallocated to the ring's size).
    received: Vec<u64>,
    matched: LocalHistogram,
    /// The number of the last command whose events are published: with the durable
    /// mark, tells the I/O thread that the pipeline is idle.
    done: Arc<AtomicI64>,
}

impl EngineStage {
    /// Executes one command; at the end of a batch (or when `buf` is full) publishes
    /// the events to the output ring, calling `readers_wanted` while it is full (see
    /// [`OutProducer::publish`]).
    fn on(&mut self, slot: &Inbound, end_of_batch: bool, readers_wanted: &mut dyn FnMut()) {
        self.events.clear();
        self.executed += 1;
        if self.executed.is_multiple_of(SAMPLE_EVERY) {
            let start = Instant::now();
            self.engine.execute(&slot.cmd, &mut self.events);
            self.timed.record(start.elapsed().as_nanos() as u64);
        } else {
            self.engine.execute(&slot.cmd, &mut self.events);
        }
        if self.received.len() < self.received.capacity() {
            self.received.push(slot.received);
        }
        let n = self.events.len();
        self.emitted += n as u64;
        let origin = match slot.cmd {
            Command::AddInstrument { symbol, .. } if slot.origin.service != 0 => Origin {
                symbol: self.engine.symbol_id(&symbol),
                ..slot.origin
            },
            _ => slot.origin,
        };
        let listed = match slot.cmd {
            Command::AddInstrument { symbol, .. } => {
                self.engine.symbol_id(&symbol).map(|id| (id, symbol))
            }
            _ => None,
        };
        self.buf
            .extend(self.events.iter().enumerate().map(|(i, &event)| Outbound {
                event,
                order: slot.order,
                origin,
                last: i + 1 == n,
                listed,
                received: slot.received,
                command: slot.seq,
            }));
        let metrics = &self.metrics;
        if end_of_batch {
            self.matched.record_since(clock_ns(), &self.received);
            self.received.clear();
            self.matched.flush(metrics.stage(Stage::Matched));
            self.timed.flush(&metrics.command);
            metrics.events.fetch_add(self.emitted, Ordering::Relaxed);
            self.emitted = 0;
            metrics
                .event_seq
                .store(self.engine.seq().0, Ordering::Relaxed);
            // Last: whoever reads `executed` finds the batch's figures in place.
            metrics.executed.store(self.executed, Ordering::Relaxed);
        }
        if end_of_batch || self.buf.len() >= self.chunk {
            for part in self.buf.chunks(self.chunk) {
                self.out.publish(part, &mut *readers_wanted);
            }
            self.buf.clear();
            // Wake the I/O thread only if these reports may leave now: waking it
            // while they wait for the journal costs the shared core a wake-up and
            // a sleep for nothing (the journal stage wakes it once they may).
            if self.mark.passes(slot.seq) {
                self.io_waker.wake();
            }
            if let Some(stages) = self.stages {
                stages.feed.wake();
            }
        }
        if end_of_batch {
            self.done.store(slot.seq, Ordering::Release);
        }
    }
}

/// A stage's handler for its ring thread: `on` for each command, with the stage's
/// lock taken at a batch's first command and given back after its last — the I/O
/// thread takes it only while the stage has nothing to do, so it is never waited
/// for on the command path, and taken once a batch, not once a command.
fn locked_stage<S: Send + 'static>(
    stage: Arc<Mutex<S>>,
    mut on: impl FnMut(&mut S, &Inbound, bool) + Send + 'static,
) -> impl FnMut(&Inbound, i64, bool) + Send + 'static {
    let mut held: Option<ArcMutexGuard<RawMutex, S>> = None;
    move |slot: &Inbound, _ring_seq: i64, end_of_batch: bool| {
        let s = held.get_or_insert_with(|| stage.lock_arc());
        on(s, slot, end_of_batch);
        if end_of_batch {
            held = None;
        }
    }
}

/// The engine stage's end of the output ring: read by the I/O thread alone, or by the
/// I/O thread and the market data stage in parallel.
enum OutProducer {
    Alone(disruptor::SingleProducer<Outbound, disruptor::SingleConsumerBarrier>),
    WithFeed(disruptor::SingleProducer<Outbound, disruptor::MultiConsumerBarrier>),
}

impl OutProducer {
    /// Publishes `part` as one batch. While the ring is full, `readers_wanted` is
    /// called (to wake readers that may be asleep: they are what frees the room) and
    /// the thread yields.
    fn publish(&mut self, part: &[Outbound], mut readers_wanted: impl FnMut()) {
        fn fill<'a>(slots: impl Iterator<Item = &'a mut Outbound>, part: &[Outbound]) {
            for (dst, src) in slots.zip(part) {
                *dst = *src;
            }
        }
        loop {
            let done = match self {
                OutProducer::Alone(p) => p.try_batch_publish(part.len(), |it| fill(it, part)),
                OutProducer::WithFeed(p) => p.try_batch_publish(part.len(), |it| fill(it, part)),
            };
            if done.is_ok() {
                return;
            }
            readers_wanted();
            std::thread::yield_now();
        }
    }
}

/// The market data stage: a parallel consumer of the output ring.
struct FeedStage {
    feed: Feed,
    publisher: ZmqPublisher,
    last_snapshot: Instant,
}

/// How often the feed publishes depth snapshots (for late joiners) and closes candles.
const SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl FeedStage {
    fn new(feed: Feed, publisher: ZmqPublisher) -> Self {
        FeedStage {
            feed,
            publisher,
            last_snapshot: Instant::now(),
        }
    }

    /// Takes in one event whose command is durable.
    fn on(&mut self, o: &Outbound, now: u64) {
        if let Some((id, symbol)) = o.listed {
            self.feed.name_instrument(id, &symbol);
        }
        self.feed.on_event(&o.event, now);
        if o.last {
            self.feed.end_of_command();
        }
    }

    /// Polls the output ring until the pipeline shuts down; publishes each batch's
    /// messages once their commands are durable (`release`), and snapshots (and closed
    /// candles) every [`SNAPSHOT_EVERY`] even when the market is quiet, so a late
    /// joiner can always synchronize.
    fn run(
        mut self,
        mut outputs: disruptor::EventPoller<Outbound, disruptor::SingleProducerBarrier>,
        mut release: Release<Outbound>,
        stages: Option<&'static Stages>,
    ) {
        let mut seen = 0;
        loop {
            let now = now_ms();
            match outputs.poll() {
                Ok(mut guard) => {
                    release.pass(&mut guard, |o| self.on(o, now));
                }
                Err(Polling::NoEvents) => {
                    // Woken by the engine's events and by the journal's progress.
                    if release.pass(std::iter::empty(), |o| self.on(o, now)) == 0 {
                        match stages {
                            Some(stages) => seen = stages.feed.park(seen, SNAPSHOT_EVERY / 10),
                            None => std::hint::spin_loop(),
                        }
                    }
                }
                Err(Polling::Shutdown) => {
                    // The pipeline stopped; the journal's last batch is durable by the
                    // time both stages have ended: publish what it released.
                    let deadline = Instant::now() + std::time::Duration::from_secs(5);
                    while release.waiting() && Instant::now() < deadline {
                        let now = now_ms();
                        if release.pass(std::iter::empty(), |o| self.on(o, now)) == 0 {
                            std::thread::sleep(std::time::Duration::from_micros(200));
                        }
                    }
                    for msg in self.feed.drain() {
                        self.publisher.publish(&msg);
                    }
                    return;
                }
            }
            for msg in self.feed.drain() {
                self.publisher.publish(&msg);
            }
            if self.last_snapshot.elapsed() >= SNAPSHOT_EVERY {
                self.last_snapshot = Instant::now();
                self.feed.tick(now_ms());
                let snapshots = self.feed.snapshots();
                for msg in self.feed.drain().chain(snapshots) {
                    self.publisher.publish(&msg);
                }
            }
        }
    }
}

fn run_with<W: WaitStrategy + 'static>(
    config: GatewayConfig,
    shutdown: Arc<AtomicBool>,
    on_ready: impl FnOnce(Ready),
    wait: W,
    stages: Option<&'static Stages>,
) -> Result<(), GatewayError> {
    let mut rec = bourse_journal::recover(&config.data_dir, config.engine)?;
    for path in &rec.damaged_snapshots {
        eprintln!(
            "bourse-gateway: damaged snapshot passed over: {}",
            path.display()
        );
    }
    if rec.truncated_bytes > 0 {
        eprintln!(
            "bourse-gateway: cut a torn journal tail of {} bytes (never acknowledged)",
            rec.truncated_bytes
        );
    }
    let mut journal = Journal::open_with(
        &config.data_dir,
        rec.last_seq + 1,
        JournalOptions {
            segment_bytes: config.segment_bytes,
        },
    )?;
    journal.hold_time_at(rec.last_time_ns);
    if rec.last_seq == 0 && !config.bootstrap.is_empty() {
        let mut sink = Vec::new();
        for cmd in &config.bootstrap {
            journal.append(cmd);
            rec.engine.execute(cmd, &mut sink);
        }
        rec.last_seq = journal.commit()?;
    }
    let engine: Engine = rec.engine;
    let symbols: HashMap<Symbol, SymbolId> = engine
        .instruments()
        .iter()
        .enumerate()
        .map(|(i, inst)| (inst.symbol, SymbolId(i as u32)))
        .collect();

    let ring = config.ring_size;
    let ctx = zmq::Context::new();
    let mark = DurableMark::new();
    let mut feed_endpoint = None;
    let (mut outputs, out_builder) =
        build_single_producer(ring, empty_outbound, wait).new_event_poller();
    let mut feed_thread = None;
    let out_producer = match &config.feed {
        Some(bind) => {
            let publisher =
                ZmqPublisher::bind(&ctx, bind).map_err(|source| GatewayError::Bind {
                    endpoint: bind.clone(),
                    source,
                })?;
            feed_endpoint = Some(publisher.endpoint().to_string());
            let stage = FeedStage::new(Feed::from_state(&engine.state()), publisher);
            let (poller, out_builder) = out_builder.new_event_poller();
            feed_thread = Some(
                std::thread::Builder::new()
                    .name(FEED_THREAD.into())
                    .spawn({
                        let release = Release::new(mark.clone(), ring);
                        move || stage.run(poller, release, stages)
                    })
                    .map_err(GatewayError::Wake)?,
            );
            OutProducer::WithFeed(out_builder.build())
        }
        None => OutProducer::Alone(out_builder.build()),
    };
    let (io_waker, io_wakes) = io_wake_pipe().map_err(GatewayError::Wake)?;
    let io_waker = Arc::new(io_waker);

    let metrics = config.metrics.clone();
    metrics.ring_size.store(ring as u64, Ordering::Relaxed);
    metrics.journal_seq.store(rec.last_seq, Ordering::Relaxed);
    metrics.event_seq.store(engine.seq().0, Ordering::Relaxed);
    // Counted from the newest snapshot on disk, not from this process's start: a
    // gateway restarted often must still snapshot (and so restart quickly).
    let snapshot_seq = rec.snapshot_seq.unwrap_or(0);
    metrics.snapshot_seq.store(snapshot_seq, Ordering::Relaxed);
    let sync_load = Arc::new(AtomicUsize::new(0));
    let journal_stage = Arc::new(Mutex::new(JournalStage {
        journal,
        snapshots: Snapshotter::new(&config.data_dir, config.engine),
        every: config.snapshot_every,
        last_snapshot: snapshot_seq,
        metrics: metrics.clone(),
        received: Vec::with_capacity(ring),
        durable: LocalHistogram::default(),
        mark: mark.clone(),
        io_waker: io_waker.clone(),
        stages,
        sync_load: sync_load.clone(),
    }));
    let engine_done = Arc::new(AtomicI64::new(-1));
    let engine_stage = Arc::new(Mutex::new(EngineStage {
        executed: metrics.executed.load(Ordering::Relaxed),
        engine,
        events: Vec::with_capacity(1024),
        buf: Vec::with_capacity(ring),
        chunk: (ring / 2).max(1),
        out: out_producer,
        io_waker: io_waker.clone(),
        mark: mark.clone(),
        stages,
        metrics: metrics.clone(),
        emitted: 0,
        timed: LocalHistogram::default(),
        received: Vec::with_capacity(ring),
        matched: LocalHistogram::default(),
        done: engine_done.clone(),
    }));
    // The journal and engine stages read the input ring side by side; the I/O thread
    // wakes both when it publishes.
    let builder = build_single_producer(ring, empty_inbound, wait)
        .thread_name(JOURNAL_THREAD)
        .handle_events_with(locked_stage(
            journal_stage.clone(),
            |stage: &mut JournalStage, slot, end| stage.on(slot, end),
        ))
        .thread_name(ENGINE_THREAD);
    let builder = match config.engine_core {
        Some(core) => builder.pin_at_core(core),
        None => builder,
    };
    let mut inputs = builder
        .handle_events_with(locked_stage(engine_stage.clone(), {
            // Called while the output ring is full: its readers free the room.
            let io_waker = io_waker.clone();
            let mut wake_readers = move || {
                io_waker.wake();
                if let Some(stages) = stages {
                    stages.feed.wake();
                }
            };
            move |stage: &mut EngineStage, slot, end| stage.on(slot, end, &mut wake_readers)
        }))
        .build();
    let inline_batch = if config.spin { 0 } else { config.inline_batch };

    let socket = ctx.socket(zmq::ROUTER)?;
    socket.set_linger(0)?;
    socket.set_sndhwm(100_000)?;
    socket.set_rcvhwm(100_000)?;
    socket
        .bind(&config.bind)
        .map_err(|source| GatewayError::Bind {
            endpoint: config.bind.clone(),
            source,
        })?;
    let endpoint = socket
        .get_last_endpoint()?
        .unwrap_or_else(|_| config.bind.clone());
    on_ready(Ready {
        endpoint,
        feed_endpoint,
        recovered_seq: rec.last_seq,
    });

    let mut io = Io {
        wire: Wire {
            socket,
            out: Vec::with_capacity(128),
            metrics: metrics.clone(),
        },
        reported: LocalHistogram::default(),
        keys_version: config.keys.version(),
        store: config.keys.current(),
        keys: config.keys,
        throttle: config.throttle,
        symbols,
        sessions: HashMap::new(),
        routes: HashMap::new(),
        services: Vec::new(),
        pending_symbols: HashMap::new(),
    };
    let mut identity = zmq::Message::new();
    let mut body = zmq::Message::new();
    let mut pending: Vec<Inbound> = Vec::with_capacity(256);
    // The number the next command handed over gets (`Inbound::seq`).
    let mut next_seq: i64 = 0;
    // Reports wait here until the journal has made their command durable.
    let mut release = Release::new(mark.clone(), ring);
    while !shutdown.load(Ordering::Relaxed) {
        io.refresh_keys();
        let mut busy = false;
        // Read frames only while the ring keeps up: what cannot be published waits in
        // ZeroMQ's queues (backpressure), never in an unbounded buffer here.
        if pending.len() < 256 {
            for _ in 0..256 {
                match io.wire.receive(&mut identity, &mut body) {
                    Ok(whole) => {
                        busy = true;
                        if let Some(inbound) = io.on_frame(&identity, &body, whole) {
                            pending.push(inbound);
                        }
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        // A small batch that finds the pipeline idle, while syncs cover few commands —
        // on average at most half a small batch's worth (the load is light): journal
        // and execute it here.
        let handed = next_seq - 1;
        if !pending.is_empty()
            && pending.len() <= inline_batch
            && sync_load.load(Ordering::Relaxed) <= inline_batch * 8
            && mark.get() >= handed
            && engine_done.load(Ordering::Acquire) >= handed
        {
            for p in &mut pending {
                p.seq = next_seq;
                next_seq += 1;
            }
            let n = pending.len() as u64;
            metrics.enqueued.fetch_add(n, Ordering::Relaxed);
            metrics.inline.fetch_add(n, Ordering::Relaxed);
            run_inline(&pending, &journal_stage, &engine_stage, &mut || {
                let _ = drain_reports(&mut outputs, &mut release, &mut io);
                if let Some(stages) = stages {
                    stages.feed.wake();
                }
            });
            pending.clear();
            busy = true;
        }
        // One batch into the ring (the journal commits it with one fsync), as much as
        // the ring has room for. Never block here: this thread also drains the output
        // ring, and the engine may be waiting for room there.
        while !pending.is_empty() {
            let n = pending.len().min(ring / 2);
            let batch = &pending[..n];
            let first = next_seq;
            let published = inputs.try_batch_publish(n, |iter| {
                for (seq, (dst, src)) in (first..).zip(iter.zip(batch)) {
                    *dst = Inbound { seq, ..*src };
                }
            });
            if published.is_err() {
                break;
            }
            next_seq += n as i64;
            metrics.enqueued.fetch_add(n as u64, Ordering::Relaxed);
            if let Some(stages) = stages {
                stages.journal.wake();
                stages.engine.wake();
            }
            pending.drain(..n);
            busy = true;
        }
        if drain_reports(&mut outputs, &mut release, &mut io)? {
            busy = true;
        }
        if busy || config.spin {
            continue;
        }
        // Nothing to do: sleep until a frame or a report arrives. Announce the sleep,
        // then look at the output ring once more: a report published before the
        // announcement is seen here, one after it writes to the wake pipe.
        io_waker.going_to_sleep();
        if drain_reports(&mut outputs, &mut release, &mut io)? {
            io_waker.awake();
            continue;
        }
        let timeout = if pending.is_empty() { IDLE_POLL } else { 1 };
        let mut items = [
            io.wire.socket.as_poll_item(zmq::POLLIN),
            zmq::PollItem::from_fd(io_wakes.fd(), zmq::POLLIN),
        ];
        let _ = zmq::poll(&mut items, timeout);
        io_waker.awake();
        io_wakes.drain();
    }
    // Drain the pipeline: dropping the input producer lets the journal and engine stages
    // finish what is in the ring (the last batch is journaled before exit). The engine
    // may be waiting for room in the output ring, so keep draining it meanwhile — and
    // send the reports whose commands are durable; once both stages have ended, all are.
    // The stages' state goes with them (the engine stage's end of the output ring with
    // it, which ends the market data stage); this thread's handles go too.
    let closing = std::thread::spawn(move || {
        drop(inputs);
        drop((journal_stage, engine_stage));
    });
    loop {
        match drain_reports(&mut outputs, &mut release, &mut io) {
            Ok(true) => {}
            Ok(false) | Err(_) if !closing.is_finished() => {
                std::thread::sleep(std::time::Duration::from_micros(200))
            }
            Ok(false) | Err(_) => {
                let _ = drain_reports(&mut outputs, &mut release, &mut io);
                break;
            }
        }
    }
    let _ = closing.join();
    if let Some(t) = feed_thread {
        let _ = t.join(); // ends once the engine stage's producer is gone
    }
    Ok(())
}

/// Journals and executes `batch` on the calling thread — the I/O thread, while both
/// stages are idle — with the stages' own code and in their order: the batch is
/// appended and synced (its reports may leave once the engine has made them), then
/// executed. `readers_wanted` is called while the output ring is full; it must drain
/// it, since the caller is one of its readers.
fn run_inline(
    batch: &[Inbound],
    journal: &Mutex<JournalStage>,
    engine: &Mutex<EngineStage>,
    readers_wanted: &mut dyn FnMut(),
) {
    let last = batch.len().saturating_sub(1);
    let mut journal = journal.lock();
    for (i, slot) in batch.iter().enumerate() {
        journal.on(slot, i == last);
    }
    drop(journal);
    let mut engine = engine.lock();
    for (i, slot) in batch.iter().enumerate() {
        engine.on(slot, i == last, readers_wanted);
    }
}

/// The ROUTER socket and the buffer reports are encoded into.
struct Wire {
    socket: zmq::Socket,
    out: Vec<u8>,
    /// Counts the gateway's own refusals.
    metrics: Arc<GatewayMetrics>,
}

impl Wire {
    /// Reads one message into `identity` and `body` (reusing their buffers); whether it
    /// was exactly one frame after the identity (extra frames are read and dropped).
    fn receive(
        &mut self,
        identity: &mut zmq::Message,
        body: &mut zmq::Message,
    ) -> Result<bool, zmq::Error> {
        self.socket.recv(identity, zmq::DONTWAIT)?;
        if !identity.get_more() {
            return Ok(false);
        }
        // The rest of a multipart message is already here (ZeroMQ delivers it whole).
        self.socket.recv(body, 0)?;
        let mut whole = true;
        while body.get_more() {
            whole = false;
            self.socket.recv(body, 0)?;
        }
        Ok(whole)
    }

    /// Sends a report to a service session in its `FOR` envelope.
    fn for_request(&mut self, identity: &[u8], report: &ForRequest) {
        self.out.clear();
        encode_for(report, &mut self.out);
        self.flush(identity);
    }

    /// Sends what is in `out` to `identity`. A peer that is gone or too slow loses the
    /// report; its state is in the engine and the journal, and it can ask again after
    /// reconnecting.
    fn flush(&mut self, identity: &[u8]) {
        let _ = self
            .socket
            .send(identity, zmq::SNDMORE | zmq::DONTWAIT)
            .and_then(|()| self.socket.send(&self.out[..], zmq::DONTWAIT));
    }

    fn send(&mut self, identity: &[u8], msg: &ServerMsg) {
        self.out.clear();
        encode_server(msg, &mut self.out);
        self.flush(identity);
    }

    fn reject(
        &mut self,
        identity: &[u8],
        token: Option<bourse_core::ClientOrderId>,
        reason: bourse_core::RejectReason,
    ) {
        self.metrics.reject(RejectSource::Gateway, reason);
        self.send(
            identity,
            &ServerMsg::Rejected {
                token,
                reason,
                seq: 0,
            },
        );
    }
}

/// The I/O thread's state.
struct Io {
    wire: Wire,
    /// Round trips completed in the current drain of the output ring.
    reported: LocalHistogram,
    keys: SharedKeys,
    /// The keys as of `keys_version`.
    store: Arc<KeyStore>,
    keys_version: u64,
    throttle: u32,
    symbols: HashMap<Symbol, SymbolId>,
    sessions: HashMap<Vec<u8>, Session>,
    /// Where each user's reports go: the identity of its latest login.
    routes: HashMap<UserId, Vec<u8>>,
    /// Service sessions' identities; a session's handle is its index + 1.
    services: Vec<Vec<u8>>,
    /// Instruments a service asked to list, by (handle, request), until done.
    pending_symbols: HashMap<(u32, u64), Symbol>,
}

impl Io {
    /// Takes the key store if it was replaced, and logs out every session whose key
    /// is gone or now names another user (telling it with `LoginRejected`).
    fn refresh_keys(&mut self) {
        let version = self.keys.version();
        if version == self.keys_version {
            return;
        }
        self.keys_version = version;
        self.store = self.keys.current();
        let mut revoked = Vec::new();
        for (identity, s) in &mut self.sessions {
            if let (Some(key), Some(user)) = (s.key, s.user)
                && self.store.user_of(&key) != Some(user)
            {
                s.user = None;
                s.key = None;
                self.wire.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
                if self.routes.get(&user) == Some(identity) {
                    self.routes.remove(&user);
                }
                revoked.push(identity.clone());
            }
        }
        for identity in revoked {
            self.wire.send(
                &identity,
                &ServerMsg::LoginRejected {
                    reason: bourse_core::RejectReason::BadCredentials,
                },
            );
        }
    }

    /// Logs out the connection `old`, whose user `user` just logged in on another one
    /// (which now gets the user's reports), and tells it so rather than leaving it deaf.
    fn log_out_elsewhere(&mut self, old: &[u8], user: UserId) {
        let Some(s) = self.sessions.get_mut(old) else {
            return;
        };
        if s.user != Some(user) || s.service.is_some() {
            return;
        }
        s.user = None;
        s.key = None;
        self.wire.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
        self.wire.send(
            old,
            &ServerMsg::LoginRejected {
                reason: bourse_core::RejectReason::LoggedInElsewhere,
            },
        );
    }

    /// Handles one message (`whole`: exactly identity + one frame); returns the command
    /// to publish, if any.
    fn on_frame(&mut self, identity: &[u8], frame: &[u8], whole: bool) -> Option<Inbound> {
        if !whole {
            // A ROUTER message is identity + one frame; anything else is malformed.
            self.wire
                .reject(identity, None, bourse_core::RejectReason::BadLength);
            return None;
        }
        let now = Instant::now();
        if !self.sessions.contains_key(identity) {
            let session = Session {
                user: None,
                key: None,
                service: None,
                throttle: Throttle::new(self.throttle, now),
            };
            self.sessions.insert(identity.to_vec(), session);
        }
        let session = self.sessions.get_mut(identity)?;
        if !session.throttle.allow(now) {
            let token = decode_client(frame).ok().and_then(token_of);
            self.wire
                .reject(identity, token, bourse_core::RejectReason::Throttled);
            return None;
        }
        let user = session.user;
        let service = session.service;
        let msg = match decode_client(frame) {
            Ok(m) => m,
            Err(r) => {
                match (service, service_request(frame)) {
                    (Some(_), Some(request)) => {
                        self.wire.metrics.reject(RejectSource::Gateway, r.reason);
                        self.wire.for_request(
                            identity,
                            &ForRequest {
                                request,
                                user: 0,
                                last: true,
                                msg: ServerMsg::Rejected {
                                    token: r.token,
                                    reason: r.reason,
                                    seq: 0,
                                },
                            },
                        )
                    }
                    // A Login is answered by LoginAccepted or LoginRejected, even when
                    // it cannot be read (a key id that is not alpha16, a bad length).
                    _ if frame.get(1) == Some(&crate::protocol::kind::LOGIN) => {
                        self.wire.metrics.reject(RejectSource::Gateway, r.reason);
                        self.wire
                            .send(identity, &ServerMsg::LoginRejected { reason: r.reason });
                    }
                    _ => self.wire.reject(identity, r.token, r.reason),
                }
                return None;
            }
        };
        match (msg, user) {
            (ClientMsg::Login { key_id, secret }, _) => {
                match self.store.check(&key_id, &secret) {
                    Some(u) => {
                        let handle = self.store.is_service(&key_id).then(|| {
                            match self.services.iter().position(|s| s == identity) {
                                Some(i) => i as u32 + 1,
                                None => {
                                    self.services.push(identity.to_vec());
                                    self.services.len() as u32
                                }
                            }
                        });
                        if let Some(s) = self.sessions.get_mut(identity) {
                            if s.user.is_none() {
                                self.wire.metrics.sessions.fetch_add(1, Ordering::Relaxed);
                            }
                            s.user = Some(u);
                            s.key = Some(key_id);
                            s.service = handle;
                            if handle.is_some() {
                                // It carries every user's orders: no per-session cap.
                                s.throttle = Throttle::new(0, now);
                            }
                        }
                        let previous = self.routes.insert(u, identity.to_vec());
                        self.wire
                            .send(identity, &ServerMsg::LoginAccepted { user: u.0 });
                        if handle.is_none()
                            && let Some(old) = previous.filter(|old| old != identity)
                        {
                            self.log_out_elsewhere(&old, u);
                        }
                    }
                    None => {
                        self.wire.metrics.reject(
                            RejectSource::Gateway,
                            bourse_core::RejectReason::BadCredentials,
                        );
                        self.wire.send(
                            identity,
                            &ServerMsg::LoginRejected {
                                reason: bourse_core::RejectReason::BadCredentials,
                            },
                        )
                    }
                }
                None
            }
            (ClientMsg::Heartbeat, _) => {
                self.wire.send(identity, &ServerMsg::Heartbeat);
                None
            }
            (m, None) => {
                self.wire.reject(
                    identity,
                    token_of(m),
                    bourse_core::RejectReason::NotLoggedIn,
                );
                None
            }
            (ClientMsg::Enter(o), Some(user)) => Some(Inbound {
                cmd: service::new_order(user, &o, &self.symbols),
                order: Some(o),
                origin: Origin::default(),
                received: clock_ns(),
                seq: -1, // numbered when handed over
            }),
            (ClientMsg::Cancel { token }, Some(user)) => Some(Inbound {
                cmd: Command::Cancel { user, id: token },
                order: None,
                origin: Origin::default(),
                received: clock_ns(),
                seq: -1, // numbered when handed over
            }),
            (
                ClientMsg::Replace {
                    token,
                    new_token,
                    price,
                    qty,
                },
                Some(user),
            ) => Some(Inbound {
                cmd: Command::Replace {
                    user,
                    id: token,
                    new_id: new_token,
                    price,
                    qty,
                },
                order: None,
                origin: Origin::default(),
                received: clock_ns(),
                seq: -1, // numbered when handed over
            }),
            (ClientMsg::Service(m), Some(_)) => {
                let Some(handle) = service else {
                    self.wire.reject(
                        identity,
                        token_of(ClientMsg::Service(m)),
                        bourse_core::RejectReason::NotPrivileged,
                    );
                    return None;
                };
                if let ServiceMsg::AddInstrument {
                    request, symbol, ..
                } = m
                {
                    self.pending_symbols.insert((handle, request), symbol);
                }
                let (cmd, order) = service::command(&m, &self.symbols);
                Some(Inbound {
                    cmd,
                    order,
                    origin: Origin {
                        service: handle,
                        symbol: None,
                        request: m.request(),
                        user: m.user(),
                    },
                    received: clock_ns(),
                    seq: -1, // numbered when handed over
                })
            }
        }
    }

    /// Sends the reports an engine event means to the sessions it concerns: each user's
    /// latest login, and the service session that sent the command.
    fn report(&mut self, o: &Outbound) {
        if let EventKind::Rejected { reason, .. } = o.event.kind {
            self.wire.metrics.reject(RejectSource::Engine, reason);
        }
        let reports = service::reports(&o.event, o.order);
        if o.origin.service != 0
            && let Some((user, msg)) = reports.iter().rev().flatten().next()
        {
            let user = match msg {
                ServerMsg::Done { user, .. } => UserId(*user),
                _ => user.unwrap_or(UserId(0)),
            };
            self.report_to_service(o, user, *msg);
        }
        for (user, msg) in reports.iter().flatten() {
            if let Some(user) = user {
                self.send_to_user(*user, msg);
            }
        }
    }

    /// The service session that sent the command hears every event of it, in a `FOR`
    /// envelope with its request number; a listed instrument becomes known here.
    fn report_to_service(&mut self, o: &Outbound, user: UserId, msg: ServerMsg) {
        let key = (o.origin.service, o.origin.request);
        if let EventKind::Done {
            op: bourse_core::AdminOp::AddInstrument,
            ..
        } = o.event.kind
            && let (Some(symbol), Some(id)) = (self.pending_symbols.get(&key), o.origin.symbol)
        {
            self.symbols.insert(*symbol, id);
        }
        if o.last {
            self.pending_symbols.remove(&key);
        }
        if let Some(identity) = self.services.get(o.origin.service as usize - 1) {
            let report = ForRequest {
                request: o.origin.request,
                user: user.0,
                last: o.last,
                msg,
            };
            self.wire.for_request(identity, &report);
        }
    }

    fn send_to_user(&mut self, user: UserId, msg: &ServerMsg) {
        if let Some(identity) = self.routes.get(&user) {
            self.wire.send(identity, msg);
        }
    }
}

fn token_of(m: ClientMsg) -> Option<bourse_core::ClientOrderId> {
    match m {
        ClientMsg::Enter(o) => Some(o.token),
        ClientMsg::Cancel { token } | ClientMsg::Replace { token, .. } => Some(token),
        ClientMsg::Service(ServiceMsg::EnterFor { order, .. }) => Some(order.token),
        ClientMsg::Service(
            ServiceMsg::CancelFor { token, .. } | ServiceMsg::ReplaceFor { token, .. },
        ) => Some(token),
        ClientMsg::Login { .. } | ClientMsg::Heartbeat | ClientMsg::Service(_) => None,
    }
}

/// The request number of a service frame, if the frame is one and long enough to hold
/// it (so that even an undecodable request is answered in its envelope).
fn service_request(frame: &[u8]) -> Option<u64> {
    use crate::protocol::kind;
    let k = *frame.get(1)?;
    let bytes: [u8; 8] = frame.get(4..12)?.try_into().ok()?;
    kind::is_service(k).then(|| u64::from_le_bytes(bytes))
}

/// The longest the idle I/O loop sleeps before it looks at the shutdown flag, in ms.
const IDLE_POLL: i64 = 50;

/// Sends the reports whose commands are durable — those held back before, then those
/// waiting in the output ring — and holds back the rest (`release`); whether it sent or
/// took in any.
fn drain_reports(
    outputs: &mut disruptor::EventPoller<Outbound, disruptor::SingleProducerBarrier>,
    release: &mut Release<Outbound>,
    io: &mut Io,
) -> Result<bool, GatewayError> {
    let mut send = |o: &Outbound| {
        io.report(o);
        if o.last && o.received != 0 {
            io.reported.record(clock_ns().saturating_sub(o.received));
        }
    };
    let mut progress = release.pass(std::iter::empty(), &mut send) > 0;
    let polled = match outputs.poll() {
        Ok(mut guard) => {
            release.pass(&mut guard, &mut send);
            progress = true;
            Ok(progress)
        }
        Err(Polling::NoEvents) => Ok(progress),
        Err(Polling::Shutdown) => Err(GatewayError::Shutdown),
    };
    io.reported.flush(io.wire.metrics.stage(Stage::Reported));
    polled
}
