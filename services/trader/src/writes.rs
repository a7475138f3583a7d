//! The order path's database writes, in batches (`bourse_shell::batch`): the row an
//! order is entered under, and the engine's verdict, returning the order as it now is. Orders
//! that arrive together share one statement and one commit each way, which is what
//! lets the service keep up when many clients send at once.

use std::sync::Arc;

use bourse_shell::ApiError;
use bourse_shell::batch::Batcher;
use serde_json::Value;

use crate::store::TraderStore;

/// Most orders in one statement.
const BATCH: usize = 256;
/// Batches in flight at once.
const WORKERS: usize = 4;

/// A new order's row, before the engine sees it.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Alpaca's order id.
    pub id: String,
    /// The owner.
    pub user: i64,
    /// The client's id (unique per user: a repeat inserts nothing).
    pub client_order_id: String,
    /// The engine's client order id.
    pub token: String,
    /// Ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: &'static str,
    /// `market`, `limit`, `stop`, `stop_limit` or `trailing_stop`.
    pub order_type: &'static str,
    /// Time in force.
    pub time_in_force: String,
    /// Shares.
    pub qty: i64,
    /// Cents.
    pub limit_price: Option<i64>,
    /// A conditional order's condition: the row is `held` until the auto service
    /// fires it; `None` for an order that goes to the engine now (`pending_new`).
    pub condition: Option<crate::store::Condition>,
    /// `simple` or `oco`.
    pub order_class: &'static str,
    /// The other leg of a one-cancels-other pair.
    pub oco_with: Option<String>,
    /// A bracket's entry order, on its exit legs (held until the entry fills).
    pub parent_id: Option<String>,
}

impl Pending {
    /// The status the row is written with.
    pub fn status(&self) -> &'static str {
        // A bracket's exit legs wait for its entry to fill.
        if self.condition.is_some() || self.parent_id.is_some() {
            "held"
        } else {
            "pending_new"
        }
    }
}

/// The engine's verdict on an order.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Alpaca's order id.
    pub id: String,
    /// Alpaca's status.
    pub status: &'static str,
    /// Shares filled.
    pub filled: i64,
    /// Sum of price × quantity of the fills.
    pub value: i64,
    /// The engine's accepted event.
    pub order_seq: Option<i64>,
    /// The last engine event reflected.
    pub known_seq: i64,
    /// Why it was refused.
    pub reject_reason: Option<&'static str>,
}

/// The two batchers.
#[derive(Clone, Debug)]
pub struct Writes {
    insert: Batcher<Pending, bool>,
    finish: Batcher<Verdict, Option<Value>>,
}

impl Writes {
    /// Starts the batch workers on the current tokio runtime.
    pub fn spawn(store: Arc<dyn TraderStore>) -> Self {
        let s = store.clone();
        let insert = Batcher::spawn(WORKERS, BATCH, move |rows: Vec<Pending>| {
            let store = s.clone();
            async move { store.insert_pending(rows).await }
        });
        let finish = Batcher::spawn(WORKERS, BATCH, move |rows: Vec<Verdict>| {
            let store = store.clone();
            async move {
                let orders = store.finish(rows).await?;
                Ok(orders
                    .iter()
                    .map(|o| o.as_ref().map(crate::orders::order_json))
                    .collect())
            }
        });
        Writes { insert, finish }
    }

    /// Inserts the row (`pending_new`); false if the user has an order with that
    /// client id already (nothing is inserted then). Durable when it returns.
    pub async fn insert(&self, row: Pending) -> Result<bool, ApiError> {
        self.insert.call(row).await
    }

    /// Records the verdict and returns the order as the API shows it.
    pub async fn finish(&self, verdict: Verdict) -> Result<Option<Value>, ApiError> {
        self.finish.call(verdict).await
    }
}
