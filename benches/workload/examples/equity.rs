//! One workload through Bourse's engine alone, for profiling (`perf record`, cachegrind):
//! one regime of the equity flow, or exchange-core's mix, repeated; prints messages per
//! second of each repetition (0 repetitions: only generates, a baseline for cachegrind).
//!
//! `cargo run --release -p bourse-workload --example equity -- fixed 2000000 5`
//! (workload: `fixed`, `2`, `25`, `40` or `60` for the equity flow's regimes, `core` for
//! exchange-core's mix; messages; repetitions)

use bourse_core::{Command, Engine, EngineConfig, Event};
use bourse_workload::{Regime, WorkloadConfig, generate, generate_equity};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let messages = args
        .get(2)
        .map_or(2_000_000, |m| m.parse().expect("messages"));
    let reps = args.get(3).map_or(5, |r| r.parse().expect("repetitions"));
    let (config, setup, commands): (EngineConfig, Vec<Command>, Vec<Command>) = match args
        .get(1)
        .map(String::as_str)
    {
        Some("core") => {
            let w = generate(WorkloadConfig::single_symbol(messages));
            eprintln!("exchange-core's mix: {:?}", w.stats);
            (w.config.engine_config(), w.setup, w.commands)
        }
        regime => {
            let regime = match regime {
                None | Some("fixed") => Regime::Fixed,
                Some(pct) => Regime::Swing(pct.parse::<f64>().expect("a swing in percent") / 100.0),
            };
            let w = generate_equity(regime, messages, 1);
            eprintln!("{}: {:?}", regime.name(), w.stats);
            (w.engine_config(), w.setup, w.commands)
        }
    };
    let mut events: Vec<Event> = Vec::with_capacity(64);
    for _ in 0..reps {
        let mut e = Engine::new(config);
        for c in &setup {
            events.clear();
            e.execute(c, &mut events);
        }
        let t = std::time::Instant::now();
        for c in &commands {
            events.clear();
            e.execute(c, &mut events);
        }
        let rate = commands.len() as f64 / t.elapsed().as_secs_f64();
        println!("{:.2} M messages/s", rate / 1e6);
    }
}
