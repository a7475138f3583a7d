//! The running gateway: the ZeroMQ I/O loop and the ring-buffer pipeline behind it.
//!
//! ```text
//!  clients ──DEALER──▶ ROUTER (I/O thread: decode, login, throttle)
//!                        │ publish Inbound                    ▲ send reports
//!                        ▼                                    │
//!        input ring ─▶ journal stage ─▶ engine stage ─▶ output ring (polled by I/O)
//!                      append; fsync      execute on its
//!                      per batch          own (pinned) core
//! ```
//!
//! # Ordering and durability
//! The engine stage sees a batch only after the journal stage has appended every
//! command of it and `fdatasync`ed it at the batch's end (the disruptor publishes a
//! consumer's progress per batch), so every report leaving the gateway is about a
//! command that is already durable: an `Accepted` is never lost by a crash.
//!
//! # Threads
//! Three: the I/O thread (the caller's), the journal stage and the engine stage. With
//! `spin`, the stages busy-spin (for dedicated cores); otherwise they back off from
//! spinning to yielding to short sleeps when idle ([`Backoff`]), which suits machines
//! with few cores (and CI).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bourse_core::{
    Command, Engine, EngineConfig, Event, EventKind, NewOrder, Symbol, SymbolId, UserId,
};
use bourse_journal::{Journal, Snapshotter};
use disruptor::wait_strategies::WaitStrategy;
use disruptor::{
    BusySpinWithSpinLoopHint, Polling, ProcessorSettings, Producer, build_single_producer,
};

use crate::keys::KeyStore;
use crate::protocol::{ClientMsg, EnterOrder, Liquidity, ServerMsg, decode_client, encode_server};
use crate::session::{Session, Throttle};

/// How the gateway runs.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// ZeroMQ endpoint to bind, e.g. `tcp://127.0.0.1:5555` (`:*` picks a free port).
    pub bind: String,
    /// Journal and snapshots.
    pub data_dir: PathBuf,
    /// Accepted API keys.
    pub keys: KeyStore,
    /// Messages per second per session (0: unlimited).
    pub throttle: u32,
    /// Pin the engine stage to this core.
    pub engine_core: Option<usize>,
    /// Busy-spin the pipeline stages instead of yielding when idle.
    pub spin: bool,
    /// Ring size (a power of two).
    pub ring_size: usize,
    /// Take a snapshot every this many commands (0: never).
    pub snapshot_every: u64,
    /// Engine preallocation.
    pub engine: EngineConfig,
    /// Commands applied (and journaled) once, when the journal is empty: instruments,
    /// users, deposits.
    pub bootstrap: Vec<Command>,
}

impl GatewayConfig {
    /// Defaults for a data directory and key store: `tcp://127.0.0.1:5555`, 10,000
    /// messages a second per session, yielding stages, 64Ki-slot rings.
    pub fn new(data_dir: impl Into<PathBuf>, keys: KeyStore) -> Self {
        GatewayConfig {
            bind: "tcp://127.0.0.1:5555".into(),
            data_dir: data_dir.into(),
            keys,
            throttle: 10_000,
            engine_core: None,
            spin: false,
            ring_size: 1 << 16,
            snapshot_every: 1_000_000,
            engine: EngineConfig::default(),
            bootstrap: Vec::new(),
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
}

/// A command on its way through the pipeline, with the order it came from (echoed in
/// the `Accepted` report).
#[derive(Clone, Copy, Debug)]
struct Inbound {
    cmd: Command,
    order: Option<EnterOrder>,
}

/// An engine event on its way back, with the order of the command that caused it.
#[derive(Clone, Copy, Debug)]
struct Outbound {
    event: Event,
    order: Option<EnterOrder>,
}

fn empty_inbound() -> Inbound {
    Inbound {
        cmd: Command::EndOfDay,
        order: None,
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
    }
}

/// Waits with progressive back-off, for machines where the stages share cores with
/// the I/O threads: spins briefly (the next event is usually microseconds away under
/// load), then yields, then sleeps in short naps so an idle stage gives its core away.
#[derive(Clone, Copy, Debug)]
pub struct Backoff;

thread_local! {
    /// (sequence waited for, calls so far) of this thread's current wait.
    static WAITING: std::cell::Cell<(i64, u32)> = const { std::cell::Cell::new((-1, 0)) };
}

impl WaitStrategy for Backoff {
    fn wait_for(&self, sequence: i64) {
        let calls = WAITING.with(|w| {
            let (seq, n) = w.get();
            let n = if seq == sequence {
                n.saturating_add(1)
            } else {
                0
            };
            w.set((sequence, n));
            n
        });
        if calls < 100 {
            std::hint::spin_loop();
        } else if calls < 2_000 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

/// What the gateway says once it is listening.
#[derive(Clone, Debug)]
pub struct Ready {
    /// The endpoint actually bound (with the real port).
    pub endpoint: String,
    /// The last command recovered from the journal.
    pub recovered_seq: u64,
}

/// Recovers the engine from the journal, then serves until `shutdown` is set.
/// `on_ready` is called once the socket is bound.
pub fn run(
    config: GatewayConfig,
    shutdown: Arc<AtomicBool>,
    on_ready: impl FnOnce(Ready),
) -> Result<(), GatewayError> {
    if config.spin {
        run_with(config, shutdown, on_ready, BusySpinWithSpinLoopHint)
    } else {
        run_with(config, shutdown, on_ready, Backoff)
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
    last_snapshot: u64,
}

impl JournalStage {
    fn on(&mut self, cmd: &Command, end_of_batch: bool) {
        self.journal.append(cmd);
        if !end_of_batch {
            return;
        }
        let durable = match self.journal.commit() {
            Ok(d) => d,
            Err(e) => abort("journal commit", &e),
        };
        if let Some(done) = self.snapshots.finished() {
            match done {
                Ok(seq) => {
                    if let Err(e) = self.journal.prune(seq) {
                        eprintln!("bourse-gateway: pruning after snapshot {seq}: {e}");
                    }
                }
                Err(e) => eprintln!("bourse-gateway: snapshot failed (journal kept): {e}"),
            }
        }
        if self.every > 0 && durable - self.last_snapshot >= self.every && !self.snapshots.busy() {
            if let Err(e) = self.journal.rotate() {
                abort("journal rotate", &e);
            }
            self.snapshots.start(durable);
            self.last_snapshot = durable;
        }
    }
}

fn run_with<W: WaitStrategy + 'static>(
    config: GatewayConfig,
    shutdown: Arc<AtomicBool>,
    on_ready: impl FnOnce(Ready),
    wait: W,
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
    let mut journal = Journal::open(&config.data_dir, rec.last_seq + 1)?;
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
    let (mut outputs, out_builder) =
        build_single_producer(ring, empty_outbound, wait).new_event_poller();
    let mut out_producer = out_builder.build();

    let mut journal_stage = JournalStage {
        journal,
        snapshots: Snapshotter::new(&config.data_dir, config.engine),
        every: config.snapshot_every,
        last_snapshot: rec.last_seq,
    };
    let mut engine_stage = {
        let mut engine = engine;
        let mut events: Vec<Event> = Vec::with_capacity(1024);
        let mut buf: Vec<Outbound> = Vec::with_capacity(ring);
        let chunk = (ring / 2).max(1);
        move |slot: &Inbound, _seq: i64, end_of_batch: bool| {
            events.clear();
            engine.execute(&slot.cmd, &mut events);
            buf.extend(events.iter().map(|&event| Outbound {
                event,
                order: slot.order,
            }));
            if end_of_batch || buf.len() >= chunk {
                for part in buf.chunks(chunk) {
                    out_producer.batch_publish(part.len(), |iter| {
                        for (dst, src) in iter.zip(part) {
                            *dst = *src;
                        }
                    });
                }
                buf.clear();
            }
        }
    };
    let builder = build_single_producer(ring, empty_inbound, wait)
        .thread_name("bourse-journal")
        .handle_events_with(move |slot: &Inbound, _seq: i64, end: bool| {
            journal_stage.on(&slot.cmd, end)
        })
        .and_then()
        .thread_name("bourse-engine");
    let builder = match config.engine_core {
        Some(core) => builder.pin_at_core(core),
        None => builder,
    };
    let mut inputs = builder
        .handle_events_with(move |slot: &Inbound, seq: i64, end: bool| engine_stage(slot, seq, end))
        .build();

    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::ROUTER)?;
    socket.set_linger(0)?;
    socket.set_sndhwm(100_000)?;
    socket.set_rcvhwm(100_000)?;
    socket.bind(&config.bind)?;
    let endpoint = socket
        .get_last_endpoint()?
        .unwrap_or_else(|_| config.bind.clone());
    on_ready(Ready {
        endpoint,
        recovered_seq: rec.last_seq,
    });

    let mut io = Io {
        socket,
        keys: config.keys,
        throttle: config.throttle,
        symbols,
        sessions: HashMap::new(),
        routes: HashMap::new(),
        out: Vec::with_capacity(128),
    };
    let mut pending: Vec<Inbound> = Vec::with_capacity(256);
    let mut last_active = Instant::now();
    while !shutdown.load(Ordering::Relaxed) {
        let mut busy = false;
        // Read frames only while the ring keeps up: what cannot be published waits in
        // ZeroMQ's queues (backpressure), never in an unbounded buffer here.
        if pending.len() < 256 {
            for _ in 0..256 {
                match io.socket.recv_multipart(zmq::DONTWAIT) {
                    Ok(parts) => {
                        busy = true;
                        if let Some(inbound) = io.on_frame(&parts) {
                            pending.push(inbound);
                        }
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        // One batch into the ring (the journal commits it with one fsync), as much as
        // the ring has room for. Never block here: this thread also drains the output
        // ring, and the engine may be waiting for room there.
        while !pending.is_empty() {
            let n = pending.len().min(ring / 2);
            let batch = &pending[..n];
            let published = inputs.try_batch_publish(n, |iter| {
                for (dst, src) in iter.zip(batch) {
                    *dst = *src;
                }
            });
            if published.is_err() {
                break;
            }
            pending.drain(..n);
            busy = true;
        }
        match outputs.poll() {
            Ok(mut guard) => {
                busy = true;
                for o in &mut guard {
                    io.report(o);
                }
            }
            Err(Polling::NoEvents) => {}
            Err(Polling::Shutdown) => break,
        }
        if busy {
            last_active = Instant::now();
        } else if last_active.elapsed() < IDLE_POLL {
            // Reports may be on their way through the pipeline: stay responsive, but
            // let the pipeline threads run.
            let _ = io.socket.poll(zmq::POLLIN, 0);
            std::thread::yield_now();
        } else {
            // Idle: wait for a frame for at most a millisecond (outputs are polled
            // again right after).
            let _ = io.socket.poll(zmq::POLLIN, IDLE_POLL.as_millis() as i64);
        }
    }
    drop(inputs); // drains the pipeline: the last batch is journaled before exit
    Ok(())
}

/// The I/O thread's state.
struct Io {
    socket: zmq::Socket,
    keys: KeyStore,
    throttle: u32,
    symbols: HashMap<Symbol, SymbolId>,
    sessions: HashMap<Vec<u8>, Session>,
    /// Where each user's reports go: the identity of its latest login.
    routes: HashMap<UserId, Vec<u8>>,
    out: Vec<u8>,
}

impl Io {
    fn send(&mut self, identity: &[u8], msg: &ServerMsg) {
        self.out.clear();
        encode_server(msg, &mut self.out);
        // A peer that is gone or too slow loses the report; its state is in the engine
        // and the journal, and it can ask again after reconnecting.
        let _ = self
            .socket
            .send(identity, zmq::SNDMORE | zmq::DONTWAIT)
            .and_then(|()| self.socket.send(&self.out[..], zmq::DONTWAIT));
    }

    fn reject(
        &mut self,
        identity: &[u8],
        token: Option<bourse_core::ClientOrderId>,
        reason: bourse_core::RejectReason,
    ) {
        self.send(
            identity,
            &ServerMsg::Rejected {
                token,
                reason,
                seq: 0,
            },
        );
    }

    /// Handles one frame; returns the command to publish, if any.
    fn on_frame(&mut self, parts: &[Vec<u8>]) -> Option<Inbound> {
        let [identity, frame] = parts else {
            // A ROUTER message is identity + one frame; anything else is malformed.
            if let Some(id) = parts.first() {
                let id = id.clone();
                self.reject(&id, None, bourse_core::RejectReason::BadLength);
            }
            return None;
        };
        let now = Instant::now();
        let throttle = self.throttle;
        let session = self
            .sessions
            .entry(identity.clone())
            .or_insert_with(|| Session {
                user: None,
                throttle: Throttle::new(throttle, now),
            });
        if !session.throttle.allow(now) {
            let token = decode_client(frame).ok().and_then(token_of);
            self.reject(identity, token, bourse_core::RejectReason::Throttled);
            return None;
        }
        let user = session.user;
        let msg = match decode_client(frame) {
            Ok(m) => m,
            Err(r) => {
                self.reject(identity, r.token, r.reason);
                return None;
            }
        };
        match (msg, user) {
            (ClientMsg::Login { key_id, secret }, _) => {
                match self.keys.check(&key_id, &secret) {
                    Some(u) => {
                        if let Some(s) = self.sessions.get_mut(identity.as_slice()) {
                            s.user = Some(u);
                        }
                        self.routes.insert(u, identity.clone());
                        self.send(identity, &ServerMsg::LoginAccepted { user: u.0 });
                    }
                    None => self.send(
                        identity,
                        &ServerMsg::LoginRejected {
                            reason: bourse_core::RejectReason::BadCredentials,
                        },
                    ),
                }
                None
            }
            (ClientMsg::Heartbeat, _) => {
                self.send(identity, &ServerMsg::Heartbeat);
                None
            }
            (m, None) => {
                self.reject(
                    identity,
                    token_of(m),
                    bourse_core::RejectReason::NotLoggedIn,
                );
                None
            }
            (ClientMsg::Enter(o), Some(user)) => Some(Inbound {
                cmd: Command::New(NewOrder {
                    user,
                    id: o.token,
                    symbol: self
                        .symbols
                        .get(&o.symbol)
                        .copied()
                        .unwrap_or(SymbolId::UNKNOWN),
                    side: o.side,
                    order_type: o.order_type,
                    price: o.price,
                    qty: o.qty,
                    tif: o.tif,
                    post_only: o.post_only,
                }),
                order: Some(o),
            }),
            (ClientMsg::Cancel { token }, Some(user)) => Some(Inbound {
                cmd: Command::Cancel { user, id: token },
                order: None,
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
            }),
        }
    }

    /// Sends the reports an engine event means to the sessions it concerns.
    fn report(&mut self, o: &Outbound) {
        let seq = o.event.seq.0;
        match o.event.kind {
            EventKind::Accepted {
                user,
                id,
                side,
                price,
                qty,
                ..
            } => {
                let order = o.order.unwrap_or(EnterOrder {
                    token: id,
                    symbol: Symbol::default(),
                    side,
                    order_type: if price.is_some() {
                        bourse_core::OrderType::Limit
                    } else {
                        bourse_core::OrderType::Market
                    },
                    tif: bourse_core::TimeInForce::Gtc,
                    post_only: false,
                    price: price.unwrap_or_default(),
                    qty,
                });
                self.send_to_user(user, &ServerMsg::Accepted { order, seq });
            }
            EventKind::Rejected {
                user: Some(user),
                id,
                reason,
            } => self.send_to_user(
                user,
                &ServerMsg::Rejected {
                    token: id,
                    reason,
                    seq,
                },
            ),
            EventKind::Trade {
                price,
                qty,
                maker_user,
                maker_id,
                maker_leaves,
                taker_user,
                taker_id,
                taker_leaves,
                ..
            } => {
                self.send_to_user(
                    maker_user,
                    &ServerMsg::Executed {
                        token: maker_id,
                        exec_id: seq,
                        price,
                        qty,
                        leaves: maker_leaves,
                        liquidity: Liquidity::Added,
                    },
                );
                self.send_to_user(
                    taker_user,
                    &ServerMsg::Executed {
                        token: taker_id,
                        exec_id: seq,
                        price,
                        qty,
                        leaves: taker_leaves,
                        liquidity: Liquidity::Removed,
                    },
                );
            }
            EventKind::Canceled {
                user,
                id,
                qty,
                reason,
            } => self.send_to_user(
                user,
                &ServerMsg::Canceled {
                    token: id,
                    qty,
                    reason,
                    seq,
                },
            ),
            EventKind::Replaced {
                user,
                id,
                new_id,
                price,
                qty,
            } => self.send_to_user(
                user,
                &ServerMsg::Replaced {
                    token: id,
                    new_token: new_id,
                    price,
                    qty,
                    seq,
                },
            ),
            EventKind::Rejected { user: None, .. } | EventKind::Done { .. } => {}
        }
    }

    fn send_to_user(&mut self, user: UserId, msg: &ServerMsg) {
        if let Some(identity) = self.routes.get(&user) {
            let identity = identity.clone();
            self.send(&identity, msg);
        }
    }
}

fn token_of(m: ClientMsg) -> Option<bourse_core::ClientOrderId> {
    match m {
        ClientMsg::Enter(o) => Some(o.token),
        ClientMsg::Cancel { token } | ClientMsg::Replace { token, .. } => Some(token),
        ClientMsg::Login { .. } | ClientMsg::Heartbeat => None,
    }
}

/// How long the I/O loop keeps spinning after its last activity (reports may still be
/// in the pipeline), and then how long it blocks waiting for a frame.
pub const IDLE_POLL: Duration = Duration::from_millis(2);
