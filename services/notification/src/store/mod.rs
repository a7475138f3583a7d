//! What the notification service keeps: the inbox, the users' preferences and
//! webhooks, and the webhook outbox with its log, behind [`NotificationStore`], on
//! PostgreSQL ([`pg::PgNotifications`], `migrations/`) or the embedded SQLite file
//! ([`lite::LiteNotifications`], `migrations/lite/`). It also reads the trader
//! service's `trader_orders` (whose migrations must run first) to name the orders.
//!
//! **Exactly once**: an inbox row is keyed by (user, event): inserting a batch again
//! inserts nothing, and a webhook delivery is made only for rows new to the inbox, in
//! the same transaction.

pub mod lite;
pub mod pg;

use std::collections::HashMap;
use std::time::Duration;

use bourse_shell::ApiError;
use bourse_shell::health::Check;

use crate::kind::{Kind, Preferences};

/// A notification to store.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    /// Whose.
    pub user: u64,
    /// The event it is about, unique per user (`<seq>.<engine order id>`).
    pub key: String,
    /// What it is about.
    pub kind: Kind,
    /// The payload (a JSON object).
    pub body: serde_json::Value,
}

/// A stored notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Its id (rising).
    pub id: i64,
    /// Whose.
    pub user: u64,
    /// What it is about.
    pub kind: String,
    /// The payload (JSON text).
    pub body: String,
    /// When it was stored (RFC 3339).
    pub created_at: String,
    /// Whether its owner marked it read.
    pub read: bool,
}

/// An order the trader service entered, as a notification names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderInfo {
    /// Alpaca's order id.
    pub id: String,
    /// The client's order id.
    pub client_order_id: String,
    /// Ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Alpaca's order type.
    pub order_type: String,
    /// Shares ordered.
    pub qty: i64,
    /// A conditional order the auto service fired.
    pub triggered: bool,
}

/// A user's webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    /// Where the calls go.
    pub url: String,
    /// What signs them.
    pub secret: String,
    /// When it was registered (RFC 3339).
    pub created_at: String,
}

/// A webhook delivery due now, claimed by one worker for the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    /// The delivery.
    pub id: i64,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The notification it delivers.
    pub notification: Notification,
    /// The owner's webhook now (`None`: removed since).
    pub webhook: Option<(String, String)>,
}

/// What one call to a webhook came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The attempt's number (1 for the first).
    pub number: i32,
    /// The URL called.
    pub url: String,
    /// The receiver's status code, if it answered.
    pub status_code: Option<i32>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long the call took.
    pub duration: Duration,
}

/// Where a delivery goes after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The receiver took it (a 2xx).
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// No more tries: the dead letter.
    Dead,
}

/// A delivery as its owner reads it, with its attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The delivery's id.
    pub id: i64,
    /// The notification it delivers.
    pub notification: i64,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Calls made.
    pub attempts: Vec<Attempt>,
    /// The next call's time (RFC 3339), while pending.
    pub next_at: Option<String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// Which notifications a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Only ids below this (the page token: the last id of the page before).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
    /// Only unread ones.
    pub unread_only: bool,
}

/// A price alert the auto service fired (its table, `auto_alerts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiredAlert {
    /// The alert's id.
    pub id: String,
    /// Its owner.
    pub user: u64,
    /// Ticker.
    pub symbol: String,
    /// `at_or_above` or `at_or_below`.
    pub condition: String,
    /// Its price, cents.
    pub price: i64,
    /// Its owner's note.
    pub note: String,
    /// The trade that crossed it: price (cents) and sequence number.
    pub trade: (i64, i64),
    /// When it fired (RFC 3339).
    pub triggered_at: String,
    /// The same, database time in microseconds (the reading cursor).
    pub at: i64,
}

/// A held conditional order the auto service expired at the close (`trader_orders`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredHeld {
    /// The order's id.
    pub id: String,
    /// Its owner.
    pub user: u64,
    /// The client's id for it.
    pub client_order_id: String,
    /// Ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `stop`, `stop_limit` or `trailing_stop`.
    pub order_type: String,
    /// Shares.
    pub qty: i64,
    /// When it expired (RFC 3339).
    pub expired_at: String,
    /// The same, microseconds (the reading cursor).
    pub at: i64,
}

/// The notification service's storage.
#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync + std::fmt::Debug {
    /// Makes its tables (idempotent; the trader's must exist).
    async fn prepare(&self) -> Result<(), ApiError>;
    /// The trader service's orders among `keys` (user, engine order id).
    async fn orders(
        &self,
        keys: &[(u64, String)],
    ) -> Result<Vec<((u64, String), OrderInfo)>, ApiError>;
    /// The preferences of `users` (the default for one who set none).
    async fn preferences(&self, users: &[u64]) -> Result<HashMap<u64, Preferences>, ApiError>;
    /// Sets some of `user`'s kinds on or off; returns the preferences now.
    async fn set_preferences(
        &self,
        user: u64,
        set: &[(Kind, bool)],
    ) -> Result<Preferences, ApiError>;
    /// Stores the drafts new to the inbox, and a webhook delivery for each whose owner
    /// has a webhook, in one transaction; returns the notifications stored (a draft
    /// whose key is stored already is skipped).
    async fn insert(&self, drafts: &[Draft]) -> Result<Vec<Notification>, ApiError>;
    /// `user`'s notifications, newest first.
    async fn list(&self, user: u64, page: Page) -> Result<Vec<Notification>, ApiError>;
    /// How many of `user`'s notifications are unread.
    async fn unread(&self, user: u64) -> Result<u64, ApiError>;
    /// Marks one of `user`'s notifications read or unread (`None`: not theirs).
    async fn mark(&self, user: u64, id: i64, read: bool) -> Result<Option<Notification>, ApiError>;
    /// Marks all of `user`'s notifications read; returns how many were unread.
    async fn mark_all(&self, user: u64) -> Result<u64, ApiError>;
    /// `user`'s webhook.
    async fn webhook(&self, user: u64) -> Result<Option<Webhook>, ApiError>;
    /// Registers (or replaces) `user`'s webhook.
    async fn set_webhook(&self, user: u64, url: &str, secret: &str) -> Result<Webhook, ApiError>;
    /// Removes `user`'s webhook; whether there was one.
    async fn delete_webhook(&self, user: u64) -> Result<bool, ApiError>;
    /// Claims up to `limit` deliveries due now for `lease` (no other claim takes them
    /// until it runs out).
    async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Due>, ApiError>;
    /// Records an attempt at a claimed delivery and where it goes next. Nothing
    /// happens if another attempt was recorded since the claim (the lease ran out and
    /// someone else took it): returns whether it was recorded.
    async fn record(&self, delivery: i64, attempt: &Attempt, next: Next) -> Result<bool, ApiError>;
    /// `user`'s deliveries, newest first, with their attempts: only those in `status`
    /// if given, only ids below `before`.
    async fn deliveries(
        &self,
        user: u64,
        status: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, ApiError>;
    /// Sends one of `user`'s dead deliveries again, now (`None`: not theirs, or not
    /// dead).
    async fn redeliver(&self, user: u64, id: i64) -> Result<Option<DeliveryRecord>, ApiError>;
    /// Price alerts fired at or after `since` (database time, microseconds).
    async fn fired_alerts(&self, since: i64) -> Result<Vec<FiredAlert>, ApiError>;
    /// Held conditional orders expired at or after `since` (microseconds).
    async fn expired_held(&self, since: i64) -> Result<Vec<ExpiredHeld>, ApiError>;
    /// A saved reading cursor.
    async fn cursor(&self, name: &str) -> Result<Option<i64>, ApiError>;
    /// Saves a reading cursor.
    async fn save_cursor(&self, name: &str, at: i64) -> Result<(), ApiError>;
    /// The readiness check of the store.
    fn check(&self) -> Box<dyn Check>;
}
