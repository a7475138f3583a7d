//! The bridge's messages as settlement reads them (`services/bridge/src/messages.rs`, documented in `docs/events.md`).

use serde::Deserialize;

/// One engine event, as far as settlement cares.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EngineEvent {
    /// An order passed every check.
    Accepted {
        /// Event sequence number.
        seq: u64,
        /// Owner.
        user: u64,
        /// Client order id.
        id: String,
        /// Ticker.
        symbol: Option<String>,
        /// `buy` or `sell`.
        side: String,
        /// Limit price (`None`: market order).
        price: Option<i64>,
        /// Quantity.
        qty: i64,
    },
    /// A command was refused; nothing changed.
    Rejected {
        /// Event sequence number.
        seq: u64,
    },
    /// Two orders traded.
    Trade {
        /// Event sequence number (the execution id).
        seq: u64,
        /// The command that caused it.
        cmd_seq: u64,
        /// Ticker.
        symbol: String,
        /// Price.
        price: i64,
        /// Quantity.
        qty: i64,
        /// Resting order's owner.
        maker_user: u64,
        /// Resting order's id.
        maker_id: String,
        /// What the resting order still has open.
        maker_leaves: i64,
        /// Incoming order's owner.
        taker_user: u64,
        /// Incoming order's id.
        taker_id: String,
        /// What the incoming order still has open.
        taker_leaves: i64,
        /// `buy` if the incoming order bought.
        taker_side: String,
    },
    /// An order's open quantity left the book.
    Canceled {
        /// Event sequence number.
        seq: u64,
        /// Owner.
        user: u64,
        /// Client order id.
        id: String,
        /// Why (`user`, `ioc`, ...).
        reason: String,
    },
    /// An order's price and quantity changed (and its id).
    Replaced {
        /// Event sequence number.
        seq: u64,
        /// Owner.
        user: u64,
        /// Old id.
        id: String,
        /// New id.
        new_id: String,
        /// New price.
        price: i64,
        /// New total quantity.
        qty: i64,
    },
    /// An admin command took effect.
    Done {
        /// Event sequence number.
        seq: u64,
        /// `add_user`, `deposit`, `withdraw`, ...
        op: String,
        /// The user it acted on.
        user: Option<u64>,
        /// `USD` ([`bourse_core::CASH`]) or a ticker (deposits and withdrawals).
        asset: Option<String>,
        /// How much (deposits and withdrawals).
        amount: Option<i64>,
    },
}

impl EngineEvent {
    /// The event sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            EngineEvent::Accepted { seq, .. }
            | EngineEvent::Rejected { seq }
            | EngineEvent::Trade { seq, .. }
            | EngineEvent::Canceled { seq, .. }
            | EngineEvent::Replaced { seq, .. }
            | EngineEvent::Done { seq, .. } => *seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bridge_bodies() {
        let trade: EngineEvent = serde_json::from_str(
            r#"{"event":"trade","seq":9,"cmd_seq":4,"symbol":"ACME","price":101,"qty":4,
                "maker_user":1,"maker_id":"s1","maker_leaves":6,"taker_user":2,
                "taker_id":"b2","taker_leaves":0,"taker_side":"buy"}"#,
        )
        .unwrap();
        assert_eq!(trade.seq(), 9);
        let deposit: EngineEvent = serde_json::from_str(
            r#"{"event":"done","seq":3,"cmd_seq":3,"op":"deposit","user":2,"asset":"USD","amount":1000}"#,
        )
        .unwrap();
        assert_eq!(
            deposit,
            EngineEvent::Done {
                seq: 3,
                op: "deposit".into(),
                user: Some(2),
                asset: Some("USD".into()),
                amount: Some(1000)
            }
        );
        let rejected: EngineEvent = serde_json::from_str(
            r#"{"event":"rejected","seq":5,"user":null,"id":null,"reason":"unknown_symbol","cmd_seq":5}"#,
        )
        .unwrap();
        assert_eq!(rejected, EngineEvent::Rejected { seq: 5 });
    }
}
