//! # bourse-gateway
//!
//! The binary order gateway: market makers connect a ZeroMQ DEALER socket to the
//! gateway's ROUTER, log in with an API key, and send fixed-layout binary orders
//! (`docs/protocol.md`); execution reports come back on the same connection.
//!
//! Map of the crate:
//! - [`protocol`]: the messages and their codec (never panics on any input).
//! - [`keys`]: API keys (`key_id user sha256(secret)` per line) and login checks.
//! - [`session`]: per-connection state and the message-rate throttle.
//! - [`server`]: the ZeroMQ I/O loop and the pipeline (journal stage, engine stage).
//! - [`metrics`]: lock-free counters and histograms of the pipeline, rendered for
//!   Prometheus.
//! - `wake`: how idle pipeline threads sleep and who wakes them (shared cores).
//!
//! **Architecture invariant:** a frame the gateway cannot decode, or may not accept
//! (no login, over the throttle), is answered by the gateway with a `Rejected` carrying
//! a reason code and never reaches the journal or the engine; the session stays up.

pub mod keys;
pub mod metrics;
pub mod protocol;
mod release;
pub mod server;
mod service;
pub mod session;
mod wake;
