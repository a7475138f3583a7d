//! # bourse-core
//!
//! Bourse's matching engine: a deterministic, single-threaded state machine. Commands go
//! in through [`Engine::execute`], events come out through an [`EventSink`], each with a
//! global sequence number.
//!
//! **Architecture invariant:** this crate does no I/O, reads no clock, spawns no thread
//! and uses no randomness. Time, ids and ordering come in with the commands, so the same
//! commands always give the same events. Wire formats (JSON, binary) live in the shells.
//!
//! Map of the crate:
//! - [`types`]: `Price`, `Qty`, `UserId`, `SymbolId`, fixed-size strings, enums.
//! - [`command`] and [`event`]: what goes in and what comes out; [`RejectReason`] codes.
//! - `engine`: risk checks, reservations, order entry, cancel, replace, matching.
//! - `book`: price levels with intrusive FIFO queues, `ladder`: each side's levels in
//!   price order, `level_index`: price → level; `slab`: the preallocated storage.
//! - [`account`]: balances and trading limits.
//! - [`state`]: the canonical state, its hash, rebuild from it; [`snapshot`]: its bytes.
//! - `hashing`: the engine's maps (FxHash) and why they are sized as they are;
//!   `order_index`: the compact table of resting orders by (account, client id).
//! - [`reference`](mod@reference): a naive, obviously correct twin used by property tests.

pub mod account;
mod book;
pub mod command;
mod engine;
pub mod event;
mod hashing;
mod ladder;
mod level_index;
mod order_index;
pub mod reference;
mod slab;
pub mod snapshot;
pub mod state;
pub mod types;
mod user_index;

pub use account::{Balance, Limits};
pub use command::{AdminOp, Asset, CASH, Command, LimitsUpdate, NewOrder};
pub use engine::{Engine, EngineConfig, Instrument};
pub use event::{CancelReason, Event, EventKind, EventSink, RejectReason};
pub use state::State;
pub use types::{
    Amount, ClientOrderId, FixedStr, OrderType, Price, Qty, Seq, Side, Symbol, SymbolId,
    TimeInForce, UserId,
};
