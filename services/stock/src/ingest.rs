//! From the bus into the market data tables: every trade once, the bars it makes, and
//! every instrument the engine lists.
//!
//! The stock service's queue (`trade.*` and `admin.add_instrument`) is consumed in
//! batches; each batch is one transaction: listings, then trades (`ON CONFLICT DO
//! NOTHING` on the sequence number, `RETURNING` the ones that are new), then the bars of
//! the new trades only, upserted so that open and close follow the trades' sequence
//! numbers whatever order they came in. The batch is acknowledged after the commit, so a
//! redelivery (a restart, a bridge republishing) changes nothing.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bourse_bus::{BusError, Consumer};

use crate::store::MarketStore;
use serde::Deserialize;

use crate::bars::Trade;

/// Most deliveries in one transaction.
pub const BATCH: usize = 2_000;

/// Deliveries the broker may have in flight to the stock service.
pub const PREFETCH: u16 = 4_000;

/// Errors of ingestion.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// No connection from the pool.
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The embedded store failed.
    #[error(transparent)]
    Lite(#[from] bourse_shell::lite::LiteError),
}

/// The fields of the bridge's bodies that market data uses (`docs/events.md`).
#[derive(Debug, Deserialize)]
struct Body {
    event: String,
    seq: u64,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    symbol: Option<String>,
    #[serde(default)]
    price: Option<i64>,
    #[serde(default)]
    qty: Option<i64>,
    #[serde(default)]
    taker_side: Option<String>,
    #[serde(default)]
    time_ns: Option<u64>,
    #[serde(default)]
    tick: Option<i64>,
    #[serde(default)]
    lot: Option<i64>,
}

/// An instrument the engine listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The `done` event.
    pub seq: i64,
    /// Ticker.
    pub symbol: String,
    /// Price increment, cents.
    pub tick: i64,
    /// Quantity increment, shares.
    pub lot: i64,
}

/// What one message means to market data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    /// A trade (and which side took).
    Trade(Trade, String),
    /// A listing.
    Listing(Listing),
}

/// Reads one message body; `None` for what market data does not use.
pub fn read(body: &[u8]) -> Result<Option<Fact>, serde_json::Error> {
    let b: Body = serde_json::from_slice(body)?;
    let seq = b.seq as i64;
    Ok(match (b.event.as_str(), b.op.as_deref()) {
        ("trade", _) => match (b.symbol, b.price, b.qty) {
            (Some(symbol), Some(price), Some(qty)) => Some(Fact::Trade(
                Trade {
                    seq,
                    symbol,
                    price,
                    qty,
                    time_ns: b.time_ns.unwrap_or(0) as i64,
                },
                b.taker_side.unwrap_or_default(),
            )),
            _ => None,
        },
        ("done", Some("add_instrument")) => b.symbol.map(|symbol| {
            Fact::Listing(Listing {
                seq,
                symbol,
                tick: b.tick.unwrap_or(1),
                lot: b.lot.unwrap_or(1),
            })
        }),
        _ => None,
    })
}

/// The trades among `facts` whose sequence numbers are in `fresh` (stored just now).
pub fn fresh_trades(facts: &[Fact], fresh: &std::collections::HashSet<i64>) -> Vec<Trade> {
    facts
        .iter()
        .filter_map(|f| match f {
            Fact::Trade(t, _) if fresh.contains(&t.seq) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// How far ingestion has got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Trades stored (new ones; duplicates not counted).
    pub trades: u64,
    /// Messages handled, duplicates and ignored ones included.
    pub messages: u64,
    /// Transactions committed.
    pub batches: u64,
}

/// Consumes until `shutdown` is set; `consumer` connects (again after any failure).
/// `connected` is set while a consumer is connected (the service's readiness).
pub async fn run<C, CF, CFut>(
    store: Arc<dyn MarketStore>,
    mut consumer: CF,
    connected: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
    mut on_progress: impl FnMut(&Progress),
) where
    C: Consumer,
    CF: FnMut() -> CFut,
    CFut: Future<Output = Result<C, BusError>>,
{
    let mut progress = Progress::default();
    let mut source: Option<C> = None;
    let mut delay = Duration::from_millis(50);
    let mut facts = Vec::new();
    while !shutdown.load(Ordering::Relaxed) {
        let c = match source.as_mut() {
            Some(c) => c,
            None => match consumer().await {
                Ok(c) => {
                    connected.store(true, Ordering::Relaxed);
                    source.insert(c)
                }
                Err(e) => {
                    tracing::warn!("stock: cannot consume ({e}); retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    continue;
                }
            },
        };
        facts.clear();
        let mut last_tag = None;
        let mut count = 0;
        let mut wait = Duration::from_millis(100);
        let mut failed = false;
        while count < BATCH {
            match c.next_within(wait).await {
                Ok(Some(d)) => {
                    count += 1;
                    last_tag = Some(d.tag);
                    match read(&d.message.body) {
                        Ok(Some(f)) => facts.push(f),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(
                            seq = d.message.seq,
                            key = %d.message.routing_key,
                            "stock: dropping an unreadable message: {e}"
                        ),
                    }
                    wait = Duration::from_millis(2);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("stock: consuming failed ({e}); reconnecting");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            connected.store(false, Ordering::Relaxed);
            source = None;
            continue;
        }
        let Some(tag) = last_tag else { continue };
        // Until the database takes the batch; the deliveries stay ours meanwhile.
        loop {
            if shutdown.load(Ordering::Relaxed) {
                return;
            }
            let result = store.apply(&facts).await;
            match result {
                Ok(new) => {
                    progress.trades += new as u64;
                    break;
                }
                Err(e) => {
                    tracing::warn!("stock: storing market data failed ({e}); retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
        delay = Duration::from_millis(50);
        if let Err(e) = c.ack_upto(tag).await {
            // Redelivered on the next connection, and dropped there as duplicates.
            tracing::warn!("stock: acknowledging failed ({e}); reconnecting");
            connected.store(false, Ordering::Relaxed);
            source = None;
        }
        progress.messages += count as u64;
        progress.batches += 1;
        on_progress(&progress);
    }
}
