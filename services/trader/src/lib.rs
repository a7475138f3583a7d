//! # bourse-trader
//!
//! Order entry over HTTP in the Alpaca Trading API v2's shapes, so that Alpaca clients
//! work by changing only the base URL. Orders go into the engine through the gateway's
//! service session (the same journaled pipeline as the binary gateway's), and the HTTP
//! answer carries the engine's verdict: an order reported `accepted` is durable.
//! Reads come from PostgreSQL: this service's `trader_orders` (what it entered, with the
//! verdict as of the request, so a client reads its own writes) joined with the order
//! service's settled `orders`, `trades` and `balances`. Pages of `GET /v2/orders` are
//! kept per instance and answered again only while the user's order versions are
//! unchanged ([`pages`]).
//!
//! | route | what |
//! |---|---|
//! | `POST /v2/orders` | market and limit orders; `day`, `gtc`, `ioc`, `fok`; `client_order_id` idempotent |
//! | `GET /v2/orders` | `status` (open, closed, all), `limit`, `after`, `until`, `direction`, `symbols` |
//! | `GET /v2/orders/{id}` | one order, with its fills so far |
//! | `GET /v2/orders:by_client_order_id` | `?client_order_id=` |
//! | `PATCH /v2/orders/{id}` | replace: a new order (new id) in place of the old, `replaced` |
//! | `DELETE /v2/orders/{id}` | cancel (204; 422 when no longer open) |
//! | `DELETE /v2/orders` | cancel every open order (207, one status each) |
//! | `GET /v2/account` | cash, buying power |
//! | `GET /v2/positions`, `GET /v2/positions/{symbol}` | holdings at the last price, average cost |
//! | `DELETE /v2/positions/{symbol}` | close with a market sell of all of it |
//! | `GET /stream` (WebSocket) | Alpaca's `trade_updates`: the caller's order events |
//!
//! **Architecture invariant:** a user reaches only their own orders and account: every
//! query is keyed by the principal's user, and another user's order id is a 404.

pub mod account;
pub mod orders;
pub mod pages;
pub mod positions;
pub mod reconcile;
pub mod schema;
pub mod store;
pub mod stream;
pub mod writes;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use bourse_gateway_client::GatewayClient;
use bourse_order::holdings::HoldingsReader;
use bourse_shell::auth::Auth;
use bourse_shell::migrate::Migrations;
use deadpool_postgres::Pool;

/// The trader schema's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    table: "trader_schema_migrations",
    lock: 7_340_003,
    steps: &[
        (1, include_str!("../migrations/0001_trader_orders.sql")),
        (2, include_str!("../migrations/0002_replacements.sql")),
        (3, include_str!("../migrations/0003_open_candidates.sql")),
        (4, include_str!("../migrations/0004_unresolved.sql")),
        (5, include_str!("../migrations/0005_held_orders.sql")),
        (6, include_str!("../migrations/0006_oco.sql")),
        (7, include_str!("../migrations/0007_bracket.sql")),
        (8, include_str!("../migrations/0008_oto.sql")),
        (9, include_str!("../migrations/0009_order_versions.sql")),
    ],
};

/// The service's state: one shared [`TraderShared`], so that the clone axum makes for
/// every request is one reference count, not one per field (measured: cloning and
/// dropping the fields was ~5% of the order path's CPU in the service).
#[derive(Clone)]
pub struct TraderState(Arc<TraderShared>);

impl std::ops::Deref for TraderState {
    type Target = TraderShared;
    fn deref(&self) -> &TraderShared {
        &self.0
    }
}

/// What every request of the service shares.
#[derive(Clone)]
pub struct TraderShared {
    /// This service's orders, with settlement's view of them.
    pub store: Arc<dyn store::TraderStore>,
    /// Settlement's holdings (positions, and the position after a fill).
    pub holdings: Arc<dyn HoldingsReader>,
    /// Token keys, the key verifier and the rate limit.
    pub auth: Arc<Auth>,
    /// The engine, through a service session on the gateway.
    pub engine: Option<GatewayClient>,
    /// Suspended instruments (the stock service's), refused before they reach the engine.
    pub suspensions: Arc<bourse_stock::assets::Suspensions>,
    /// The order path's batched writes.
    pub writes: writes::Writes,
    /// The `trade_updates` streams open here.
    pub listeners: Arc<stream::Listeners>,
    /// Rendered pages of `GET /v2/orders`, answered again while their user's orders
    /// have not changed.
    pub pages: pages::PageCache,
}

impl TraderState {
    /// The state for PostgreSQL, auth and engine (call inside a tokio runtime: the
    /// batch writers start on it).
    pub fn new(pool: Pool, auth: Arc<Auth>, engine: Option<GatewayClient>) -> Self {
        Self::with_stores(
            Arc::new(store::pg::PgTrader::new(pool.clone())),
            Arc::new(bourse_order::store::pg::PgSettlement::new(pool.clone())),
            Arc::new(bourse_stock::assets::Suspensions::new(pool)),
            auth,
            engine,
        )
    }

    /// The state over any stores (the embedded one in the all-in-one process).
    pub fn with_stores(
        store: Arc<dyn store::TraderStore>,
        holdings: Arc<dyn HoldingsReader>,
        suspensions: Arc<bourse_stock::assets::Suspensions>,
        auth: Arc<Auth>,
        engine: Option<GatewayClient>,
    ) -> Self {
        TraderState(Arc::new(TraderShared {
            writes: writes::Writes::spawn(store.clone()),
            suspensions,
            store,
            holdings,
            auth,
            engine,
            listeners: stream::Listeners::new(),
            pages: pages::PageCache::new(pages::DEFAULT_BYTES),
        }))
    }

    /// The same service (stores, engine, batch writers) answering `GET /v2/orders` from
    /// another page cache (`PageCache::new(0)`: none).
    pub fn with_pages(&self, pages: pages::PageCache) -> Self {
        let mut shared = (*self.0).clone();
        shared.pages = pages;
        TraderState(Arc::new(shared))
    }

    /// What the `trade_updates` stream reads.
    pub fn stream_stores(&self) -> stream::Stores {
        stream::Stores {
            orders: self.store.clone(),
            holdings: self.holdings.clone(),
        }
    }
}

impl FromRef<TraderState> for Arc<Auth> {
    fn from_ref(s: &TraderState) -> Arc<Auth> {
        s.auth.clone()
    }
}

/// Applies the PostgreSQL migrations (the order and stock services' tables must exist:
/// their migrations run first).
pub async fn prepare(pool: &Pool) -> Result<(), bourse_shell::ApiError> {
    use store::TraderStore;
    store::pg::PgTrader::new(pool.clone()).prepare().await
}

/// The whole service: its routes in the shell, ready when its database answers.
pub fn app(state: TraderState) -> Router {
    let checks = Arc::new(vec![state.store.check()]);
    bourse_shell::openapi::app("trader", router(state), &[], checks)
}

/// The service's routes (wrapped by [`app`]) and their OpenAPI document (finished by
/// the shell).
pub fn router(state: TraderState) -> (Router, utoipa::openapi::OpenApi) {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(orders::list, orders::create, orders::cancel_all))
        .routes(routes!(orders::get_one, orders::cancel, orders::replace))
        .routes(routes!(orders::by_client_order_id))
        .routes(routes!(account::account))
        .routes(routes!(positions::list))
        .routes(routes!(positions::get_one, positions::close))
        .routes(routes!(stream::stream))
        .with_state(state)
        .split_for_parts()
}
