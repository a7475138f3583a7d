//! The market data messages, as published (JSON, one message per ZeroMQ frame after a
//! topic frame `<SYMBOL>.<channel>`; see [`MarketData::topic`]).

use serde::{Deserialize, Serialize};

use crate::levels::Level;

/// Candle intervals, in milliseconds, with their names.
pub const INTERVALS: [(&str, u64); 4] = [
    ("1s", 1_000),
    ("1m", 60_000),
    ("1h", 3_600_000),
    ("1d", 86_400_000),
];

/// One OHLCV bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// Start of the interval, ms since the Unix epoch.
    pub start_ms: u64,
    /// First trade's price.
    pub open: i64,
    /// Highest trade price.
    pub high: i64,
    /// Lowest trade price.
    pub low: i64,
    /// Last trade's price.
    pub close: i64,
    /// Quantity traded.
    pub volume: i64,
    /// Number of trades.
    pub trades: u64,
}

/// A market data message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MarketData {
    /// Best bid and ask changed.
    Top {
        /// Ticker.
        symbol: String,
        /// The engine event sequence number this state follows.
        event_seq: u64,
        /// Best bid.
        bid: Option<Level>,
        /// Best ask.
        ask: Option<Level>,
    },
    /// Changes to the top levels: each level's new total, 0 meaning the level left the
    /// top. `seq` rises by one per update of this symbol's depth, so a gap is visible.
    Depth {
        /// Ticker.
        symbol: String,
        /// This update's number in the symbol's depth stream.
        seq: u64,
        /// Changed bid levels.
        bids: Vec<Level>,
        /// Changed ask levels.
        asks: Vec<Level>,
    },
    /// The whole top of the book, as of depth update `seq` (apply updates after it).
    Snapshot {
        /// Ticker.
        symbol: String,
        /// The last depth update this snapshot includes.
        seq: u64,
        /// Top bids, best first.
        bids: Vec<Level>,
        /// Top asks, best first.
        asks: Vec<Level>,
    },
    /// A trade.
    Trade {
        /// Ticker.
        symbol: String,
        /// The engine event sequence number (also the execution id).
        event_seq: u64,
        /// Price.
        price: i64,
        /// Quantity.
        qty: i64,
        /// `buy` if the incoming order bought.
        taker_side: String,
        /// When the feed saw it, ms since the Unix epoch.
        time_ms: u64,
    },
    /// An OHLCV bar, updated as trades come and sent a last time with `closed`.
    Candle {
        /// Ticker.
        symbol: String,
        /// `1s`, `1m`, `1h` or `1d`.
        interval: String,
        /// The bar.
        bar: Bar,
        /// Whether the interval is over (this is the bar's final value).
        closed: bool,
    },
}

impl MarketData {
    /// The ZeroMQ topic: `<SYMBOL>.top`, `.depth`, `.snapshot`, `.trade`,
    /// `.candle.<interval>`. Subscribing to `<SYMBOL>.` gets all of a symbol.
    pub fn topic(&self) -> String {
        match self {
            MarketData::Top { symbol, .. } => format!("{symbol}.top"),
            MarketData::Depth { symbol, .. } => format!("{symbol}.depth"),
            MarketData::Snapshot { symbol, .. } => format!("{symbol}.snapshot"),
            MarketData::Trade { symbol, .. } => format!("{symbol}.trade"),
            MarketData::Candle {
                symbol, interval, ..
            } => format!("{symbol}.candle.{interval}"),
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        // A plain data enum with string keys always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod doc_examples {
    use super::*;

    /// Every `topic:` line of `docs/market-data-feed.md` and the JSON body on the line
    /// after it.
    fn examples() -> Vec<(String, String)> {
        let doc = include_str!("../../docs/market-data-feed.md");
        let lines: Vec<&str> = doc.lines().collect();
        lines
            .windows(2)
            .filter_map(|w| {
                let topic = w[0].strip_prefix("topic: ")?;
                Some((topic.to_string(), w[1].to_string()))
            })
            .collect()
    }

    #[test]
    fn the_feed_document_shows_what_the_feed_publishes() {
        let examples = examples();
        let mut types: Vec<&str> = Vec::new();
        for (topic, body) in &examples {
            let m: MarketData =
                serde_json::from_str(body).unwrap_or_else(|e| panic!("{topic}: {body}: {e}"));
            assert_eq!(&m.topic(), topic, "{body}");
            assert_eq!(&m.to_json(), body, "written back byte for byte");
            types.push(match m {
                MarketData::Top { .. } => "top",
                MarketData::Depth { .. } => "depth",
                MarketData::Snapshot { .. } => "snapshot",
                MarketData::Trade { .. } => "trade",
                MarketData::Candle { .. } => "candle",
            });
        }
        types.dedup();
        assert_eq!(
            types,
            ["top", "depth", "snapshot", "trade", "candle"],
            "one example of every message, in the document's order"
        );
    }
}
