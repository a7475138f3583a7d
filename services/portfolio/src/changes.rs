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

use bourse_bus::{BusError, Consumer};
use deadpool_postgres::Pool;

use crate::hub::Hub;

/// The pattern the hints are published under.
pub const PATTERN: &str = "portfolio.changed.*";

/// The user a hint is about.
pub fn user_of(routing_key: &str) -> Option<u64> {
    routing_key.strip_prefix("portfolio.changed.")?.parse().ok()
}

/// Reads `user`'s holdings again into the hub.
async fn reload(pool: &Pool, hub: &Hub, user: u64) -> Result<(), bourse_shell::ApiError> {
    let client = pool.get().await?;
    let holdings = bourse_order::holdings::load(&client, user, None).await?;
    hub.reload(user, holdings);
    Ok(())
}

/// Consumes hints until `shutdown`, reconnecting with a back-off; `connected` says
/// whether a consumer is up (readiness).
pub async fn run<C, CF, CFut>(
    pool: Pool,
    hub: Arc<Hub>,
    mut consumer: CF,
    connected: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
) where
    C: Consumer,
    CF: FnMut() -> CFut,
    CFut: Future<Output = Result<C, BusError>>,
{
    let mut source: Option<C> = None;
    let mut delay = Duration::from_millis(50);
    while !shutdown.load(Ordering::Relaxed) {
        let mut users = BTreeSet::new();
        let c = match source.as_mut() {
            Some(c) => c,
            None => match consumer().await {
                Ok(c) => {
                    connected.store(true, Ordering::Relaxed);
                    delay = Duration::from_millis(50);
                    // Whatever was missed while away: everyone here reloads.
                    users.extend(hub.connected_users());
                    source.insert(c)
                }
                Err(e) => {
                    tracing::warn!("portfolio: cannot consume hints ({e}); retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    continue;
                }
            },
        };
        let mut last_tag = None;
        let mut failed = false;
        // Every hint waiting, each user once.
        let mut wait = Duration::from_millis(200);
        while users.len() < 1_000 {
            match c.next_within(wait).await {
                Ok(Some(d)) => {
                    last_tag = Some(d.tag);
                    if let Some(u) = user_of(&d.message.routing_key)
                        && hub.has(u)
                    {
                        users.insert(u);
                    }
                    wait = Duration::ZERO;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("portfolio: hints: {e}; reconnecting");
                    failed = true;
                    break;
                }
            }
        }
        for u in users {
            if let Err(e) = reload(&pool, &hub, u).await {
                tracing::warn!(user = u, "portfolio: reload failed: {}", e.message);
            }
        }
        if let Some(tag) = last_tag
            && !failed
            && c.ack_upto(tag).await.is_err()
        {
            failed = true;
        }
        if failed {
            connected.store(false, Ordering::Relaxed);
            source = None;
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
