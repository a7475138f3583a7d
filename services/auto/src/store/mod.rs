//! What the auto service reads and writes: the trader service's held conditional
//! orders (`trader_orders`, whose migrations must run first) and its own position in
//! the trade stream, behind [`AutoStore`], on PostgreSQL ([`pg::PgAuto`]) or the
//! embedded SQLite file ([`lite::LiteAuto`]).
//!
//! Times here are the database's (microseconds since the Unix epoch), so that the
//! service's cursors never compare its clock with another machine's.

pub mod lite;
pub mod pg;

use bourse_shell::ApiError;
use bourse_shell::health::Check;
use bourse_trader::store::Condition;

/// A held conditional order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The order's id.
    pub id: String,
    /// Its ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// What it waits for.
    pub condition: Condition,
    /// A trailing stop's saved mark.
    pub hwm: Option<i64>,
    /// When it was entered (database time, microseconds).
    pub created: i64,
}

/// An order the auto service fired: what the engine is to be given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The order's id.
    pub id: String,
    /// Its owner.
    pub user: u64,
    /// The engine's client order id.
    pub token: String,
    /// Ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Alpaca's type (`stop`, `stop_limit`, `trailing_stop`).
    pub order_type: String,
    /// Time in force.
    pub time_in_force: String,
    /// Shares.
    pub qty: i64,
    /// A stop-limit's limit price, cents.
    pub limit_price: Option<i64>,
}

/// The auto service's storage.
#[async_trait::async_trait]
pub trait AutoStore: Send + Sync + std::fmt::Debug {
    /// Makes its tables (idempotent; the trader's must exist).
    async fn prepare(&self) -> Result<(), ApiError>;
    /// Held orders entered at or after `since` (all of them for `None`).
    async fn held(&self, since: Option<i64>) -> Result<Vec<Held>, ApiError>;
    /// Conditional orders no longer held whose row changed at or after `since`, with
    /// that time: canceled (or fired) ones, to disarm.
    async fn left_held(&self, since: i64) -> Result<Vec<(String, i64)>, ApiError>;
    /// Fires held orders, each with its mark (trailing stops): compare-and-set from
    /// `held` to `pending_new`, in one transaction. Returns the ones that were still
    /// held (the others were canceled meanwhile, or fired before).
    async fn fire(&self, orders: &[(String, Option<i64>)]) -> Result<Vec<Fired>, ApiError>;
    /// Saves the position in the trade stream and the marks of trailing stops still
    /// held, in one transaction.
    async fn save(&self, position: u64, marks: &[(String, i64)]) -> Result<(), ApiError>;
    /// The saved position.
    async fn position(&self) -> Result<u64, ApiError>;
    /// The database's time now, in microseconds.
    async fn now(&self) -> Result<i64, ApiError>;
    /// The readiness check of the store.
    fn check(&self) -> Box<dyn Check>;
}
