//! Settlement's hints: after each commit that touched a user, the order service
//! publishes `portfolio.changed.<user>`. Each instance of this service reads them on a
//! queue of its own (transient: hints matter only while it runs) and reloads the
//! holdings of the users it has sockets for; the others are ignored. A hint is cheap
//! (one per user per settlement batch), so one binding to `portfolio.changed.*` costs
//! less than binding and unbinding per user as sockets come and go.
//!
//! Hints are not events: one lost while the broker was away would leave a socket
//! showing old holdings, so after every (re)connection every connected user is
//! reloaded.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bourse_bus::reconnect::Reconnecting;
use bourse_bus::{BusError, Consumer};
use bourse_order::holdings::HoldingsReader;

use crate::hub::Hub;

/// The pattern the hints are published under.
pub const PATTERN: &str = "portfolio.changed.*";

/// The user a hint is about.
pub fn user_of(routing_key: &str) -> Option<u64> {
    routing_key.strip_prefix("portfolio.changed.")?.parse().ok()
}

/// Reads `user`'s holdings again into the hub.
async fn reload(
    store: &dyn HoldingsReader,
    hub: &Hub,
    user: u64,
) -> Result<(), bourse_shell::ApiError> {
    let holdings = store.holdings(user, None).await?;
    hub.reload(user, holdings);
    Ok(())
}

/// Consumes hints until `shutdown`, reconnecting with a back-off; `connected` says
/// whether a consumer is up (readiness).
pub async fn run<C, CF, CFut>(
    store: Arc<dyn HoldingsReader>,
    hub: Arc<Hub>,
    consumer: CF,
    connected: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
) where
    C: Consumer,
    CF: FnMut() -> CFut,
    CFut: Future<Output = Result<C, BusError>>,
{
    let mut source = Reconnecting::new(consumer, connected);
    while !shutdown.load(Ordering::Relaxed) {
        let batch = source.batch(1_000, Duration::from_millis(200)).await;
        let mut users = BTreeSet::new();
        if batch.reconnected {
            // Whatever was missed while away: everyone here reloads.
            users.extend(hub.connected_users());
        }
        if let Some(e) = &batch.lost {
            tracing::warn!("portfolio: hints: {e}; reconnecting");
        }
        users.extend(
            batch
                .deliveries
                .iter()
                .filter_map(|d| user_of(&d.message.routing_key))
                .filter(|u| hub.has(*u)),
        );
        for u in users {
            if let Err(e) = reload(&*store, &hub, u).await {
                tracing::warn!(user = u, "portfolio: reload failed: {}", e.message);
            }
        }
        if let Some(last) = batch.deliveries.last()
            && batch.lost.is_none()
        {
            let _ = source.ack_upto(last.tag).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_read_from_the_routing_key() {
        assert_eq!(user_of("portfolio.changed.42"), Some(42));
        assert_eq!(user_of("portfolio.changed.x"), None);
        assert_eq!(user_of("exec.42"), None);
        assert!(bourse_bus::topic::matches(PATTERN, "portfolio.changed.42"));
    }
}
