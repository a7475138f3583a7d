//! The auto service's trigger index against a naive scan, in one process on the same
//! trades: 1,000,000 armed triggers (stops, stop-limits and trailing stops, both
//! directions, amount and percent trails) over 1,000 symbols; the exchange-core
//! workload's trades dealt round-robin to the symbols. Every trigger that fires is
//! re-armed at once around the current price, so a million stay armed throughout.
//! Reports trades evaluated per second (median of interleaved runs), triggers fired,
//! and the bytes each armed trigger costs (counted by the allocator).
//!
//! ```text
//! cargo run --release -p bourse-benches --bin trigger-bench
//! ```

// The counting allocator below is the one unsafe thing here: a `GlobalAlloc` is an
// unsafe trait, and it only forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bourse_auto::{Condition, Direction, Trigger, TriggerId, TriggerIndex};
use bourse_core::{Engine, EventKind};
use bourse_workload::{WorkloadConfig, generate};
use clap::Parser;

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as i64 - l.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[derive(Parser, Debug)]
struct Args {
    /// Armed triggers.
    #[arg(long, default_value_t = 1_000_000)]
    triggers: usize,
    /// Symbols they are spread over.
    #[arg(long, default_value_t = 1_000)]
    symbols: u32,
    /// Workload commands whose trades are replayed.
    #[arg(long, default_value_t = 2_000_000)]
    commands: usize,
    /// How far from the price (cents) triggers are armed, at most [default: 5% of the
    /// first trade's price, as stops usually sit; the workload's prices move far less,
    /// so few fire — `--spread 30`, its whole range, makes them churn].
    #[arg(long, default_value_t = 0)]
    spread: i64,
    /// Interleaved runs of each.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// A small deterministic generator (the same triggers for both).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A trigger around `price`, up to `spread` cents away: 60% stops and stop-limits, 20%
/// amount and 20% percent trails, half of each falling, half rising.
fn make(rng: &mut Lcg, symbol: u32, price: i64, spread: i64) -> Trigger {
    let direction = if rng.below(2) == 0 {
        Direction::Falling
    } else {
        Direction::Rising
    };
    let away = 1 + rng.below(spread.max(1) as u64) as i64;
    let condition = match rng.below(10) {
        0..=5 => Condition::Level(match direction {
            Direction::Falling => (price - away).max(1),
            Direction::Rising => price + away,
        }),
        6 | 7 => Condition::TrailAmount(away),
        _ => Condition::TrailPpm(((away as i128 * 1_000_000) / price.max(1) as i128).max(1) as u32),
    };
    Trigger {
        symbol,
        direction,
        condition,
    }
}

/// The naive scan: every trigger of the symbol checked, every mark moved, per trade.
#[derive(Clone, Copy)]
struct Naive {
    t: Trigger,
    mark: i64,
}

impl Naive {
    /// Moves the mark; whether a trade at `price` fires it.
    fn fires(&mut self, price: i64) -> bool {
        let falling = self.t.direction == Direction::Falling;
        match self.t.condition {
            Condition::Level(l) => {
                if falling {
                    price <= l
                } else {
                    price >= l
                }
            }
            c => {
                self.mark = if falling {
                    self.mark.max(price)
                } else {
                    self.mark.min(price)
                };
                let off = match c {
                    Condition::TrailAmount(a) => a,
                    Condition::TrailPpm(q) => (self.mark as i128 * q as i128 / 1_000_000) as i64,
                    Condition::Level(_) => 0,
                };
                if falling {
                    price <= self.mark - off
                } else {
                    price >= self.mark + off
                }
            }
        }
    }
}

/// The workload's trade prices, in order.
fn trade_prices(commands: usize) -> Vec<i64> {
    let w = generate(WorkloadConfig::single_symbol(commands));
    let mut engine = Engine::new(w.config.engine_config());
    let mut events = Vec::new();
    let mut prices = Vec::new();
    for cmd in w.setup.iter().chain(&w.commands) {
        events.clear();
        engine.execute(cmd, &mut events);
        for e in &events {
            if let EventKind::Trade { price, .. } = e.kind {
                prices.push(price.0);
            }
        }
    }
    prices
}

struct Outcome {
    time: Duration,
    fired: u64,
}

fn run_index(args: &Args, prices: &[i64], bytes: &mut i64) -> Outcome {
    let mut rng = Lcg(7);
    let before = LIVE.load(Ordering::Relaxed);
    let mut ix = TriggerIndex::new();
    let start_price = prices[0];
    for s in 0..args.symbols {
        ix.set_last_price(s, start_price);
    }
    let per = args.triggers / args.symbols as usize;
    let mut next: TriggerId = 0;
    for s in 0..args.symbols {
        for _ in 0..per {
            ix.arm(next, make(&mut rng, s, start_price, args.spread))
                .expect("armed");
            next += 1;
        }
    }
    *bytes = LIVE.load(Ordering::Relaxed) - before;
    let mut fired = Vec::with_capacity(1_024);
    let mut total = 0u64;
    let start = Instant::now();
    for (i, &price) in prices.iter().enumerate() {
        let symbol = (i % args.symbols as usize) as u32;
        fired.clear();
        ix.on_trade(symbol, price, &mut fired);
        total += fired.len() as u64;
        for _ in 0..fired.len() {
            ix.arm(next, make(&mut rng, symbol, price, args.spread))
                .expect("re-armed");
            next += 1;
        }
    }
    let time = start.elapsed();
    assert_eq!(
        ix.len(),
        per * args.symbols as usize,
        "a million stay armed"
    );
    Outcome { time, fired: total }
}

fn run_naive(args: &Args, prices: &[i64]) -> Outcome {
    let mut rng = Lcg(7);
    let start_price = prices[0];
    let per = args.triggers / args.symbols as usize;
    let mut by_symbol: Vec<Vec<Naive>> = (0..args.symbols)
        .map(|s| {
            (0..per)
                .map(|_| Naive {
                    t: make(&mut rng, s, start_price, args.spread),
                    mark: start_price,
                })
                .collect()
        })
        .collect();
    let mut total = 0u64;
    let start = Instant::now();
    for (i, &price) in prices.iter().enumerate() {
        let symbol = (i % args.symbols as usize) as u32;
        let list = &mut by_symbol[symbol as usize];
        for n in list.iter_mut() {
            if n.fires(price) {
                total += 1;
                *n = Naive {
                    t: make(&mut rng, symbol, price, args.spread),
                    mark: price,
                };
            }
        }
    }
    Outcome {
        time: start.elapsed(),
        fired: total,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = Args::parse();
    eprintln!(
        "trigger-bench: replaying {} workload commands…",
        args.commands
    );
    let prices = trade_prices(args.commands);
    let (lo, hi) = prices
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
    if args.spread == 0 {
        args.spread = (prices[0] / 20).max(1);
    }
    eprintln!(
        "trigger-bench: trade prices {lo}..{hi}; triggers armed up to {} cents away",
        args.spread
    );
    eprintln!(
        "trigger-bench: {} trades, {} triggers over {} symbols",
        prices.len(),
        args.triggers,
        args.symbols
    );
    let (mut index_times, mut naive_times) = (Vec::new(), Vec::new());
    let (mut index_fired, mut naive_fired, mut bytes) = (0, 0, 0);
    for run in 0..args.runs {
        let o = run_index(&args, &prices, &mut bytes);
        index_fired = o.fired;
        index_times.push(o.time);
        eprintln!("run {run}: index {:?}", o.time);
        let o = run_naive(&args, &prices);
        naive_fired = o.fired;
        naive_times.push(o.time);
        eprintln!("run {run}: naive {:?}", o.time);
    }
    let (index, naive) = (median(index_times), median(naive_times));
    let rate = |d: Duration| prices.len() as f64 / d.as_secs_f64();
    println!(
        "### Trigger index: {} armed triggers over {} symbols, {} trades (median of {} runs)\n",
        args.triggers,
        args.symbols,
        prices.len(),
        args.runs
    );
    println!("| path | time | trades/s | fired (re-armed) |\n|---|---|---|---|");
    println!(
        "| **trigger index** | {:.3} s | {:.0} | {} |",
        index.as_secs_f64(),
        rate(index),
        index_fired
    );
    println!(
        "| naive scan of the symbol's triggers | {:.3} s | {:.0} | {} |",
        naive.as_secs_f64(),
        rate(naive),
        naive_fired
    );
    println!(
        "\nMemory: {:.0} bytes per armed trigger in the index (allocated while arming {}); \
         the naive list holds {} bytes each.",
        bytes as f64 / args.triggers as f64,
        args.triggers,
        std::mem::size_of::<Naive>()
    );
}
