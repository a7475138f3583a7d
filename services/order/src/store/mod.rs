//! Where settlement keeps the database of record: behind [`SettlementStore`], on
//! PostgreSQL ([`pg::PgSettlement`], the distributed mode) or the embedded SQLite file
//! ([`lite::LiteSettlement`], the all-in-one process). The settling itself
//! ([`crate::settle`]) is the same on both; `tests/settle_store.rs` runs one workload
//! through each and compares every row.

pub mod lite;
pub mod pg;

use crate::OrderError;
use crate::settle::{OrderRow, Plan};

/// What settlement resumes from.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The highest event sequence number settled.
    pub seq: u64,
    /// Events settled in all.
    pub events: u64,
    /// The open orders.
    pub open: Vec<OrderRow>,
    /// The cost walk of every holding with shares from trading.
    pub costs: Vec<((i64, String), crate::holdings::Cost)>,
}

/// Settlement's tables.
#[async_trait::async_trait]
pub trait SettlementStore: Send + Sync + std::fmt::Debug {
    /// Makes the tables (idempotent; safe with several instances starting at once).
    async fn prepare(&self) -> Result<(), OrderError>;
    /// The position, the open orders and the holdings' cost walks.
    async fn load(&self) -> Result<Loaded, OrderError>;
    /// Writes `plan`'s rows and the new position (`seq`, `events`) in one transaction:
    /// all of it or, on error, nothing.
    async fn commit(&self, plan: &Plan, seq: u64, events: u64) -> Result<(), OrderError>;
}
