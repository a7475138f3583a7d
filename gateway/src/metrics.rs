//! The engine's and the gateway's metrics: counters, gauges and fixed-bucket
//! histograms that the pipeline's threads update without allocating or locking, and a
//! renderer in Prometheus' text format for whoever serves `/metrics`.
//!
//! The journal and engine stages add a batch up in a [`LocalHistogram`] of their own
//! and publish it at the batch's end with a handful of relaxed atomic adds, so the
//! per-command cost is a subtraction and an array increment. What a command's round
//! trip is made of shows in `bourse_gateway_stage_seconds`, each stage timed from the
//! moment the I/O thread decoded the frame:
//!
//! | stage | the command has been ... |
//! |---|---|
//! | `durable` | appended to the journal and `fdatasync`ed (its batch's commit returned) |
//! | `matched` | executed by the engine (its batch's last command executed) |
//! | `reported` | answered: the report of its last event handed to ZeroMQ |

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use bourse_core::RejectReason;

/// Upper bounds of the buckets Prometheus sees, in nanoseconds (1 µs to 1 s; above is
/// `+Inf`). Each is also one of the finer [`FINE_NS`] bounds the counts are kept in.
const BOUNDS_NS: [u64; 19] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// The bounds counts are kept in: ten a decade from 1 µs to 10 s (1, 1.25, 1.5, 2, 2.5,
/// 3, 4, 5, 6, 7.5), so that percentiles read from them (for benchmarks) are within a
/// quarter of the truth, while the page keeps Prometheus' few buckets.
const FINE_NS: [u64; 71] = fine_bounds();

const fn fine_bounds() -> [u64; 71] {
    // Mantissas in hundredths.
    const M: [u64; 10] = [100, 125, 150, 200, 250, 300, 400, 500, 600, 750];
    let mut out = [0; 71];
    let mut decade = 0;
    let mut scale = 1_000; // 1 µs
    while decade < 7 {
        let mut i = 0;
        while i < 10 {
            out[decade * 10 + i] = scale * M[i] / 100;
            i += 1;
        }
        scale *= 10;
        decade += 1;
    }
    out[70] = scale; // 10 s
    out
}

/// Buckets: one per fine bound, and `+Inf`.
const BUCKETS: usize = FINE_NS.len() + 1;

/// Nanoseconds on the process's monotonic clock (since its first use): what the
/// pipeline stamps a command with when it arrives.
pub(crate) fn clock_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn bucket_of(ns: u64) -> usize {
    FINE_NS.partition_point(|&b| b < ns)
}

/// Percentiles read from a histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Observations.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

/// A latency histogram shared between the thread that records and the one that
/// renders: per-bucket counts (not cumulative), the sum and the count.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one observation (for threads that record rarely).
    pub fn record(&self, ns: u64) {
        self.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// How many observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The value below which a fraction `q` of the observations fall, in nanoseconds,
    /// interpolated linearly inside its bucket (0 when empty; past the last bound, the
    /// last bound).
    pub fn quantile(&self, q: f64) -> f64 {
        self.counts().quantile(q)
    }

    /// The usual percentiles, in microseconds.
    pub fn percentiles(&self) -> Percentiles {
        self.counts().percentiles()
    }

    /// A copy of the counts as they stand: subtract an earlier copy
    /// ([`Counts::since`]) for the percentiles of what was recorded in between.
    pub fn counts(&self) -> Counts {
        Counts(std::array::from_fn(|i| {
            self.buckets[i].load(Ordering::Relaxed)
        }))
    }

    /// Writes the histogram as `name` (in seconds) with `labels` (`key="value",...`,
    /// or empty), without the HELP and TYPE lines: the [`BOUNDS_NS`] buckets only.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        let mut shown = BOUNDS_NS.iter().peekable();
        for (i, fine) in FINE_NS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            if shown.next_if_eq(&fine).is_some() {
                let le = *fine as f64 / 1e9;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
                );
            }
        }
        cumulative += self.buckets[BUCKETS - 1].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        // The count is the buckets' total, so the two never disagree mid-update.
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

/// The counts of a [`Histogram`] at one moment, bucket by bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts([u64; BUCKETS]);

impl Default for Counts {
    fn default() -> Self {
        Counts([0; BUCKETS])
    }
}

impl Counts {
    /// What was recorded after `earlier` (an older copy of the same histogram).
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts(std::array::from_fn(|i| {
            self.0[i].saturating_sub(earlier.0[i])
        }))
    }

    /// How many observations.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// As [`Histogram::quantile`].
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        let target = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0.0;
        for (i, &n) in self.0.iter().enumerate() {
            let n = n as f64;
            if n > 0.0 && below + n >= target {
                let Some(&hi) = FINE_NS.get(i) else {
                    return FINE_NS[FINE_NS.len() - 1] as f64;
                };
                let lo = if i == 0 { 0 } else { FINE_NS[i - 1] };
                return lo as f64 + (hi - lo) as f64 * ((target - below) / n);
            }
            below += n;
        }
        FINE_NS[FINE_NS.len() - 1] as f64
    }

    /// The usual percentiles, in microseconds.
    pub fn percentiles(&self) -> Percentiles {
        let us = |q| self.quantile(q) / 1e3;
        Percentiles {
            count: self.total(),
            p50: us(0.5),
            p90: us(0.9),
            p99: us(0.99),
            p999: us(0.999),
        }
    }
}

/// A histogram one thread fills during a batch and then adds to a shared
/// [`Histogram`] in one go.
#[derive(Debug)]
pub struct LocalHistogram {
    buckets: [u64; BUCKETS],
    sum_ns: u64,
    count: u64,
}

impl Default for LocalHistogram {
    fn default() -> Self {
        LocalHistogram {
            buckets: [0; BUCKETS],
            sum_ns: 0,
            count: 0,
        }
    }
}

impl LocalHistogram {
    /// Records one observation.
    pub fn record(&mut self, ns: u64) {
        self.buckets[bucket_of(ns)] += 1;
        self.sum_ns += ns;
        self.count += 1;
    }

    /// Records, for each arrival time in `since` (`clock_ns`), the time from it to
    /// `now`.
    pub fn record_since(&mut self, now: u64, since: &[u64]) {
        for &t in since {
            self.record(now.saturating_sub(t));
        }
    }

    /// Adds what was recorded to `into` and starts again from empty.
    pub fn flush(&mut self, into: &Histogram) {
        if self.count == 0 {
            return;
        }
        for (i, n) in self.buckets.iter_mut().enumerate() {
            if *n > 0 {
                into.buckets[i].fetch_add(*n, Ordering::Relaxed);
                *n = 0;
            }
        }
        into.sum_ns.fetch_add(self.sum_ns, Ordering::Relaxed);
        into.count.fetch_add(self.count, Ordering::Relaxed);
        self.sum_ns = 0;
        self.count = 0;
    }
}

/// The stages a command's round trip is timed at (see the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Journaled and fsynced.
    Durable = 0,
    /// Executed by the engine.
    Matched = 1,
    /// Its last report sent.
    Reported = 2,
}

impl Stage {
    const ALL: [Stage; 3] = [Stage::Durable, Stage::Matched, Stage::Reported];

    fn as_str(self) -> &'static str {
        match self {
            Stage::Durable => "durable",
            Stage::Matched => "matched",
            Stage::Reported => "reported",
        }
    }
}

/// Who refused a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectSource {
    /// The gateway, before the journal (the frame never became a command).
    Gateway = 0,
    /// The engine (journaled).
    Engine = 1,
}

/// Every metric of one gateway (and the engine behind it). Cheap to share: the
/// gateway holds it in an `Arc` given in its configuration.
#[derive(Debug)]
pub struct GatewayMetrics {
    started: Instant,
    /// Commands the I/O thread put on the input ring.
    pub(crate) enqueued: AtomicU64,
    /// Commands the engine executed.
    pub(crate) executed: AtomicU64,
    /// Commands the I/O thread journaled and executed itself, the pipeline being idle.
    pub(crate) inline: AtomicU64,
    /// Events the engine emitted.
    pub(crate) events: AtomicU64,
    /// The engine's last event sequence number.
    pub(crate) event_seq: AtomicU64,
    /// The journal's last durable command sequence number.
    pub(crate) journal_seq: AtomicU64,
    /// 1 while the journal writes into a preallocated segment's zeros.
    pub(crate) journal_preallocated: AtomicU64,
    /// The command sequence number of the newest snapshot (written or recovered).
    pub(crate) snapshot_seq: AtomicU64,
    /// When the newest snapshot of this process finished, in ms since its start (0:
    /// none yet).
    pub(crate) snapshot_at_ms: AtomicU64,
    /// The input ring's size.
    pub(crate) ring_size: AtomicU64,
    /// Sessions logged in.
    pub(crate) sessions: AtomicI64,
    /// `fdatasync` of each journal batch.
    pub(crate) fsync: Histogram,
    /// Commands per journal batch are `executed` / this histogram's count; the engine's
    /// time per command, sampled one command in [`SAMPLE_EVERY`].
    pub(crate) command: Histogram,
    pub(crate) stages: [Histogram; 3],
    pub(crate) rejects: [[AtomicU64; RejectReason::ALL.len()]; 2],
}

/// The engine times one command in this many (timing each would cost as much as a
/// cheap command itself).
pub(crate) const SAMPLE_EVERY: u64 = 64;

impl Default for GatewayMetrics {
    fn default() -> Self {
        GatewayMetrics {
            started: Instant::now(),
            enqueued: AtomicU64::new(0),
            executed: AtomicU64::new(0),
            inline: AtomicU64::new(0),
            events: AtomicU64::new(0),
            event_seq: AtomicU64::new(0),
            journal_seq: AtomicU64::new(0),
            journal_preallocated: AtomicU64::new(0),
            snapshot_seq: AtomicU64::new(0),
            snapshot_at_ms: AtomicU64::new(0),
            ring_size: AtomicU64::new(0),
            sessions: AtomicI64::new(0),
            fsync: Histogram::default(),
            command: Histogram::default(),
            stages: Default::default(),
            rejects: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl GatewayMetrics {
    /// Counts a refusal.
    pub(crate) fn reject(&self, source: RejectSource, reason: RejectReason) {
        self.rejects[source as usize][usize::from(reason.code()) - 1]
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals so far from `source` for `reason`.
    pub fn rejects(&self, source: RejectSource, reason: RejectReason) -> u64 {
        self.rejects[source as usize][usize::from(reason.code()) - 1].load(Ordering::Relaxed)
    }

    /// Commands the engine has executed since the gateway started.
    pub fn executed(&self) -> u64 {
        self.executed.load(Ordering::Relaxed)
    }

    /// Commands the I/O thread journaled and executed itself (part of
    /// [`Self::executed`]; see `GatewayConfig::inline_batch`).
    pub fn inline(&self) -> u64 {
        self.inline.load(Ordering::Relaxed)
    }

    /// Sessions logged in now.
    pub fn sessions(&self) -> i64 {
        self.sessions.load(Ordering::Relaxed)
    }

    /// The histogram of one stage of the round trip.
    pub fn stage(&self, stage: Stage) -> &Histogram {
        &self.stages[stage as usize]
    }

    /// The journal's `fdatasync` histogram.
    pub fn fsync(&self) -> &Histogram {
        &self.fsync
    }

    /// Records that a snapshot at `seq` finished now.
    pub(crate) fn snapshot_done(&self, seq: u64) {
        self.snapshot_seq.store(seq, Ordering::Relaxed);
        let ms = self.started.elapsed().as_millis() as u64;
        self.snapshot_at_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Every metric in Prometheus' text exposition format, appended to `out`.
    pub fn render(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut one = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        one(
            "bourse_engine_commands_total",
            "counter",
            "Commands the engine executed.",
            load(&self.executed) as f64,
        );
        one(
            "bourse_gateway_inline_commands_total",
            "counter",
            "Commands the I/O thread journaled and executed itself, in small batches that found the pipeline idle (no hand-over to the stages).",
            load(&self.inline) as f64,
        );
        one(
            "bourse_engine_events_total",
            "counter",
            "Events the engine emitted.",
            load(&self.events) as f64,
        );
        one(
            "bourse_engine_event_seq",
            "gauge",
            "The engine's last event sequence number.",
            load(&self.event_seq) as f64,
        );
        one(
            "bourse_journal_seq",
            "gauge",
            "The last command sequence number the journal made durable.",
            load(&self.journal_seq) as f64,
        );
        one(
            "bourse_journal_segment_preallocated",
            "gauge",
            "1 while batches are written into a preallocated segment's zeros (syncs flush data only); 0 while the segment grows.",
            load(&self.journal_preallocated) as f64,
        );
        let journal = load(&self.journal_seq);
        let snapshot = load(&self.snapshot_seq);
        one(
            "bourse_journal_commands_since_snapshot",
            "gauge",
            "Commands journaled after the newest snapshot (what a restart replays).",
            journal.saturating_sub(snapshot) as f64,
        );
        let since_ms = match load(&self.snapshot_at_ms) {
            0 => self.started.elapsed().as_millis() as u64,
            at => (self.started.elapsed().as_millis() as u64).saturating_sub(at),
        };
        one(
            "bourse_journal_snapshot_age_seconds",
            "gauge",
            "Seconds since this process's newest snapshot (since its start if none yet).",
            since_ms as f64 / 1e3,
        );
        let enqueued = load(&self.enqueued);
        one(
            "bourse_gateway_ring_occupancy",
            "gauge",
            "Commands on the input ring not yet executed by the engine.",
            enqueued.saturating_sub(load(&self.executed)) as f64,
        );
        one(
            "bourse_gateway_ring_capacity",
            "gauge",
            "Slots of the input ring.",
            load(&self.ring_size) as f64,
        );
        one(
            "bourse_gateway_sessions",
            "gauge",
            "Sessions logged in.",
            self.sessions.load(Ordering::Relaxed) as f64,
        );
        one(
            "bourse_gateway_throttled_total",
            "counter",
            "Messages refused because their session went over its rate.",
            self.rejects(RejectSource::Gateway, RejectReason::Throttled) as f64,
        );
        let _ = writeln!(
            out,
            "# HELP bourse_gateway_rejects_total Refusals by who refused (gateway: never journaled; engine: journaled) and reason.\n# TYPE bourse_gateway_rejects_total counter"
        );
        for (source, name) in [
            (RejectSource::Gateway, "gateway"),
            (RejectSource::Engine, "engine"),
        ] {
            for reason in RejectReason::ALL {
                let n = self.rejects(source, reason);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "bourse_gateway_rejects_total{{source=\"{name}\",reason=\"{}\"}} {n}",
                        reason.as_str()
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP bourse_journal_fsync_seconds fdatasync of one journal batch.\n# TYPE bourse_journal_fsync_seconds histogram"
        );
        self.fsync.render(out, "bourse_journal_fsync_seconds", "");
        let _ = writeln!(
            out,
            "# HELP bourse_engine_command_seconds The engine's time to execute one command (one command in {SAMPLE_EVERY} timed).\n# TYPE bourse_engine_command_seconds histogram"
        );
        self.command
            .render(out, "bourse_engine_command_seconds", "");
        let _ = writeln!(
            out,
            "# HELP bourse_gateway_stage_seconds Time from a command's arrival to each stage of its round trip (durable, matched, reported).\n# TYPE bourse_gateway_stage_seconds histogram"
        );
        for stage in Stage::ALL {
            self.stages[stage as usize].render(
                out,
                "bourse_gateway_stage_seconds",
                &format!("stage=\"{}\"", stage.as_str()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{series} missing from\n{text}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::default();
        let mut local = LocalHistogram::default();
        local.record(1_000); // exactly on a bound: in it
        local.record(1_001);
        local.record(7_000_000_000); // past every bound
        local.flush(&h);
        assert_eq!(h.count(), 3);
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "");
        assert_eq!(value(&out, "x_seconds_bucket{le=\"0.000001\"}"), 1.0);
        assert_eq!(value(&out, "x_seconds_bucket{le=\"0.0000025\"}"), 2.0);
        assert_eq!(value(&out, "x_seconds_bucket{le=\"1\"}"), 2.0);
        assert_eq!(value(&out, "x_seconds_bucket{le=\"+Inf\"}"), 3.0);
        assert_eq!(value(&out, "x_seconds_count"), 3.0);
        assert!((value(&out, "x_seconds_sum") - 7.000002001).abs() < 1e-9);
    }

    #[test]
    fn every_bound_prometheus_sees_is_a_bound_the_counts_are_kept_in() {
        assert!(FINE_NS.windows(2).all(|w| w[0] < w[1]));
        for b in BOUNDS_NS {
            assert!(FINE_NS.contains(&b), "{b}");
        }
        let h = Histogram::default();
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "");
        assert_eq!(out.matches("_bucket").count(), BOUNDS_NS.len() + 1);
    }

    #[test]
    fn percentiles_come_within_a_bucket_of_the_truth() {
        let h = Histogram::default();
        let mut local = LocalHistogram::default();
        // 1..=1000 µs, uniformly.
        for us in 1..=1000u64 {
            local.record(us * 1_000);
        }
        local.flush(&h);
        let p = h.percentiles();
        assert_eq!(p.count, 1000);
        for (got, want) in [(p.p50, 500.0), (p.p90, 900.0), (p.p99, 990.0)] {
            assert!(
                (got - want).abs() <= want * 0.25,
                "got {got} µs, want about {want}"
            );
        }
        assert_eq!(Histogram::default().quantile(0.5), 0.0);
    }

    #[test]
    fn counts_since_an_earlier_copy_hold_only_what_came_after_it() {
        let h = Histogram::default();
        for _ in 0..100 {
            h.record(1_000_000); // 1 ms
        }
        let before = h.counts();
        for _ in 0..10 {
            h.record(10_000); // 10 µs
        }
        let between = h.counts().since(&before);
        assert_eq!(between.total(), 10);
        let p99 = between.percentiles().p99;
        assert!((7.5..=10.0).contains(&p99), "{p99} µs: in the 10 µs bucket");
        assert_eq!(h.counts().since(&h.counts()).quantile(0.5), 0.0);
        assert!(
            h.percentiles().p50 > 750.0,
            "the whole histogram is still there"
        );
    }

    #[test]
    fn a_flush_empties_the_local_histogram() {
        let h = Histogram::default();
        let mut local = LocalHistogram::default();
        local.record(10);
        local.flush(&h);
        local.flush(&h);
        assert_eq!(h.count(), 1);
    }

    #[test]
    fn the_rendering_names_every_series_once_with_its_type() {
        let m = GatewayMetrics::default();
        m.reject(RejectSource::Gateway, RejectReason::Throttled);
        m.reject(RejectSource::Engine, RejectReason::InsufficientFunds);
        m.enqueued.store(10, Ordering::Relaxed);
        m.executed.store(7, Ordering::Relaxed);
        m.journal_seq.store(100, Ordering::Relaxed);
        m.snapshot_done(40);
        m.stage(Stage::Reported).record(3_000);
        let mut out = String::new();
        m.render(&mut out);
        assert_eq!(value(&out, "bourse_gateway_ring_occupancy"), 3.0);
        assert_eq!(value(&out, "bourse_journal_commands_since_snapshot"), 60.0);
        assert_eq!(value(&out, "bourse_gateway_throttled_total"), 1.0);
        assert_eq!(
            value(
                &out,
                "bourse_gateway_rejects_total{source=\"engine\",reason=\"insufficient_funds\"}"
            ),
            1.0
        );
        assert_eq!(
            value(
                &out,
                "bourse_gateway_stage_seconds_count{stage=\"reported\"}"
            ),
            1.0
        );
        let mut types: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        let n = types.len();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), n, "a metric declared twice");
        // Every sample belongs to a declared metric.
        for l in out.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| types.contains(b))
                .unwrap_or(name);
            assert!(types.contains(&base), "{name} has no TYPE line");
        }
    }
}
