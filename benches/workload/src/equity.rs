//! A second workload: realistic, cancel-heavy equity order flow on one instrument
//! ([`generate_equity`]), in five regimes of the mid price ([`Regime`]).
//!
//! The shape, from the literature on limit order book statistics (most orders are
//! placed passively a few ticks from the mid, their distances power-law distributed;
//! most are canceled within a millisecond; few trade):
//!
//! - One instrument, tick 1, prices in ticks around 33,500; quantities uniform 1–100.
//! - A mid following geometric Brownian motion, one step per new order: fixed (the book
//!   piles up to tens of thousands of resting orders on a few dozen levels), or
//!   swinging by about 2%, 25%, 40% or 60% over the run (the book spreads over hundreds
//!   to thousands of levels, and the widest walk covers tens of thousands of ticks).
//! - Every order is priced passively on its own side of the mid at the moment it is
//!   made, its distance drawn from a power law (density exponent 2.2) with a hump about
//!   8 ticks out. Messages reach the exchange after a random delay, so the arrival order
//!   interleaves orders priced off different points of the walk: that is where crossing
//!   (and trading) happens.
//! - 15% of new orders are IOC. Of the rest, 20% are modified once (quantity up, and 80%
//!   of the time also a one-tick reprice; a modify loses time priority) and 95% are
//!   canceled, after an exponential lifetime of 0.4 ms median. About 2% of cancels, and
//!   of modifies of orders canceled later, are sent twice: the second copy arrives after
//!   the order is gone and must be refused cleanly.
//!
//! The stream is made in event time (arrival times in nanoseconds), then sorted by
//! arrival. Orders are spread over [`EQUITY_USERS`] accounts, each funded far beyond
//! what it trades, so risk checks, reservations and self-trade prevention all run and
//! none refuses for lack of money or shares.

use bourse_core::{
    Asset, Command, Engine, EngineConfig, EventKind, FixedStr, NewOrder, OrderType, Price, Qty,
    Side, SymbolId, TimeInForce, UserId,
};

use crate::{Rng, cid};

/// Accounts the flow is spread over.
pub const EQUITY_USERS: u64 = 1_000;
/// The mid price at the start, in ticks.
pub const EQUITY_START_MID: i64 = 33_500;

/// How the mid price moves over a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Regime {
    /// The mid never moves: the book piles up.
    Fixed,
    /// The mid follows geometric Brownian motion whose expected range over the run is
    /// this fraction of the start (0.02 for a 2% swing).
    Swing(f64),
}

impl Regime {
    /// The five regimes of the benchmark: fixed, then swings of 2%, 25%, 40% and 60%.
    pub const ALL: [Regime; 5] = [
        Regime::Fixed,
        Regime::Swing(0.02),
        Regime::Swing(0.25),
        Regime::Swing(0.40),
        Regime::Swing(0.60),
    ];

    /// A short name: `fixed`, `swing 2%`, …
    pub fn name(self) -> String {
        match self {
            Regime::Fixed => "fixed mid".into(),
            Regime::Swing(s) => format!("swing {:.0}%", s * 100.0),
        }
    }
}

/// What an equity flow turned out to contain (from a run through a shadow engine).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EquityStats {
    /// Messages (commands) in the measured stream.
    pub messages: usize,
    /// New orders, of which IOC.
    pub new_orders: usize,
    /// IOC orders.
    pub ioc: usize,
    /// Modifies (replaces).
    pub modifies: usize,
    /// Cancels (duplicates included).
    pub cancels: usize,
    /// Duplicates sent after their order was gone.
    pub duplicates: usize,
    /// Trades.
    pub trades: usize,
    /// Commands the engine refused (duplicates, cancels of filled orders, …).
    pub rejects: usize,
    /// Mean resting orders (sampled every 1,000 messages).
    pub mean_resting: f64,
    /// Most resting orders at once (sampled).
    pub peak_resting: usize,
    /// Mean price levels, both sides (sampled).
    pub mean_levels: f64,
    /// Lowest and highest mid of the walk, in ticks.
    pub mid_range: (i64, i64),
}

/// A generated equity flow.
#[derive(Clone, Debug)]
pub struct EquityWorkload {
    /// The regime.
    pub regime: Regime,
    /// The instrument, the accounts and their deposits: run before measuring.
    pub setup: Vec<Command>,
    /// The measured stream.
    pub commands: Vec<Command>,
    /// What it contains.
    pub stats: EquityStats,
}

impl EquityWorkload {
    /// Preallocation for an engine that runs this flow.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            instruments: 1,
            users: EQUITY_USERS as usize,
            positions: EQUITY_USERS as usize * 2,
            orders: 65_536,
            levels: 65_536,
        }
    }
}

/// One message before sorting: its arrival time and what it is.
#[derive(Clone, Copy)]
struct Timed {
    at: u64,
    /// Tie-break: the order it was made in.
    n: u32,
    cmd: Command,
}

/// A standard normal draw (Box–Muller; one of the pair).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = rng.unit().max(f64::MIN_POSITIVE);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// An exponential draw with mean `mean`.
fn exponential(rng: &mut Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.unit()).ln()
}

/// A passive order's distance from the mid, in ticks: a ramp from the touch up to a
/// hump 8 ticks out, then a power-law tail (density exponent 2.2) cut at 40 ticks. One
/// order in a thousand sits at the mid itself.
fn distance(rng: &mut Rng) -> i64 {
    const HUMP: f64 = 8.0;
    const CUT: f64 = 40.0;
    let u = rng.unit();
    if u < 0.001 {
        0
    } else if u < 0.45 {
        // The ramp: more mass near the hump than at the touch.
        1 + (7.0 * rng.unit().sqrt()).floor() as i64
    } else {
        // Pareto with tail index 1.2 from the hump, truncated at the cut (inverse CDF).
        let a = 1.2;
        let tail = 1.0 - (HUMP / CUT).powf(a);
        (HUMP * (1.0 - rng.unit() * tail).powf(-1.0 / a)).floor() as i64
    }
}

/// The flow for `regime`: about `messages` messages, the same for the same `seed`.
pub fn generate_equity(regime: Regime, messages: usize, seed: u64) -> EquityWorkload {
    let mut rng = Rng::new(seed ^ 0x5eed_e901_7e57);
    // Messages per new order: 1 + 0.85 × (0.2 modifies + 0.95 cancels) + duplicates.
    let new_orders = ((messages as f64) / 1.99) as usize;
    // The walk's per-step volatility for an expected range of `swing` over the run
    // (the range of a Brownian motion over n steps is about 1.6 σ √n), without drift.
    let sigma = match regime {
        Regime::Fixed => 0.0,
        Regime::Swing(s) => s / (1.6 * (new_orders as f64).sqrt()),
    };
    // Arrival process: a new order every 0.5 µs on average; each message reaches the
    // exchange after a delay of 0.5 µs on average (which shuffles nearby messages).
    const GAP_NS: f64 = 500.0;
    const DELAY_NS: f64 = 500.0;
    // Lifetimes: exponential with a 0.4 ms median.
    let life_mean_ns = 400_000.0 / std::f64::consts::LN_2;

    let mut timed: Vec<Timed> = Vec::with_capacity(messages + messages / 8);
    let push = |timed: &mut Vec<Timed>, at: f64, cmd: Command| {
        let n = timed.len() as u32;
        timed.push(Timed {
            at: at.max(0.0) as u64,
            n,
            cmd,
        });
    };
    let (mut log_mid, mut t) = ((EQUITY_START_MID as f64).ln(), 0.0f64);
    let (mut lo, mut hi) = (EQUITY_START_MID, EQUITY_START_MID);
    let mut next_id = 0u64;
    let mut fresh = || {
        next_id += 1;
        cid(next_id)
    };
    let mut stats = EquityStats::default();
    for _ in 0..new_orders {
        log_mid += sigma * normal(&mut rng) - sigma * sigma / 2.0;
        let mid = log_mid.exp().round() as i64;
        lo = lo.min(mid);
        hi = hi.max(mid);
        t += exponential(&mut rng, GAP_NS);
        let side = if rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let d = distance(&mut rng);
        let price = match side {
            Side::Buy => (mid - d).max(1),
            Side::Sell => mid + d,
        };
        let qty = 1 + rng.below(100) as i64;
        let ioc = rng.unit() < 0.15;
        let user = UserId(1 + rng.below(EQUITY_USERS));
        let id = fresh();
        let order = NewOrder {
            user,
            id,
            symbol: SymbolId(0),
            side,
            order_type: OrderType::Limit,
            price: Price(price),
            qty: Qty(qty),
            tif: if ioc {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            },
            post_only: false,
        };
        push(
            &mut timed,
            t + exponential(&mut rng, DELAY_NS),
            Command::New(order),
        );
        stats.new_orders += 1;
        if ioc {
            stats.ioc += 1;
            continue;
        }
        let life = exponential(&mut rng, life_mean_ns);
        let canceled = rng.unit() < 0.95;
        let mut current = id;
        let mut modify_copy = None;
        if rng.unit() < 0.20 {
            // Modified once, within its life: more shares, and mostly a tick's move.
            let at = t + life * rng.unit();
            let new_qty = qty + 1 + rng.below(50) as i64;
            let new_price = if rng.unit() < 0.8 {
                if rng.below(2) == 0 {
                    price + 1
                } else {
                    (price - 1).max(1)
                }
            } else {
                price
            };
            let new_id = fresh();
            let m = Command::Replace {
                user,
                id: current,
                new_id,
                price: Price(new_price),
                qty: Qty(new_qty),
            };
            push(&mut timed, at + exponential(&mut rng, DELAY_NS), m);
            stats.modifies += 1;
            current = new_id;
            modify_copy = Some((at, m));
        }
        if canceled {
            let at = t + life;
            let c = Command::Cancel { user, id: current };
            let arrives = at + exponential(&mut rng, DELAY_NS);
            push(&mut timed, arrives, c);
            stats.cancels += 1;
            if rng.unit() < 0.02 {
                // A duplicate of the cancel, arriving after the order is gone.
                push(
                    &mut timed,
                    arrives + 1_000.0 + exponential(&mut rng, 50_000.0),
                    c,
                );
                stats.cancels += 1;
                stats.duplicates += 1;
            } else if let Some((_, m)) = modify_copy
                && rng.unit() < 0.02
            {
                // A duplicate of the modify, arriving after the order is gone.
                push(
                    &mut timed,
                    arrives + 1_000.0 + exponential(&mut rng, 50_000.0),
                    m,
                );
                stats.modifies += 1;
                stats.duplicates += 1;
            }
        }
    }
    timed.sort_unstable_by_key(|m| (m.at, m.n));
    let commands: Vec<Command> = timed.into_iter().map(|m| m.cmd).collect();
    stats.messages = commands.len();
    stats.mid_range = (lo, hi);

    let mut setup = vec![Command::AddInstrument {
        symbol: FixedStr::new("EQTY").unwrap_or_default(),
        tick: Price(1),
        lot: Qty(1),
    }];
    for u in 1..=EQUITY_USERS {
        let user = UserId(u);
        setup.push(Command::AddUser { user });
        setup.push(Command::Deposit {
            user,
            asset: Asset::Cash,
            amount: 1 << 50,
        });
        setup.push(Command::Deposit {
            user,
            asset: Asset::Shares(SymbolId(0)),
            amount: 1 << 40,
        });
    }
    let mut w = EquityWorkload {
        regime,
        setup,
        commands,
        stats,
    };
    shadow_run(&mut w);
    w
}

/// Runs the flow through an engine to count what it does (trades, refusals, the book's
/// size over the run).
fn shadow_run(w: &mut EquityWorkload) {
    let mut engine = Engine::new(w.engine_config());
    let mut events = Vec::new();
    for c in &w.setup {
        engine.execute(c, &mut events);
    }
    let (mut samples, mut resting_sum, mut levels_sum) = (0usize, 0usize, 0usize);
    for (i, c) in w.commands.iter().enumerate() {
        events.clear();
        engine.execute(c, &mut events);
        for e in &events {
            match e.kind {
                EventKind::Trade { .. } => w.stats.trades += 1,
                EventKind::Rejected { .. } => w.stats.rejects += 1,
                _ => {}
            }
        }
        if i % 1_000 == 0 {
            let resting = engine.resting_orders();
            samples += 1;
            resting_sum += resting;
            levels_sum += engine.price_levels(SymbolId(0));
            w.stats.peak_resting = w.stats.peak_resting.max(resting);
        }
    }
    w.stats.mean_resting = resting_sum as f64 / samples.max(1) as f64;
    w.stats.mean_levels = levels_sum as f64 / samples.max(1) as f64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_has_the_shape_it_promises_and_repeats_for_a_seed() {
        let w = generate_equity(Regime::Swing(0.25), 200_000, 7);
        let s = &w.stats;
        let frac = |x: usize| x as f64 / s.new_orders as f64;
        assert!((0.13..0.17).contains(&frac(s.ioc)), "{s:?}");
        // Modifies: 20% of the 85% that rest, plus a few duplicates.
        assert!((0.15..0.19).contains(&frac(s.modifies)), "{s:?}");
        assert!((0.80..0.85).contains(&frac(s.cancels)), "{s:?}");
        assert!(s.duplicates > 0 && s.rejects >= s.duplicates, "{s:?}");
        assert!(s.trades > 0, "the shuffle makes some orders cross: {s:?}");
        assert!((190_000..210_000).contains(&s.messages), "{s:?}");
        let again = generate_equity(Regime::Swing(0.25), 200_000, 7);
        assert_eq!(w.commands, again.commands);

        // A fixed mid piles the book up on few levels; a wide swing spreads it out.
        let fixed = generate_equity(Regime::Fixed, 200_000, 7);
        assert_eq!(fixed.stats.mid_range, (EQUITY_START_MID, EQUITY_START_MID));
        // Within 40 ticks of a fixed mid on each side: at most 81 levels with orders.
        assert!(
            (20.0..=81.0).contains(&fixed.stats.mean_levels),
            "{:?}",
            fixed.stats
        );
        assert!(
            fixed.stats.mean_resting > 5.0 * w.stats.mean_resting,
            "fixed {:?} vs swing {:?}",
            fixed.stats,
            w.stats
        );
        let wide = generate_equity(Regime::Swing(0.60), 200_000, 7);
        let (lo, hi) = wide.stats.mid_range;
        assert!(hi - lo > 5_000, "{:?}", wide.stats);
    }
}
