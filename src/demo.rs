//! The demo: three instruments, six funded users, four simulated market makers quoting
//! both sides over the binary gateway and two takers crossing the spread, with a
//! status line once a second — an exchange at work within a minute. `bourse --demo`
//! (the whole platform) registers them through the user service
//! ([`crate::all_cmd`]); `bourse serve --demo` (the engine alone) has them in its
//! bootstrap and key file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bourse_core::{
    Asset, Command, FixedStr, OrderType, Price, Qty, RejectReason, Side, SymbolId, TimeInForce,
    UserId,
};
use bourse_feeds::{DepthReplica, MarketData};
use bourse_gateway::keys::KeyStore;
use bourse_gateway::metrics::{Counts, GatewayMetrics, Stage};
use bourse_gateway::protocol::{ClientMsg, EnterOrder, ServerMsg, decode_server, encode_client};
use hdrhistogram::Histogram;

const SYMBOLS: [(&str, i64); 3] = [("ACME", 10_000), ("BOLT", 5_000), ("CRNK", 2_500)];
/// The demo's companies, in [`SYMBOLS`]' order.
const NAMES: [&str; 3] = ["Acme Corporation", "Bolt Industries", "Crank Motors"];
const MAKERS: u64 = 4;
const TAKERS: u64 = 2;

fn fixed(s: &str) -> FixedStr {
    FixedStr::new(s).unwrap_or_default()
}

/// A simulated participant: its user and the API key it logs in with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Participant {
    /// The user (for its random stream).
    pub(crate) user: u64,
    /// The key id.
    pub(crate) key_id: FixedStr,
    /// The secret.
    pub(crate) secret: [u8; 32],
}

/// How many participants the demo runs: market makers, then takers.
pub(crate) const PARTICIPANTS: u64 = MAKERS + TAKERS;

/// The engine-only demo's participants: users 1 to 6, key `demo-N`.
pub(crate) fn engine_participants() -> Vec<Participant> {
    (1..=PARTICIPANTS)
        .map(|user| Participant {
            user,
            key_id: fixed(&format!("demo-{user}")),
            secret: [user as u8; 32],
        })
        .collect()
}

/// The engine-only demo's API keys.
pub(crate) fn keys() -> KeyStore {
    let mut k = KeyStore::default();
    for p in engine_participants() {
        k.insert(p.key_id, UserId(p.user), &p.secret);
    }
    k
}

/// The demo's instruments: (ticker, opening price in cents).
pub(crate) fn symbols() -> impl Iterator<Item = (&'static str, i64)> {
    SYMBOLS.iter().copied()
}

/// The demo's instruments: (ticker, company name).
pub(crate) fn names() -> impl Iterator<Item = (&'static str, &'static str)> {
    SYMBOLS.iter().map(|s| s.0).zip(NAMES)
}

/// Instruments, users and deposits, applied on the first start.
pub(crate) fn bootstrap() -> Vec<Command> {
    let mut cmds: Vec<Command> = SYMBOLS
        .iter()
        .map(|(s, _)| Command::AddInstrument {
            symbol: fixed(s),
            tick: Price(1),
            lot: Qty(1),
        })
        .collect();
    for u in 1..=MAKERS + TAKERS {
        cmds.push(Command::AddUser { user: UserId(u) });
        cmds.push(Command::Deposit {
            user: UserId(u),
            asset: Asset::Cash,
            amount: 10_000_000_000,
        });
        for s in 0..SYMBOLS.len() as u32 {
            cmds.push(Command::Deposit {
                user: UserId(u),
                asset: Asset::Shares(SymbolId(s)),
                amount: 10_000_000,
            });
        }
    }
    cmds
}

#[derive(Default)]
struct Stats {
    sent: AtomicU64,
    reports: AtomicU64,
    fills: AtomicU64,
    /// Cancels and replaces of orders that had already left the book (filled, most
    /// often): the race every market maker runs, refused `unknown_order`.
    late: AtomicU64,
    /// Every other refusal.
    rejects: AtomicU64,
    /// Price levels in the books' top 20 per side, from the market data feed.
    levels: AtomicU64,
    /// Shares resting in those levels.
    depth: AtomicU64,
}

/// A demo participant's connection.
struct Conn {
    socket: zmq::Socket,
    _ctx: zmq::Context,
    buf: Vec<u8>,
    sent_at: HashMap<FixedStr, Instant>,
}

impl Conn {
    fn open(endpoint: &str, who: Participant) -> Option<Conn> {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::DEALER).ok()?;
        socket.set_linger(0).ok()?;
        socket.connect(endpoint).ok()?;
        let mut c = Conn {
            socket,
            _ctx: ctx,
            buf: Vec::with_capacity(64),
            sent_at: HashMap::new(),
        };
        c.send(&ClientMsg::Login {
            key_id: who.key_id,
            secret: who.secret,
        });
        Some(c)
    }

    fn send(&mut self, m: &ClientMsg) {
        self.buf.clear();
        encode_client(m, &mut self.buf);
        let _ = self.socket.send(&self.buf[..], 0);
        let token = match m {
            ClientMsg::Enter(o) => Some(o.token),
            ClientMsg::Replace { new_token, .. } => Some(*new_token),
            _ => None,
        };
        if let Some(t) = token {
            self.sent_at.insert(t, Instant::now());
        }
    }

    /// Reads reports for `period`, each as it arrives (so that round trips are
    /// measured when the report comes, not when the loop next looks); calls `on`.
    fn read_for(
        &mut self,
        period: Duration,
        rtt: &Mutex<Histogram<u64>>,
        stats: &Stats,
        mut on: impl FnMut(ServerMsg),
    ) {
        let until = Instant::now() + period;
        while Instant::now() < until {
            let wait = until.saturating_duration_since(Instant::now()).as_millis() as i64;
            let _ = self.socket.poll(zmq::POLLIN, wait.max(1));
            self.drain(rtt, stats, &mut on);
        }
    }

    /// Reads every report waiting; calls `on` with each.
    fn drain(&mut self, rtt: &Mutex<Histogram<u64>>, stats: &Stats, mut on: impl FnMut(ServerMsg)) {
        while let Ok(frame) = self.socket.recv_bytes(zmq::DONTWAIT) {
            let Ok(msg) = decode_server(&frame) else {
                continue;
            };
            stats.reports.fetch_add(1, Ordering::Relaxed);
            let token = match msg {
                ServerMsg::Accepted { order, .. } => Some(order.token),
                ServerMsg::Replaced { new_token, .. } => Some(new_token),
                ServerMsg::Rejected { token, reason, .. } => {
                    let counter = if reason == RejectReason::UnknownOrder {
                        &stats.late
                    } else {
                        &stats.rejects
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    token
                }
                ServerMsg::Executed { .. } => {
                    stats.fills.fetch_add(1, Ordering::Relaxed);
                    None
                }
                _ => None,
            };
            if let Some(t0) = token.and_then(|t| self.sent_at.remove(&t))
                && let Ok(mut h) = rtt.lock()
            {
                let _ = h.record(t0.elapsed().as_micros() as u64);
            }
            on(msg);
        }
    }
}

/// A tiny deterministic generator for the demo's prices.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A maker's quote on one side of one book.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    /// Nothing open: enter a new order.
    Empty,
    /// Sent, not yet confirmed: the new token, and the token it replaces (a refused
    /// replace is reported under the old one).
    Pending(FixedStr, Option<FixedStr>),
    /// Open on the book: may be replaced.
    Live(FixedStr),
}

impl Quote {
    /// Whether a report about `token` concerns this quote.
    fn is(&self, token: FixedStr) -> bool {
        match *self {
            Quote::Empty => false,
            Quote::Live(t) => t == token,
            Quote::Pending(t, old) => t == token || old == Some(token),
        }
    }
}

fn maker(
    endpoint: String,
    who: Participant,
    pace: Duration,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    rtt: Arc<Mutex<Histogram<u64>>>,
) {
    let user = who.user;
    let Some(mut c) = Conn::open(&endpoint, who) else {
        return;
    };
    let mut rng = Lcg(user);
    let mut mids: Vec<i64> = SYMBOLS.iter().map(|s| s.1).collect();
    let mut quotes = vec![Quote::Empty; SYMBOLS.len() * 2];
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for (i, q) in quotes.iter_mut().enumerate() {
            let (sym, buy) = (i / 2, i % 2 == 0);
            if buy {
                mids[sym] += rng.below(3) as i64 - 1;
            }
            n += 1;
            let token = fixed(&format!("q{user}x{n}"));
            let off = 1 + rng.below(5) as i64;
            let price = Price(if buy {
                mids[sym] - off
            } else {
                mids[sym] + off
            });
            let qty = Qty(10 + rng.below(90) as i64);
            let (msg, old) = match *q {
                Quote::Pending(..) => continue,
                Quote::Live(old) => (
                    ClientMsg::Replace {
                        token: old,
                        new_token: token,
                        price,
                        qty,
                    },
                    Some(old),
                ),
                Quote::Empty => (
                    ClientMsg::Enter(EnterOrder {
                        token,
                        symbol: fixed(SYMBOLS[sym].0),
                        side: if buy { Side::Buy } else { Side::Sell },
                        order_type: OrderType::Limit,
                        tif: TimeInForce::Gtc,
                        post_only: false,
                        price,
                        qty,
                    }),
                    None,
                ),
            };
            c.send(&msg);
            *q = Quote::Pending(token, old);
            stats.sent.fetch_add(1, Ordering::Relaxed);
        }
        c.read_for(pace, &rtt, &stats, |m| {
            let (token, next) = match m {
                ServerMsg::Accepted { order, .. } => (order.token, Quote::Live(order.token)),
                ServerMsg::Replaced { new_token, .. } => (new_token, Quote::Live(new_token)),
                ServerMsg::Executed { token, leaves, .. } if leaves.0 == 0 => (token, Quote::Empty),
                ServerMsg::Canceled { token, .. } => (token, Quote::Empty),
                ServerMsg::Rejected { token: Some(t), .. } => (t, Quote::Empty),
                _ => return,
            };
            if let Some(q) = quotes.iter_mut().find(|q| q.is(token)) {
                *q = next;
            }
        });
    }
}

fn taker(
    endpoint: String,
    who: Participant,
    pace: Duration,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    rtt: Arc<Mutex<Histogram<u64>>>,
) {
    let user = who.user;
    let Some(mut c) = Conn::open(&endpoint, who) else {
        return;
    };
    let mut rng = Lcg(user * 7);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let s = rng.below(SYMBOLS.len() as u64) as usize;
        let buy = rng.below(2) == 0;
        let mid = SYMBOLS[s].1;
        c.send(&ClientMsg::Enter(EnterOrder {
            token: fixed(&format!("t{user}x{n}")),
            symbol: fixed(SYMBOLS[s].0),
            side: if buy { Side::Buy } else { Side::Sell },
            order_type: OrderType::Limit,
            tif: TimeInForce::Ioc,
            post_only: false,
            price: Price(if buy { mid + 50 } else { mid - 50 }),
            qty: Qty(1 + rng.below(40) as i64),
        }));
        stats.sent.fetch_add(1, Ordering::Relaxed);
        // Its reports as they arrive, until the next order is due. (Sleeping first
        // and reading after made every taker round trip at least 10 ms.)
        c.read_for(pace, &rtt, &stats, |_| {});
    }
}

/// Follows the market data feed and keeps the book depth in `stats`: what a market
/// data subscriber sees (snapshot + numbered updates, resynchronizing after a gap).
/// It subscribes to the depth channels alone, as a depth replica should: the tops,
/// trades and candles it would only parse and drop are then not even sent (a PUB
/// socket filters by topic before sending). That saves the demo ~0.3 s of CPU in 12
/// and the gateway's ZeroMQ thread the sends (PERF.md, "The demo's round trip taken
/// apart").
fn watch_book(feed: String, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    let ctx = zmq::Context::new();
    let Ok(sub) = ctx.socket(zmq::SUB) else {
        return;
    };
    let subscribed = SYMBOLS.iter().all(|(name, ..)| {
        [".depth", ".snapshot"].iter().all(|channel| {
            sub.set_subscribe(format!("{name}{channel}").as_bytes())
                .is_ok()
        })
    });
    if !subscribed || sub.connect(&feed).is_err() {
        return;
    }
    let mut books: Vec<DepthReplica> = SYMBOLS
        .iter()
        .map(|(name, ..)| DepthReplica::new(name))
        .collect();
    while !stop.load(Ordering::Relaxed) {
        if sub.poll(zmq::POLLIN, 100).unwrap_or(0) == 0 {
            continue;
        }
        let Ok(parts) = sub.recv_multipart(0) else {
            continue;
        };
        let Some(Ok(msg)) = parts
            .get(1)
            .map(|body| serde_json::from_slice::<MarketData>(body))
        else {
            continue;
        };
        for (book, (name, ..)) in books.iter_mut().zip(SYMBOLS) {
            if book.on_message(&msg).is_err() {
                *book = DepthReplica::new(name); // a gap: wait for the next snapshot
            }
        }
        let levels = books
            .iter()
            .flat_map(|b| b.bids().into_iter().chain(b.asks()));
        let (n, qty) = levels.fold((0, 0), |(n, q), l| (n + 1, q + l.qty as u64));
        stats.levels.store(n, Ordering::Relaxed);
        stats.depth.store(qty, Ordering::Relaxed);
    }
}

/// The gateway's share of the round trip, window by window, from its own histograms.
pub(crate) struct Inside {
    metrics: Arc<GatewayMetrics>,
    at_start: Window,
}

/// What the gateway recorded over a window.
#[derive(Clone, Default)]
pub(crate) struct Window {
    /// From each command's arrival to its last report handed to ZeroMQ.
    pub(crate) reported: Counts,
    /// The journal's syncs.
    pub(crate) fsync: Counts,
    /// Commands executed.
    pub(crate) executed: u64,
}

impl Inside {
    /// Starts the first window now.
    pub(crate) fn new(metrics: Arc<GatewayMetrics>) -> Self {
        Inside {
            at_start: Self::now(&metrics),
            metrics,
        }
    }

    fn now(metrics: &GatewayMetrics) -> Window {
        Window {
            reported: metrics.stage(Stage::Reported).counts(),
            fsync: metrics.fsync().counts(),
            executed: metrics.executed(),
        }
    }

    /// What the gateway did since the last call (or since [`Inside::new`]); starts the
    /// next window.
    pub(crate) fn take(&mut self) -> Window {
        let now = Self::now(&self.metrics);
        let window = Window {
            reported: now.reported.since(&self.at_start.reported),
            fsync: now.fsync.since(&self.at_start.fsync),
            executed: now.executed - self.at_start.executed,
        };
        self.at_start = now;
        window
    }

    /// The status line's part: the time from a command's arrival to its last report,
    /// the journal's syncs and how many commands each covered, since the last call.
    fn line(&mut self) -> String {
        let w = self.take();
        let per_sync = w.executed as f64 / w.fsync.total().max(1) as f64;
        format!(
            " (in the gateway p50 {:.0} µs, p99 {:.0} µs; fsync p50 {:.0} µs, {per_sync:.1} commands each)",
            w.reported.quantile(0.5) / 1e3,
            w.reported.quantile(0.99) / 1e3,
            w.fsync.quantile(0.5) / 1e3,
        )
    }
}

/// Starts the simulated participants and the status line against `endpoint`, with
/// book depth from the market data feed if there is one.
pub(crate) fn start(
    endpoint: String,
    feed: Option<String>,
    gateway: Arc<GatewayMetrics>,
    stop: Arc<AtomicBool>,
) {
    start_with(
        endpoint,
        feed,
        engine_participants(),
        PACE,
        Some(gateway),
        stop,
    );
}

/// How long a market maker waits for its reports between rounds of quotes (a taker
/// waits twice as long between orders): about 3,000 orders a second in all.
pub(crate) const PACE: Duration = Duration::from_millis(5);

/// As [`start`], with these participants (the first four make markets, the rest
/// take) at this pace ([`PACE`] by default; longer is gentler), and the gateway's own
/// timings on the status line if it runs in this process.
pub(crate) fn start_with(
    endpoint: String,
    feed: Option<String>,
    participants: Vec<Participant>,
    pace: Duration,
    gateway: Option<Arc<GatewayMetrics>>,
    stop: Arc<AtomicBool>,
) {
    let crowd = launch(endpoint, feed, participants, pace, stop.clone());
    let (stats, rtt) = (crowd.stats.clone(), crowd.rtt.clone());
    std::thread::spawn(move || {
        let (mut last_sent, mut last_reports) = (0, 0);
        let mut inside = gateway.map(Inside::new);
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_secs(1));
            let sent = stats.sent.load(Ordering::Relaxed);
            let reports = stats.reports.load(Ordering::Relaxed);
            let h = take(&rtt);
            eprintln!(
                "demo: {} orders/s in, {} reports/s out | fills {} | too late to cancel {} | rejects {} | book depth {} levels, {} shares | round trip p50 {} µs, p99 {} µs{}",
                sent - last_sent,
                reports - last_reports,
                stats.fills.load(Ordering::Relaxed),
                stats.late.load(Ordering::Relaxed),
                stats.rejects.load(Ordering::Relaxed),
                stats.levels.load(Ordering::Relaxed),
                stats.depth.load(Ordering::Relaxed),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                inside.as_mut().map(Inside::line).unwrap_or_default()
            );
            (last_sent, last_reports) = (sent, reports);
        }
    });
}

/// The simulated participants at work (until their stop flag is set).
pub(crate) struct Crowd {
    stats: Arc<Stats>,
    rtt: Arc<Mutex<Histogram<u64>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Crowd {
    /// The round trips (µs, each order's send to its first report) recorded since the
    /// last call.
    pub(crate) fn take_round_trips(&self) -> Histogram<u64> {
        take(&self.rtt)
    }

    /// Refusals other than a cancel that came too late.
    pub(crate) fn rejects(&self) -> u64 {
        self.stats.rejects.load(Ordering::Relaxed)
    }

    /// Waits for every participant's thread (set the stop flag first).
    pub(crate) fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Empties `rtt`, returning what it held.
fn take(rtt: &Mutex<Histogram<u64>>) -> Histogram<u64> {
    let mut h = rtt
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let copy = h.clone();
    h.reset();
    copy
}

/// An empty histogram of round trips: 1 µs to 60 s, three significant figures.
fn round_trips() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant bounds that are valid")
}

/// Starts the participants' threads (makers first, then takers) against `endpoint`,
/// and a depth replica of the feed if there is one.
pub(crate) fn launch(
    endpoint: String,
    feed: Option<String>,
    participants: Vec<Participant>,
    pace: Duration,
    stop: Arc<AtomicBool>,
) -> Crowd {
    let stats = Arc::new(Stats::default());
    let mut threads = Vec::new();
    if let Some(feed) = feed {
        let (st, s) = (stats.clone(), stop.clone());
        threads.push(std::thread::spawn(move || watch_book(feed, st, s)));
    }
    let rtt = Arc::new(Mutex::new(round_trips()));
    for (i, who) in participants.into_iter().enumerate() {
        let (e, s, st, r) = (endpoint.clone(), stop.clone(), stats.clone(), rtt.clone());
        threads.push(if (i as u64) < MAKERS {
            std::thread::spawn(move || maker(e, who, pace, s, st, r))
        } else {
            std::thread::spawn(move || taker(e, who, pace * 2, s, st, r))
        });
    }
    Crowd {
        stats,
        rtt,
        threads,
    }
}
