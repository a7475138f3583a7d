//! `exchange-bench`: Bourse on exchange-core's workload, beside lobster and orderbook-rs,
//! and on realistic, cancel-heavy equity flow in five regimes beside matchcore and
//! lobster (`--equity-messages`; `--only-equity` for that part alone).
//!
//! Prints a Markdown report: the workload's shape, single-thread throughput (median of
//! interleaved repetitions, each engine fresh), and latency percentiles at fixed offered
//! rates measured from intended start times. Run it in release mode:
//!
//! `cargo run --release -p bourse-benches --bin exchange-bench -- --commands 3000000`

use std::fmt::Write as _;

use bourse_benches::competitors::{Lobster, Matchcore, Op, OrderbookRs, max_id, translate};
use bourse_benches::pacing::{Percentiles, paced};
use bourse_benches::{CountingSink, prepared_engine, throughput};
use bourse_workload::{Workload, WorkloadConfig, generate};
use clap::Parser;

/// Bourse on exchange-core's workload.
#[derive(Parser, Debug)]
struct Args {
    /// Commands in the measured stream.
    #[arg(long, default_value_t = 3_000_000)]
    commands: usize,
    /// Commands of the multi-symbol (10,000 symbols, 100,000 users) variant; 0 skips it.
    #[arg(long, default_value_t = 3_000_000)]
    multi_commands: usize,
    /// Offered rates for the latency runs, commands per second (`none` skips them).
    #[arg(long, value_delimiter = ',', default_value = "1000000,3000000,5000000", value_parser = parse_rate)]
    rates: Vec<u64>,
    /// Interleaved throughput repetitions per engine (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Paced runs per engine and rate; each percentile reported is the median over them.
    #[arg(long, default_value_t = 3)]
    latency_runs: usize,
    /// Seed of the workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Skip lobster and orderbook-rs.
    #[arg(long)]
    no_competitors: bool,
    /// Messages per regime of the equity flow (five regimes); 0 skips it.
    #[arg(long, default_value_t = 2_000_000)]
    equity_messages: usize,
    /// Only the equity flow.
    #[arg(long)]
    only_equity: bool,
    /// Also run the scale sweep (up to 10,000 symbols, 1,000,000 users, 10,000,000
    /// resting orders; needs ~6 GB of memory and a few minutes).
    #[arg(long)]
    scale: bool,
}

fn parse_rate(s: &str) -> Result<u64, String> {
    if s == "none" {
        return Ok(0);
    }
    s.parse().map_err(|e| format!("{s}: {e}"))
}

/// Each percentile's median over several runs: one run's stall (this is a shared VM)
/// does not decide a row.
fn median_percentiles(runs: &[Percentiles]) -> Percentiles {
    let med = |f: fn(&Percentiles) -> u64| {
        let mut v: Vec<u64> = runs.iter().map(f).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    Percentiles {
        rate: runs[0].rate,
        p50: med(|p| p.p50),
        p90: med(|p| p.p90),
        p99: med(|p| p.p99),
        p999: med(|p| p.p999),
        p9999: med(|p| p.p9999),
        max: med(|p| p.max),
        count: runs[0].count,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mops(x: f64) -> String {
    format!("{:.2} M/s", x / 1e6)
}

fn us(ns: u64) -> String {
    if ns < 10_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{:.0} µs", ns as f64 / 1e3)
    }
}

fn row(name: &str, p: &Percentiles) -> String {
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} |\n",
        mops(p.rate as f64),
        us(p.p50),
        us(p.p90),
        us(p.p99),
        us(p.p999),
        us(p.p9999),
        us(p.max)
    )
}

fn lobster_throughput(setup: &[Op], ops: &[Op]) -> f64 {
    let mut b = Lobster::new(setup.len() * 4);
    for op in setup {
        b.apply(op);
    }
    let t = std::time::Instant::now();
    for op in ops {
        std::hint::black_box(b.apply(op));
    }
    ops.len() as f64 / t.elapsed().as_secs_f64()
}

fn orbrs_throughput(setup: &[Op], ops: &[Op]) -> f64 {
    let b = OrderbookRs::default();
    for op in setup {
        b.apply(op);
    }
    let t = std::time::Instant::now();
    for op in ops {
        b.apply(op);
    }
    ops.len() as f64 / t.elapsed().as_secs_f64()
}

fn describe(w: &Workload, out: &mut String) {
    let s = &w.stats;
    let n = w.commands.len() as f64;
    let pct = |x: usize| 100.0 * x as f64 / n;
    let _ = writeln!(
        out,
        "- {} symbols, {} users, {} commands (seed {}): GTC {:.1}%, IOC {:.1}%, cancel {:.1}%, move {:.1}%; \
         {:.1}% of commands trade ({} trades); mean resting orders {:.0}, levels at end (busiest book) {}; rejects {}",
        w.config.symbols,
        w.config.users,
        w.commands.len(),
        w.config.seed,
        pct(s.gtc),
        pct(s.ioc),
        pct(s.cancels),
        pct(s.moves),
        pct(s.trading_commands),
        s.trades,
        s.mean_resting,
        s.levels_at_end,
        s.rejects
    );
}

fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() {
    let args = Args::parse();
    let mut out = String::new();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "## exchange-bench\n\nMachine: {} ({cores} cores). Command: `{}`\n",
        cpu(),
        std::env::args().collect::<Vec<_>>().join(" ")
    );

    if args.equity_messages > 0 {
        equity_flow(&args, &mut out);
    }
    if args.only_equity {
        print!("{out}");
        return;
    }
    let cfg = WorkloadConfig {
        seed: args.seed,
        ..WorkloadConfig::single_symbol(args.commands)
    };
    eprintln!("generating {} commands…", args.commands);
    let w = generate(cfg);
    let _ = writeln!(out, "### Workload\n");
    describe(&w, &mut out);
    let (setup_ops, ops) = translate(&w.setup, &w.commands);

    eprintln!("throughput…");
    let (mut tb, mut tl, mut to) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..args.reps {
        let mut e = prepared_engine(&w);
        tb.push(throughput(&mut e, &w.commands));
        if !args.no_competitors {
            tl.push(lobster_throughput(&setup_ops, &ops));
            to.push(orbrs_throughput(&setup_ops, &ops));
        }
        eprintln!("  rep {rep}: bourse {}", mops(tb[rep]));
    }
    let bourse = median(tb);
    let _ = writeln!(
        out,
        "\n### Throughput, one thread, no pacing (median of {} interleaved runs)\n",
        args.reps
    );
    let _ = writeln!(out, "| engine | commands/s | Bourse is |\n|---|---|---|");
    let _ = writeln!(
        out,
        "| **Bourse** (risk checks, reservations, STP, events) | {} | — |",
        mops(bourse)
    );
    if !args.no_competitors {
        let (l, o) = (median(tl), median(to));
        let _ = writeln!(
            out,
            "| lobster 0.7 (no risk) | {} | {:.1}× faster |",
            mops(l),
            bourse / l
        );
        let _ = writeln!(
            out,
            "| orderbook-rs 0.15 (no risk) | {} | {:.1}× faster |",
            mops(o),
            bourse / o
        );
    }

    eprintln!("latency…");
    let _ = writeln!(
        out,
        "\n### Latency at offered rates (intended start → completion; each percentile the median of {} runs)\n",
        args.latency_runs
    );
    let _ = writeln!(
        out,
        "| engine | offered | 50% | 90% | 99% | 99.9% | 99.99% | worst |\n|---|---|---|---|---|---|---|---|"
    );
    for &rate in args.rates.iter().filter(|&&r| r > 0) {
        let (mut floor, mut ours, mut lob, mut orb) = (vec![], vec![], vec![], vec![]);
        for _ in 0..args.latency_runs {
            // The harness alone, running a no-op: the machine's own noise at this rate.
            let mut x = 0u64;
            floor.push(paced(rate, w.commands.len(), |i| {
                x = x.wrapping_add(i as u64)
            }));
            std::hint::black_box(x);
            let mut e = prepared_engine(&w);
            let mut sink = CountingSink::default();
            ours.push(paced(rate, w.commands.len(), |i| {
                e.execute(&w.commands[i], &mut sink)
            }));
            if !args.no_competitors {
                let mut l = Lobster::new(setup_ops.len() * 4);
                for op in &setup_ops {
                    l.apply(op);
                }
                lob.push(paced(rate, ops.len(), |i| {
                    std::hint::black_box(l.apply(&ops[i]));
                }));
                let o = OrderbookRs::default();
                for op in &setup_ops {
                    o.apply(op);
                }
                orb.push(paced(rate, ops.len(), |i| o.apply(&ops[i])));
            }
        }
        out.push_str(&row("harness floor (no-op)", &median_percentiles(&floor)));
        let p = median_percentiles(&ours);
        eprintln!("  bourse at {}: p99 {}", mops(rate as f64), us(p.p99));
        out.push_str(&row("**Bourse**", &p));
        if !args.no_competitors {
            out.push_str(&row("lobster", &median_percentiles(&lob)));
            out.push_str(&row("orderbook-rs", &median_percentiles(&orb)));
        }
    }

    if args.multi_commands > 0 {
        eprintln!("multi-symbol workload…");
        let mcfg = WorkloadConfig {
            seed: args.seed,
            ..WorkloadConfig::multi_symbol(args.multi_commands)
        };
        let mw = generate(mcfg);
        let _ = writeln!(out, "\n### Multi-symbol variant\n");
        describe(&mw, &mut out);
        let mut t = Vec::new();
        for _ in 0..args.reps.min(3) {
            let mut e = prepared_engine(&mw);
            t.push(throughput(&mut e, &mw.commands));
        }
        let runs = t.len();
        let multi = median(t);
        let _ = writeln!(
            out,
            "\nThroughput (median of {runs}): **{}** (single symbol above: {})\n",
            mops(multi),
            mops(bourse)
        );
        let _ = writeln!(
            out,
            "| engine | offered | 50% | 90% | 99% | 99.9% | 99.99% | worst |\n|---|---|---|---|---|---|---|---|"
        );
        let mut e = prepared_engine(&mw);
        let mut sink = CountingSink::default();
        // Offered at half of what it sustains: a paced run above capacity only measures
        // the growing queue.
        let rate = ((multi / 2.0) as u64 / 100_000).max(1) * 100_000;
        let p = paced(rate, mw.commands.len(), |i| {
            e.execute(&mw.commands[i], &mut sink)
        });
        out.push_str(&row("**Bourse**, 10,000 symbols", &p));

        snapshot_costs(&mw, &e, &mut out);
    }

    journal_costs(&w, &mut out);
    if args.scale {
        scale_sweep(&args, &mut out);
    }
    print!("{out}");
}

/// The equity flow's five regimes: Bourse (every risk check on) beside matchcore and
/// lobster on the same messages, interleaved, each run on a fresh book; the worst
/// regime is the headline.
fn equity_flow(args: &Args, out: &mut String) {
    use bourse_workload::{Regime, generate_equity};
    let _ = writeln!(
        out,
        "### Realistic equity flow (one instrument; {} messages a regime, seed {}; Bourse and matchcore: median of {} interleaved runs, each on a fresh book; lobster: one run)\n",
        args.equity_messages, args.seed, args.reps
    );
    let _ = writeln!(
        out,
        "| regime | resting orders (mean / peak) | levels (mean) | mid range (ticks) | trades | refused | **Bourse** | matchcore 0.4 | lobster 0.7 | Bourse ÷ matchcore | Bourse ÷ lobster |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut worst: Option<(String, f64, f64, f64)> = None;
    for regime in Regime::ALL {
        eprintln!("equity flow, {}…", regime.name());
        let w = generate_equity(regime, args.equity_messages, args.seed);
        let (setup_ops, ops) = translate(&w.setup, &w.commands);
        let ids = max_id(&ops);
        let (mut b, mut m, mut l) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..args.reps {
            let mut e = bourse_core::Engine::new(w.engine_config());
            let mut sink = CountingSink::default();
            for c in &w.setup {
                e.execute(c, &mut sink);
            }
            b.push(throughput(&mut e, &w.commands));
            let mut mc = Matchcore::new(ids);
            let t = std::time::Instant::now();
            for op in &ops {
                std::hint::black_box(mc.apply(op));
            }
            m.push(ops.len() as f64 / t.elapsed().as_secs_f64());
            // lobster once: on a walking mid it runs at tens of thousands a second
            // (its best-price update scans), and a run takes minutes.
            if rep == 0 && !args.no_competitors {
                l.push(lobster_throughput(&setup_ops, &ops));
            }
        }
        let (b, m) = (median(b), median(m));
        let l = if l.is_empty() { f64::NAN } else { median(l) };
        let s = &w.stats;
        let _ = writeln!(
            out,
            "| {} | {:.0} / {} | {:.0} | {} | {} | {} | **{}** | {} | {} | {:.2}× | {:.2}× |",
            regime.name(),
            s.mean_resting,
            s.peak_resting,
            s.mean_levels,
            s.mid_range.1 - s.mid_range.0,
            s.trades,
            s.rejects,
            mops(b),
            mops(m),
            mops(l),
            b / m,
            b / l
        );
        if worst.as_ref().is_none_or(|w| b / m < w.1) {
            worst = Some((regime.name(), b / m, b, b / l));
        }
    }
    if let Some((name, vs_m, b, vs_l)) = worst {
        let _ = writeln!(
            out,
            "\nWorst regime against matchcore: **{name}**, Bourse {} = {vs_m:.2}× matchcore, {vs_l:.2}× lobster.\n",
            mops(b)
        );
    }
}

/// What durability costs: group commit at several batch sizes, and a snapshot.
fn journal_costs(w: &Workload, out: &mut String) {
    use bourse_journal::Journal;
    let dir = std::path::Path::new("target/bench-journal");
    let _ = writeln!(
        out,
        "\n### Journal: append + group commit (`fdatasync` per batch), on this machine's disk\n"
    );
    let _ = writeln!(
        out,
        "| batch (commands per fsync) | commands/s | fsyncs/s | mean fsync batch time |\n|---|---|---|---|"
    );
    for batch in [1usize, 16, 256, 4096] {
        let _ = std::fs::remove_dir_all(dir);
        let Ok(mut j) = Journal::open(dir, 1) else {
            let _ = writeln!(out, "| {batch} | (could not open {}) | | |", dir.display());
            return;
        };
        // Enough commands for a stable figure without minutes of single fsyncs.
        let n = (batch * 2_000).min(w.commands.len());
        let t = std::time::Instant::now();
        for chunk in w.commands[..n].chunks(batch) {
            for c in chunk {
                j.append(c);
            }
            if j.commit().is_err() {
                let _ = writeln!(out, "| {batch} | (commit failed) | | |");
                return;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let commits = n.div_ceil(batch) as f64;
        let _ = writeln!(
            out,
            "| {batch} | {} | {:.0} | {:.1} µs |",
            mops(n as f64 / secs),
            commits / secs,
            secs / commits * 1e6
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// What a snapshot costs: rebuilding the state from the journal on the snapshot thread
/// (the engine never pauses), against the alternative of copying the live engine.
fn snapshot_costs(w: &Workload, live: &bourse_core::Engine, out: &mut String) {
    use bourse_journal::{Journal, state_at, write_snapshot};
    let dir = std::path::Path::new("target/bench-snapshot");
    let _ = std::fs::remove_dir_all(dir);
    let Ok(mut j) = Journal::open(dir, 1) else {
        return;
    };
    for c in w.setup.iter().chain(&w.commands) {
        j.append(c);
    }
    let Ok(seq) = j.commit() else { return };
    let t = std::time::Instant::now();
    let Ok(rebuilt) = state_at(dir, seq, w.config.engine_config()) else {
        return;
    };
    let rebuild = t.elapsed();
    let t = std::time::Instant::now();
    let state = rebuilt.state();
    let ok = write_snapshot(dir, seq, &state).is_ok();
    let write = t.elapsed();
    let same = state.hash() == live.state().hash();
    let t = std::time::Instant::now();
    let copy = live.clone();
    let clone = t.elapsed();
    let _ = writeln!(
        out,
        "\nSnapshot of this engine ({} resting orders, {} accounts, {} journaled commands): the engine \
         thread pauses **0 ms** — the snapshot thread rebuilds the state from the journal in {:.0} ms \
         (state hash equal to the live engine's: {same}) and writes it in {:.0} ms (written: {ok}). \
         Copying the live engine instead would pause it {:.0} ms.",
        copy.resting_orders(),
        w.config.users,
        seq,
        rebuild.as_secs_f64() * 1e3,
        write.as_secs_f64() * 1e3,
        clone.as_secs_f64() * 1e3,
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Per-command cost as the engine's state grows, on the scale workload (uniformly
/// random orders: the cache-hostile case).
fn scale_sweep(args: &Args, out: &mut String) {
    let _ = writeln!(
        out,
        "\n### Scale sweep (uniformly random resting order per command: 88% move, 6% cancel, 6% new)\n"
    );
    let _ = writeln!(
        out,
        "| symbols | users | resting orders | setup (commands/s) | measured commands/s | ns/command |\n|---|---|---|---|---|---|"
    );
    let points: [(u32, u64, usize); 4] = [
        (10, 1_000, 10_000),
        (100, 10_000, 100_000),
        (1_000, 100_000, 1_000_000),
        (10_000, 1_000_000, 10_000_000),
    ];
    for (symbols, users, resting) in points {
        eprintln!("scale: {symbols} symbols, {users} users, {resting} orders…");
        let cfg = WorkloadConfig {
            seed: args.seed,
            ..WorkloadConfig::scale(symbols, users, resting, 2_000_000)
        };
        let w = bourse_workload::generate_scale(cfg);
        let mut e = bourse_core::Engine::new(cfg.engine_config());
        let mut sink = CountingSink::default();
        let t = std::time::Instant::now();
        for c in &w.setup {
            e.execute(c, &mut sink);
        }
        let setup_rate = w.setup.len() as f64 / t.elapsed().as_secs_f64();
        assert_eq!(e.resting_orders(), resting);
        let rate = throughput(&mut e, &w.commands);
        let _ = writeln!(
            out,
            "| {symbols} | {users} | {resting} | {} | **{}** | {:.0} |",
            mops(setup_rate),
            mops(rate),
            1e9 / rate
        );
    }
}
