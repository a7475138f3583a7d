//! A portfolio valued at the last prices, and the messages that carry it (documented
//! in `docs/portfolio.md`). Money is integer cents inside and decimal strings outside.

use std::collections::HashMap;

use bourse_order::holdings::Holdings;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

/// One position valued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Ticker.
    pub symbol: String,
    /// Shares.
    pub qty: i64,
    /// Last trade price, cents (`None`: never traded; valued at 0).
    pub price: Option<i64>,
    /// qty × price, cents.
    pub market_value: i64,
    /// What the shares cost, cents.
    pub cost_basis: i64,
}

/// A user's portfolio at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Valuation {
    /// The user.
    pub user: u64,
    /// Cash, cents.
    pub cash: i64,
    /// Every position, by ticker.
    pub lines: Vec<Line>,
    /// Bumped each time the holdings were (re)loaded: a message after a reload is a
    /// snapshot, one after a price move an update.
    pub holdings_gen: u64,
}

impl Valuation {
    /// `holdings` valued at the live `prices` (price, event sequence number); a symbol
    /// without one falls back to the last price read with the holdings.
    pub fn new<S: std::hash::BuildHasher>(
        user: u64,
        holdings: &Holdings,
        prices: &HashMap<String, (i64, u64), S>,
        holdings_gen: u64,
    ) -> Self {
        let lines = holdings
            .positions
            .iter()
            .map(|h| {
                let price = prices.get(&h.symbol).map(|&(p, _)| p).or(h.last_price);
                Line {
                    symbol: h.symbol.clone(),
                    qty: h.qty,
                    price,
                    market_value: price.unwrap_or(0).saturating_mul(h.qty),
                    cost_basis: h.cost,
                }
            })
            .collect();
        Valuation {
            user,
            cash: holdings.cash,
            lines,
            holdings_gen,
        }
    }

    /// The sum of the positions' market values, cents.
    pub fn market_value(&self) -> i64 {
        self.lines.iter().map(|l| l.market_value).sum()
    }

    /// The message for a socket, as JSON text: `snapshot` or `update`, numbered
    /// `seq`, at `time`. Serialized straight from the figures (no JSON tree, one
    /// string): this runs once per socket per change.
    pub fn message(&self, kind: Kind, seq: u64, time: &str) -> String {
        let market_value = self.market_value();
        let cost: i64 = self.lines.iter().map(|l| l.cost_basis).sum();
        let msg = Message {
            kind: kind.as_str(),
            seq,
            user: self.user,
            time,
            cash: Cents(self.cash),
            market_value: Cents(market_value),
            equity: Cents(self.cash + market_value),
            cost_basis: Cents(cost),
            unrealized_pl: Cents(market_value - cost),
            positions: Positions(&self.lines),
        };
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_string(&msg).unwrap_or_default()
    }
}

/// Cents as a decimal string of dollars ("1000.50"), written without an allocation.
#[derive(Clone, Copy)]
struct Cents(i64);

impl std::fmt::Display for Cents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A quantity as a string, as Alpaca sends them.
struct Text(i64);

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
struct Message<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    user: u64,
    time: &'a str,
    cash: Cents,
    market_value: Cents,
    equity: Cents,
    cost_basis: Cents,
    unrealized_pl: Cents,
    positions: Positions<'a>,
}

struct Positions<'a>(&'a [Line]);

impl Serialize for Positions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for l in self.0 {
            seq.serialize_element(&Position {
                symbol: &l.symbol,
                qty: Text(l.qty),
                price: l.price.map(Cents),
                market_value: Cents(l.market_value),
                cost_basis: Cents(l.cost_basis),
                unrealized_pl: Cents(l.market_value - l.cost_basis),
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct Position<'a> {
    symbol: &'a str,
    qty: Text,
    price: Option<Cents>,
    market_value: Cents,
    cost_basis: Cents,
    unrealized_pl: Cents,
}

/// What a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The whole portfolio after the holdings were (re)loaded.
    Snapshot,
    /// The whole portfolio after prices moved.
    Update,
}

impl Kind {
    /// The `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Snapshot => "snapshot",
            Kind::Update => "update",
        }
    }
}

#[cfg(test)]
mod tests {
    use bourse_order::holdings::Held;

    use super::*;

    #[test]
    fn cents_are_dollars_with_two_decimals_either_sign() {
        for (c, text) in [
            (0, "0.00"),
            (5, "0.05"),
            (-5, "-0.05"),
            (100_050, "1000.50"),
            (-123_456, "-1234.56"),
        ] {
            assert_eq!(Cents(c).to_string(), text);
            assert_eq!(
                Cents(c).to_string(),
                bourse_shell::money::format_cents(c),
                "as the shell formats"
            );
        }
    }

    #[test]
    fn positions_are_valued_at_the_live_price_else_the_last_one_read() {
        let holdings = Holdings {
            cash: 100_050,
            positions: vec![
                Held {
                    symbol: "ACME".into(),
                    qty: 20,
                    cost: 220_000,
                    last_price: Some(10_000),
                },
                Held {
                    symbol: "NEW".into(),
                    qty: 3,
                    cost: 0,
                    last_price: None,
                },
            ],
        };
        let prices = HashMap::from([("ACME".to_string(), (12_100, 9))]);
        let v = Valuation::new(7, &holdings, &prices, 1);
        let m: serde_json::Value =
            serde_json::from_str(&v.message(Kind::Snapshot, 1, "2026-12-01T15:00:00Z")).unwrap();
        assert_eq!(m["type"], "snapshot");
        assert_eq!(m["cash"], "1000.50");
        assert_eq!(m["market_value"], "2420.00");
        assert_eq!(m["equity"], "3420.50");
        assert_eq!(m["unrealized_pl"], "220.00");
        assert_eq!(m["positions"][0]["price"], "121.00");
        assert_eq!(m["positions"][0]["unrealized_pl"], "220.00");
        assert_eq!(
            m["positions"][1]["price"],
            serde_json::Value::Null,
            "never traded"
        );
        assert_eq!(m["positions"][1]["qty"], "3");
        assert_eq!(m["positions"][1]["market_value"], "0.00");
        let without_live = Valuation::new(7, &holdings, &HashMap::new(), 1);
        assert_eq!(
            without_live.market_value(),
            200_000,
            "the price read with the holdings"
        );
    }
}
