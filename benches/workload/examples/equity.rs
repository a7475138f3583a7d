//! The equity flow through Bourse's engine alone, for profiling (`perf record`): one
//! regime, repeated; prints messages per second of each repetition.
//!
//! `cargo run --release -p bourse-workload --example equity -- fixed 2000000 5`
//! (regime: `fixed`, `2`, `25`, `40` or `60`; messages; repetitions)

use bourse_core::{Engine, Event};
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
    eprintln!("{}: {:?}", regime.name(), w.stats);
    let mut events: Vec<Event> = Vec::with_capacity(64);
    for _ in 0..reps {
        let mut e = Engine::new(w.engine_config());
        for c in &w.setup {
            events.clear();
            e.execute(c, &mut events);
        }
        let t = std::time::Instant::now();
        for c in &w.commands {
            events.clear();
            e.execute(c, &mut events);
        }
        let rate = w.commands.len() as f64 / t.elapsed().as_secs_f64();
        println!("{:.2} M messages/s", rate / 1e6);
    }
}
