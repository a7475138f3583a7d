//! A portfolio valued at the last prices, and the messages that carry it (documented
//! in `docs/portfolio.md`). Money is integer cents inside and decimal strings outside.

use std::collections::HashMap;

use bourse_order::holdings::Holdings;
use bourse_shell::money::format_cents;
use serde_json::{Value, json};

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
    pub fn new(
        user: u64,
        holdings: &Holdings,
        prices: &HashMap<String, (i64, u64)>,
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

    /// The message for a socket: `snapshot` or `update`, numbered `seq`, at `time`.
    pub fn message(&self, kind: Kind, seq: u64, time: &str) -> Value {
        let market_value = self.market_value();
        let cost: i64 = self.lines.iter().map(|l| l.cost_basis).sum();
        let positions: Vec<Value> = self
            .lines
            .iter()
            .map(|l| {
                json!({
                    "symbol": l.symbol,
                    "qty": l.qty.to_string(),
                    "price": l.price.map(format_cents),
                    "market_value": format_cents(l.market_value),
                    "cost_basis": format_cents(l.cost_basis),
                    "unrealized_pl": format_cents(l.market_value - l.cost_basis),
                })
            })
            .collect();
        json!({
            "type": kind.as_str(),
            "seq": seq,
            "user": self.user,
            "time": time,
            "cash": format_cents(self.cash),
            "market_value": format_cents(market_value),
            "equity": format_cents(self.cash + market_value),
            "cost_basis": format_cents(cost),
            "unrealized_pl": format_cents(market_value - cost),
            "positions": positions,
        })
    }
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
        let m = v.message(Kind::Snapshot, 1, "2026-12-01T15:00:00Z");
        assert_eq!(m["type"], "snapshot");
        assert_eq!(m["cash"], "1000.50");
        assert_eq!(m["market_value"], "2420.00");
        assert_eq!(m["equity"], "3420.50");
        assert_eq!(m["unrealized_pl"], "220.00");
        assert_eq!(m["positions"][0]["price"], "121.00");
        assert_eq!(m["positions"][0]["unrealized_pl"], "220.00");
        assert_eq!(m["positions"][1]["price"], Value::Null, "never traded");
        assert_eq!(m["positions"][1]["market_value"], "0.00");
        let without_live = Valuation::new(7, &holdings, &HashMap::new(), 1);
        assert_eq!(
            without_live.market_value(),
            200_000,
            "the price read with the holdings"
        );
    }
}
