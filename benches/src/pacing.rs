//! Latency at a fixed offered rate, the way exchange-core measures it.
//!
//! Command `i` is *intended* to start at `t0 + i / rate`. The loop waits (spinning) until
//! that moment if it is early, runs the command, and records `completion - intended`.
//! When the engine falls behind, commands start late and their latency includes the
//! wait: a stall shows up in every command it delayed, as it would for a client.

use std::time::Instant;

use hdrhistogram::Histogram;

/// Latency percentiles in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Percentiles {
    /// Offered rate, commands per second.
    pub rate: u64,
    /// 50th percentile.
    pub p50: u64,
    /// 90th.
    pub p90: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    pub p999: u64,
    /// 99.99th.
    pub p9999: u64,
    /// Worst.
    pub max: u64,
    /// Commands measured.
    pub count: u64,
}

impl Percentiles {
    /// Reads the percentiles of a histogram of nanoseconds.
    pub fn from_histogram(rate: u64, h: &Histogram<u64>) -> Self {
        Percentiles {
            rate,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            count: h.len(),
        }
    }
}

/// Runs `n` commands through `run(i)` at `rate` per second; returns the percentiles.
pub fn paced(rate: u64, n: usize, mut run: impl FnMut(usize)) -> Percentiles {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures is valid"))
    });
    let start = Instant::now();
    // One clock read per command when the engine is behind (the completion time of one
    // command is the start check of the next); more only while waiting for the schedule.
    let mut now = 0u64;
    for i in 0..n {
        let intended = (i as u128 * 1_000_000_000 / u128::from(rate)) as u64;
        while now < intended {
            std::hint::spin_loop();
            now = start.elapsed().as_nanos() as u64;
        }
        run(i);
        now = start.elapsed().as_nanos() as u64;
        h.saturating_record((now - intended).max(1));
    }
    Percentiles::from_histogram(rate, &h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_counts_against_the_commands_behind_it() {
        // One 2 ms stall at a 1M/s offered rate delays the ~2,000 commands due during it.
        let p = paced(1_000_000, 20_000, |i| {
            if i == 100 {
                let t = Instant::now();
                while t.elapsed().as_micros() < 2_000 {}
            }
        });
        assert_eq!(p.count, 20_000);
        // Commands 100..300 were due within 0.2 ms of the stall's start, so each
        // waited at least 1.8 ms: the top 1% (200 commands, not just the one that
        // stalled) must show it. Lower bounds only: noise can only add.
        assert!(p.p99 >= 1_500_000, "{p:?}");
        assert!(p.max >= 2_000_000, "{p:?}");
    }
}
