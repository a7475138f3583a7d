//! OHLCV bars per interval, from trades stamped with the feed's clock.

use crate::message::{Bar, INTERVALS};

/// The running bar of each interval (1s, 1m, 1h, 1d) for one instrument.
#[derive(Clone, Debug, Default)]
pub struct Candles {
    current: [Option<Bar>; 4],
    dirty: [bool; 4],
}

/// A bar to publish: interval index into [`INTERVALS`], the bar, whether it is final.
pub type BarUpdate = (usize, Bar, bool);

impl Candles {
    /// Adds a trade at `now_ms`; bars whose interval ended before it are pushed to
    /// `closed` as final.
    pub fn trade(&mut self, price: i64, qty: i64, now_ms: u64, closed: &mut Vec<BarUpdate>) {
        self.close_before(now_ms, closed);
        for (i, (_, len)) in INTERVALS.iter().enumerate() {
            let start = now_ms - now_ms % len;
            let bar = self.current[i].get_or_insert(Bar {
                start_ms: start,
                open: price,
                high: price,
                low: price,
                close: price,
                volume: 0,
                trades: 0,
            });
            bar.high = bar.high.max(price);
            bar.low = bar.low.min(price);
            bar.close = price;
            bar.volume += qty;
            bar.trades += 1;
            self.dirty[i] = true;
        }
    }

    /// Pushes every bar whose interval is over at `now_ms` as final, and forgets it.
    pub fn close_before(&mut self, now_ms: u64, closed: &mut Vec<BarUpdate>) {
        for (i, (_, len)) in INTERVALS.iter().enumerate() {
            if let Some(bar) = self.current[i]
                && now_ms >= bar.start_ms + len
            {
                closed.push((i, bar, true));
                self.current[i] = None;
                self.dirty[i] = false;
            }
        }
    }

    /// Pushes the bars changed since the last call (not final).
    pub fn take_changed(&mut self, out: &mut Vec<BarUpdate>) {
        for i in 0..INTERVALS.len() {
            if self.dirty[i]
                && let Some(bar) = self.current[i]
            {
                out.push((i, bar, false));
            }
            self.dirty[i] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_roll_over_at_interval_boundaries() {
        let mut c = Candles::default();
        let mut out = Vec::new();
        c.trade(100, 5, 10_000, &mut out);
        c.trade(103, 1, 10_500, &mut out);
        c.trade(99, 2, 10_900, &mut out);
        assert!(out.is_empty(), "nothing closed inside the first second");
        c.take_changed(&mut out);
        let one_s = out.iter().find(|u| u.0 == 0).expect("1s bar").1;
        assert_eq!(
            one_s,
            Bar {
                start_ms: 10_000,
                open: 100,
                high: 103,
                low: 99,
                close: 99,
                volume: 8,
                trades: 3
            }
        );
        out.clear();
        c.trade(101, 4, 11_200, &mut out);
        // Only the 1s bar closed; the minute, hour and day go on.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 0);
        assert!(out[0].2, "final");
        assert_eq!(out[0].1.close, 99);
        out.clear();
        c.take_changed(&mut out);
        let minute = out.iter().find(|u| u.0 == 1).expect("1m bar").1;
        assert_eq!((minute.open, minute.close, minute.volume), (100, 101, 12));
        let second = out.iter().find(|u| u.0 == 0).expect("new 1s bar").1;
        assert_eq!(
            (second.start_ms, second.open, second.trades),
            (11_000, 101, 1)
        );
        out.clear();
        c.close_before(60_000, &mut out);
        assert_eq!(out.iter().filter(|u| u.2).count(), 2, "1s and 1m closed");
    }
}
