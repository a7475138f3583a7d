//! The equity flow through matchcore alone, translated as `exchange-bench` translates it:
//! the competitor's side of an instruction or profile comparison (cachegrind, `perf`),
//! beside `bourse-workload`'s `equity` example for Bourse. Prints messages per second of
//! each repetition (0 repetitions: only generates and translates, a baseline for
//! cachegrind).
//!
//! `cargo run --release -p bourse-benches --example matchcore -- fixed 2000000 5`
//! (regime: `fixed`, or `2`, `25`, `40`, `60` for a swing in percent; messages;
//! repetitions)

use bourse_benches::competitors::{Matchcore, max_id, translate};
use bourse_workload::{Regime, generate_equity};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let regime = match args.get(1).map(String::as_str) {
        None | Some("fixed") => Regime::Fixed,
        Some(pct) => Regime::Swing(pct.parse::<f64>().expect("a swing in percent") / 100.0),
    };
    let messages = args
        .get(2)
        .map_or(2_000_000, |m| m.parse().expect("messages"));
    let reps = args.get(3).map_or(5, |r| r.parse().expect("repetitions"));
    let w = generate_equity(regime, messages, 1);
    let (_, ops) = translate(&w.setup, &w.commands);
    let ids = max_id(&ops);
    eprintln!("{}: {} ops", regime.name(), ops.len());
    for _ in 0..reps {
        let mut book = Matchcore::new(ids);
        let t = std::time::Instant::now();
        for op in &ops {
            std::hint::black_box(book.apply(op));
        }
        let rate = ops.len() as f64 / t.elapsed().as_secs_f64();
        println!("{:.2} M messages/s", rate / 1e6);
    }
}
