//! # bourse-shell
//!
//! Everything Bourse's HTTP services have in common, written once; each service is a
//! small crate of routes and logic on top of it (STYLE: "one thin shell for all
//! services").
//!
//! - [`error`]: one JSON error shape, `{"code": 40010000, "message": "..."}` (Alpaca's),
//!   with the right status: 4xx for the client's mistakes, never a 500 for bad input.
//! - [`extract`]: `Json`, `Path` and `Query` extractors whose rejections are that shape.
//! - [`auth`]: the [`Principal`](auth::Principal) extractor — a JWT access token
//!   (`Authorization: Bearer`) or an Alpaca key pair (`APCA-API-KEY-ID` and
//!   `APCA-API-SECRET-KEY`) — and per-principal rate limits (429 with `Retry-After`).
//! - [`health`]: `/healthz` (alive) and `/readyz` (ready only when every dependency
//!   answers).
//! - [`telemetry`]: tracing with request ids, Prometheus `/metrics` with request rate,
//!   latency and errors by route.
//! - [`server`]: binds, serves with graceful shutdown on SIGINT/SIGTERM.
//! - [`migrate`]: SQL migrations applied once each, under an advisory lock.
//! - [`money`]: decimal strings at the edge ("100.50"), integers inside.
//!
//! **Architecture invariant:** handlers never build an error body or a status by hand;
//! every failure is an [`ApiError`].

pub mod auth;
pub mod batch;
pub mod client;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod health;
pub mod ids;
pub mod lite;
pub mod migrate;
pub mod money;
pub mod openapi;
pub mod retry;
pub mod server;
pub mod telemetry;

pub use error::ApiError;
