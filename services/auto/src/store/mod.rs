//! What the auto service reads and writes: the trader service's held conditional
//! orders (`trader_orders`, whose migrations must run first) and its own position in
//! the trade stream, behind [`AutoStore`], on PostgreSQL ([`pg::PgAuto`]) or the
//! embedded SQLite file ([`lite::LiteAuto`]).
//!
//! Times here are the database's (microseconds since the Unix epoch), so that the
//! service's cursors never compare its clock with another machine's.

pub mod lite;
pub mod pg;
pub mod recurring;

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
    /// The other leg of a one-cancels-other pair, in the engine: its owner and token
    /// (a trade of it cancels this one).
    pub oco: Option<(u64, String)>,
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
    /// The other leg of a one-cancels-other pair: its id and token (canceled in the
    /// engine before this one enters).
    pub oco: Option<(String, String)>,
}

/// A price alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Its id (a UUID).
    pub id: String,
    /// Its owner.
    pub user: u64,
    /// Ticker.
    pub symbol: String,
    /// `at_or_above` or `at_or_below`.
    pub condition: String,
    /// The price, cents.
    pub price: i64,
    /// The owner's note.
    pub note: String,
    /// `active`, `triggered` or `canceled`.
    pub status: String,
    /// The trade that triggered it: its price (cents) and sequence number.
    pub triggered: Option<(i64, i64)>,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it triggered (RFC 3339).
    pub triggered_at: Option<String>,
}

/// An active alert, to arm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveAlert {
    /// Its id.
    pub id: String,
    /// Ticker.
    pub symbol: String,
    /// Fires on a trade at or above its price (else at or below).
    pub above: bool,
    /// The price, cents.
    pub price: i64,
    /// When it was made (database time, microseconds).
    pub created: i64,
}

/// A new alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAlert {
    /// Its id.
    pub id: String,
    /// Its owner.
    pub user: u64,
    /// Ticker.
    pub symbol: String,
    /// `at_or_above` or `at_or_below`.
    pub condition: String,
    /// The price, cents.
    pub price: i64,
    /// The owner's note.
    pub note: String,
}

/// The auto service's storage.
#[async_trait::async_trait]
pub trait AutoStore: recurring::RecurringStore + Send + Sync + std::fmt::Debug {
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
    /// Activates the exit legs of the bracket and oto orders whose entry settlement has
    /// filled: the take-profit turns `pending_new` (returned, to enter into the
    /// engine), the stop-loss is armed from now on; one transaction.
    async fn activate_brackets(&self) -> Result<Vec<Fired>, ApiError>;
    /// Cancels the waiting exit legs of bracket orders whose entry ended unfilled
    /// (rejected, canceled, expired); how many.
    async fn cancel_orphan_legs(&self) -> Result<u64, ApiError>;
    /// Expires the held `day` orders entered before `close` (microseconds): compare-
    /// and-set from `held` to `expired`; how many.
    async fn expire_held_day(&self, close: i64) -> Result<u64, ApiError>;
    /// Claims the engine's end of day for `close` (microseconds): whether this call
    /// made the claim (`false`: claimed before, by anyone).
    async fn claim_end_of_day(&self, close: i64) -> Result<bool, ApiError>;
    /// Records that the engine finished the end of day for `close`.
    async fn end_of_day_done(&self, close: i64) -> Result<(), ApiError>;
    /// Stores `alert`, unless its owner has `max_active` active ones already (`None`).
    async fn create_alert(
        &self,
        alert: &NewAlert,
        max_active: u32,
    ) -> Result<Option<Alert>, ApiError>;
    /// `user`'s alerts (only those in `status`, if given), newest first.
    async fn alerts(
        &self,
        user: u64,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Alert>, ApiError>;
    /// One of `user`'s alerts.
    async fn alert(&self, user: u64, id: &str) -> Result<Option<Alert>, ApiError>;
    /// Cancels one of `user`'s active alerts; returns it as it now is (`None`: not
    /// theirs; a status other than `canceled`: it was no longer active).
    async fn cancel_alert(&self, user: u64, id: &str) -> Result<Option<Alert>, ApiError>;
    /// Active alerts made at or after `since` (all of them for `None`).
    async fn active_alerts(&self, since: Option<i64>) -> Result<Vec<ActiveAlert>, ApiError>;
    /// Alerts no longer active whose row changed at or after `since`, with that time.
    async fn left_alerts(&self, since: i64) -> Result<Vec<(String, i64)>, ApiError>;
    /// Fires alerts, each with the trade that crossed it (price, sequence number):
    /// compare-and-set from `active` to `triggered`, in one transaction; how many were
    /// still active.
    async fn fire_alerts(&self, alerts: &[(String, i64, u64)]) -> Result<usize, ApiError>;
    /// The readiness check of the store.
    fn check(&self) -> Box<dyn Check>;
}
