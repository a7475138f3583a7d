//! OHLCV bars from trades: the timeframes kept, where a bar starts, and how trades (and
//! partial bars) add up — in any order, so that a trade delivered late still lands
//! where it belongs and the result is the same as if it had come on time.

use std::collections::BTreeMap;

use crate::calendar;

const MINUTE_NS: i64 = 60_000_000_000;

/// A bar length the service keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timeframe {
    /// One minute.
    Min1,
    /// Five minutes.
    Min5,
    /// One hour.
    Hour1,
    /// One exchange day (midnight to midnight in the exchange's zone).
    Day1,
}

impl Timeframe {
    /// Every timeframe kept.
    pub const ALL: [Timeframe; 4] = [
        Timeframe::Min1,
        Timeframe::Min5,
        Timeframe::Hour1,
        Timeframe::Day1,
    ];

    /// Alpaca's name (`1Min`, `5Min`, `1Hour`, `1Day`), also the database's.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::Min1 => "1Min",
            Timeframe::Min5 => "5Min",
            Timeframe::Hour1 => "1Hour",
            Timeframe::Day1 => "1Day",
        }
    }

    /// Reads Alpaca's names and their short forms (`1T`, `5T`, `1H`, `1D`).
    pub fn parse(s: &str) -> Option<Timeframe> {
        Some(match s {
            "1Min" | "1T" => Timeframe::Min1,
            "5Min" | "5T" => Timeframe::Min5,
            "1Hour" | "1H" => Timeframe::Hour1,
            "1Day" | "1D" => Timeframe::Day1,
            _ => return None,
        })
    }

    /// The start of the bar holding `time_ns` (nanoseconds since the Unix epoch).
    pub fn start_ns(self, time_ns: i64) -> i64 {
        let floor = |len: i64| time_ns - time_ns.rem_euclid(len);
        match self {
            Timeframe::Min1 => floor(MINUTE_NS),
            Timeframe::Min5 => floor(5 * MINUTE_NS),
            // The exchange's zone is a whole number of hours from UTC.
            Timeframe::Hour1 => floor(60 * MINUTE_NS),
            Timeframe::Day1 => calendar::day_start_ns(time_ns),
        }
    }
}

/// One trade, as the bars need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trade {
    /// The engine event's sequence number (the execution id).
    pub seq: i64,
    /// Ticker.
    pub symbol: String,
    /// Price, cents.
    pub price: i64,
    /// Quantity, shares.
    pub qty: i64,
    /// When, nanoseconds since the Unix epoch (the journal's time).
    pub time_ns: i64,
}

/// A bar, or the part of one that some trades make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Ticker.
    pub symbol: String,
    /// Its length.
    pub timeframe: Timeframe,
    /// Its start, nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// The first trade's price, and that trade.
    pub open: (i64, i64),
    /// Highest price.
    pub high: i64,
    /// Lowest price.
    pub low: i64,
    /// The last trade's price, and that trade.
    pub close: (i64, i64),
    /// Shares traded.
    pub volume: i64,
    /// Trades.
    pub trades: i64,
    /// Sum of price × quantity (cents), for the volume-weighted average price.
    pub notional: i128,
}

impl Bar {
    fn of(trade: &Trade, timeframe: Timeframe) -> Bar {
        Bar {
            symbol: trade.symbol.clone(),
            timeframe,
            start_ns: timeframe.start_ns(trade.time_ns),
            open: (trade.price, trade.seq),
            high: trade.price,
            low: trade.price,
            close: (trade.price, trade.seq),
            volume: trade.qty,
            trades: 1,
            notional: i128::from(trade.price) * i128::from(trade.qty),
        }
    }

    /// Adds `other` (the same bar's other trades): order-independent, as the database's
    /// upsert is.
    pub fn merge(&mut self, other: &Bar) {
        if other.open.1 < self.open.1 {
            self.open = other.open;
        }
        if other.close.1 > self.close.1 {
            self.close = other.close;
        }
        self.high = self.high.max(other.high);
        self.low = self.low.min(other.low);
        self.volume += other.volume;
        self.trades += other.trades;
        self.notional += other.notional;
    }

    /// The volume-weighted average price, in cents (fractional).
    pub fn vwap(&self) -> f64 {
        if self.volume == 0 {
            return 0.0;
        }
        self.notional as f64 / self.volume as f64
    }
}

/// The bars (every timeframe) that `trades` make, one per symbol, timeframe and start.
pub fn aggregate(trades: &[Trade]) -> Vec<Bar> {
    let mut bars: BTreeMap<(String, Timeframe, i64), Bar> = BTreeMap::new();
    for t in trades {
        for tf in Timeframe::ALL {
            let bar = Bar::of(t, tf);
            match bars.get_mut(&(t.symbol.clone(), tf, bar.start_ns)) {
                Some(b) => b.merge(&bar),
                None => {
                    bars.insert((t.symbol.clone(), tf, bar.start_ns), bar);
                }
            }
        }
    }
    bars.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trade(seq: i64, price: i64, qty: i64, time_ns: i64) -> Trade {
        Trade {
            seq,
            symbol: "ACME".into(),
            price,
            qty,
            time_ns,
        }
    }

    #[test]
    fn bars_start_on_their_boundaries() {
        let t: jiff::Timestamp = "2026-12-01T15:07:42.5Z".parse().unwrap();
        let ns = t.as_nanosecond() as i64;
        let at = |tf: Timeframe| {
            jiff::Timestamp::from_nanosecond(i128::from(tf.start_ns(ns)))
                .unwrap()
                .to_string()
        };
        assert_eq!(at(Timeframe::Min1), "2026-12-01T15:07:00Z");
        assert_eq!(at(Timeframe::Min5), "2026-12-01T15:05:00Z");
        assert_eq!(at(Timeframe::Hour1), "2026-12-01T15:00:00Z");
        assert_eq!(at(Timeframe::Day1), "2026-12-01T05:00:00Z");
        for tf in Timeframe::ALL {
            assert_eq!(Timeframe::parse(tf.as_str()), Some(tf));
        }
        assert_eq!(Timeframe::parse("2Min"), None);
    }

    #[test]
    fn a_minute_of_trades() {
        let m = 60_000_000_000;
        let bars = aggregate(&[
            trade(1, 100, 5, 10),
            trade(2, 103, 1, 20),
            trade(3, 99, 2, 30),
            trade(4, 101, 4, m + 1),
        ]);
        let minute: Vec<&Bar> = bars
            .iter()
            .filter(|b| b.timeframe == Timeframe::Min1)
            .collect();
        assert_eq!(minute.len(), 2);
        let b = minute[0];
        assert_eq!((b.open.0, b.high, b.low, b.close.0), (100, 103, 99, 99));
        assert_eq!((b.volume, b.trades, b.notional), (8, 3, 500 + 103 + 198));
        assert_eq!(minute[1].start_ns, m);
        let five = bars
            .iter()
            .find(|b| b.timeframe == Timeframe::Min5)
            .unwrap();
        assert_eq!((five.open.0, five.close.0, five.volume), (100, 101, 12));
    }

    proptest! {
        /// Bars made from trades in any order, in any split into batches, merged in any
        /// order, are the bars of the trades in sequence.
        #[test]
        fn order_and_batching_do_not_matter(
            trades in proptest::collection::vec((1i64..1_000, 1i64..100, 0i64..7_200_000_000_000), 1..60),
            cut in 0usize..60,
            shuffle in any::<u64>(),
        ) {
            let trades: Vec<Trade> = trades
                .iter()
                .enumerate()
                .map(|(i, &(p, q, t))| trade(i as i64 + 1, p, q, t))
                .collect();
            let expected = aggregate(&trades);
            let mut shuffled = trades.clone();
            let mut s = shuffle;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let cut = cut.min(shuffled.len());
            let (a, b) = shuffled.split_at(cut);
            let mut merged: BTreeMap<(String, Timeframe, i64), Bar> = BTreeMap::new();
            for bar in aggregate(b).into_iter().chain(aggregate(a)) {
                let key = (bar.symbol.clone(), bar.timeframe, bar.start_ns);
                match merged.get_mut(&key) {
                    Some(m) => m.merge(&bar),
                    None => { merged.insert(key, bar); }
                }
            }
            let merged: Vec<Bar> = merged.into_values().collect();
            prop_assert_eq!(merged, expected);
        }
    }
}
