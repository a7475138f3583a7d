//! # bourse-notification
//!
//! The notification service (`bourse serve notification`): what happens to a user's
//! orders — fills, cancels, expirations, rejects, conditional orders triggered — told
//! to them three ways:
//!
//! - an **inbox** in the database (`GET /v1/notifications`, paged, newest first; mark
//!   read or unread; an unread count), exactly one entry per event however often the
//!   broker delivers it;
//! - a **WebSocket** (`GET /v1/notifications/stream`) that pushes each new entry;
//! - a **webhook** the user registers: each entry POSTed, signed with HMAC-SHA256,
//!   retried with exponential backoff, every call in a delivery log the user reads,
//!   and a dead letter after the last.
//!
//! Users choose the kinds they receive (`/v1/notifications/preferences`).
//!
//! Map: [`kind`] (the kinds and preferences), [`event`] (engine events → notifications),
//! [`service`] (the consume → store → acknowledge → push loop), [`webhook`] (signing,
//! backoff, the delivery worker), [`egress`] (the outbound client that refuses
//! non-public addresses), [`push`] (the socket), [`api`] (the routes), [`store`]
//! (PostgreSQL and SQLite). The protocol is in `docs/notifications.md`.
//!
//! **Architecture invariant:** a user reaches only their own notifications, preferences,
//! webhook and deliveries: every query is keyed by the principal's user.

pub mod api;
pub mod egress;
pub mod event;
pub mod kind;
pub mod push;
pub mod service;
pub mod store;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use bourse_shell::auth::Auth;
use bourse_shell::health::{Check, Flag};
use bourse_trader::stream::Listeners;
use tokio::sync::Notify;

/// The service's state.
#[derive(Clone)]
pub struct NotificationState {
    /// The inbox, preferences, webhooks and deliveries.
    pub store: Arc<dyn store::NotificationStore>,
    /// Token keys, the key verifier and the rate limit.
    pub auth: Arc<Auth>,
    /// The sockets open here.
    pub listeners: Arc<Listeners>,
    /// How webhooks are called (registration checks the URL as calls will).
    pub webhooks: webhook::WebhookConfig,
    /// Wakes the webhook worker (a redelivery).
    pub wake: Arc<Notify>,
}

impl FromRef<NotificationState> for Arc<Auth> {
    fn from_ref(s: &NotificationState) -> Arc<Auth> {
        s.auth.clone()
    }
}

/// The whole service: its routes in the shell, ready when its store answers and (if
/// given) its event consumer is connected.
pub fn app(state: NotificationState, status: Option<&service::Status>) -> Router {
    let mut checks: Vec<Box<dyn Check>> = vec![state.store.check()];
    if let Some(s) = status {
        checks.push(Box::new(Flag {
            name: "broker",
            up: s.connected.clone(),
        }));
    }
    bourse_shell::openapi::app("notification", router(state), &[], Arc::new(checks))
}

/// The service's routes (wrapped by [`app`]) and their OpenAPI document.
pub fn router(state: NotificationState) -> (Router, utoipa::openapi::OpenApi) {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(api::list))
        .routes(routes!(api::unread_count))
        .routes(routes!(api::mark))
        .routes(routes!(api::read_all))
        .routes(routes!(api::preferences, api::set_preferences))
        .routes(routes!(api::webhook, api::set_webhook, api::delete_webhook))
        .routes(routes!(api::deliveries))
        .routes(routes!(api::redeliver))
        .routes(routes!(push::stream))
        .with_state(state)
        .split_for_parts()
}
