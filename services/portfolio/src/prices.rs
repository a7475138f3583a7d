//! Live prices from the gateway's market data feed (ZeroMQ PUB, topics
//! `<SYMBOL>.trade`, `docs/market-data.md`): one SUB socket subscribed to exactly the
//! symbols the hub needs, on a thread of its own (a ZeroMQ socket belongs to one
//! thread, so the hub's interest reaches it through a channel).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use bourse_feeds::MarketData;

use crate::hub::{Hub, Interest};

/// The hub's interest, queued for the feed thread.
#[derive(Debug)]
pub struct FeedInterest {
    tx: Mutex<mpsc::Sender<(String, bool)>>,
}

impl Interest for FeedInterest {
    fn watch(&self, symbol: &str) {
        let _ = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((symbol.to_string(), true));
    }

    fn unwatch(&self, symbol: &str) {
        let _ = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((symbol.to_string(), false));
    }
}

/// The subscriptions the feed thread applies.
#[derive(Debug)]
pub struct Subscriptions {
    rx: mpsc::Receiver<(String, bool)>,
}

/// An interest for a hub and the subscriptions it queues.
pub fn interest() -> (Arc<FeedInterest>, Subscriptions) {
    let (tx, rx) = mpsc::channel();
    (
        Arc::new(FeedInterest { tx: Mutex::new(tx) }),
        Subscriptions { rx },
    )
}

/// The topic of `symbol`'s trades.
fn topic(symbol: &str) -> Vec<u8> {
    format!("{symbol}.trade").into_bytes()
}

/// Follows the feed at `endpoint` on a thread until `stop`: subscriptions as the hub
/// asks, every trade to [`Hub::on_trade`]. The thread holds the hub weakly.
pub fn follow(
    ctx: &zmq::Context,
    endpoint: &str,
    hub: Weak<Hub>,
    subscriptions: Subscriptions,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, zmq::Error> {
    let sub = ctx.socket(zmq::SUB)?;
    // Short, so that a new subscription applies quickly when no trade comes.
    sub.set_rcvtimeo(20)?;
    sub.connect(endpoint)?;
    let endpoint = endpoint.to_string();
    std::thread::Builder::new()
        .name("portfolio-feed".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                while let Ok((symbol, on)) = subscriptions.rx.try_recv() {
                    let r = if on {
                        sub.set_subscribe(&topic(&symbol))
                    } else {
                        sub.set_unsubscribe(&topic(&symbol))
                    };
                    if let Err(e) = r {
                        tracing::warn!(%symbol, "feed subscription: {e}");
                    }
                }
                let parts = match sub.recv_multipart(0) {
                    Ok(p) => p,
                    Err(zmq::Error::EAGAIN) => continue,
                    Err(e) => {
                        tracing::warn!(%endpoint, "market data feed: {e}");
                        break;
                    }
                };
                let Some(hub) = hub.upgrade() else { break };
                if let Some(Ok(MarketData::Trade { symbol, price, .. })) = parts
                    .last()
                    .map(|b| serde_json::from_slice::<MarketData>(b))
                {
                    hub.on_trade(&symbol, price);
                }
            }
        })
        .map_err(|_| zmq::Error::EFAULT)
}
