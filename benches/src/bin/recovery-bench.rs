//! How long a restart takes with a large book and a long journal: writes a journal as
//! the gateway does (batches with one `fdatasync` each, a rotation and a snapshot every
//! `--snapshot-every` commands, pruning behind it) until `--commands` are journaled
//! with `--resting` orders in the book, then times, several times each:
//!
//! - `recover`: `bourse_journal::recover` (newest snapshot + the journal after it);
//! - `gateway start`: a whole gateway on that directory, from the call to "ready"
//!   (recovery, the rings, the market data feed's state, the sockets).
//!
//! ```sh
//! cargo run --release -p bourse-benches --bin recovery-bench -- --resting 1000000 --commands 10000000
//! ```

use std::time::{Duration, Instant};

use anyhow::Context;
use bourse_core::{
    Asset, ClientOrderId, Command, Engine, EngineConfig, FixedStr, NewOrder, OrderType, Price, Qty,
    Side, SymbolId, TimeInForce, UserId,
};
use bourse_journal::{Journal, write_snapshot};
use clap::Parser;

/// Arguments.
#[derive(Parser, Debug)]
struct Args {
    /// Orders resting in the book when the journal ends.
    #[arg(long, default_value_t = 1_000_000)]
    resting: u64,
    /// Commands journaled in all (the rest after the resting orders are moves of them).
    #[arg(long, default_value_t = 10_000_000)]
    commands: u64,
    /// A snapshot every this many commands (the gateway's default).
    #[arg(long, default_value_t = bourse_gateway::server::SNAPSHOT_EVERY_COMMANDS)]
    snapshot_every: u64,
    /// Commands per journal batch (one `fdatasync` each).
    #[arg(long, default_value_t = 4_096)]
    batch: u64,
    /// Timed restarts of each kind.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where to write the journal (a temporary directory by default).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

const USERS: u64 = 100;
const MID: i64 = 1_000_000;
/// Prices spread over this many ticks on each side of the mid.
const SPREAD: i64 = 20_000;

fn id(n: u64) -> ClientOrderId {
    FixedStr::new(&n.to_string()).unwrap_or_default()
}

/// The engine's preallocation for `resting` orders (as `bourse serve` sizes it).
fn config(resting: u64) -> EngineConfig {
    EngineConfig {
        orders: (resting as usize + resting as usize / 4).next_power_of_two(),
        levels: 1 << 16,
        ..EngineConfig::default()
    }
}

/// Order `n`: its owner, side and a price that never crosses (bids below the mid,
/// asks above), moved by `generation`.
fn placement(n: u64, generation: u64) -> (UserId, Side, Price) {
    let user = UserId(n % USERS + 1);
    let side = if n.is_multiple_of(2) {
        Side::Buy
    } else {
        Side::Sell
    };
    let offset = 1 + ((n / 2).wrapping_mul(7_919) + generation * 13) as i64 % SPREAD;
    let price = match side {
        Side::Buy => MID - offset,
        Side::Sell => MID + offset,
    };
    (user, side, Price(price))
}

fn setup() -> Vec<Command> {
    let mut out = vec![Command::AddInstrument {
        symbol: FixedStr::new("ACME").unwrap_or_default(),
        tick: Price(1),
        lot: Qty(1),
    }];
    for u in 1..=USERS {
        out.push(Command::AddUser { user: UserId(u) });
        out.push(Command::Deposit {
            user: UserId(u),
            asset: Asset::Cash,
            amount: 1_000_000_000_000_000,
        });
        out.push(Command::Deposit {
            user: UserId(u),
            asset: Asset::Shares(SymbolId(0)),
            amount: 1_000_000_000_000_000,
        });
    }
    out
}

/// The `i`-th command after the setup: first the resting orders, then moves of them
/// (a replace to a new price, keeping the id), round robin.
fn command(i: u64, resting: u64) -> Command {
    if i < resting {
        let (user, side, price) = placement(i, 0);
        return Command::New(NewOrder {
            user,
            id: id(i),
            symbol: SymbolId(0),
            side,
            order_type: OrderType::Limit,
            price,
            qty: Qty(100),
            tif: TimeInForce::Gtc,
            post_only: false,
        });
    }
    let moves = i - resting;
    let n = moves % resting;
    let (user, _, price) = placement(n, moves / resting + 1);
    Command::Replace {
        user,
        id: id(n),
        new_id: id(n),
        price,
        qty: Qty(100),
    }
}

fn resting_orders(engine: &Engine) -> usize {
    engine
        .state()
        .books
        .iter()
        .map(|b| b.bids.len() + b.asks.len())
        .sum()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().join("data"));
    std::fs::create_dir_all(&dir)?;
    let config = config(args.resting);

    eprintln!(
        "recovery-bench: journaling {} commands ({} resting orders, a snapshot every {})…",
        args.commands, args.resting, args.snapshot_every
    );
    let start = Instant::now();
    let mut engine = Engine::new(config);
    let mut journal = Journal::open(&dir, 1)?;
    let mut events = Vec::new();
    let mut last_snapshot = 0;
    let boot = setup();
    let total = args.commands.max(boot.len() as u64 + args.resting);
    let mut rejected = 0u64;
    for i in 0..total {
        let cmd = match boot.get(i as usize) {
            Some(c) => *c,
            None => command(i - boot.len() as u64, args.resting),
        };
        let seq = journal.append(&cmd);
        events.clear();
        engine.execute(&cmd, &mut events);
        rejected += events
            .iter()
            .filter(|e| matches!(e.kind, bourse_core::EventKind::Rejected { .. }))
            .count() as u64;
        if (i + 1).is_multiple_of(args.batch) {
            journal.commit()?;
        }
        if seq - last_snapshot >= args.snapshot_every && i + 1 < total {
            journal.rotate()?;
            write_snapshot(&dir, seq, &engine.state())?;
            journal.prune(seq)?;
            last_snapshot = seq;
        }
    }
    journal.commit()?;
    drop(journal);
    anyhow::ensure!(rejected == 0, "{rejected} commands were refused");
    let resting = resting_orders(&engine);
    let hash = engine.state().hash();
    drop(engine);
    let bytes: u64 = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    eprintln!(
        "recovery-bench: written in {:.1} s; {resting} orders resting; {} MB on disk; last snapshot at {last_snapshot}",
        start.elapsed().as_secs_f64(),
        bytes / 1_000_000
    );

    let mut recovers = Vec::new();
    let mut replayed = 0;
    for _ in 0..args.runs {
        let t = Instant::now();
        let r = bourse_journal::recover(&dir, config)?;
        recovers.push(t.elapsed());
        replayed = r.replayed;
        anyhow::ensure!(r.last_seq == total, "recovered {} of {total}", r.last_seq);
        anyhow::ensure!(
            r.engine.state().hash() == hash,
            "the recovered state differs"
        );
    }
    let mut starts = Vec::new();
    for _ in 0..args.runs {
        let keys = bourse_gateway::keys::KeyStore::default();
        let mut gw = bourse_gateway::server::GatewayConfig::new(&dir, keys);
        gw.bind = "tcp://127.0.0.1:*".into();
        gw.feed = Some("tcp://127.0.0.1:*".into());
        gw.engine = config;
        gw.snapshot_every = args.snapshot_every;
        let t = Instant::now();
        let running = bourse_gateway::server::spawn(gw).context("starting the gateway")?;
        starts.push(t.elapsed());
        running.stop()?;
    }
    println!(
        "| resting orders | commands journaled | replayed after the snapshot | recover (median of {}) | gateway start to ready (median of {}) |",
        args.runs, args.runs
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {resting} | {total} | {replayed} | {:.2} s | {:.2} s |",
        median(recovers).as_secs_f64(),
        median(starts).as_secs_f64()
    );
    Ok(())
}
