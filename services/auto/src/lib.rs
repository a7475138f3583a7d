//! # bourse-auto
//!
//! The auto service (`bourse serve auto`): conditional orders — stop, stop-limit and
//! trailing stop, entered at the trader service's `POST /v2/orders` and held there —
//! armed in [`triggers::TriggerIndex`], evaluated against every trade from the bus,
//! and entered into the engine when a trade triggers them ([`service`]). Its state is
//! the trader's held rows and its own position in the trade stream ([`store`]), so a
//! restart rebuilds the index and fires nothing twice.
//!
//! Price alerts ([`alerts`]: `POST /v1/alerts`, "tell me when ACME trades at or above
//! 120") are armed in the same index and fire once; the notification service tells
//! their owner.
//!
//! Besides its routes: `/healthz`, `/readyz` (its store and its bus consumer) and
//! `/metrics` (`auto_orders_armed`, `auto_orders_fired_total`, `auto_alerts_fired_total`,
//! `auto_trade_position`).

pub mod alerts;
pub mod recurring;
pub mod schedule;
pub mod service;
pub mod session;
pub mod store;
pub mod triggers;

use std::sync::Arc;

use axum::Router;
use bourse_shell::health::{Check, Flag};

pub use triggers::{ArmError, Condition, Direction, Trigger, TriggerId, TriggerIndex};

/// The service's HTTP face: the alerts' routes, health, readiness (the store and the bus
/// consumer's flag in `status`) and metrics.
pub fn app(state: alerts::AutoState, status: &service::Status) -> Router {
    let checks: Vec<Box<dyn Check>> = vec![
        state.store.check(),
        Box::new(Flag {
            name: "broker",
            up: status.connected.clone(),
        }),
    ];
    bourse_shell::openapi::app("auto", router(state), &[], Arc::new(checks))
}

/// The service's routes (wrapped by [`app`]) and their OpenAPI document.
pub fn router(state: alerts::AutoState) -> (Router, utoipa::openapi::OpenApi) {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(alerts::create, alerts::list))
        .routes(routes!(alerts::get_one, alerts::cancel))
        .routes(routes!(recurring::create, recurring::list))
        .routes(routes!(recurring::get_one, recurring::delete))
        .routes(routes!(recurring::pause))
        .routes(routes!(recurring::resume))
        .with_state(state)
        .split_for_parts()
}
