//! The notification service's loop: the engine's `exec.*` events from the service's
//! own durable queue, turned into each user's notifications, stored, pushed and handed
//! to the webhook worker.
//!
//! Each round: read a batch; find the trader service's orders it names (one query) and
//! the preferences of the users in it (one query); store the notifications the users
//! want, with their webhook deliveries, in one transaction; acknowledge the batch; then
//! publish each stored notification as `notification.<user>` (what the sockets of
//! every instance follow) and wake the webhook worker.
//!
//! **Exactly once**: the inbox is keyed by (user, event), so a batch delivered again —
//! a broker redelivery, a restart between the commit and the acknowledgement — stores
//! nothing new and makes no second webhook delivery. The push is best effort (a socket
//! missed while a service restarted is in the inbox).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bourse_bus::reconnect::Reconnecting;
use bourse_bus::{BusError, Consumer, Message, Publisher};
use bourse_shell::ApiError;
use serde_json::Value;
use tokio::sync::Notify;

use crate::event::{Event, alert_draft, draft, events, expired_draft, kind};
use crate::store::{Notification, NotificationStore};

/// Most deliveries in one round.
pub const BATCH: usize = 2_000;
/// Deliveries the broker may have in flight to the service.
pub const PREFETCH: u16 = 4_000;
/// The events the service consumes.
pub const EVENTS: &str = "exec.*";
/// The routing key prefix of the pushes: `notification.<user>`.
pub const PUSH_PREFIX: &str = "notification.";
/// The pattern the sockets follow.
pub const PUSH_PATTERN: &str = "notification.*";
/// The reading cursor of the auto service's fired price alerts.
const ALERTS: &str = "alerts";
/// The reading cursor of held orders expired at the close.
const EXPIRED: &str = "expired_held";
/// Fired price alerts are looked for every this many rounds.
const ALERT_ROUNDS: u64 = 5;
/// How far each read of the fired alerts reaches before the last one read: a row's
/// time is taken a moment before it commits.
const LOOKBACK_MICROS: i64 = 5_000_000;

/// What the service exposes while it runs (readiness, metrics, tests).
#[derive(Debug, Default)]
pub struct Status {
    /// Notifications stored since start.
    pub stored: AtomicU64,
    /// Rounds completed (each a batch read, stored and acknowledged).
    pub rounds: AtomicU64,
    /// The bus consumer is connected.
    pub connected: Arc<AtomicBool>,
    /// Wakes the webhook worker.
    pub wake: Arc<Notify>,
}

async fn until_done<T, F, Fut>(what: &str, stop: &AtomicBool, f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    bourse_shell::retry::until_done("notification", what, stop, f).await
}

/// The notification as the API shows it: its payload with its id, kind, time and
/// whether it was read.
pub fn render(n: &Notification) -> Value {
    let mut v: Value =
        serde_json::from_str(&n.body).unwrap_or_else(|_| Value::Object(Default::default()));
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), Value::String(n.id.to_string()));
        o.insert("kind".into(), Value::String(n.kind.clone()));
        o.insert("created_at".into(), Value::String(n.created_at.clone()));
        o.insert("read".into(), Value::Bool(n.read));
    }
    v
}

/// Runs until `stop`: `consumer` connects to the service's queue, `publisher` to the
/// bus for the pushes (each again after any failure).
pub async fn run<C, CF, CFut, P, PF, PFut>(
    store: Arc<dyn NotificationStore>,
    consumer: CF,
    mut publisher: PF,
    status: Arc<Status>,
    stop: Arc<AtomicBool>,
) where
    C: Consumer,
    CF: FnMut() -> CFut,
    CFut: Future<Output = Result<C, BusError>>,
    P: Publisher,
    PF: FnMut() -> PFut,
    PFut: Future<Output = Result<P, BusError>>,
{
    let mut bus = Reconnecting::new(consumer, status.connected.clone());
    let mut sink: Option<P> = None;
    let Some(mut alerts) = Feed::open(&*store, ALERTS, &stop).await else {
        return;
    };
    let Some(mut expired) = Feed::open(&*store, EXPIRED, &stop).await else {
        return;
    };
    let mut round: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        // Fired price alerts, every few rounds (about a second).
        // Fired price alerts and held orders expired at the close, every few rounds
        // (about a second).
        let mut stored = Vec::new();
        if round % ALERT_ROUNDS == 1 {
            let st: &dyn NotificationStore = &*store;
            let fired = alerts.poll(st, &stop, |since| async move {
                let found = st.fired_alerts(since).await?;
                Ok(found
                    .iter()
                    .map(|a| Polled {
                        at: a.at,
                        draft: alert_draft(a),
                    })
                    .collect())
            });
            let Some(s) = fired.await else { return };
            stored.extend(s);
            let gone = expired.poll(st, &stop, |since| async move {
                let found = st.expired_held(since).await?;
                Ok(found
                    .iter()
                    .map(|e| Polled {
                        at: e.at,
                        draft: expired_draft(e),
                    })
                    .collect())
            });
            let Some(s) = gone.await else { return };
            stored.extend(s);
        }
        if !stored.is_empty() {
            status
                .stored
                .fetch_add(stored.len() as u64, Ordering::Relaxed);
            status.wake.notify_one();
            push(&mut publisher, &mut sink, &stored).await;
        }
        let batch = bus.batch(BATCH, Duration::from_millis(200)).await;
        if let Some(e) = &batch.lost {
            tracing::warn!("notification: the event queue: {e}");
        }
        let Some(last_tag) = batch.deliveries.last().map(|d| d.tag) else {
            status.rounds.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let mut seen = HashSet::new();
        let found: Vec<Event> = batch
            .deliveries
            .iter()
            .filter(|d| seen.insert((d.message.seq, d.message.routing_key.clone())))
            .filter_map(|d| {
                let body = serde_json::from_slice::<Value>(&d.message.body)
                    .map_err(|e| {
                        tracing::warn!(
                            seq = d.message.seq,
                            "notification: an unreadable event: {e}"
                        )
                    })
                    .ok()?;
                Some(events(&d.message.routing_key, &body))
            })
            .flatten()
            .collect();
        let Some(stored) = notify(&*store, &found, &stop).await else {
            return;
        };
        // Stored: the broker may forget the batch (a failed ack redelivers it, and
        // storing it again stores nothing).
        let _ = bus.ack_upto(last_tag).await;
        status
            .stored
            .fetch_add(stored.len() as u64, Ordering::Relaxed);
        metrics::counter!("notification_stored_total").increment(stored.len() as u64);
        if !stored.is_empty() {
            status.wake.notify_one();
            push(&mut publisher, &mut sink, &stored).await;
        }
        status.rounds.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stores the notifications of `found` that their users want; `None` if stopped
/// before it could.
async fn notify(
    store: &dyn NotificationStore,
    found: &[Event],
    stop: &AtomicBool,
) -> Option<Vec<Notification>> {
    if found.is_empty() {
        return Some(Vec::new());
    }
    let keys: Vec<(u64, String)> = found
        .iter()
        .map(|e| (e.order.user, e.order.token.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let orders: HashMap<(u64, String), _> =
        until_done("reading orders", stop, || store.orders(&keys))
            .await?
            .into_iter()
            .collect();
    let users: Vec<u64> = found
        .iter()
        .map(|e| e.order.user)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let prefs = until_done("reading preferences", stop, || store.preferences(&users)).await?;
    let drafts: Vec<_> = found
        .iter()
        .filter_map(|e| {
            let order = orders.get(&(e.order.user, e.order.token.clone()));
            let k = kind(e, order)?;
            let wanted = prefs.get(&e.order.user).is_none_or(|p| p.wants(k));
            wanted.then(|| draft(e, k, order))
        })
        .collect();
    until_done("storing notifications", stop, || store.insert(&drafts)).await
}

/// A notification read from another service's table rather than the bus: its time
/// there (microseconds, the reading cursor) and the draft.
pub struct Polled {
    /// When the row changed (microseconds).
    pub at: i64,
    /// The notification.
    pub draft: crate::store::Draft,
}

/// A table another service writes (fired price alerts, held orders expired at the
/// close), read every few rounds by a saved cursor, a lookback for rows committed late,
/// and the keys of the lookback window stored already.
struct Feed {
    name: &'static str,
    cursor: i64,
    seen: HashMap<String, i64>,
}

impl Feed {
    /// The feed `name` from its saved cursor; `None` if stopped before it was read.
    async fn open(
        store: &dyn NotificationStore,
        name: &'static str,
        stop: &AtomicBool,
    ) -> Option<Feed> {
        let saved = until_done("reading a cursor", stop, || store.cursor(name)).await?;
        Some(Feed {
            name,
            cursor: saved.unwrap_or(0),
            seen: HashMap::new(),
        })
    }

    /// Stores what `fetch` finds since the cursor that its users want, and moves the
    /// cursor on; `None` if stopped before it could.
    async fn poll<F, Fut>(
        &mut self,
        store: &dyn NotificationStore,
        stop: &AtomicBool,
        mut fetch: F,
    ) -> Option<Vec<Notification>>
    where
        F: FnMut(i64) -> Fut,
        Fut: Future<Output = Result<Vec<Polled>, ApiError>>,
    {
        let since = self.cursor - LOOKBACK_MICROS;
        self.seen.retain(|_, at| *at >= since);
        let mut found = until_done(self.name, stop, || fetch(since)).await?;
        found.retain(|p| !self.seen.contains_key(&p.draft.key));
        let Some(newest) = found.iter().map(|p| p.at).max() else {
            return Some(Vec::new());
        };
        let users: Vec<u64> = found
            .iter()
            .map(|p| p.draft.user)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let prefs = until_done("reading preferences", stop, || store.preferences(&users)).await?;
        let drafts: Vec<_> = found
            .iter()
            .filter(|p| {
                prefs
                    .get(&p.draft.user)
                    .is_none_or(|x| x.wants(p.draft.kind))
            })
            .map(|p| p.draft.clone())
            .collect();
        let stored = until_done("storing notifications", stop, || store.insert(&drafts)).await?;
        self.seen
            .extend(found.iter().map(|p| (p.draft.key.clone(), p.at)));
        if newest > self.cursor {
            self.cursor = newest;
            let name = self.name;
            until_done("saving a cursor", stop, || store.save_cursor(name, newest)).await?;
        }
        Some(stored)
    }
}

/// Publishes each stored notification as `notification.<user>`; a failure is logged
/// (the inbox has them).
async fn push<P, PF, PFut>(publisher: &mut PF, sink: &mut Option<P>, stored: &[Notification])
where
    P: Publisher,
    PF: FnMut() -> PFut,
    PFut: Future<Output = Result<P, BusError>>,
{
    let msgs: Vec<Message> = stored
        .iter()
        .map(|n| Message {
            routing_key: format!("{PUSH_PREFIX}{}", n.user),
            seq: n.id as u64,
            prev_seq: None,
            body: render(n).to_string().into_bytes(),
        })
        .collect();
    let sent = match sink.as_mut() {
        Some(p) => p.publish(&msgs).await,
        None => match publisher().await {
            Ok(p) => sink.insert(p).publish(&msgs).await,
            Err(e) => Err(e),
        },
    };
    if let Err(e) = sent {
        *sink = None;
        tracing::warn!("notification: pushes not sent ({e})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_notification_is_its_payload_with_its_identity() {
        let n = Notification {
            id: 42,
            user: 7,
            kind: "fill".into(),
            body: r#"{"title":"Filled","symbol":"ACME"}"#.into(),
            created_at: "2026-12-01T15:30:00.000000Z".into(),
            read: false,
        };
        let v = render(&n);
        assert_eq!(
            (&v["id"], &v["kind"], &v["title"], &v["read"]),
            (
                &Value::from("42"),
                &Value::from("fill"),
                &Value::from("Filled"),
                &Value::from(false)
            )
        );
        assert_eq!(v["created_at"], "2026-12-01T15:30:00.000000Z");
    }
}
