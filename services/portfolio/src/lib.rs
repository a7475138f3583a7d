//! # bourse-portfolio
//!
//! A user's portfolio, live, over WebSocket: `GET /portfolio?userID=<id>` sends the
//! user's positions and totals valued at the last trade prices, then updates as prices
//! move, and a new snapshot when settlement changes the holdings. Messages are
//! documented in `docs/portfolio.md`.
//!
//! Where things come from: holdings (cash, shares, cost basis) from settlement's tables
//! in PostgreSQL (`bourse_order::holdings`); prices from the gateway's market data feed
//! over ZeroMQ, subscribed per symbol held; the reload signal `portfolio.changed.<user>`
//! from the order service over the bus.
//!
//! Map: [`hub`] (who watches what: the symbol → users index and the shared valuations),
//! [`valuation`] (the figures and the messages), [`socket`] (the route and one socket's
//! loop), [`prices`] (the feed, subscribed per symbol), [`changes`] (the reload hints).
//!
//! **Architecture invariant:** a socket is only ever its owner's: the user id in the
//! query must be the authenticated user's, checked before the upgrade.

pub mod changes;
pub mod hub;
pub mod prices;
pub mod socket;
pub mod valuation;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use bourse_order::holdings::HoldingsReader;
use bourse_shell::auth::Auth;
use bourse_shell::health::{Check, Checks, Flag};

pub use hub::Hub;
pub use socket::StreamConfig;

/// The service's state.
#[derive(Clone)]
pub struct PortfolioState {
    /// Settlement's tables (PostgreSQL or the embedded store).
    pub holdings: Arc<dyn HoldingsReader>,
    /// Token keys, the key verifier and the rate limit.
    pub auth: Arc<Auth>,
    /// The sockets, their holdings and the last prices.
    pub hub: Arc<Hub>,
    /// Pacing and the slow-consumer timeout.
    pub stream: StreamConfig,
}

/// The whole service: ready when its database answers and, if given, while the hint
/// consumer is connected.
pub fn app(state: PortfolioState, consuming: Option<Arc<AtomicBool>>) -> Router {
    let mut checks: Vec<Box<dyn Check>> = vec![state.holdings.check()];
    if let Some(up) = consuming {
        checks.push(Box::new(Flag { name: "broker", up }));
    }
    let checks: Checks = Arc::new(checks);
    bourse_shell::openapi::app("portfolio", router(state), &[], checks)
}

/// The routes (wrapped by [`app`]) and their OpenAPI document.
pub fn router(state: PortfolioState) -> (Router, utoipa::openapi::OpenApi) {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(socket::portfolio))
        .with_state(state)
        .split_for_parts()
}
