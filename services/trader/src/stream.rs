//! Alpaca's `trade_updates` stream: `GET /stream` (WebSocket), as the Alpaca Trading
//! API's streaming endpoint speaks it, so that Alpaca clients (alpaca-py's
//! `TradingStream`) receive their order events by changing only the URL.
//!
//! The conversation: the client authenticates in band
//! (`{"action":"authenticate","data":{"key_id":..,"secret_key":..}}`, or
//! `"oauth_token"` with an access token) and is answered on the `authorization` stream;
//! it sends `{"action":"listen","data":{"streams":["trade_updates"]}}` and is answered
//! on `listening`; then each of its orders' events comes on `trade_updates`, named as
//! Alpaca names them (`new`, `fill`, `partial_fill`, `canceled`, `expired`,
//! `replaced`, `rejected`) with the order object, and for fills `price`, `qty`,
//! `position_qty`, `execution_id`. Documented in `docs/trade-updates.md`.
//!
//! Where the events come from: the engine's `exec.<user>` events on the bus, on a
//! queue of this instance's own (transient), kept for the users with a stream open
//! here. Each is sent once settlement has applied it, so the order object and the
//! position are the state right after the event, read from PostgreSQL like every read.
//! Events of orders entered through the binary gateway (not through this service) are
//! not sent: there is no Alpaca order behind them.
//!
//! Each socket has a bounded queue: events are not coalesced (every fill matters), so a
//! client that stops reading is closed with code 1008 once its queue is full, and
//! never slows anyone else.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bourse_bus::reconnect::Reconnecting;
use bourse_bus::{BusError, Consumer};
use bourse_shell::ApiError;
use bourse_shell::auth::{Auth, Principal};
use bourse_shell::money::format_cents;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::TraderState;
use crate::store::{OrderKey, TraderStore};
use bourse_order::holdings::HoldingsReader;

/// Events queued per socket before a client that does not read is closed.
pub const QUEUE: usize = 1024;
/// The close code for a client that stopped reading.
pub const SLOW_CONSUMER: u16 = 1008;
/// The pattern of the events this stream follows.
pub const PATTERN: &str = "exec.*";

/// One socket's queue, by its registration number.
type Queues = Vec<(u64, mpsc::Sender<Arc<str>>)>;

/// The open streams, by user (the notification service's sockets use it too).
#[derive(Debug, Default)]
pub struct Listeners {
    next: AtomicU64,
    by_user: Mutex<HashMap<u64, Queues>>,
}

/// One socket's registration; dropping it unregisters.
#[derive(Debug)]
pub struct Listening {
    listeners: Arc<Listeners>,
    user: u64,
    id: u64,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let mut map = self
            .listeners
            .by_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(list) = map.get_mut(&self.user) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                map.remove(&self.user);
            }
        }
    }
}

impl Listeners {
    /// No one listening.
    pub fn new() -> Arc<Self> {
        Arc::new(Listeners::default())
    }

    /// Registers a socket of `user`: what is sent to them arrives on the receiver, until
    /// the registration is dropped.
    pub fn listen(self: &Arc<Self>, user: u64) -> (Listening, mpsc::Receiver<Arc<str>>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.by_user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(user)
            .or_default()
            .push((id, tx));
        (
            Listening {
                listeners: self.clone(),
                user,
                id,
            },
            rx,
        )
    }

    /// Whether `user` has a stream open here.
    pub fn has(&self, user: u64) -> bool {
        self.by_user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&user)
    }

    /// Streams open, all users.
    pub fn count(&self) -> usize {
        self.by_user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }

    /// Queues `text` on every stream of `user`; a stream whose queue is full is cut
    /// off (its socket closes with 1008).
    pub fn send(&self, user: u64, text: Arc<str>) {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = map.get_mut(&user) {
            list.retain(|(_, tx)| tx.try_send(text.clone()).is_ok());
            if list.is_empty() {
                map.remove(&user);
            }
        }
    }
}

/// `GET /stream`: the WebSocket of Alpaca's `trade_updates`.
#[utoipa::path(get, path = "/stream", tag = "streaming", responses(
    (status = 101, description = "Switching to the WebSocket protocol: authenticate and listen in band (docs/trade-updates.md)"),
    (status = 400, body = bourse_shell::openapi::ErrorBody, description = "Not a WebSocket request"),
))]
pub async fn stream(
    State(state): State<TraderState>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            let _open = bourse_shell::telemetry::OpenSocket::new("trader");
            session(socket, state.auth.clone(), state.listeners.clone()).await
        }))
}

fn reply(stream: &str, data: Value) -> Message {
    Message::Text(json!({"stream": stream, "data": data}).to_string().into())
}

/// Checks the credentials of an `authenticate` (or `auth`) message.
async fn authenticate(auth: &Auth, msg: &Value) -> Option<Principal> {
    let data = msg.get("data").unwrap_or(msg);
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| data.get(*n).and_then(Value::as_str))
    };
    if let Some(token) = field(&["oauth_token"]) {
        return auth.token(token).ok();
    }
    let (id, secret) = (
        field(&["key_id", "key"])?,
        field(&["secret_key", "secret"])?,
    );
    auth.key(id, secret).await.ok()
}

async fn session(socket: WebSocket, auth: Arc<Auth>, listeners: Arc<Listeners>) {
    let (mut tx, mut rx) = socket.split();
    let mut user = None;
    let mut listening: Option<(Listening, mpsc::Receiver<Arc<str>>)> = None;
    // Authentication within 10 s of connecting, however many messages come before.
    let auth_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let queued = async {
            match listening.as_mut() {
                Some((_, q)) => q.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            incoming = tokio::time::timeout_at(if user.is_some() { tokio::time::Instant::now() + Duration::from_secs(3600) } else { auth_deadline }, rx.next()) => {
                let text = match incoming {
                    Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
                    Ok(Some(Ok(Message::Binary(b)))) => String::from_utf8_lossy(&b).into_owned(),
                    Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return,
                    Ok(Some(Ok(_))) => continue,
                    // Nothing said in time (no authentication within 10 s): closed.
                    Err(_) if user.is_none() => return,
                    Err(_) => continue,
                };
                let Ok(msg) = serde_json::from_str::<Value>(&text) else {
                    let _ = tx.send(reply("error", json!({"message": "messages are JSON objects"}))).await;
                    continue;
                };
                match msg["action"].as_str() {
                    Some("authenticate" | "auth") => match authenticate(&auth, &msg).await {
                        Some(p) => {
                            user = Some(p.user);
                            let ok = json!({"action": "authenticate", "status": "authorized"});
                            if tx.send(reply("authorization", ok)).await.is_err() {
                                return;
                            }
                        }
                        None => {
                            let no = json!({"action": "authenticate", "status": "unauthorized"});
                            let _ = tx.send(reply("authorization", no)).await;
                            return;
                        }
                    },
                    Some("listen") => {
                        let Some(u) = user else {
                            let no = json!({"action": "listen", "status": "unauthorized"});
                            let _ = tx.send(reply("authorization", no)).await;
                            return;
                        };
                        let wanted: Vec<String> = msg["data"]["streams"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect();
                        let on = wanted.iter().any(|s| s == "trade_updates");
                        if on && listening.is_none() {
                            listening = Some(listeners.listen(u));
                        } else if !on {
                            listening = None;
                        }
                        let streams: Vec<&str> = if on { vec!["trade_updates"] } else { vec![] };
                        if tx.send(reply("listening", json!({"streams": streams}))).await.is_err() {
                            return;
                        }
                    }
                    _ => {
                        let e = json!({"message": "unknown action: authenticate, then listen"});
                        let _ = tx.send(reply("error", e)).await;
                    }
                }
            }
            event = queued => {
                let Some(text) = event else {
                    // Cut off: the queue filled up.
                    let close = Message::Close(Some(CloseFrame {
                        code: SLOW_CONSUMER,
                        reason: "slow consumer: trade updates were not read".into(),
                    }));
                    let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(close)).await;
                    return;
                };
                let m = Message::Text(text.as_ref().into());
                if tokio::time::timeout(Duration::from_secs(5), tx.send(m)).await.map_or(true, |r| r.is_err()) {
                    return;
                }
            }
        }
    }
}

/// One order event for one user, as read from an `exec.<user>` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEvent {
    /// The engine event's sequence number.
    pub seq: u64,
    /// The order's owner.
    pub user: u64,
    /// The order's engine id (the trader's token).
    pub token: String,
    /// Alpaca's event name.
    pub event: &'static str,
    /// For fills: price (cents) and quantity.
    pub fill: Option<(i64, i64)>,
    /// When, ns since the Unix epoch.
    pub time_ns: i64,
}

/// The events of `routing_key`'s user in `body` (a trade between two users is
/// published under each one's key: each copy gives its own side).
pub fn order_events(routing_key: &str, body: &Value) -> Vec<OrderEvent> {
    let Some(user) = routing_key
        .strip_prefix("exec.")
        .and_then(|u| u.parse::<u64>().ok())
    else {
        return Vec::new();
    };
    let seq = body["seq"].as_u64().unwrap_or(0);
    let time_ns = body["time_ns"].as_i64().unwrap_or(0);
    let one = |token: &Value, event: &'static str, fill| {
        token.as_str().map(|t| OrderEvent {
            seq,
            user,
            token: t.to_string(),
            event,
            fill,
            time_ns,
        })
    };
    let mine = |field: &str| body[field].as_u64() == Some(user);
    match body["event"].as_str() {
        Some("accepted") if mine("user") => one(&body["id"], "new", None).into_iter().collect(),
        Some("rejected") if mine("user") => {
            one(&body["id"], "rejected", None).into_iter().collect()
        }
        Some("replaced") if mine("user") => {
            one(&body["id"], "replaced", None).into_iter().collect()
        }
        // A replace's cancel is told as `replaced`.
        Some("canceled") if mine("user") && body["reason"] != "replaced" => {
            let event = if body["reason"] == "expired" {
                "expired"
            } else {
                "canceled"
            };
            one(&body["id"], event, None).into_iter().collect()
        }
        Some("trade") => {
            let fill = Some((
                body["price"].as_i64().unwrap_or(0),
                body["qty"].as_i64().unwrap_or(0),
            ));
            let mut out = Vec::new();
            for side in ["maker", "taker"] {
                if mine(&format!("{side}_user")) {
                    let done = body[format!("{side}_leaves")].as_i64() == Some(0);
                    let event = if done { "fill" } else { "partial_fill" };
                    out.extend(one(&body[format!("{side}_id")], event, fill));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

fn rfc3339(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// An execution id in UUID form, from the trade's sequence number.
fn execution_id(seq: u64) -> String {
    let mut b = [0u8; 16];
    b[8..].copy_from_slice(&seq.to_be_bytes());
    // Version 8 (custom), RFC 4122 variant.
    b[6] = 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    bourse_shell::ids::uuid_text(&b)
}

/// The `trade_updates` message for `e`, read after settlement applied it; `None` for
/// an order this service did not enter.
async fn update(stores: &Stores, e: &OrderEvent) -> Result<Option<String>, ApiError> {
    let Some(order) = stores
        .orders
        .order(e.user, OrderKey::Token(&e.token))
        .await?
        .as_ref()
        .map(crate::orders::order_json)
    else {
        return Ok(None);
    };
    let mut data = json!({
        "event": e.event,
        "timestamp": rfc3339(e.time_ns),
        "order": order,
    });
    if let Some((price, qty)) = e.fill {
        let symbol = order["symbol"].as_str().unwrap_or_default();
        let held = stores.holdings.holdings(e.user, Some(symbol)).await?;
        let position = held.positions.first().map_or(0, |h| h.qty);
        data["price"] = json!(format_cents(price));
        data["qty"] = json!(qty.to_string());
        data["position_qty"] = json!(position.to_string());
        data["execution_id"] = json!(execution_id(e.seq));
    }
    Ok(Some(
        json!({"stream": "trade_updates", "data": data}).to_string(),
    ))
}

/// What the stream reads: the orders and the holdings.
#[derive(Clone, Debug)]
pub struct Stores {
    /// The trader's orders (and settlement's position).
    pub orders: Arc<dyn TraderStore>,
    /// Settlement's holdings.
    pub holdings: Arc<dyn HoldingsReader>,
}

/// Follows the `exec.*` events (a queue of this instance's own) until `shutdown`,
/// sending each event of a listening user once settlement has applied it;
/// reconnects with a back-off.
pub async fn run<C, CF, CFut>(
    stores: Stores,
    listeners: Arc<Listeners>,
    consumer: CF,
    shutdown: Arc<AtomicBool>,
) where
    C: Consumer,
    CF: FnMut() -> CFut,
    CFut: Future<Output = Result<C, BusError>>,
{
    let mut source = Reconnecting::new(consumer, Arc::new(AtomicBool::new(false)));
    while !shutdown.load(Ordering::Relaxed) {
        let batch = source.batch(1_000, Duration::from_millis(200)).await;
        if let Some(e) = &batch.lost {
            tracing::warn!("trade updates: {e}; reconnecting");
        }
        let events: Vec<OrderEvent> = batch
            .deliveries
            .iter()
            .filter_map(|d| {
                let body = serde_json::from_slice::<Value>(&d.message.body).ok()?;
                Some(order_events(&d.message.routing_key, &body))
            })
            .flatten()
            .filter(|e| listeners.has(e.user))
            .collect();
        if !events.is_empty() {
            deliver(&stores, &listeners, &events).await;
        }
        if let Some(last) = batch.deliveries.last()
            && batch.lost.is_none()
        {
            let _ = source.ack_upto(last.tag).await;
        }
    }
}

/// Waits (up to 10 s) for settlement to reach the last of `events`, then sends each.
async fn deliver(stores: &Stores, listeners: &Listeners, events: &[OrderEvent]) {
    let last = events.iter().map(|e| e.seq).max().unwrap_or(0);
    for _ in 0..1_000 {
        match stores.orders.settled_upto().await {
            Ok(s) if s >= last => break,
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => {
                tracing::warn!("trade updates: {}", e.message);
                return;
            }
        }
    }
    for e in events {
        match update(stores, e).await {
            Ok(Some(text)) => listeners.send(e.user, Arc::from(text)),
            Ok(None) => {}
            Err(err) => tracing::warn!(seq = e.seq, "trade update not sent: {}", err.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_copy_of_a_trade_gives_its_own_side_and_events_take_alpacas_names() {
        let trade = json!({"event":"trade","seq":9,"time_ns":5,"symbol":"ACME","price":101,"qty":4,
            "maker_user":1,"maker_id":"s1","maker_leaves":0,"taker_user":2,"taker_id":"b1","taker_leaves":6});
        let maker = order_events("exec.1", &trade);
        assert_eq!(maker.len(), 1);
        assert_eq!((maker[0].token.as_str(), maker[0].event), ("s1", "fill"));
        assert_eq!(maker[0].fill, Some((101, 4)));
        let taker = order_events("exec.2", &trade);
        assert_eq!(
            (taker[0].token.as_str(), taker[0].event),
            ("b1", "partial_fill")
        );
        let mut own = trade.clone();
        own["taker_user"] = json!(1);
        assert_eq!(
            order_events("exec.1", &own).len(),
            2,
            "both sides are the user's"
        );

        let ev = |e: Value| order_events("exec.3", &e).first().map(|x| x.event);
        assert_eq!(
            ev(json!({"event":"accepted","seq":1,"user":3,"id":"a"})),
            Some("new")
        );
        assert_eq!(
            ev(json!({"event":"canceled","seq":1,"user":3,"id":"a","reason":"user"})),
            Some("canceled")
        );
        assert_eq!(
            ev(json!({"event":"canceled","seq":1,"user":3,"id":"a","reason":"expired"})),
            Some("expired")
        );
        assert_eq!(
            ev(json!({"event":"canceled","seq":1,"user":3,"id":"a","reason":"replaced"})),
            None
        );
        assert_eq!(
            ev(json!({"event":"replaced","seq":1,"user":3,"id":"a","new_id":"b"})),
            Some("replaced")
        );
        assert_eq!(
            ev(json!({"event":"rejected","seq":1,"user":3,"id":null,"reason":"malformed"})),
            None
        );
        assert_eq!(
            ev(json!({"event":"accepted","seq":1,"user":4,"id":"a"})),
            None,
            "not this key's user"
        );
        assert!(order_events("account.3", &json!({"event":"done"})).is_empty());
    }

    #[test]
    fn execution_ids_are_uuids_from_the_sequence_number() {
        let a = execution_id(9);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'8', "version 8");
        assert_ne!(a, execution_id(10));
    }
}
