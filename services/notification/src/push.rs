//! `GET /v1/notifications/stream`: each new notification of the caller, pushed over a
//! WebSocket the moment it is stored.
//!
//! Authenticated before the upgrade (a Bearer access token or the API key headers; no
//! credentials: a 401 and no socket). The first message is
//! `{"type":"hello","unread":N}`; then each notification comes as
//! `{"type":"notification","notification":{...}}`, the object `GET /v1/notifications`
//! lists. A ping every 30 s finds dead peers. A client that stops reading is closed
//! with 1008 once 1,024 notifications wait for it.
//!
//! Where they come from: the service that stores a notification publishes it as
//! `notification.<user>`; every instance follows those on a transient queue of its own
//! and sends each to the sockets of that user it holds.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bourse_bus::reconnect::Reconnecting;
use bourse_bus::{BusError, Consumer};
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_trader::stream::{Listeners, Listening, SLOW_CONSUMER};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;

use crate::NotificationState;
use crate::service::PUSH_PREFIX;

/// `GET /v1/notifications/stream`: the caller's notifications as they come (WebSocket).
#[utoipa::path(get, path = "/v1/notifications/stream", tag = "notifications", responses(
    (status = 101, description = "Switching to the WebSocket protocol: a hello with the unread count, then each new notification"),
    (status = 400, body = bourse_shell::openapi::ErrorBody, description = "Not a WebSocket request"),
))]
pub async fn stream(
    State(state): State<NotificationState>,
    principal: Principal,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Registered before the count is read: nothing stored in between is missed.
    let listening = state.listeners.listen(principal.user);
    let unread = state.store.unread(principal.user).await?;
    Ok(upgrade
        .protocols(bourse_shell::auth::websocket_protocols())
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            let _open = bourse_shell::telemetry::OpenSocket::new("notification");
            session(socket, unread, listening).await
        }))
}

async fn session(
    socket: WebSocket,
    unread: u64,
    (registration, mut queue): (Listening, mpsc::Receiver<Arc<str>>),
) {
    let _registration = registration;
    let (mut tx, mut rx) = socket.split();
    let send_timeout = Duration::from_secs(5);
    let hello = json!({"type": "hello", "unread": unread}).to_string();
    if tx.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    let mut heartbeat = tokio::time::interval(Duration::from_secs(30));
    heartbeat.tick().await;
    loop {
        tokio::select! {
            incoming = rx.next() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            queued = queue.recv() => {
                let Some(text) = queued else {
                    let close = Message::Close(Some(CloseFrame {
                        code: SLOW_CONSUMER,
                        reason: "slow consumer: notifications were not read".into(),
                    }));
                    let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(close)).await;
                    return;
                };
                let m = Message::Text(text.as_ref().into());
                if tokio::time::timeout(send_timeout, tx.send(m)).await.map_or(true, |r| r.is_err()) {
                    return;
                }
            }
            _ = heartbeat.tick() => {
                if tokio::time::timeout(send_timeout, tx.send(Message::Ping(Default::default()))).await.map_or(true, |r| r.is_err()) {
                    return;
                }
            }
        }
    }
}

/// Follows `notification.*` (a queue of this instance's own) until `stop`, sending
/// each to the sockets of its user held here; reconnects with a back-off.
pub async fn follow<C, CF, CFut>(listeners: Arc<Listeners>, consumer: CF, stop: Arc<AtomicBool>)
where
    C: Consumer,
    CF: FnMut() -> CFut,
    CFut: Future<Output = Result<C, BusError>>,
{
    let mut source = Reconnecting::new(consumer, Arc::new(AtomicBool::new(false)));
    while !stop.load(Ordering::Relaxed) {
        let batch = source.batch(1_000, Duration::from_millis(200)).await;
        if let Some(e) = &batch.lost {
            tracing::warn!("notification pushes: {e}; reconnecting");
        }
        for d in &batch.deliveries {
            let Some(user) = d
                .message
                .routing_key
                .strip_prefix(PUSH_PREFIX)
                .and_then(|u| u.parse::<u64>().ok())
            else {
                continue;
            };
            if !listeners.has(user) {
                continue;
            }
            let Ok(notification) = serde_json::from_slice::<serde_json::Value>(&d.message.body)
            else {
                continue;
            };
            let text = json!({"type": "notification", "notification": notification}).to_string();
            listeners.send(user, Arc::from(text));
        }
        if let Some(last) = batch.deliveries.last()
            && batch.lost.is_none()
        {
            let _ = source.ack_upto(last.tag).await;
        }
    }
}
