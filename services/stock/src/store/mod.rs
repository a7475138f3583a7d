//! Where the stock service keeps instruments, trades and bars: behind [`MarketStore`],
//! on PostgreSQL ([`pg::PgMarket`], the distributed mode) or the embedded SQLite file
//! ([`lite::LiteMarket`], the all-in-one process).

pub mod lite;
pub mod pg;

use bourse_shell::ApiError;
use bourse_shell::health::Check;

use crate::ingest::{Fact, IngestError};

/// A listed instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// Ticker.
    pub symbol: String,
    /// Price increment, cents.
    pub tick: i64,
    /// Quantity increment, shares.
    pub lot: i64,
    /// The company's name.
    pub name: String,
    /// `active` or `inactive`.
    pub status: String,
}

/// A stored trade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRow {
    /// Ticker.
    pub symbol: String,
    /// The engine event (the execution id).
    pub seq: i64,
    /// Cents.
    pub price: i64,
    /// Shares.
    pub qty: i64,
    /// The journal's time of the trade, nanoseconds since the Unix epoch.
    pub time_ns: i64,
}

/// A stored bar.
#[derive(Clone, Debug, PartialEq)]
pub struct BarRow {
    /// Ticker.
    pub symbol: String,
    /// `1Min`, `5Min`, `1Hour` or `1Day`.
    pub timeframe: String,
    /// Its start, nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// Open, cents.
    pub open: i64,
    /// High, cents.
    pub high: i64,
    /// Low, cents.
    pub low: i64,
    /// Close, cents.
    pub close: i64,
    /// Shares traded.
    pub volume: i64,
    /// Trades.
    pub trades: i64,
    /// Volume-weighted average price, cents.
    pub vwap: f64,
}

/// A user's watchlist: a named list of tickers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watchlist {
    /// A random UUID.
    pub id: String,
    /// Unique among its user's watchlists.
    pub name: String,
    /// Tickers, in the order they were added.
    pub symbols: Vec<String>,
    /// Goes up by one on each change ([`MarketStore::save_watchlist`]).
    pub version: i64,
    /// RFC 3339, UTC, microseconds.
    pub created_at: String,
    /// RFC 3339, UTC, microseconds.
    pub updated_at: String,
}

/// How creating a watchlist ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// Made: the new watchlist.
    Done(Watchlist),
    /// The user has another watchlist of that name.
    NameTaken,
    /// The user already has the most watchlists allowed.
    TooMany,
}

/// How saving a change to a watchlist ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Saved {
    /// Written: the watchlist as it now is.
    Done(Watchlist),
    /// The user has another watchlist of that name.
    NameTaken,
    /// No such watchlist of this user, or it changed since the version given: read it
    /// again.
    Stale,
}

/// A page of a historical route: the symbols ascending, within each the key (the time
/// for bars, the sequence number for trades) in the asked direction, after the token.
#[derive(Clone, Debug)]
pub struct PageQuery {
    /// Which symbols.
    pub symbols: Vec<String>,
    /// From (inclusive), nanoseconds.
    pub start: i64,
    /// To (inclusive), nanoseconds.
    pub end: i64,
    /// Where the previous page ended: (symbol, key).
    pub after: Option<(String, i64)>,
    /// Newest first within a symbol.
    pub desc: bool,
    /// At most this many rows.
    pub limit: i64,
}

/// The stock service's storage.
#[async_trait::async_trait]
pub trait MarketStore: Send + Sync + std::fmt::Debug {
    /// Makes the tables (idempotent).
    async fn prepare(&self) -> Result<(), ApiError>;
    /// Every instrument (with `status`, if given), by ticker.
    async fn instruments(&self, status: Option<&str>) -> Result<Vec<Instrument>, ApiError>;
    /// One instrument.
    async fn instrument(&self, symbol: &str) -> Result<Option<Instrument>, ApiError>;
    /// Records a listing the engine did (as the listing event will; the name is set).
    async fn listed(
        &self,
        symbol: &str,
        tick: i64,
        lot: i64,
        name: &str,
        seq: i64,
    ) -> Result<(), ApiError>;
    /// Changes a listing's status or name (each only if given).
    async fn change(
        &self,
        symbol: &str,
        status: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), ApiError>;
    /// The suspended (`inactive`) tickers.
    async fn suspended(&self) -> Result<Vec<String>, ApiError>;
    /// Stores market data facts in one transaction (trades once by sequence number,
    /// bars upserted); returns how many trades were new.
    async fn apply(&self, facts: &[Fact]) -> Result<usize, IngestError>;
    /// The listed ones among `symbols`, by ticker.
    async fn listed_among(&self, symbols: &[String]) -> Result<Vec<String>, ApiError>;
    /// The latest trade of each of `symbols` that traded.
    async fn latest_trades(&self, symbols: &[String]) -> Result<Vec<TradeRow>, ApiError>;
    /// A page of trades (`limit` + 1 rows at most, to tell whether more follow).
    async fn trades(&self, q: &PageQuery) -> Result<Vec<TradeRow>, ApiError>;
    /// A page of bars of `timeframe`.
    async fn bars(&self, q: &PageQuery, timeframe: &str) -> Result<Vec<BarRow>, ApiError>;
    /// The latest minute bar and the two latest daily bars of each of `symbols`, each
    /// with its rank (1: the latest).
    async fn snapshot_bars(&self, symbols: &[String]) -> Result<Vec<(BarRow, i64)>, ApiError>;
    /// `user`'s watchlists, oldest first.
    async fn watchlists(&self, user: u64) -> Result<Vec<Watchlist>, ApiError>;
    /// One of `user`'s watchlists (`None`: not theirs, or none).
    async fn watchlist(&self, user: u64, id: &str) -> Result<Option<Watchlist>, ApiError>;
    /// Creates watchlist `id` for `user`, unless they have one named `name` or `max`
    /// watchlists already.
    async fn create_watchlist(
        &self,
        user: u64,
        id: &str,
        name: &str,
        symbols: &[String],
        max: i64,
    ) -> Result<Created, ApiError>;
    /// Gives `user`'s watchlist `id` this name and these symbols if it is still at
    /// `version` ([`Saved::Stale`] otherwise, or if it is gone).
    async fn save_watchlist(
        &self,
        user: u64,
        id: &str,
        version: i64,
        name: &str,
        symbols: &[String],
    ) -> Result<Saved, ApiError>;
    /// Deletes `user`'s watchlist `id`; whether there was one.
    async fn delete_watchlist(&self, user: u64, id: &str) -> Result<bool, ApiError>;
    /// The readiness check of the store.
    fn check(&self) -> Box<dyn Check>;
}
