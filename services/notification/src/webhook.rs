//! Webhook delivery: every notification of a user with a webhook is POSTed to it,
//! signed, until the receiver answers 2xx or the attempts run out (the dead letter).
//!
//! # The call
//! `POST <url>` with the notification as the JSON body and the headers
//! - `Bourse-Webhook-Id`: the notification's id — the same on every retry, so a
//!   receiver drops a call it has already handled;
//! - `Bourse-Delivery-Attempt`: 1 for the first call;
//! - `Bourse-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under
//!   the webhook's secret. A receiver recomputes it and refuses a call whose `t` is far
//!   from its clock (a replay).
//!
//! # Retries
//! A failure (no connection, a timeout, any status outside 2xx) is retried after
//! `base × 2^(n-1)` (capped), up to `max_attempts` calls; then the delivery is `dead`
//! and stays in the log, where its owner can send it again. Every call is logged.
//!
//! # At most one success
//! A worker claims due deliveries for a lease longer than a call's timeout, and an
//! attempt is recorded only if it follows the last one recorded: two workers never
//! both record a call, and a delivered row is never claimed again. A worker that dies
//! after the receiver answered 2xx but before recording it leaves the row to be sent
//! again when the lease runs out: the one case a receiver sees a second call, with
//! the same `Bourse-Webhook-Id`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::egress::Egress;
use crate::store::{Attempt, Due, Next, NotificationStore};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "bourse-signature";
/// The notification id header.
pub const ID_HEADER: &str = "bourse-webhook-id";
/// The attempt number header.
pub const ATTEMPT_HEADER: &str = "bourse-delivery-attempt";

/// How webhooks are called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The first retry's delay; each next one doubles.
    pub base: Duration,
    /// The longest delay between two calls.
    pub cap: Duration,
    /// Calls before a delivery is dead.
    pub max_attempts: i32,
    /// A call with no answer after this long failed.
    pub timeout: Duration,
    /// Allow webhooks on loopback and private addresses (tests, private deployments).
    pub allow_private: bool,
    /// Deliveries one worker claims at a time.
    pub batch: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(3_600),
            max_attempts: 10,
            timeout: Duration::from_secs(10),
            allow_private: false,
            batch: 100,
        }
    }
}

impl WebhookConfig {
    /// The delay after failed attempt `n` (1 for the first): `base × 2^(n-1)`, capped.
    pub fn backoff(&self, n: i32) -> Duration {
        let doublings = (n.max(1) - 1).min(30) as u32;
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }

    /// Where a delivery goes after attempt `n` came to `ok`.
    pub fn next(&self, n: i32, ok: bool) -> Next {
        if ok {
            Next::Delivered
        } else if n >= self.max_attempts {
            Next::Dead
        } else {
            Next::Retry(self.backoff(n))
        }
    }

    /// How long a claim holds a delivery: longer than any call.
    fn lease(&self) -> Duration {
        self.timeout * 3 + Duration::from_secs(5)
    }
}

/// The `Bourse-Signature` value of `body` sent at `t` (Unix seconds) under `secret`.
pub fn signature(secret: &str, t: u64, body: &str) -> String {
    // An HMAC takes a key of any length: `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// Whether `header` is `body`'s signature under `secret`, made within `tolerance` of
/// `now` (Unix seconds): what a receiver checks.
pub fn verify(secret: &str, header: &str, body: &str, now: u64, tolerance: u64) -> bool {
    let Some(t) = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse::<u64>().ok())
    else {
        return false;
    };
    if now.abs_diff(t) > tolerance {
        return false;
    }
    bourse_shell::auth::constant_time_eq(signature(secret, t, body).as_bytes(), header.as_bytes())
}

/// What the delivery worker has done since start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Calls made.
    pub attempts: AtomicU64,
    /// Deliveries the receiver took.
    pub delivered: AtomicU64,
    /// Deliveries that ran out of attempts.
    pub dead: AtomicU64,
}

/// Delivers what is due until `stop`: looks every `poll`, and at once when `wake` is
/// notified (a batch was stored).
pub async fn run(
    store: Arc<dyn NotificationStore>,
    config: WebhookConfig,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) {
    let egress = Egress::new(config.allow_private, config.timeout);
    // Idle, a look a second (or at the first retry's delay, if shorter): a batch stored
    // here wakes it at once, and retries are due no sooner than `base`.
    let poll = Duration::from_secs(1).min(config.base);
    while !stop.load(Ordering::Relaxed) {
        let due = match store.claim(config.batch, config.lease()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("webhooks: claiming deliveries: {}", e.message);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if due.is_empty() {
            let _ = tokio::time::timeout(poll, wake.notified()).await;
            continue;
        }
        let calls = due.into_iter().map(|d| {
            let (store, egress, counters) = (store.clone(), egress.clone(), counters.clone());
            async move { deliver(&*store, &egress, &config, &counters, d).await }
        });
        futures_util::future::join_all(calls).await;
    }
}

/// One call of one delivery, and its record.
async fn deliver(
    store: &dyn NotificationStore,
    egress: &Egress,
    config: &WebhookConfig,
    counters: &Counters,
    due: Due,
) {
    let number = due.attempts + 1;
    let started = Instant::now();
    let payload = crate::service::render(&due.notification).to_string();
    let (url, result) = match &due.webhook {
        Some((url, secret)) => {
            let t = jiff::Timestamp::now().as_second().max(0) as u64;
            let headers = [
                (SIGNATURE_HEADER, signature(secret, t, &payload)),
                (ID_HEADER, due.notification.id.to_string()),
                (ATTEMPT_HEADER, number.to_string()),
                ("user-agent", "Bourse-Webhooks/1".to_string()),
            ];
            let r = egress.post(url, &headers, payload).await;
            (url.clone(), r)
        }
        None => (String::new(), Err("no webhook registered".to_string())),
    };
    counters.attempts.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("notification_webhook_attempts_total").increment(1);
    let ok = matches!(result, Ok(code) if (200..300).contains(&code));
    // A webhook removed since: nowhere to retry to.
    let next = if due.webhook.is_none() {
        Next::Dead
    } else {
        config.next(number, ok)
    };
    let attempt = Attempt {
        number,
        url,
        status_code: result.as_ref().ok().map(|c| i32::from(*c)),
        error: match &result {
            Ok(code) if !ok => Some(format!("status {code}")),
            Ok(_) => None,
            Err(e) => Some(e.clone()),
        },
        duration: started.elapsed(),
    };
    match store.record(due.id, &attempt, next).await {
        Ok(true) => match next {
            Next::Delivered => {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("notification_webhook_delivered_total").increment(1);
            }
            Next::Dead => {
                counters.dead.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("notification_webhook_dead_total").increment(1);
                tracing::info!(
                    delivery = due.id,
                    "webhook delivery dead after {number} attempts"
                );
            }
            Next::Retry(_) => {}
        },
        Ok(false) => tracing::warn!(
            delivery = due.id,
            "webhook attempt not recorded: taken over"
        ),
        Err(e) => tracing::warn!(
            delivery = due.id,
            "recording a webhook attempt: {}",
            e.message
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_the_last_failure_is_dead() {
        let c = WebhookConfig {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(30),
            max_attempts: 6,
            ..WebhookConfig::default()
        };
        let delays: Vec<u64> = (1..=6).map(|n| c.backoff(n).as_secs()).collect();
        assert_eq!(delays, vec![2, 4, 8, 16, 30, 30]);
        assert_eq!(c.next(5, false), Next::Retry(Duration::from_secs(30)));
        assert_eq!(c.next(6, false), Next::Dead);
        assert_eq!(c.next(6, true), Next::Delivered);
        assert_eq!(c.backoff(1_000), Duration::from_secs(30), "no overflow");
    }

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_time() {
        // The expected value from an independent implementation: Python's
        // hmac.new(b"whsec_test", b'1700000000.{"id":"1"}', hashlib.sha256).
        let s = signature("whsec_test", 1_700_000_000, r#"{"id":"1"}"#);
        assert_eq!(
            s,
            "t=1700000000,v1=11bf4466ea17c3df3fd743af0b435368e16b7a05eb8eced85e8c4670767bdec5"
        );
        let now = 1_700_000_010;
        assert!(verify("whsec_test", &s, r#"{"id":"1"}"#, now, 300));
        assert!(!verify("whsec_other", &s, r#"{"id":"1"}"#, now, 300));
        assert!(!verify("whsec_test", &s, r#"{"id":"2"}"#, now, 300));
        assert!(
            !verify("whsec_test", &s, r#"{"id":"1"}"#, now + 1_000, 300),
            "stale"
        );
        assert!(!verify("whsec_test", "v1=00", r#"{"id":"1"}"#, now, 300));
    }
}
