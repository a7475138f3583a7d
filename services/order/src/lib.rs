//! # bourse-order
//!
//! The order service's settlement: it consumes the engine's executions and account
//! changes from the durable settlement queue (filled by the broker bridge) and keeps the
//! database of record in PostgreSQL — orders and their state history, trades, a
//! double-entry ledger, and balances per user and asset (cash and holdings).
//!
//! - Idempotent: every event's sequence number is recorded in the transaction that
//!   applies it; a redelivered event changes nothing.
//! - Batched: one transaction per batch, one multi-row statement per table.
//! - Acknowledged only after the commit; `portfolio.changed.<user>` published after.
//!
//! Map: [`migrate`] (schema migrations from `migrations/`), [`event`] (the messages),
//! [`holdings`] (a user's cash and holdings with cost basis, for the services that read them),
//! [`settle`] (a batch in one transaction), [`store`] (where it is written: PostgreSQL
//! or the embedded SQLite file), [`service`] (the loop), [`db`] (the pool), [`token`]
//! (how the trader's orders are found by their client id).

pub mod db;
pub mod event;
pub mod holdings;
pub mod migrate;
pub mod service;
pub mod settle;
pub mod store;
pub mod token;

/// Errors of the order service.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// PostgreSQL refused or the connection broke.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool.
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The embedded store failed.
    #[error(transparent)]
    Lite(#[from] bourse_shell::lite::LiteError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] bourse_bus::BusError),
}

impl From<OrderError> for bourse_shell::ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::Postgres(e) => e.into(),
            OrderError::Pool(e) => e.into(),
            OrderError::Lite(e) => e.into(),
            OrderError::Bus(e) => bourse_shell::ApiError::unavailable("broker", e),
        }
    }
}
