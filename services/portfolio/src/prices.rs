//! Live prices from the gateway's market data feed (ZeroMQ PUB, topics
//! `<SYMBOL>.trade`): one SUB socket subscribed to exactly the symbols the hub needs, on
//! a thread of its own (a ZeroMQ socket belongs to one thread, so the hub's interest
//! reaches it through a channel).
//!
//! A new ZeroMQ subscription takes effect at the publisher a moment later, and a trade
//! in that moment is not delivered. So each new symbol is also caught up from the
//! database a little later ([`catch_up`]): settlement's last trade in it, which the hub
//! takes only if it is newer (by event sequence number) than what the feed gave.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use bourse_feeds::MarketData;
use bourse_feeds::subscriber::{Received, receive};
use bourse_order::holdings::HoldingsReader;

use crate::hub::{Hub, Interest};

/// The hub's interest, queued for the feed thread (and new symbols for the catch-up).
#[derive(Debug)]
pub struct FeedInterest {
    tx: Mutex<mpsc::Sender<(String, bool)>>,
    catch_up: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Interest for FeedInterest {
    fn watch(&self, symbol: &str) {
        let _ = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((symbol.to_string(), true));
        let _ = self.catch_up.send(symbol.to_string());
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

/// The symbols to catch up from the database.
#[derive(Debug)]
pub struct CatchUps {
    rx: tokio::sync::mpsc::UnboundedReceiver<String>,
}

/// An interest for a hub, the subscriptions it queues for [`follow`] and the symbols it
/// queues for [`catch_up`].
pub fn interest() -> (Arc<FeedInterest>, Subscriptions, CatchUps) {
    let (tx, rx) = mpsc::channel();
    let (catch_tx, catch_rx) = tokio::sync::mpsc::unbounded_channel();
    (
        Arc::new(FeedInterest {
            tx: Mutex::new(tx),
            catch_up: catch_tx,
        }),
        Subscriptions { rx },
        CatchUps { rx: catch_rx },
    )
}

/// Catches each newly watched symbol up from settlement's trades `after` its
/// subscription, until the hub is gone.
pub async fn catch_up(
    store: Arc<dyn HoldingsReader>,
    hub: Weak<Hub>,
    mut symbols: CatchUps,
    after: Duration,
) {
    while let Some(symbol) = symbols.rx.recv().await {
        let (store, hub) = (store.clone(), hub.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if let (Ok(Some((price, seq))), Some(hub)) =
                (store.last_trade(&symbol).await, hub.upgrade())
            {
                hub.on_trade(&symbol, price, seq);
            }
        });
    }
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
                let msg = match receive(&sub) {
                    Received::Message(m) => m,
                    Received::Nothing => continue,
                    Received::Failed(e) => {
                        tracing::warn!(%endpoint, "market data feed: {e}");
                        break;
                    }
                };
                let Some(hub) = hub.upgrade() else { break };
                if let MarketData::Trade {
                    symbol,
                    price,
                    event_seq,
                    ..
                } = msg
                {
                    hub.on_trade(&symbol, price, event_seq);
                }
            }
        })
        .map_err(|_| zmq::Error::EFAULT)
}
