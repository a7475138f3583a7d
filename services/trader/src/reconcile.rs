//! Orders whose fate is unknown: entered, but no verdict came back (the gateway
//! restarted, or a trader instance died while waiting). Such a row stays `pending_new`,
//! and a retry with its `client_order_id` answers it, never a second order. Most of
//! them were executed, and settlement soon tells (reads join its `orders`); the others
//! never reached the engine, and without this task they would read `pending_new`
//! forever.
//!
//! Every [`EVERY`], rows still without a verdict [`GRACE`] after they were written, and
//! unknown to settlement, are checked: a **probe** goes through the service session (a
//! deposit of nothing to user 0, which the engine always refuses, as an event of the
//! account stream with its own sequence number `S`). Once settlement has applied every
//! event up to `S`, an order the engine executed before the probe would be in `orders`:
//! the rows still missing there were never executed, and are marked `rejected` with the
//! reason `not_received`. The client sees that on its next read (or retry) and may
//! place the order again under a new `client_order_id`.
//!
//! Why the probe proves it: the engine's input is one sequence. The original request
//! was given up ([`GRACE`] exceeds the gateway timeout) before the probe was sent, and
//! a gateway that restarted refuses whatever its predecessor's sessions sent, so the
//! original cannot enter the sequence after the probe — except through a gateway that
//! held it, alive, for longer than [`GRACE`]. Should that happen, settlement then has
//! the order, and reads show settlement's account of it (it is newer than the row's).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bourse_core::{FixedStr, UserId};
use bourse_gateway::protocol::{ServerMsg, ServiceMsg};
use bourse_gateway_client::GatewayClient;

use crate::store::TraderStore;

/// How often rows are looked for.
pub const EVERY: Duration = Duration::from_secs(1);
/// How long after it was written a row without a verdict is checked: more than the
/// gateway timeout, so that its request has been given up.
pub const GRACE: Duration = Duration::from_secs(10);
/// How long to wait for settlement to reach the probe before trying again later.
const CATCH_UP: Duration = Duration::from_secs(30);
/// The reason a lost order is rejected with.
pub const NOT_RECEIVED: &str = "not_received";

/// Why a round found nothing to do or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store failed.
    #[error("store: {}", .0.message)]
    Store(#[from] bourse_shell::ApiError),
    /// The probe had no engine sequence number (the gateway is down or refused it).
    #[error("probe: {0}")]
    Probe(String),
    /// Settlement did not reach the probe in time.
    #[error("settlement is behind the probe (at {at}, probe {probe})")]
    Behind {
        /// Where settlement is.
        at: u64,
        /// The probe's sequence number.
        probe: u64,
    },
}

/// Runs rounds every [`EVERY`] until `stop`; failures are logged and retried.
pub async fn run(
    store: Arc<dyn TraderStore>,
    engine: GatewayClient,
    grace: Duration,
    stop: Arc<AtomicBool>,
) {
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        match round(&*store, &engine, grace).await {
            Ok(0) => failing = false,
            Ok(n) => {
                failing = false;
                tracing::warn!(
                    orders = n,
                    "orders the engine never received marked rejected"
                );
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e, "unresolved orders: will try again");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// One round: the number of rows marked rejected.
pub async fn round(
    store: &dyn TraderStore,
    engine: &GatewayClient,
    grace: Duration,
) -> Result<u64, ReconcileError> {
    let ids = store.unresolved(grace).await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let probe = probe(engine).await?;
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let at = store.settled_upto().await?;
        if at >= probe {
            break;
        }
        if Instant::now() > deadline {
            return Err(ReconcileError::Behind { at, probe });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(store
        .reject_unknown(&ids, probe as i64, NOT_RECEIVED)
        .await?)
}

/// Sends the probe and returns its engine sequence number.
async fn probe(engine: &GatewayClient) -> Result<u64, ReconcileError> {
    let reports = engine
        .request(ServiceMsg::Deposit {
            request: 0,
            user: UserId(0),
            asset: FixedStr::new(bourse_core::CASH)
                .map_err(|e| ReconcileError::Probe(e.to_string()))?,
            amount: 0,
        })
        .await
        .map_err(|e| ReconcileError::Probe(e.to_string()))?;
    match reports.last().map(|r| r.msg) {
        Some(ServerMsg::Rejected { seq, .. }) if seq > 0 => Ok(seq),
        other => Err(ReconcileError::Probe(format!(
            "expected the engine's refusal, got {other:?}"
        ))),
    }
}
