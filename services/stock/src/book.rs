//! The live book: every instrument's top levels, kept from the gateway's market data
//! feed (ZeroMQ PUB, `feeds/`): depth snapshots (every second) and numbered updates
//! between them, so a service that starts late, or misses an update, is whole again by
//! the next snapshot. Quotes and depth are read from here; trades and bars come from
//! the bus, durably.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use bourse_feeds::subscriber::{Received, receive};
use bourse_feeds::{DepthReplica, Level, MarketData};

/// One instrument's book as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookView {
    /// Best bids, best first.
    pub bids: Vec<Level>,
    /// Best asks, best first.
    pub asks: Vec<Level>,
    /// When it last changed (as this service heard), ns since the Unix epoch.
    pub time_ns: i64,
}

#[derive(Debug)]
struct Entry {
    replica: DepthReplica,
    time_ns: i64,
}

/// Messages the live stream passes on, as heard (`crate::stream`).
pub const TICKS: usize = 4096;

/// Every instrument's book, shared by the feed thread (writing) and the handlers; and
/// the feed's trades, tops and candles passed on to the market data stream's sockets.
#[derive(Debug)]
pub struct LiveBook {
    books: RwLock<HashMap<String, Entry>>,
    ticks: tokio::sync::broadcast::Sender<Arc<Heard>>,
}

/// A feed message and when this service heard it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// The message.
    pub msg: MarketData,
    /// When it was heard, ns since the Unix epoch.
    pub time_ns: i64,
}

impl LiveBook {
    /// An empty book.
    pub fn new() -> Arc<Self> {
        Arc::new(LiveBook {
            books: RwLock::default(),
            ticks: tokio::sync::broadcast::channel(TICKS).0,
        })
    }

    /// The feed's trades, tops and candles from now on (a receiver that falls more than
    /// [`TICKS`] behind is told it lagged).
    pub fn ticks(&self) -> tokio::sync::broadcast::Receiver<Arc<Heard>> {
        self.ticks.subscribe()
    }

    /// Takes one market data message, heard at `now_ns`.
    pub fn on_message(&self, msg: &MarketData, now_ns: i64) {
        let symbol = match msg {
            MarketData::Snapshot { symbol, .. } | MarketData::Depth { symbol, .. } => symbol,
            MarketData::Trade { .. } | MarketData::Top { .. } | MarketData::Candle { .. } => {
                // No one listening is fine.
                let _ = self.ticks.send(Arc::new(Heard {
                    msg: msg.clone(),
                    time_ns: now_ns,
                }));
                return;
            }
        };
        let Ok(mut books) = self.books.write() else {
            return;
        };
        let entry = books.entry(symbol.clone()).or_insert_with(|| Entry {
            replica: DepthReplica::new(symbol),
            time_ns: now_ns,
        });
        let before = (entry.replica.bids(), entry.replica.asks());
        // A gap unsyncs the copy until the next snapshot; nothing else to do.
        let _ = entry.replica.on_message(msg);
        if (entry.replica.bids(), entry.replica.asks()) != before {
            entry.time_ns = now_ns;
        }
    }

    /// `symbol`'s book, if a snapshot of it has arrived and it is in sync.
    pub fn view(&self, symbol: &str) -> Option<BookView> {
        let books = self.books.read().ok()?;
        let e = books.get(symbol)?;
        e.replica.is_synced().then(|| BookView {
            bids: e.replica.bids(),
            asks: e.replica.asks(),
            time_ns: e.time_ns,
        })
    }
}

/// Follows the feed at `endpoint` into `book` on a thread of its own until `stop`.
pub fn follow(
    ctx: &zmq::Context,
    endpoint: &str,
    book: Arc<LiveBook>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, zmq::Error> {
    let sub = ctx.socket(zmq::SUB)?;
    sub.set_rcvtimeo(200)?;
    sub.set_subscribe(b"")?;
    sub.connect(endpoint)?;
    let endpoint = endpoint.to_string();
    std::thread::Builder::new()
        .name("stock-feed".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match receive(&sub) {
                    Received::Message(msg) => {
                        book.on_message(&msg, bourse_journal::now_ns() as i64);
                    }
                    Received::Nothing => {}
                    Received::Failed(e) => {
                        tracing::warn!(%endpoint, "market data feed: {e}");
                        break;
                    }
                }
            }
        })
        .map_err(|_| zmq::Error::EFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(price: i64, qty: i64) -> Level {
        Level { price, qty }
    }

    #[test]
    fn a_book_is_shown_once_a_snapshot_came_and_follows_updates() {
        let book = LiveBook::new();
        let depth = |seq, bids: Vec<Level>| MarketData::Depth {
            symbol: "ACME".into(),
            seq,
            bids,
            asks: vec![],
        };
        book.on_message(&depth(5, vec![lv(100, 3)]), 1);
        assert_eq!(book.view("ACME"), None, "no snapshot yet");
        book.on_message(
            &MarketData::Snapshot {
                symbol: "ACME".into(),
                seq: 4,
                bids: vec![lv(99, 1)],
                asks: vec![lv(101, 2)],
            },
            2,
        );
        let v = book.view("ACME").unwrap();
        assert_eq!(
            v.bids,
            vec![lv(100, 3), lv(99, 1)],
            "the early update applied"
        );
        assert_eq!(v.asks, vec![lv(101, 2)]);
        book.on_message(&depth(7, vec![lv(100, 0)]), 3);
        assert_eq!(
            book.view("ACME"),
            None,
            "a gap: out of sync until a snapshot"
        );
        assert_eq!(book.view("OTHER"), None);
    }
}
