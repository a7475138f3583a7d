//! The shapes of the service's answers, for its OpenAPI document (the handlers build
//! them as JSON; the schemathesis run checks every answer against these). Alpaca's
//! field names; money and quantities as decimal strings.
#![allow(dead_code)]

use utoipa::ToSchema;

/// An order.
#[derive(ToSchema)]
pub struct Order {
    /// The order's id (UUID).
    id: String,
    /// The client's id for it.
    client_order_id: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime)]
    submitted_at: String,
    #[schema(format = DateTime)]
    filled_at: Option<String>,
    #[schema(format = DateTime)]
    expired_at: Option<String>,
    #[schema(format = DateTime)]
    canceled_at: Option<String>,
    #[schema(format = DateTime)]
    failed_at: Option<String>,
    #[schema(format = DateTime)]
    replaced_at: Option<String>,
    /// The order that replaced this one.
    replaced_by: Option<String>,
    /// The order this one replaced.
    replaces: Option<String>,
    asset_id: String,
    symbol: String,
    /// `us_equity`.
    asset_class: String,
    /// Always null (whole shares only).
    notional: Option<String>,
    /// Shares ordered.
    qty: String,
    /// Shares filled so far.
    filled_qty: String,
    /// Average fill price, dollars; null before the first fill.
    filled_avg_price: Option<String>,
    /// `simple` or `oco`.
    order_class: String,
    /// `market` or `limit`.
    order_type: String,
    /// The same as `order_type`.
    #[schema(rename = "type")]
    kind: String,
    /// `buy` or `sell`.
    side: String,
    /// `day`, `gtc`, `ioc` or `fok`.
    time_in_force: String,
    /// Dollars; null for market orders.
    limit_price: Option<String>,
    /// Dollars: stop and stop-limit orders; else null.
    stop_price: Option<String>,
    /// `new`, `partially_filled`, `filled`, `canceled`, `expired`, `replaced`,
    /// `rejected`, `pending_new`.
    status: String,
    /// Always true: every order may trade outside the regular session.
    extended_hours: bool,
    /// An `oco` order's stop-loss leg (on its take-profit leg, read alone); else null.
    #[schema(no_recursion)]
    legs: Option<Vec<Order>>,
    trail_percent: Option<String>,
    trail_price: Option<String>,
    hwm: Option<String>,
}

/// The account.
#[derive(ToSchema)]
pub struct Account {
    id: String,
    account_number: String,
    /// `ACTIVE`.
    status: String,
    crypto_status: String,
    /// `USD`.
    currency: String,
    /// Cash, dollars.
    cash: String,
    /// Cash not held by open buy orders.
    buying_power: String,
    regt_buying_power: String,
    daytrading_buying_power: String,
    non_marginable_buying_power: String,
    pattern_day_trader: bool,
    trading_blocked: bool,
    transfers_blocked: bool,
    account_blocked: bool,
    trade_suspended_by_user: bool,
    shorting_enabled: bool,
    multiplier: String,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A holding, at the last trade's price.
#[derive(ToSchema)]
pub struct Position {
    asset_id: String,
    symbol: String,
    exchange: String,
    asset_class: String,
    asset_marginable: bool,
    avg_entry_price: String,
    qty: String,
    qty_available: String,
    /// `long`.
    side: String,
    market_value: String,
    cost_basis: String,
    unrealized_pl: String,
    unrealized_plpc: String,
    unrealized_intraday_pl: String,
    unrealized_intraday_plpc: String,
    current_price: String,
    lastday_price: String,
    change_today: String,
}

/// One order's outcome in `DELETE /v2/orders`.
#[derive(ToSchema)]
pub struct CancelOutcome {
    /// The order.
    id: String,
    /// 204 if canceled, else the error's status.
    status: u16,
}
