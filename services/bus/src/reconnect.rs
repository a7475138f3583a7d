//! A consumer that keeps itself connected: for the services' followers of the bus
//! (hints, trade updates), which read what is waiting in batches and must outlive a
//! broker restart.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{BusError, Consumer, Delivery};

/// What [`Reconnecting::batch`] read.
#[derive(Debug, Default)]
pub struct Batch {
    /// Every delivery that was waiting (up to the maximum asked).
    pub deliveries: Vec<Delivery>,
    /// The consumer was (re)connected for this batch: whatever was published while it
    /// was away is lost to a transient queue.
    pub reconnected: bool,
    /// Why the connection was lost during this batch, if it was (the deliveries read
    /// before are still here, and will be redelivered to a durable queue).
    pub lost: Option<BusError>,
}

/// Connects with `connect` when it has no consumer, backing off from 50 ms to 2 s
/// between failures; `connected` says whether a consumer is up (readiness).
pub struct Reconnecting<C, CF> {
    connect: CF,
    current: Option<C>,
    delay: Duration,
    connected: Arc<AtomicBool>,
}

impl<C, CF> std::fmt::Debug for Reconnecting<C, CF> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnecting")
            .field("connected", &self.current.is_some())
            .finish_non_exhaustive()
    }
}

impl<C, CF, CFut> Reconnecting<C, CF>
where
    C: Consumer,
    CF: FnMut() -> CFut,
    CFut: Future<Output = Result<C, BusError>>,
{
    /// Not connected yet.
    pub fn new(connect: CF, connected: Arc<AtomicBool>) -> Self {
        Reconnecting {
            connect,
            current: None,
            delay: Duration::from_millis(50),
            connected,
        }
    }

    /// Every delivery waiting, at most `max`, waiting up to `wait` for the first.
    /// Connects first if needed; a failed connection is an empty batch with `lost` set,
    /// after the back-off.
    pub async fn batch(&mut self, max: usize, wait: Duration) -> Batch {
        let mut out = Batch::default();
        if self.current.is_none() {
            match (self.connect)().await {
                Ok(c) => {
                    self.current = Some(c);
                    self.connected.store(true, Ordering::Relaxed);
                    self.delay = Duration::from_millis(50);
                    out.reconnected = true;
                }
                Err(e) => {
                    tokio::time::sleep(self.delay).await;
                    self.delay = (self.delay * 2).min(Duration::from_secs(2));
                    out.lost = Some(e);
                    return out;
                }
            }
        }
        let Some(c) = self.current.as_mut() else {
            return out;
        };
        let mut wait = wait;
        while out.deliveries.len() < max {
            match c.next_within(wait).await {
                Ok(Some(d)) => {
                    out.deliveries.push(d);
                    wait = Duration::ZERO;
                }
                Ok(None) => break,
                Err(e) => {
                    out.lost = Some(e);
                    self.drop_connection();
                    break;
                }
            }
        }
        out
    }

    /// Acknowledges every delivery up to `tag` (of the current connection); a failure
    /// drops the connection (the deliveries come again on a durable queue).
    pub async fn ack_upto(&mut self, tag: u64) -> Result<(), BusError> {
        let Some(c) = self.current.as_mut() else {
            return Err(BusError::Closed);
        };
        let r = c.ack_upto(tag).await;
        if r.is_err() {
            self.drop_connection();
        }
        r
    }

    fn drop_connection(&mut self) {
        self.current = None;
        self.connected.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBus;
    use crate::{Message, Publisher};

    #[tokio::test]
    async fn it_reads_batches_and_reconnects_after_the_consumer_goes() {
        let bus = MemoryBus::new();
        let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (b, n) = (bus.clone(), attempts.clone());
        let connect = move || {
            let (b, n) = (b.clone(), n.clone());
            async move {
                // The first attempt fails, as a broker that is down would.
                if n.fetch_add(1, Ordering::Relaxed) == 0 {
                    return Err(BusError::Closed);
                }
                Ok(b.consumer("q", &["k.*"]))
            }
        };
        let up = Arc::new(AtomicBool::new(false));
        let mut r = Reconnecting::new(connect, up.clone());
        let first = r.batch(10, Duration::from_millis(10)).await;
        assert!(first.lost.is_some() && !up.load(Ordering::Relaxed));
        let second = r.batch(10, Duration::from_millis(10)).await;
        assert!(second.reconnected && second.deliveries.is_empty() && up.load(Ordering::Relaxed));
        let msg = |seq| Message {
            routing_key: "k.1".into(),
            seq,
            prev_seq: None,
            body: Vec::new(),
        };
        bus.publisher()
            .publish(&[msg(1), msg(2), msg(3)])
            .await
            .unwrap();
        let third = r.batch(2, Duration::from_millis(10)).await;
        assert_eq!(third.deliveries.len(), 2, "at most the maximum");
        assert!(!third.reconnected);
        r.ack_upto(third.deliveries[1].tag).await.unwrap();
        assert_eq!(r.batch(10, Duration::ZERO).await.deliveries.len(), 1);
    }
}
