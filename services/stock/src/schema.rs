//! The shapes of the service's answers, for its OpenAPI document (the handlers build
//! them as JSON; the schemathesis run checks every answer against these).
#![allow(dead_code)]

use std::collections::BTreeMap;

use utoipa::ToSchema;

/// An instrument, as Alpaca's asset.
#[derive(ToSchema)]
pub struct Asset {
    /// Stable UUID derived from the symbol.
    id: String,
    /// `us_equity`.
    class: String,
    /// The venue code (empty: Bourse is not one of Alpaca's venues).
    exchange: String,
    /// Ticker.
    symbol: String,
    /// The company's name.
    name: String,
    /// `active` or `inactive` (suspended).
    status: String,
    /// Whether orders are taken.
    tradable: bool,
    /// Always false.
    marginable: bool,
    /// Always false.
    shortable: bool,
    /// Always false.
    easy_to_borrow: bool,
    /// Always false: whole shares.
    fractionable: bool,
    /// The lot, shares (decimal string).
    min_order_size: String,
    /// The lot, shares (decimal string).
    min_trade_increment: String,
    /// The tick, dollars (decimal string).
    price_increment: String,
    /// Always empty.
    attributes: Vec<String>,
}

/// A trade.
#[derive(ToSchema)]
pub struct Trade {
    /// When (RFC 3339, UTC).
    #[schema(format = DateTime)]
    t: String,
    /// Venue.
    x: String,
    /// Price, dollars.
    p: f64,
    /// Shares.
    s: i64,
    /// Conditions (none).
    c: Vec<String>,
    /// Execution id (the engine event's sequence number).
    i: i64,
    /// Tape (empty).
    z: String,
}

/// The best bid and ask (0 for an empty side).
#[derive(ToSchema)]
pub struct Quote {
    /// When the book last changed (RFC 3339, UTC).
    #[schema(format = DateTime)]
    t: String,
    /// Ask venue.
    ax: String,
    /// Ask price, dollars.
    ap: f64,
    /// Ask size, shares.
    #[schema(rename = "as")]
    ask_size: i64,
    /// Bid venue.
    bx: String,
    /// Bid price, dollars.
    bp: f64,
    /// Bid size, shares.
    bs: i64,
    /// Conditions (none).
    c: Vec<String>,
    /// Tape (empty).
    z: String,
}

/// An OHLCV bar.
#[derive(ToSchema)]
pub struct Bar {
    /// Start (RFC 3339, UTC).
    #[schema(format = DateTime)]
    t: String,
    /// Open, dollars.
    o: f64,
    /// High.
    h: f64,
    /// Low.
    l: f64,
    /// Close.
    c: f64,
    /// Shares traded.
    v: i64,
    /// Trades.
    n: i64,
    /// Volume-weighted average price.
    vw: f64,
}

/// One price level.
#[derive(ToSchema)]
pub struct BookLevel {
    /// Price, dollars.
    p: f64,
    /// Shares resting.
    s: i64,
}

/// The top of a book.
#[derive(ToSchema)]
pub struct Book {
    /// When it last changed.
    #[schema(format = DateTime)]
    t: String,
    /// Bids, best first.
    b: Vec<BookLevel>,
    /// Asks, best first.
    a: Vec<BookLevel>,
}

/// Latest trades by symbol.
#[derive(ToSchema)]
pub struct LatestTrades {
    trades: BTreeMap<String, Trade>,
}

/// One symbol's latest trade.
#[derive(ToSchema)]
pub struct LatestTrade {
    symbol: String,
    trade: Trade,
}

/// Latest quotes by symbol.
#[derive(ToSchema)]
pub struct LatestQuotes {
    quotes: BTreeMap<String, Quote>,
}

/// One symbol's latest quote.
#[derive(ToSchema)]
pub struct LatestQuote {
    symbol: String,
    quote: Quote,
}

/// Books by symbol.
#[derive(ToSchema)]
pub struct Orderbooks {
    orderbooks: BTreeMap<String, Book>,
}

/// A page of bars by symbol.
#[derive(ToSchema)]
pub struct BarsPage {
    bars: BTreeMap<String, Vec<Bar>>,
    /// Pass as `page_token` for the next page; null on the last.
    next_page_token: Option<String>,
}

/// A page of one symbol's bars.
#[derive(ToSchema)]
pub struct SymbolBarsPage {
    bars: Vec<Bar>,
    symbol: String,
    next_page_token: Option<String>,
}

/// A page of trades by symbol.
#[derive(ToSchema)]
pub struct TradesPage {
    trades: BTreeMap<String, Vec<Trade>>,
    next_page_token: Option<String>,
}

/// A page of one symbol's trades.
#[derive(ToSchema)]
pub struct SymbolTradesPage {
    trades: Vec<Trade>,
    symbol: String,
    next_page_token: Option<String>,
}

/// What a symbol looks like now.
#[derive(ToSchema)]
pub struct Snapshot {
    #[schema(rename = "latestTrade")]
    latest_trade: Option<Trade>,
    #[schema(rename = "latestQuote")]
    latest_quote: Option<Quote>,
    #[schema(rename = "minuteBar")]
    minute_bar: Option<Bar>,
    #[schema(rename = "dailyBar")]
    daily_bar: Option<Bar>,
    #[schema(rename = "prevDailyBar")]
    prev_daily_bar: Option<Bar>,
}

/// One symbol's snapshot (with its symbol).
#[derive(ToSchema)]
pub struct SymbolSnapshot {
    symbol: String,
    #[serde(flatten)]
    snapshot: Snapshot,
}

/// The market's clock.
#[derive(ToSchema)]
pub struct Clock {
    /// Now, in the exchange's zone (RFC 3339 with offset).
    #[schema(format = DateTime)]
    timestamp: String,
    /// Whether a regular session is under way.
    is_open: bool,
    /// The next open.
    #[schema(format = DateTime)]
    next_open: String,
    /// The next close.
    #[schema(format = DateTime)]
    next_close: String,
}

/// One trading day.
#[derive(ToSchema)]
pub struct CalendarDay {
    /// The day.
    #[schema(format = Date)]
    date: String,
    /// Opening time, `HH:MM` in the exchange's zone.
    open: String,
    /// Closing time.
    close: String,
    /// Extended session start, `HHMM`.
    session_open: String,
    /// Extended session end.
    session_close: String,
    /// The next trading day (T+1); null past the known calendar.
    #[schema(format = Date)]
    settlement_date: Option<String>,
}

/// A user's watchlist, as Alpaca's.
#[derive(ToSchema)]
pub struct Watchlist {
    /// A random UUID.
    id: String,
    /// The owner's account id (as `GET /v2/account` shows it).
    account_id: String,
    /// Unique among the owner's watchlists.
    name: String,
    /// RFC 3339, UTC.
    created_at: String,
    /// RFC 3339, UTC.
    updated_at: String,
    /// Its assets in the order they were added; absent from the list of watchlists.
    assets: Option<Vec<Asset>>,
}
