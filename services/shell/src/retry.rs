//! Retrying a database step until it succeeds, for the services' background loops
//! (settlement-like consumers that must not skip a batch): a failure is logged and
//! tried again, backing off from 50 ms to 2 s, until the loop is asked to stop.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::ApiError;

/// Runs `f` until it succeeds (its value) or `stop` is set after a failure (`None`);
/// each failure is logged as `{service}: {what} failed`.
pub async fn until_done<T, F, Fut>(
    service: &str,
    what: &str,
    stop: &AtomicBool,
    mut f: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match f().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!("{service}: {what} failed ({}); retrying", e.message);
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[tokio::test]
    async fn retries_until_success_and_gives_up_only_when_stopped() {
        let tries = AtomicU32::new(0);
        let stop = AtomicBool::new(false);
        let got = until_done("test", "a step", &stop, || async {
            if tries.fetch_add(1, Ordering::Relaxed) < 2 {
                Err(ApiError::internal("not yet"))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!((got, tries.load(Ordering::Relaxed)), (Some(7), 3));
        stop.store(true, Ordering::Relaxed);
        let never: Option<()> = until_done("test", "a step", &stop, || async {
            Err(ApiError::internal("down"))
        })
        .await;
        assert_eq!(never, None);
    }
}
