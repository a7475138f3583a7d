//! The in-process bus: the same routing and interface as RabbitMQ, for the embedded
//! platform (one process, no broker). Queues live as long as the bus; nothing is
//! durable — in embedded mode durability comes from the journal, which the bridge
//! replays from its checkpoint after a restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::{BusError, Consumer, Delivery, Message, Publisher, topic};

struct Queue {
    name: String,
    patterns: Vec<String>,
    tx: mpsc::UnboundedSender<Message>,
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
        let (tx, rx) = mpsc::unbounded_channel();
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.retain(|q| q.name != queue);
        queues.push(Queue {
            name: queue.to_string(),
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            tx,
        });
        MemoryConsumer { rx, next_tag: 1 }
    }

    /// A publisher onto this bus.
    pub fn publisher(&self) -> MemoryPublisher {
        MemoryPublisher { bus: self.clone() }
    }
}

/// Publishes onto a [`MemoryBus`]; "confirmed" once routed.
#[derive(Clone, Debug)]
pub struct MemoryPublisher {
    bus: MemoryBus,
}

impl Publisher for MemoryPublisher {
    async fn publish(&mut self, batch: &[Message]) -> Result<(), BusError> {
        let mut queues = self.bus.queues.lock().unwrap_or_else(|e| e.into_inner());
        // A queue whose consumer is gone is dropped, as an exclusive queue would be.
        queues.retain(|q| !q.tx.is_closed());
        for m in batch {
            for q in queues.iter() {
                if q.patterns.iter().any(|p| topic::matches(p, &m.routing_key)) {
                    let _ = q.tx.send(m.clone());
                }
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

    async fn ack(&mut self, _tag: u64) -> Result<(), BusError> {
        Ok(())
    }

    async fn ack_upto(&mut self, _tag: u64) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
