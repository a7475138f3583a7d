//! # bourse-auto
//!
//! The auto service (`bourse serve auto`): conditional orders — stop, stop-limit and
//! trailing stop, entered at the trader service's `POST /v2/orders` and held there —
//! armed in [`triggers::TriggerIndex`], evaluated against every trade from the bus,
//! and entered into the engine when a trade triggers them ([`service`]). Its state is
//! the trader's held rows and its own position in the trade stream ([`store`]), so a
//! restart rebuilds the index and fires nothing twice.
//!
//! It serves no routes of its own yet: `/healthz`, `/readyz` (its store and its bus
//! consumer) and `/metrics` (`auto_orders_armed`, `auto_orders_fired_total`,
//! `auto_trade_position`).

pub mod service;
pub mod store;
pub mod triggers;

use std::sync::Arc;

use axum::Router;
use bourse_shell::health::{Check, Flag};

pub use triggers::{ArmError, Condition, Direction, Trigger, TriggerId, TriggerIndex};

/// The service's HTTP face: health, readiness (`store` and the bus consumer's flag in
/// `status`) and metrics.
pub fn app(store: &dyn store::AutoStore, status: &service::Status) -> Router {
    let checks: Vec<Box<dyn Check>> = vec![
        store.check(),
        Box::new(Flag {
            name: "broker",
            up: status.connected.clone(),
        }),
    ];
    let (routes, api) = utoipa_axum::router::OpenApiRouter::<()>::new().split_for_parts();
    bourse_shell::openapi::app("auto", (routes, api), &[], Arc::new(checks))
}
