//! # bourse-stock
//!
//! Instruments and market data over HTTP in Alpaca's shapes: the assets of the Trading
//! API v2 (everyone reads; an admin lists and suspends), its clock and calendar, and
//! the Market Data API v2's latest trades and quotes, historical trades, bars (1Min,
//! 5Min, 1Hour, 1Day) with `page_token` paging, snapshots, and order books.
//!
//! Where the data comes from:
//! - Trades, bars and listings: the engine's events on the bus (`trade.*`,
//!   `admin.add_instrument`), stored in PostgreSQL by [`ingest`] exactly once each, so
//!   they survive restarts and every instance serves the same history.
//! - Quotes and depth: the gateway's market data feed over ZeroMQ ([`book`]), kept in
//!   memory: snapshots every second make a restarted instance whole within a second.
//!
//! | route | what |
//! |---|---|
//! | `GET /v2/assets`, `GET /v2/assets/{symbol_or_id}` | instruments |
//! | `POST /v1/admin/assets`, `PATCH /v1/admin/assets/{symbol}` | list; suspend (`inactive`), reinstate, rename |
//! | `GET /v2/clock`, `GET /v2/calendar` | the exchange's sessions |
//! | `GET /v2/stocks/trades/latest`, `GET /v2/stocks/{symbol}/trades/latest` | last trade |
//! | `GET /v2/stocks/quotes/latest`, `GET /v2/stocks/{symbol}/quotes/latest` | best bid and ask |
//! | `GET /v2/stocks/trades`, `GET /v2/stocks/{symbol}/trades` | trades in a range, paged |
//! | `GET /v2/stocks/bars`, `GET /v2/stocks/{symbol}/bars` | OHLCV bars, paged |
//! | `GET /v2/stocks/snapshots`, `GET /v2/stocks/{symbol}/snapshot` | trade, quote, minute, daily and previous daily bar |
//! | `GET /v2/stocks/orderbooks/latest` | the top 20 levels per side |
//! | `GET`/`POST /v2/watchlists`, `GET`/`PUT`/`POST`/`DELETE /v2/watchlists/{id}`, `DELETE /v2/watchlists/{id}/{symbol}` | the caller's watchlists ([`watchlists`]) |

pub mod assets;
pub mod bars;
pub mod book;
pub mod calendar;
pub mod clock;
pub mod ingest;
pub mod market;
pub mod schema;
pub mod store;
pub mod stream;
pub mod watchlists;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::FromRef;
use bourse_gateway_client::GatewayClient;
use bourse_shell::auth::Auth;
use bourse_shell::health::{Check, Checks, Flag};
use bourse_shell::migrate::Migrations;
use deadpool_postgres::Pool;

pub use book::LiveBook;

/// The stock schema's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    table: "stock_schema_migrations",
    lock: 7_340_004,
    steps: &[
        (1, include_str!("../migrations/0001_market.sql")),
        (2, include_str!("../migrations/0002_watchlists.sql")),
    ],
};

/// The service's state.
#[derive(Clone)]
pub struct StockState {
    /// Instruments, trades and bars (PostgreSQL or the embedded store).
    pub store: Arc<dyn store::MarketStore>,
    /// Token keys, the key verifier and the rate limit.
    pub auth: Arc<Auth>,
    /// The engine (listing instruments), through a service session on the gateway.
    pub engine: Option<GatewayClient>,
    /// Quotes and depth from the market data feed.
    pub book: Arc<LiveBook>,
    /// The candle interval the market data stream sends as bars (`1m`, Alpaca's; the
    /// feed also has `1s`).
    pub bar_interval: &'static str,
}

impl FromRef<StockState> for Arc<Auth> {
    fn from_ref(s: &StockState) -> Arc<Auth> {
        s.auth.clone()
    }
}

/// Applies the PostgreSQL migrations (the trader, which reads suspensions, calls it too).
pub async fn prepare(pool: &Pool) -> Result<(), bourse_shell::ApiError> {
    use store::MarketStore;
    store::pg::PgMarket::new(pool.clone()).prepare().await
}

/// The whole service: ready when its database answers and, if given, while the bus
/// consumer is connected.
pub fn app(state: StockState, consuming: Option<Arc<AtomicBool>>) -> Router {
    let mut checks: Vec<Box<dyn Check>> = vec![state.store.check()];
    if let Some(up) = consuming {
        checks.push(Box::new(Flag { name: "broker", up }));
    }
    let checks: Checks = Arc::new(checks);
    bourse_shell::openapi::app("stock", router(state), PUBLIC, checks)
}

/// Routes reachable without credentials (none: market data is for account holders).
pub const PUBLIC: bourse_shell::openapi::Public<'static> = &[];

/// The service's routes (wrapped by [`app`]) and their OpenAPI document (finished by
/// the shell).
pub fn router(state: StockState) -> (Router, utoipa::openapi::OpenApi) {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(assets::list))
        .routes(routes!(assets::get_one))
        .routes(routes!(assets::create))
        .routes(routes!(assets::update))
        .routes(routes!(clock::clock))
        .routes(routes!(clock::calendar))
        .routes(routes!(market::latest_trades_multi))
        .routes(routes!(market::latest_quotes_multi))
        .routes(routes!(market::orderbooks))
        .routes(routes!(market::trades_multi))
        .routes(routes!(market::bars_multi))
        .routes(routes!(market::snapshots))
        .routes(routes!(market::latest_trade))
        .routes(routes!(market::latest_quote))
        .routes(routes!(market::trades))
        .routes(routes!(market::bars))
        .routes(routes!(market::snapshot))
        .routes(routes!(stream::stream))
        .routes(routes!(watchlists::list, watchlists::create))
        .routes(routes!(
            watchlists::get_one,
            watchlists::update,
            watchlists::add,
            watchlists::delete
        ))
        .routes(routes!(watchlists::remove))
        .with_state(state)
        .split_for_parts()
}
