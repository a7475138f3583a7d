//! The close: a `day` conditional order still held when the session closes expires, as
//! a `day` order in the book would. The task reads a [`Clock`] and the exchange's
//! calendar, and at each session close turns the held `day` orders entered before it
//! `expired` with one compare-and-set (`held` → `expired`), so it never races a fire or
//! a cancel; the trigger index disarms them as it disarms canceled ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bourse_stock::calendar;
use jiff::{Timestamp, ToSpan};

use crate::recurring::Clock;
use crate::store::AutoStore;

/// The latest session close at or before `now`.
pub fn last_close(now: Timestamp) -> Option<Timestamp> {
    let mut day = now.to_zoned_datetime(calendar::tz()).date();
    for _ in 0..15 {
        if let Some(s) = calendar::session(day) {
            let close = s.close.timestamp();
            if close <= now {
                return Some(close);
            }
        }
        day = day.checked_sub(1.day()).ok()?;
    }
    None
}

/// Expires held `day` orders at each close until `stop`, looking every `tick`;
/// `expired` counts them.
pub async fn run(
    store: Arc<dyn AutoStore>,
    clock: Arc<dyn Clock>,
    tick: Duration,
    expired: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let mut done: Option<Timestamp> = None;
    while !stop.load(Ordering::Relaxed) {
        if let Some(close) = last_close(clock.now())
            && done.is_none_or(|d| d < close)
        {
            match store.expire_held_day(close.as_microsecond()).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(%close, "{n} held day orders expired at the close");
                    }
                    expired.fetch_add(n, Ordering::Relaxed);
                    metrics::counter!("auto_orders_expired_total").increment(n);
                    done = Some(close);
                }
                Err(e) => tracing::warn!("auto: expiring day orders: {}", e.message),
            }
        }
        tokio::time::sleep(tick).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        let dt: jiff::civil::DateTime = s.parse().unwrap();
        dt.to_zoned_datetime(calendar::tz()).unwrap().timestamp()
    }

    #[test]
    fn the_last_close_is_todays_after_it_and_the_last_sessions_before() {
        assert_eq!(
            last_close(at("2026-12-07T16:00")),
            Some(at("2026-12-07T16:00"))
        );
        assert_eq!(
            last_close(at("2026-12-07T15:59")),
            Some(at("2026-12-04T16:00"))
        );
        // Christmas Eve closes at 13:00; the 25th and the weekend are closed.
        assert_eq!(
            last_close(at("2026-12-27T12:00")),
            Some(at("2026-12-24T13:00"))
        );
    }
}
