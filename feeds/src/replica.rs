//! A subscriber's copy of one instrument's depth: a snapshot plus the updates after it.

use std::collections::BTreeMap;

use crate::feed::DEPTH;
use crate::levels::Level;
use crate::message::MarketData;

/// Why an update could not be applied: the copy must wait for the next snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaError {
    /// An update arrived out of sequence (one was lost).
    #[error("depth update {got} after {had}: a gap; wait for the next snapshot")]
    Gap {
        /// The last update applied.
        had: u64,
        /// The update received.
        got: u64,
    },
}

/// One instrument's top levels as a late joiner rebuilds them: updates that arrive
/// before the first snapshot are kept and applied once it comes.
#[derive(Clone, Debug, Default)]
pub struct DepthReplica {
    symbol: String,
    seq: Option<u64>,
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    early: Vec<(u64, Vec<Level>, Vec<Level>)>,
}

impl DepthReplica {
    /// An empty copy of `symbol`'s depth, waiting for a snapshot.
    pub fn new(symbol: &str) -> Self {
        DepthReplica {
            symbol: symbol.to_string(),
            ..Self::default()
        }
    }

    /// Whether a snapshot has arrived.
    pub fn is_synced(&self) -> bool {
        self.seq.is_some()
    }

    /// Takes one message (others' symbols and channels are ignored).
    pub fn on_message(&mut self, msg: &MarketData) -> Result<(), ReplicaError> {
        match msg {
            MarketData::Snapshot {
                symbol,
                seq,
                bids,
                asks,
            } if *symbol == self.symbol => {
                // A snapshot is the whole truth as of `seq`, and one PUB socket keeps
                // its messages in order, so one is never older than what came before
                // it on the same feed: below what the copy has means the publisher
                // started again (a restarted gateway numbers from the start), and is
                // taken like any other.
                if self.seq == Some(*seq) {
                    return Ok(()); // the state the copy has
                }
                self.bids = bids.iter().map(|l| (l.price, l.qty)).collect();
                self.asks = asks.iter().map(|l| (l.price, l.qty)).collect();
                self.seq = Some(*seq);
                // Updates that came before this snapshot and belong to it or an older
                // numbering are dropped with it; newer ones apply.
                let early = std::mem::take(&mut self.early);
                for (s, b, a) in early {
                    if s > *seq {
                        self.apply(s, &b, &a)?;
                    }
                }
                Ok(())
            }
            MarketData::Depth {
                symbol,
                seq,
                bids,
                asks,
            } if *symbol == self.symbol => {
                if self.seq.is_none() {
                    self.early.push((*seq, bids.clone(), asks.clone()));
                    return Ok(());
                }
                self.apply(*seq, bids, asks)
            }
            _ => Ok(()),
        }
    }

    fn apply(&mut self, seq: u64, bids: &[Level], asks: &[Level]) -> Result<(), ReplicaError> {
        let had = self.seq.unwrap_or(0);
        if seq <= had {
            return Ok(()); // a duplicate
        }
        if seq != had + 1 {
            self.seq = None;
            return Err(ReplicaError::Gap { had, got: seq });
        }
        for (side, changes) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for l in changes {
                if l.qty == 0 {
                    side.remove(&l.price);
                } else {
                    side.insert(l.price, l.qty);
                }
            }
        }
        self.seq = Some(seq);
        Ok(())
    }

    /// The best bids, best first (at most [`DEPTH`]).
    pub fn bids(&self) -> Vec<Level> {
        self.bids
            .iter()
            .rev()
            .take(DEPTH)
            .map(|(&price, &qty)| Level { price, qty })
            .collect()
    }

    /// The best asks, best first (at most [`DEPTH`]).
    pub fn asks(&self) -> Vec<Level> {
        self.asks
            .iter()
            .take(DEPTH)
            .map(|(&price, &qty)| Level { price, qty })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(seq: u64, bid: i64) -> MarketData {
        MarketData::Snapshot {
            symbol: "ACME".into(),
            seq,
            bids: vec![Level { price: bid, qty: 1 }],
            asks: vec![],
        }
    }

    fn depth(seq: u64, bid: i64) -> MarketData {
        MarketData::Depth {
            symbol: "ACME".into(),
            seq,
            bids: vec![Level { price: bid, qty: 2 }],
            asks: vec![],
        }
    }

    #[test]
    fn a_restarted_publisher_numbering_from_the_start_is_followed() {
        let mut r = DepthReplica::new("ACME");
        r.on_message(&snapshot(500, 100)).unwrap();
        r.on_message(&depth(501, 101)).unwrap();
        assert_eq!(r.bids().len(), 2);
        // The gateway restarts: its updates start again at 1, then a snapshot at 3.
        r.on_message(&depth(1, 90)).unwrap();
        assert_eq!(
            r.bids()[0].price,
            101,
            "an update from the old numbering's past: skipped"
        );
        r.on_message(&snapshot(3, 95)).unwrap();
        assert_eq!(
            r.bids(),
            vec![Level { price: 95, qty: 1 }],
            "the restarted feed's book"
        );
        r.on_message(&depth(4, 96)).unwrap();
        assert_eq!(r.bids()[0], Level { price: 96, qty: 2 }, "and its updates");
        // The same snapshot again changes nothing.
        r.on_message(&snapshot(4, 1)).unwrap();
        assert_eq!(r.bids()[0].price, 96);
    }
}
