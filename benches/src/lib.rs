//! # bourse-benches
//!
//! Measuring the engine on exchange-core's workload (`bourse-workload`): throughput on
//! one thread, latency percentiles at fixed offered rates (measured from each command's
//! *intended* start, so a stall counts against every command queued behind it — no
//! coordinated omission), and the same stream through other open-source Rust order books
//! for ratios measured side by side.
//!
//! The figures and the commands that reproduce them are in `PERF.md`.

pub mod competitors;
pub mod pacing;

use bourse_core::{Command, Engine, Event, EventSink};
use bourse_workload::Workload;

/// Counts events without storing them: what a consumer reading the output ring costs
/// the engine thread is the event copy, which this still performs.
#[derive(Debug, Default)]
pub struct CountingSink {
    /// Events seen.
    pub events: u64,
    last: Option<Event>,
}

impl EventSink for CountingSink {
    #[inline]
    fn push(&mut self, event: Event) {
        self.events += 1;
        self.last = Some(event);
    }
}

impl CountingSink {
    /// The last event, so the optimizer cannot drop the work.
    pub fn last(&self) -> Option<Event> {
        self.last
    }
}

/// An engine with the workload's setup applied.
pub fn prepared_engine(w: &Workload) -> Engine {
    let mut e = Engine::new(w.config.engine_config());
    let mut sink = CountingSink::default();
    for c in &w.setup {
        e.execute(c, &mut sink);
    }
    e
}

/// Runs `cmds` through `engine` as fast as possible; returns commands per second.
pub fn throughput(engine: &mut Engine, cmds: &[Command]) -> f64 {
    let mut sink = CountingSink::default();
    let start = std::time::Instant::now();
    for c in cmds {
        engine.execute(c, &mut sink);
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(sink.last());
    cmds.len() as f64 / secs
}
