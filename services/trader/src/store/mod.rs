//! Where the trader service keeps its orders and reads settlement's: behind
//! [`TraderStore`], on PostgreSQL ([`pg::PgTrader`], the distributed mode) or the
//! embedded SQLite file ([`lite::LiteTrader`], the all-in-one process).
//!
//! Every read returns [`OrderRecord`]s: the service's row (what it entered and the
//! engine's verdict as of the request) with settlement's view of the same order
//! joined in; [`crate::orders`] decides from both what the API shows.

pub mod lite;
pub mod pg;

use std::time::Duration;

use bourse_shell::ApiError;
use bourse_shell::health::Check;

use crate::writes::{Pending, Verdict};

/// Settlement's view of an order (its `orders` row and fills).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    /// `open`, `filled`, `canceled` or `replaced`.
    pub status: String,
    /// Shares filled.
    pub filled: i64,
    /// The last event settlement applied to it.
    pub updated_seq: i64,
    /// Why it was canceled.
    pub reason: Option<String>,
    /// Sum of price × quantity of its fills, the replaced order's carried in.
    pub value: i64,
}

/// An order as the service entered it, with settlement's view joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    /// Alpaca's order id.
    pub id: String,
    /// The client's id.
    pub client_order_id: String,
    /// Ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `market` or `limit`.
    pub order_type: String,
    /// Time in force.
    pub time_in_force: String,
    /// Shares.
    pub qty: i64,
    /// Cents.
    pub limit_price: Option<i64>,
    /// The verdict's status.
    pub status: String,
    /// The verdict's filled shares.
    pub filled_qty: i64,
    /// The verdict's fill value.
    pub filled_value: i64,
    /// The last engine event the verdict reflects.
    pub known_seq: i64,
    /// When it was entered (RFC 3339, UTC, microseconds).
    pub created_at: String,
    /// When its row last changed.
    pub updated_at: String,
    /// Settlement's view, once settlement has the order.
    pub settled: Option<Settled>,
    /// The order this one replaced.
    pub replaces: Option<String>,
    /// The order that replaced this one.
    pub replaced_by: Option<String>,
    /// The engine's client order id.
    pub token: String,
    /// A conditional order's condition (all `None` for the others).
    pub condition: Condition,
    /// A trailing stop's mark (high-water mark for a sell, low for a buy), cents, as of
    /// its last save by the auto service.
    pub hwm: Option<i64>,
    /// `simple` or `oco`.
    pub order_class: String,
    /// The other leg of a one-cancels-other pair.
    pub oco_with: Option<String>,
    /// A bracket's entry order, on its exit legs.
    pub parent_id: Option<String>,
}

/// A conditional order's condition, as entered (exactly one of stop and trail is set;
/// a trailing stop has one of amount and percent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    /// Stop price, cents (stop, stop-limit).
    pub stop_price: Option<i64>,
    /// Trail by amount, cents.
    pub trail_price: Option<i64>,
    /// Trail by percent, parts per million of the mark.
    pub trail_ppm: Option<i64>,
}

/// An order's token and status (what a cancel decides from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenStatus {
    /// The engine's client order id.
    pub token: String,
    /// The row's status (`held`: the engine has not seen it).
    pub status: String,
    /// The other leg of a one-cancels-other pair.
    pub oco_with: Option<String>,
    /// `simple`, `oco` or `bracket`.
    pub order_class: String,
}

/// How an order is found.
#[derive(Clone, Copy, Debug)]
pub enum OrderKey<'a> {
    /// By Alpaca's order id.
    Id(&'a str),
    /// By the client's id.
    ClientOrderId(&'a str),
    /// By the engine's token.
    Token(&'a str),
}

/// Which orders a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Which {
    /// Open (by settlement's status once it has caught up with the verdict).
    Open,
    /// Closed.
    Closed,
    /// Both.
    All,
}

/// A page of `GET /v2/orders`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListFilter {
    /// Whose.
    pub user: u64,
    /// Open, closed or all.
    pub which: Which,
    /// Only these tickers (none: all).
    pub symbols: Vec<String>,
    /// Entered after this time (RFC 3339 or a date), if given.
    pub after: Option<String>,
    /// Entered before this time, if given.
    pub until: Option<String>,
    /// Oldest first.
    pub ascending: bool,
    /// At most this many.
    pub limit: i64,
}

/// The versions of a user's orders: counters that every committed change to the
/// user's rows moves, in the changing transaction (`trader_order_versions` for this
/// service's rows, moved by a trigger; settlement's `order_versions` for its view of
/// them, moved by settlement's batches). Equal versions read before two lists mean no
/// change between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    /// Changes to the user's rows of this service.
    pub trader: i64,
    /// Changes to settlement's rows of the user's orders entered here.
    pub settled: i64,
}

impl ListFilter {
    /// What `GET /v2/orders` with no parameters asks for: `user`'s open orders, newest
    /// first, 50.
    pub fn first_page(user: u64) -> Self {
        ListFilter {
            user,
            which: Which::Open,
            symbols: vec![],
            after: None,
            until: None,
            ascending: false,
            limit: 50,
        }
    }
}

/// The statuses of a verdict that count as open.
pub const OPEN: [&str; 6] = [
    "held",
    "new",
    "partially_filled",
    "pending_new",
    "pending_replace",
    "accepted",
];

/// A replacement order's row, before the engine decides.
#[derive(Clone, Debug)]
pub struct Replacement {
    /// Its id.
    pub id: String,
    /// The owner.
    pub user: u64,
    /// The client's id for it.
    pub client_order_id: String,
    /// Its engine token.
    pub token: String,
    /// Ticker (the old order's).
    pub symbol: String,
    /// Side (the old order's).
    pub side: String,
    /// Time in force (the old order's).
    pub time_in_force: String,
    /// Shares.
    pub qty: i64,
    /// Cents.
    pub limit_price: i64,
    /// The old order's fills, carried over.
    pub filled: i64,
    /// Their value.
    pub value: i64,
    /// The old order's id.
    pub replaces: String,
}

/// How replacing a held order went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldReplace {
    /// The new order is held in the old one's place.
    Done,
    /// The old order is no longer held (fired or canceled meanwhile): nothing changed.
    NotHeld,
    /// The new order's client id is taken: nothing changed.
    ClientIdTaken,
}

/// The columns a held replacement copies from the order it replaces, and those it sets.
pub(crate) const HELD_REPLACEMENT_COLUMNS: &str = "id, user_id, client_order_id, token, symbol, \
    side, type, time_in_force, qty, limit_price, status, stop_price, trail_price, trail_ppm, \
    order_class, hwm, replaces";

/// What `GET /v2/account` reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountRow {
    /// Settled cash, in cents.
    pub cash: i64,
    /// What open buy orders hold, in cents.
    pub reserved: i64,
    /// When the user registered (RFC 3339), if the user service knows them.
    pub created_at: Option<String>,
}

/// The trader service's storage.
#[async_trait::async_trait]
pub trait TraderStore: Send + Sync + std::fmt::Debug {
    /// Makes the tables (idempotent).
    async fn prepare(&self) -> Result<(), ApiError>;
    /// Inserts new orders' rows (`pending_new`, or `held` for a conditional order),
    /// durably; false for a row whose (user, client id) exists already (nothing
    /// inserted for it).
    async fn insert_pending(&self, rows: Vec<Pending>) -> Result<Vec<bool>, ApiError>;
    /// Records verdicts and returns the orders as they now are. Settlement's view of
    /// them may be left out: a verdict is the engine's answer to the request that
    /// entered the order, as new as anything settlement knows of it.
    async fn finish(&self, rows: Vec<Verdict>) -> Result<Vec<Option<OrderRecord>>, ApiError>;
    /// One of `user`'s orders.
    async fn order(&self, user: u64, key: OrderKey<'_>) -> Result<Option<OrderRecord>, ApiError>;
    /// The exit legs of `user`'s bracket order `parent` (the take-profit first).
    async fn legs(&self, user: u64, parent: &str) -> Result<Vec<OrderRecord>, ApiError>;
    /// The engine token and status of one of `user`'s orders (what a cancel needs,
    /// without the join a full read makes).
    async fn token(&self, user: u64, id: &str) -> Result<Option<TokenStatus>, ApiError>;
    /// Cancels a held conditional order before it fires (compare-and-set from `held`);
    /// false if it is no longer held (the auto service fired it meanwhile).
    async fn cancel_held(&self, id: &str) -> Result<bool, ApiError>;
    /// A page of a user's orders, newest (or oldest) first; the caller filters by the
    /// merged status again and cuts to the limit. `Err` 422 for an unreadable time.
    async fn list(&self, filter: &ListFilter) -> Result<Vec<OrderRecord>, ApiError>;
    /// The versions of `user`'s orders; `None` from a store that keeps none (no page of
    /// it is then cached).
    async fn versions(&self, user: u64) -> Result<Option<Versions>, ApiError> {
        let _ = user;
        Ok(None)
    }
    /// Marks an order canceled as of engine event `seq`.
    async fn canceled(&self, id: &str, seq: i64) -> Result<(), ApiError>;
    /// Inserts a replacement's row (`pending_replace`); false if its client id is taken.
    async fn insert_replacement(&self, r: &Replacement) -> Result<bool, ApiError>;
    /// Deletes a replacement the engine refused.
    async fn delete(&self, id: &str) -> Result<(), ApiError>;
    /// Marks `old` replaced by `new` and records the new order's verdict.
    async fn replaced(&self, old: &str, verdict: &Verdict) -> Result<(), ApiError>;
    /// Replaces held order `old` by `new`, held too, in one transaction: `old` turns
    /// `replaced` (compare-and-set from `held`, as a cancel's, so the auto service
    /// fires at most one of them) and `new` names it in `replaces`, with a trailing
    /// stop's mark carried over.
    async fn replace_held(&self, old: &str, new: &Pending) -> Result<HeldReplace, ApiError>;
    /// What the account shows.
    async fn account(&self, user: u64) -> Result<AccountRow, ApiError>;
    /// Settlement's position: the highest engine event sequence number it applied.
    async fn settled_upto(&self) -> Result<u64, ApiError>;
    /// Ids of rows without a verdict `grace` after they were written that settlement
    /// does not know (the reconciler's candidates).
    async fn unresolved(&self, grace: Duration) -> Result<Vec<String>, ApiError>;
    /// Marks those of `ids` settlement still does not know `rejected` with `reason`
    /// as of engine event `probe`; returns how many.
    async fn reject_unknown(
        &self,
        ids: &[String],
        probe: i64,
        reason: &str,
    ) -> Result<u64, ApiError>;
    /// The readiness check of the store.
    fn check(&self) -> Box<dyn Check>;
}
