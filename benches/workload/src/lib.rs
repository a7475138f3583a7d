//! # bourse-workload
//!
//! Deterministic command streams with the shape of exchange-core's published benchmark
//! (described in `benches/workload/README.md`): 9% GTC limit orders, 3% IOC, 6% cancels, 82% moves (a
//! replace to a new price), about 1,000 resting orders per book on several hundred
//! levels, the best bid and offer drifting little, and a few percent of commands trading.
//!
//! The generator runs every command through a shadow [`Engine`] as it goes, so that it
//! only cancels and moves orders that really rest: the stream is valid by construction,
//! and the same seed always gives the same commands. The core benchmarks, the journal
//! crash test and (later) the wire load generator all use it.

mod equity;
mod rng;
mod scale;

pub use equity::{
    EQUITY_START_MID, EQUITY_USERS, EquityStats, EquityWorkload, Regime, generate_equity,
};
pub use rng::Rng;
pub use scale::generate_scale;

use std::collections::HashMap;

use bourse_core::{
    Asset, ClientOrderId, Command, Engine, EngineConfig, EventKind, FixedStr, NewOrder, OrderType,
    Price, Qty, Side, SymbolId, TimeInForce, UserId,
};

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkloadConfig {
    /// Instruments.
    pub symbols: u32,
    /// User accounts.
    pub users: u64,
    /// Commands after the setup.
    pub commands: usize,
    /// Seed: the same seed gives the same stream.
    pub seed: u64,
    /// Resting orders per book the generator steers towards.
    pub target_orders: usize,
    /// Zipf exponent of symbol popularity (ignored for one symbol).
    pub zipf: f64,
}

impl WorkloadConfig {
    /// exchange-core's single-symbol benchmark: one book, 1,000 users.
    pub fn single_symbol(commands: usize) -> Self {
        WorkloadConfig {
            symbols: 1,
            users: 1_000,
            commands,
            seed: 1,
            target_orders: 1_000,
            zipf: 0.0,
        }
    }

    /// The scale variant: 10,000 symbols, 100,000 users, Zipf-distributed popularity.
    pub fn multi_symbol(commands: usize) -> Self {
        WorkloadConfig {
            symbols: 10_000,
            users: 100_000,
            commands,
            seed: 1,
            target_orders: 100,
            zipf: 1.0,
        }
    }

    /// The scale workload ([`generate_scale`]): about `resting` orders in total, spread
    /// evenly over `symbols` books, and `users` users.
    pub fn scale(symbols: u32, users: u64, resting: usize, commands: usize) -> Self {
        WorkloadConfig {
            symbols,
            users,
            commands,
            seed: 1,
            target_orders: resting / symbols.max(1) as usize,
            zipf: 0.0,
        }
    }

    /// Preallocation for an engine that will run this workload.
    pub fn engine_config(&self) -> EngineConfig {
        let orders = self.symbols as usize * self.target_orders * 2;
        EngineConfig {
            instruments: self.symbols as usize,
            users: self.users as usize,
            positions: (self.users as usize * 2).max(self.symbols as usize * 16),
            orders,
            levels: orders,
        }
    }
}

/// What the generated stream turned out to contain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// GTC limit orders.
    pub gtc: usize,
    /// IOC orders.
    pub ioc: usize,
    /// Cancels.
    pub cancels: usize,
    /// Moves (replaces to a new price).
    pub moves: usize,
    /// Commands that produced at least one trade.
    pub trading_commands: usize,
    /// Trades.
    pub trades: usize,
    /// Commands the engine rejected.
    pub rejects: usize,
    /// Resting orders at the end.
    pub resting_at_end: usize,
    /// Mean resting orders over the run (sampled every 1,000 commands).
    pub mean_resting: f64,
    /// Price levels of the most popular book at the end.
    pub levels_at_end: usize,
}

/// A generated workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Instruments, users and deposits: run before measuring.
    pub setup: Vec<Command>,
    /// The measured stream.
    pub commands: Vec<Command>,
    /// What it contains.
    pub stats: Stats,
    /// The configuration it came from.
    pub config: WorkloadConfig,
}

#[derive(Clone, Copy, Debug)]
struct Live {
    user: UserId,
    id: ClientOrderId,
    side: Side,
    qty: i64,
}

/// Per-book generator state.
#[derive(Debug, Default)]
struct BookGen {
    mid: i64,
    live: Vec<Live>,
}

const MID: i64 = 10_000;
const SPREAD_LEVELS: u64 = 900;
const SELLERS_PER_SYMBOL: u64 = 8;

/// Client order ids as short strings from a counter (base 36).
pub(crate) fn cid(n: u64) -> ClientOrderId {
    // Base-36 fits 16 characters up to 36^16, far beyond any run.
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = n;
    loop {
        i -= 1;
        let d = (v % 36) as u8;
        buf[i] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
        v /= 36;
        if v == 0 {
            break;
        }
    }
    FixedStr::from_bytes(&buf[i..]).unwrap_or_default()
}

struct Gen {
    cfg: WorkloadConfig,
    rng: Rng,
    engine: Engine,
    books: Vec<BookGen>,
    index: HashMap<ClientOrderId, (u32, usize)>,
    next_id: u64,
    zipf_cdf: Vec<f64>,
    all_pairs: bool,
    stats: Stats,
    events: Vec<bourse_core::Event>,
}

impl Gen {
    fn symbol(&mut self) -> u32 {
        if self.cfg.symbols == 1 {
            return 0;
        }
        let u = self.rng.unit();
        self.zipf_cdf
            .partition_point(|&c| c < u)
            .min(self.zipf_cdf.len() - 1) as u32
    }

    fn user_for(&mut self, sym: u32, side: Side) -> UserId {
        if side == Side::Sell && !self.all_pairs {
            let k = self.rng.below(SELLERS_PER_SYMBOL);
            return UserId(1 + (u64::from(sym) * SELLERS_PER_SYMBOL + k) % self.cfg.users);
        }
        UserId(1 + self.rng.below(self.cfg.users))
    }

    /// A passive price on `side`: near the mid, thinning out further away.
    fn passive_price(&mut self, mid: i64, side: Side) -> i64 {
        let off = 1 + self
            .rng
            .below(SPREAD_LEVELS)
            .min(self.rng.below(SPREAD_LEVELS)) as i64;
        match side {
            Side::Buy => mid - off,
            Side::Sell => mid + off,
        }
    }

    /// An aggressive price on `side`: a few ticks through the mid.
    fn aggressive_price(&mut self, mid: i64, side: Side) -> i64 {
        let off = 1 + self.rng.below(4) as i64;
        match side {
            Side::Buy => mid + off,
            Side::Sell => mid - off,
        }
    }

    fn forget(&mut self, id: &ClientOrderId) {
        if let Some((sym, idx)) = self.index.remove(id) {
            let live = &mut self.books[sym as usize].live;
            live.swap_remove(idx);
            if let Some(moved) = live.get(idx) {
                self.index.insert(moved.id, (sym, idx));
            }
        }
    }

    fn remember(&mut self, sym: u32, l: Live) {
        let live = &mut self.books[sym as usize].live;
        self.index.insert(l.id, (sym, live.len()));
        live.push(l);
    }

    /// Runs `cmd` on the shadow engine and keeps the live-order lists in step.
    fn run(&mut self, cmd: Command, out: &mut Vec<Command>) {
        self.events.clear();
        self.engine.execute(&cmd, &mut self.events);
        let mut traded = false;
        let mut filled = Vec::new();
        for e in &self.events {
            match e.kind {
                EventKind::Trade {
                    maker_id,
                    maker_leaves,
                    ..
                } => {
                    traded = true;
                    self.stats.trades += 1;
                    if maker_leaves.0 == 0 {
                        filled.push(maker_id);
                    }
                }
                EventKind::Rejected { .. } => self.stats.rejects += 1,
                _ => {}
            }
        }
        for id in &filled {
            self.forget(id);
        }
        if traded {
            self.stats.trading_commands += 1;
        }
        match cmd {
            Command::New(o) if o.tif.rests() => {
                if let Some((sym, side, _, _)) = self.engine.open_order(o.user, o.id) {
                    self.remember(
                        sym.0,
                        Live {
                            user: o.user,
                            id: o.id,
                            side,
                            qty: o.qty.0,
                        },
                    );
                }
            }
            Command::Cancel { id, .. } => self.forget(&id),
            Command::Replace {
                user,
                id,
                new_id,
                qty,
                ..
            } => {
                self.forget(&id);
                if let Some((sym, side, _, _)) = self.engine.open_order(user, new_id) {
                    self.remember(
                        sym.0,
                        Live {
                            user,
                            id: new_id,
                            side,
                            qty: qty.0,
                        },
                    );
                }
            }
            _ => {}
        }
        out.push(cmd);
    }

    fn fresh_id(&mut self) -> ClientOrderId {
        self.next_id += 1;
        cid(self.next_id)
    }

    fn new_order(&mut self, sym: u32, tif: TimeInForce, aggressive: bool) -> Command {
        // Takers are small against resting size, so most trades fill only part of a
        // resting order and the book keeps its depth.
        let side = if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let mid = self.books[sym as usize].mid;
        let price = if aggressive {
            self.aggressive_price(mid, side)
        } else {
            self.passive_price(mid, side)
        };
        let user = self.user_for(sym, side);
        let id = self.fresh_id();
        Command::New(NewOrder {
            user,
            id,
            symbol: SymbolId(sym),
            side,
            order_type: OrderType::Limit,
            price: Price(price),
            qty: Qty(1 + self.rng.below(if aggressive { 20 } else { 100 }) as i64),
            tif,
            post_only: false,
        })
    }

    fn next_command(&mut self) -> Command {
        let sym = self.symbol();
        let book = &mut self.books[sym as usize];
        // The mid wanders a little, and is pulled back, so the BBO stays close.
        match self.rng.below(1_000) {
            0 => book.mid += 1,
            1 => book.mid -= 1,
            2 => book.mid += (MID - book.mid).signum(),
            _ => {}
        }
        let live = self.books[sym as usize].live.len();
        let target = self.cfg.target_orders;
        // exchange-core's mix, nudged to hold the book near its target depth: a GTC
        // becomes a cancel when the book is too deep, a cancel a GTC when too thin.
        let roll = self.rng.below(100);
        let op = match roll {
            _ if live < 2 => 0,
            0..9 if live > target * 5 / 4 => 2,
            0..9 => 0,
            9..12 => 1,
            12..18 if live < target * 9 / 10 => 0,
            12..18 => 2,
            _ => 3,
        };
        match op {
            0 => {
                self.stats.gtc += 1;
                let aggressive = self.rng.below(100) < 8;
                self.new_order(sym, TimeInForce::Gtc, aggressive)
            }
            1 => {
                self.stats.ioc += 1;
                self.new_order(sym, TimeInForce::Ioc, true)
            }
            2 => {
                self.stats.cancels += 1;
                let i = self.rng.below(live as u64) as usize;
                let l = self.books[sym as usize].live[i];
                Command::Cancel {
                    user: l.user,
                    id: l.id,
                }
            }
            _ => {
                self.stats.moves += 1;
                let i = self.rng.below(live as u64) as usize;
                let l = self.books[sym as usize].live[i];
                let mid = self.books[sym as usize].mid;
                let price = if self.rng.below(1_000) < 75 {
                    self.aggressive_price(mid, l.side)
                } else {
                    self.passive_price(mid, l.side)
                };
                let new_id = self.fresh_id();
                Command::Replace {
                    user: l.user,
                    id: l.id,
                    new_id,
                    price: Price(price),
                    qty: Qty(l.qty),
                }
            }
        }
    }
}

/// Generates the workload `cfg` describes.
pub fn generate(cfg: WorkloadConfig) -> Workload {
    let all_pairs = cfg.users * u64::from(cfg.symbols) <= 1_000_000;
    let mut zipf_cdf = Vec::new();
    if cfg.symbols > 1 {
        let weights: Vec<f64> = (1..=cfg.symbols)
            .map(|k| 1.0 / f64::from(k).powf(cfg.zipf))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        for w in weights {
            acc += w / total;
            zipf_cdf.push(acc);
        }
    }
    let mut g = Gen {
        cfg,
        rng: Rng::new(cfg.seed),
        engine: Engine::new(cfg.engine_config()),
        books: (0..cfg.symbols)
            .map(|_| BookGen {
                mid: MID,
                live: Vec::new(),
            })
            .collect(),
        index: HashMap::new(),
        next_id: 0,
        zipf_cdf,
        all_pairs,
        stats: Stats::default(),
        events: Vec::new(),
    };
    let mut setup = Vec::new();
    for s in 0..cfg.symbols {
        let symbol = FixedStr::new(&format!("S{s}")).unwrap_or_default();
        g.run(
            Command::AddInstrument {
                symbol,
                tick: Price(1),
                lot: Qty(1),
            },
            &mut setup,
        );
    }
    for u in 1..=cfg.users {
        g.run(Command::AddUser { user: UserId(u) }, &mut setup);
        g.run(
            Command::Deposit {
                user: UserId(u),
                asset: Asset::Cash,
                amount: 1_000_000_000_000,
            },
            &mut setup,
        );
    }
    for s in 0..cfg.symbols {
        let holders: Vec<u64> = if all_pairs {
            (1..=cfg.users).collect()
        } else {
            (0..SELLERS_PER_SYMBOL)
                .map(|k| 1 + (u64::from(s) * SELLERS_PER_SYMBOL + k) % cfg.users)
                .collect()
        };
        for u in holders {
            g.run(
                Command::Deposit {
                    user: UserId(u),
                    asset: Asset::Shares(SymbolId(s)),
                    amount: 1_000_000_000,
                },
                &mut setup,
            );
        }
    }
    // Fill each book to its target depth before the measured stream starts.
    for s in 0..cfg.symbols {
        for _ in 0..cfg.target_orders {
            let cmd = g.new_order(s, TimeInForce::Gtc, false);
            g.run(cmd, &mut setup);
        }
    }
    g.stats = Stats::default();
    let mut commands = Vec::with_capacity(cfg.commands);
    let mut resting_sum = 0.0;
    let mut samples = 0;
    for i in 0..cfg.commands {
        let cmd = g.next_command();
        g.run(cmd, &mut commands);
        if i % 1_000 == 0 {
            resting_sum += g.engine.resting_orders() as f64;
            samples += 1;
        }
    }
    g.stats.resting_at_end = g.engine.resting_orders();
    g.stats.mean_resting = resting_sum / f64::from(samples.max(1));
    let top = g.engine.state();
    g.stats.levels_at_end = top.books.first().map_or(0, |b| {
        b.levels(Side::Buy).len() + b.levels(Side::Sell).len()
    });
    Workload {
        setup,
        commands,
        stats: g.stats,
        config: cfg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_the_mix_is_exchange_cores() {
        let a = generate(WorkloadConfig::single_symbol(60_000));
        let b = generate(WorkloadConfig::single_symbol(60_000));
        assert_eq!(a.commands, b.commands);
        let s = &a.stats;
        let n = a.commands.len() as f64;
        let pct = |x: usize| 100.0 * x as f64 / n;
        assert!((7.0..11.0).contains(&pct(s.gtc)), "{s:?}");
        assert!((2.0..4.0).contains(&pct(s.ioc)), "{s:?}");
        assert!((4.0..9.0).contains(&pct(s.cancels)), "{s:?}");
        assert!((76.0..86.0).contains(&pct(s.moves)), "{s:?}");
        assert!((3.0..10.0).contains(&pct(s.trading_commands)), "{s:?}");
        assert!((600.0..1_400.0).contains(&s.mean_resting), "{s:?}");
        assert_eq!(s.rejects, 0, "every generated command is valid: {s:?}");
        assert_ne!(
            a.commands,
            generate(WorkloadConfig {
                seed: 2,
                ..a.config
            })
            .commands
        );
    }

    #[test]
    fn scale_stream_names_only_resting_orders() {
        let cfg = WorkloadConfig::scale(20, 500, 2_000, 20_000);
        let w = generate_scale(cfg);
        let mut e = Engine::new(cfg.engine_config());
        let mut events = Vec::new();
        for c in w.setup.iter().chain(&w.commands) {
            e.execute(c, &mut events);
        }
        let rejects = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Rejected { .. }))
            .count();
        let trades = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Trade { .. }))
            .count();
        assert_eq!((rejects, trades), (0, 0));
        assert_eq!(e.resting_orders(), 2_000, "the count stays constant");
        assert_eq!(w.commands.len(), 20_000);
    }

    #[test]
    fn ids_are_distinct_fixed_strings() {
        assert_eq!(cid(0).as_str(), "0");
        assert_eq!(cid(35).as_str(), "z");
        assert_eq!(cid(36).as_str(), "10");
        assert_eq!(cid(u64::MAX).as_str().len(), 13);
    }
}
