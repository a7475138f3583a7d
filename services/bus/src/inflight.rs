//! Acknowledging envelopes by the messages in them.
//!
//! A consumer acknowledges messages (by the tags it handed out for them); the broker
//! knows only envelopes. An envelope may be acknowledged to the broker once every
//! message it delivered is acknowledged — acknowledging it earlier would lose the rest
//! if the consumer failed, since the broker would not deliver it again. [`Inflight`]
//! keeps that account and says which broker acknowledgements are due.

use std::collections::VecDeque;

/// An acknowledgement due to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrokerAck {
    /// Every delivery up to and including this tag.
    Upto(u64),
    /// This delivery alone.
    One(u64),
}

/// One envelope delivered and not yet acknowledged to the broker.
#[derive(Debug)]
struct Open {
    /// The broker's delivery tag.
    broker_tag: u64,
    /// The local tag of its first message; the others follow it.
    first: u64,
    /// Which of its messages are acknowledged.
    acked: Vec<bool>,
    /// Messages before this index are all acknowledged.
    upto: usize,
    /// Messages not yet acknowledged.
    left: usize,
}

/// The envelopes delivered on one channel and not yet acknowledged to the broker, in
/// delivery order.
#[derive(Debug)]
pub(crate) struct Inflight {
    next_tag: u64,
    open: VecDeque<Open>,
}

impl Default for Inflight {
    fn default() -> Self {
        Inflight {
            next_tag: 1,
            open: VecDeque::new(),
        }
    }
}

impl Inflight {
    /// Records an envelope the broker delivered as `broker_tag`, of which `n` messages
    /// go to the consumer (0: none of them is for it); returns the local tag of the
    /// first (the others follow it, one by one).
    pub(crate) fn delivered(&mut self, broker_tag: u64, n: usize) -> u64 {
        let first = self.next_tag;
        self.next_tag += n as u64;
        self.open.push_back(Open {
            broker_tag,
            first,
            acked: vec![false; n],
            upto: 0,
            left: n,
        });
        first
    }

    /// Acknowledges the message `tag`.
    pub(crate) fn ack_one(&mut self, tag: u64) {
        let i = self
            .open
            .partition_point(|o| o.first + o.acked.len() as u64 <= tag);
        if let Some(o) = self.open.get_mut(i)
            && tag >= o.first
        {
            let at = (tag - o.first) as usize;
            if !o.acked[at] {
                o.acked[at] = true;
                o.left -= 1;
            }
        }
    }

    /// Acknowledges every message up to and including `tag`.
    pub(crate) fn ack_upto(&mut self, tag: u64) {
        for o in self.open.iter_mut() {
            if o.first > tag {
                break;
            }
            let end = ((tag - o.first + 1) as usize).min(o.acked.len());
            for a in &mut o.acked[o.upto.min(end)..end] {
                if !*a {
                    *a = true;
                    o.left -= 1;
                }
            }
            o.upto = o.upto.max(end);
        }
    }

    /// Moves the broker acknowledgements now due into `out` and forgets their
    /// envelopes: one cumulative acknowledgement for the complete envelopes at the
    /// front, single ones for complete envelopes behind an incomplete one.
    pub(crate) fn settle(&mut self, out: &mut Vec<BrokerAck>) {
        let mut upto = None;
        while self.open.front().is_some_and(|o| o.left == 0) {
            upto = self.open.pop_front().map(|o| o.broker_tag);
        }
        out.extend(upto.map(BrokerAck::Upto));
        self.open.retain(|o| {
            if o.left == 0 {
                out.push(BrokerAck::One(o.broker_tag));
            }
            o.left > 0
        });
    }

    /// Envelopes delivered and not yet acknowledged to the broker.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle(f: &mut Inflight) -> Vec<BrokerAck> {
        let mut out = Vec::new();
        f.settle(&mut out);
        out
    }

    #[test]
    fn an_envelope_is_acknowledged_once_all_its_messages_are() {
        let mut f = Inflight::default();
        assert_eq!(f.delivered(1, 3), 1); // local tags 1, 2, 3
        assert_eq!(f.delivered(2, 2), 4); // 4, 5
        assert_eq!(f.delivered(3, 2), 6); // 6, 7
        f.ack_upto(2);
        assert_eq!(settle(&mut f), []);
        f.ack_upto(4); // the first envelope is complete, the second half
        assert_eq!(settle(&mut f), [BrokerAck::Upto(1)]);
        f.ack_upto(4); // again: nothing new
        assert_eq!(settle(&mut f), []);
        // Held back: 5 waits; 6 and 7 complete the third envelope alone.
        f.ack_one(6);
        f.ack_one(7);
        f.ack_one(7);
        assert_eq!(settle(&mut f), [BrokerAck::One(3)]);
        f.ack_one(5);
        assert_eq!(settle(&mut f), [BrokerAck::Upto(2)]);
        assert_eq!(f.len(), 0);
    }

    #[test]
    fn cumulative_acks_cover_several_envelopes_and_empty_ones() {
        let mut f = Inflight::default();
        f.delivered(10, 2);
        f.delivered(11, 0); // nothing in it for this consumer
        f.delivered(12, 1);
        f.delivered(13, 0);
        f.delivered(14, 4);
        assert_eq!(f.delivered(15, 0), 8);
        f.ack_upto(3);
        // The empty envelope behind the waiting one needs nothing more.
        assert_eq!(settle(&mut f), [BrokerAck::Upto(13), BrokerAck::One(15)]);
        f.ack_upto(1_000);
        assert_eq!(settle(&mut f), [BrokerAck::Upto(14)]);
        // Tags nobody handed out change nothing.
        f.ack_one(99);
        f.ack_upto(99);
        assert_eq!(settle(&mut f), []);
    }

    #[test]
    fn an_empty_envelope_behind_a_waiting_one_is_acknowledged_alone() {
        let mut f = Inflight::default();
        f.delivered(1, 2);
        f.delivered(2, 0);
        assert_eq!(settle(&mut f), [BrokerAck::One(2)]);
        f.ack_one(2);
        f.ack_one(1);
        assert_eq!(settle(&mut f), [BrokerAck::Upto(1)]);
    }
}
