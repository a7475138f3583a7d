//! The close. A `day` conditional order still held when the session closes expires, as
//! a `day` order in the book would: at each session close the held `day` orders entered
//! before it turn `expired` with one compare-and-set (`held` → `expired`), so it never
//! races a fire or a cancel; the trigger index disarms them as it disarms canceled ones.
//!
//! And the engine's day ends: the `day` orders resting in the book expire through the
//! engine's journaled `EndOfDay` (sent on the service session). The engine must hear
//! it at most once per close — a second one would expire `day` orders entered for the
//! next session — so the instance that claims the close in the store (one row per
//! close) sends it, once, and only while the market has not opened again since: a
//! platform that was down through a whole night does not end a day that has already
//! begun. A claimed close whose request failed is left for the operator
//! (`bourse end-of-day`), logged, never sent twice.
//!
//! The task reads a [`Clock`] and the exchange's calendar.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bourse_gateway::protocol::ServiceMsg;
use bourse_gateway_client::{GatewayClient, Verdict, verdict};
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

/// The first session open after `close`.
pub fn next_open(close: Timestamp) -> Option<Timestamp> {
    let mut day = close.to_zoned_datetime(calendar::tz()).date();
    for _ in 0..15 {
        if let Some(s) = calendar::session(day) {
            let open = s.open.timestamp();
            if open > close {
                return Some(open);
            }
        }
        day = day.checked_add(1.day()).ok()?;
    }
    None
}

/// What the close task needs.
pub struct Close {
    /// Held orders.
    pub store: Arc<dyn AutoStore>,
    /// The engine, to end its day (`None`: the held orders only).
    pub engine: Option<GatewayClient>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Held `day` orders expired so far.
    pub expired: Arc<AtomicU64>,
    /// The last close handled.
    done: Option<Timestamp>,
}

impl Close {
    /// A close task that has handled no close yet.
    pub fn new(
        store: Arc<dyn AutoStore>,
        engine: Option<GatewayClient>,
        clock: Arc<dyn Clock>,
        expired: Arc<AtomicU64>,
    ) -> Close {
        Close {
            store,
            engine,
            clock,
            expired,
            done: None,
        }
    }

    /// Handles the last close if it has not been: expires held `day` orders, and ends
    /// the engine's day if this instance is the one to. Run it once before serving
    /// (so that a day a restart missed ends before any new order), then [`run`](Self::run).
    pub async fn round(&mut self) {
        let now = self.clock.now();
        // `!=`, not `<`: a clock set back (in tests) finds the earlier close new again;
        // the store's claim still sends the engine each close's end of day once.
        let Some(close) = last_close(now).filter(|c| self.done != Some(*c)) else {
            return;
        };
        match self.store.expire_held_day(close.as_microsecond()).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(%close, "{n} held day orders expired at the close");
                }
                self.expired.fetch_add(n, Ordering::Relaxed);
                metrics::counter!("auto_orders_expired_total").increment(n);
            }
            Err(e) => return tracing::warn!("auto: expiring day orders: {}", e.message),
        }
        if let Some(engine) = &self.engine
            && next_open(close).is_some_and(|open| now < open)
        {
            match self.store.claim_end_of_day(close.as_microsecond()).await {
                Ok(true) => end_day(engine, &*self.store, close).await,
                Ok(false) => {} // another instance (or an earlier run) has it
                Err(e) => return tracing::warn!("auto: claiming the end of day: {}", e.message),
            }
        }
        self.done = Some(close);
    }

    /// Handles each close until `stop`, looking every `tick`.
    pub async fn run(mut self, tick: Duration, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            self.round().await;
            tokio::time::sleep(tick).await;
        }
    }
}

/// Sends the engine its end of day for `close` (claimed by this instance), once.
async fn end_day(engine: &GatewayClient, store: &dyn AutoStore, close: Timestamp) {
    match engine.request(ServiceMsg::EndOfDay { request: 0 }).await {
        Ok(reports) => match verdict(&reports) {
            Verdict::Done(_) => {
                let expired = reports
                    .iter()
                    .filter(|r| {
                        matches!(r.msg, bourse_gateway::protocol::ServerMsg::Canceled { .. })
                    })
                    .count();
                tracing::info!(%close, "end of day: {expired} day orders expired in the book");
                metrics::counter!("auto_end_of_day_total").increment(1);
                if let Err(e) = store.end_of_day_done(close.as_microsecond()).await {
                    tracing::warn!("auto: recording the end of day: {}", e.message);
                }
            }
            Verdict::Refused(r) => {
                tracing::error!(%close, "the engine refused the end of day: {}", r.as_str());
            }
        },
        Err(e) => tracing::error!(
            %close,
            "the end of day did not reach the engine ({e}); not sent again: run `bourse end-of-day` if the day's orders still rest"
        ),
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
        // The next open after a Friday's close is Monday's; after Christmas Eve's early
        // close, the 28th (the 25th is a holiday, then the weekend).
        assert_eq!(
            next_open(at("2026-12-04T16:00")),
            Some(at("2026-12-07T09:30"))
        );
        assert_eq!(
            next_open(at("2026-12-24T13:00")),
            Some(at("2026-12-28T09:30"))
        );
        // Christmas Eve closes at 13:00; the 25th and the weekend are closed.
        assert_eq!(
            last_close(at("2026-12-27T12:00")),
            Some(at("2026-12-24T13:00"))
        );
    }
}
