//! The in-process bus: the same routing and interface as RabbitMQ, for the embedded
//! platform (one process, no broker). Queues live as long as the bus: nothing is kept
//! across a restart, and durability comes from the journal, which the bridge replays
//! from its checkpoint.
//!
//! For that to lose nothing, a publish is "confirmed" only once every **durable**
//! queue ([`MemoryBus::durable_consumer`]) has acknowledged what it routed there —
//! which its consumer does after committing it (settlement, market data). A broker
//! confirms once the messages are on its disk; here they are on the consumers'. The
//! bridge's checkpoint, written after the confirm, is then never ahead of them: after a
//! `kill -9` it republishes from where they are, and they drop what they have.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::{BusError, Consumer, Delivery, Message, Publisher, topic};

struct Queue {
    name: String,
    patterns: Vec<String>,
    tx: mpsc::UnboundedSender<Message>,
    /// A durable queue's count of messages routed, and its consumer's acknowledgements.
    durable: Option<(u64, tokio::sync::watch::Receiver<u64>)>,
}

/// A bus in this process; clone it to share.
#[derive(Clone, Default)]
pub struct MemoryBus {
    queues: Arc<Mutex<Vec<Queue>>>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// A consumer of a new queue bound with `patterns` (AMQP topic patterns). A queue
    /// of the same name replaces the old one.
    pub fn consumer(&self, queue: &str, patterns: &[&str]) -> MemoryConsumer {
        self.queue(queue, patterns, false)
    }

    /// As [`MemoryBus::consumer`], for a queue whose messages count as confirmed only
    /// once this consumer acknowledges them: publishers wait for that.
    pub fn durable_consumer(&self, queue: &str, patterns: &[&str]) -> MemoryConsumer {
        self.queue(queue, patterns, true)
    }

    fn queue(&self, queue: &str, patterns: &[&str], durable: bool) -> MemoryConsumer {
        let (tx, rx) = mpsc::unbounded_channel();
        let (acks, watched) = tokio::sync::watch::channel(0);
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.retain(|q| q.name != queue);
        queues.push(Queue {
            name: queue.to_string(),
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            tx,
            durable: durable.then_some((0, watched)),
        });
        MemoryConsumer {
            rx,
            next_tag: 1,
            acks: durable.then_some(Acks {
                tx: acks,
                upto: 0,
                above: BTreeSet::new(),
            }),
        }
    }

    /// A publisher onto this bus.
    pub fn publisher(&self) -> MemoryPublisher {
        MemoryPublisher { bus: self.clone() }
    }
}

/// Publishes onto a [`MemoryBus`]; "confirmed" once routed and every durable queue has
/// acknowledged its share.
#[derive(Clone, Debug)]
pub struct MemoryPublisher {
    bus: MemoryBus,
}

impl Publisher for MemoryPublisher {
    async fn publish(&mut self, batch: &[Message]) -> Result<(), BusError> {
        let mut waits = Vec::new();
        {
            let mut queues = self.bus.queues.lock().unwrap_or_else(|e| e.into_inner());
            // A loose queue whose consumer is gone is dropped, as an exclusive queue would
            // be. A durable one stays: until a consumer takes it again (a new
            // `durable_consumer` of that name), what is meant for it is not confirmed.
            queues.retain(|q| q.durable.is_some() || !q.tx.is_closed());
            let wanted = |q: &Queue| {
                batch
                    .iter()
                    .any(|m| q.patterns.iter().any(|p| topic::matches(p, &m.routing_key)))
            };
            if queues
                .iter()
                .any(|q| q.durable.is_some() && q.tx.is_closed() && wanted(q))
            {
                return Err(BusError::Closed);
            }
            for q in queues.iter_mut() {
                let mut routed = 0;
                for m in batch {
                    if q.patterns.iter().any(|p| topic::matches(p, &m.routing_key))
                        && q.tx.send(m.clone()).is_ok()
                    {
                        routed += 1;
                    }
                }
                if let Some((count, acks)) = &mut q.durable
                    && routed > 0
                {
                    *count += routed;
                    waits.push((*count, acks.clone()));
                }
            }
        }
        for (target, mut acks) in waits {
            // A durable consumer that went away before acknowledging: not confirmed (the
            // publisher publishes again, from its checkpoint, once one is back).
            if acks.wait_for(|upto| *upto >= target).await.is_err() {
                return Err(BusError::Closed);
            }
        }
        Ok(())
    }
}

/// Receives from one in-process queue.
#[derive(Debug)]
pub struct MemoryConsumer {
    rx: mpsc::UnboundedReceiver<Message>,
    next_tag: u64,
    /// A durable queue's acknowledgements.
    acks: Option<Acks>,
}

/// What a durable queue's consumer has acknowledged: every tag up to `upto`, and
/// `above` it (acknowledged one by one, out of order).
#[derive(Debug)]
struct Acks {
    tx: tokio::sync::watch::Sender<u64>,
    upto: u64,
    above: BTreeSet<u64>,
}

impl Acks {
    fn upto(&mut self, tag: u64) {
        self.upto = self.upto.max(tag);
        self.advance();
    }

    fn one(&mut self, tag: u64) {
        if tag > self.upto {
            self.above.insert(tag);
        }
        self.advance();
    }

    fn advance(&mut self) {
        self.above.retain(|&t| t > self.upto);
        while self.above.remove(&(self.upto + 1)) {
            self.upto += 1;
        }
        self.tx.send_replace(self.upto);
    }
}

impl MemoryConsumer {
    fn deliver(&mut self, message: Message) -> Delivery {
        let tag = self.next_tag;
        self.next_tag += 1;
        Delivery {
            message,
            tag,
            redelivered: false,
        }
    }
}

impl Consumer for MemoryConsumer {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        let m = self.rx.recv().await.ok_or(BusError::Closed)?;
        Ok(self.deliver(m))
    }

    async fn next_within(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError> {
        match tokio::time::timeout(wait, self.rx.recv()).await {
            Ok(Some(m)) => Ok(Some(self.deliver(m))),
            Ok(None) => Err(BusError::Closed),
            Err(_) => Ok(None),
        }
    }

    async fn ack(&mut self, tag: u64) -> Result<(), BusError> {
        if let Some(a) = &mut self.acks {
            a.one(tag);
        }
        Ok(())
    }

    async fn ack_upto(&mut self, tag: u64) -> Result<(), BusError> {
        if let Some(a) = &mut self.acks {
            a.upto(tag);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_publish_is_confirmed_once_durable_queues_acknowledge_their_share() {
        let bus = MemoryBus::new();
        let mut durable = bus.durable_consumer("settle", &["exec.*"]);
        let mut loose = bus.consumer("updates", &["exec.*"]);
        let mut p = bus.publisher();
        let batch = [msg("exec.1", 1), msg("exec.2", 2), msg("trade.X", 3)];
        let publish = tokio::spawn(async move { p.publish(&batch).await });
        let (a, b) = (durable.next().await.unwrap(), durable.next().await.unwrap());
        assert_eq!(
            loose.next().await.unwrap().message.seq,
            1,
            "delivered at once"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !publish.is_finished(),
            "not confirmed before the acknowledgement"
        );
        durable.ack(b.tag).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!publish.is_finished(), "the first is not acknowledged yet");
        durable.ack(a.tag).await.unwrap();
        tokio::time::timeout(Duration::from_secs(1), publish)
            .await
            .expect("confirmed")
            .unwrap()
            .unwrap();
        // Without its durable consumer, nothing meant for it is confirmed, until a new
        // consumer takes the queue; messages for other queues still are.
        drop(durable);
        let mut p = bus.publisher();
        let r = tokio::time::timeout(Duration::from_secs(1), p.publish(&[msg("exec.3", 4)]))
            .await
            .expect("not held up");
        assert!(matches!(r, Err(BusError::Closed)), "{r:?}");
        p.publish(&[msg("trade.X", 5)]).await.unwrap();
        let mut again = bus.durable_consumer("settle", &["exec.*"]);
        let publish = tokio::spawn(async move { p.publish(&[msg("exec.3", 4)]).await });
        let d = again.next().await.unwrap();
        again.ack_upto(d.tag).await.unwrap();
        tokio::time::timeout(Duration::from_secs(1), publish)
            .await
            .expect("confirmed by the new consumer")
            .unwrap()
            .unwrap();
    }

    fn msg(key: &str, seq: u64) -> Message {
        Message {
            routing_key: key.into(),
            seq,
            prev_seq: seq.checked_sub(1),
            body: seq.to_string().into_bytes(),
        }
    }

    #[tokio::test]
    async fn routes_by_pattern_to_every_matching_queue_in_order() {
        let bus = MemoryBus::new();
        let mut settle = bus.consumer("settle", &["exec.*", "account.*"]);
        let mut trades = bus.consumer("trades", &["trade.ACME"]);
        let mut p = bus.publisher();
        p.publish(&[
            msg("exec.1", 1),
            msg("trade.ACME", 2),
            msg("trade.OTHER", 3),
            msg("account.2", 4),
        ])
        .await
        .unwrap();
        let a = settle.next().await.unwrap();
        let b = settle.next().await.unwrap();
        assert_eq!((a.message.seq, a.tag), (1, 1));
        assert_eq!((b.message.seq, b.tag), (4, 2));
        assert_eq!(trades.next().await.unwrap().message.seq, 2);
        let nothing = trades.next_within(Duration::from_millis(20)).await.unwrap();
        assert_eq!(nothing, None, "trade.OTHER is not bound");
    }
}
