//! Rendered pages of `GET /v2/orders`, cached per instance and checked against the
//! database on every request.
//!
//! A page is PostgreSQL's most expensive read here (about a millisecond of its time
//! for 50 open orders: the candidates, their joins to settlement's rows, the render),
//! and a client polling its orders asks for the same page again and again while
//! nothing has changed. Each cached page is tagged with its user's [`Versions`], read
//! *before* the page: counters that every committed change to the user's orders
//! moves, in the transaction that changes them: a trigger on `trader_orders` (so none
//! of its writers — every instance, the auto service, the reconciler — can skip it),
//! and settlement's own batch for its `orders`, of which it is the only writer. A
//! request reads the versions (two primary-key look-ups) and answers from the cache
//! only when they are the tag:
//!
//! - a change committed before the versions were read is in the page (it was read
//!   after them);
//! - a change committed after moved a version, so the page is not used again.
//!
//! So a client reads its own writes, and every instance's, as without the cache.
//! A store without versions caches nothing (both stores here keep them).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use bourse_shell::ApiError;
use moka::ops::compute::Op;
use tokio::sync::OnceCell;

use crate::store::{ListFilter, Versions};

/// The cache's default size: 64 MiB of page bodies (a page of 50 orders is ~35 KB).
pub const DEFAULT_BYTES: u64 = 64 << 20;

/// A query's page at one pair of versions: made once, by the first request that needs
/// it, while every other request for it waits for that one (a page that changed is
/// asked for by every poller of it at once; without this each would make it again).
#[derive(Debug)]
struct Slot {
    versions: Versions,
    body: OnceCell<Bytes>,
}

/// The instance's cache of rendered order pages, keyed by the whole query (user
/// included), bounded by the bytes of its bodies.
#[derive(Clone)]
pub struct PageCache {
    pages: moka::sync::Cache<ListFilter, Arc<Slot>>,
    /// Requests answered without making the page, and requests that made it.
    counts: Arc<[AtomicU64; 2]>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("pages", &self.pages.entry_count())
            .field("bytes", &self.pages.weighted_size())
            .finish()
    }
}

/// Whether versions `a` were read after `b` (each counter only grows).
fn newer(a: Versions, b: Versions) -> bool {
    a != b && a.trader >= b.trader && a.settled >= b.settled
}

impl PageCache {
    /// A cache of at most `max_bytes` of page bodies (0: caches nothing).
    pub fn new(max_bytes: u64) -> Self {
        PageCache {
            pages: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, slot: &Arc<Slot>| {
                    let body = slot.body.get().map_or(0, Bytes::len);
                    u32::try_from(body + 256).unwrap_or(u32::MAX)
                })
                .build(),
            counts: Arc::default(),
        }
    }

    /// Requests answered without making their page so far, and requests that made it.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.counts[0].load(Ordering::Relaxed),
            self.counts[1].load(Ordering::Relaxed),
        )
    }

    /// The page for `query` at `versions` (read before the call): the cached one if it
    /// was made at them, else the one `make` renders now, kept for the next request.
    pub async fn get_or_make<F, Fut>(
        &self,
        query: &ListFilter,
        versions: Versions,
        make: F,
    ) -> Result<Bytes, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, ApiError>>,
    {
        let Some(slot) = self.slot(query, versions) else {
            // Versions older than the cached page's (a request that read them before
            // another made the newer page): answered as read, not kept.
            self.count(false);
            return make().await;
        };
        let mut made = false;
        let body = slot
            .body
            .get_or_try_init(|| {
                made = true;
                make()
            })
            .await?
            .clone();
        self.count(!made);
        if made {
            // Weighed again now that it has a body (if it is still the query's slot).
            self.pages
                .entry_by_ref(query)
                .and_compute_with(|current| match current {
                    Some(e) if Arc::ptr_eq(e.value(), &slot) => Op::Put(slot.clone()),
                    _ => Op::Nop,
                });
        }
        Ok(body)
    }

    /// Keeps `body` as the page for `query` at `versions`.
    pub fn put(&self, query: ListFilter, versions: Versions, body: Bytes) {
        let slot = Slot {
            versions,
            body: OnceCell::new_with(Some(body)),
        };
        self.pages.insert(query, Arc::new(slot));
    }

    /// The query's slot at `versions`: the cached one, or a new empty one in place of
    /// an older one; `None` if the cached one is newer.
    fn slot(&self, query: &ListFilter, versions: Versions) -> Option<Arc<Slot>> {
        let mut chosen = None;
        self.pages
            .entry_by_ref(query)
            .and_compute_with(|current| match current {
                Some(e) if e.value().versions == versions => {
                    chosen = Some(e.into_value());
                    Op::Nop
                }
                Some(e) if !newer(versions, e.value().versions) => Op::Nop,
                _ => {
                    let slot = Arc::new(Slot {
                        versions,
                        body: OnceCell::new(),
                    });
                    chosen = Some(slot.clone());
                    Op::Put(slot)
                }
            });
        chosen
    }

    fn count(&self, hit: bool) {
        let (outcome, i) = if hit { ("hit", 0) } else { ("miss", 1) };
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        metrics::counter!("trader_order_pages_total", "cache" => outcome).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(user: u64) -> ListFilter {
        ListFilter::first_page(user)
    }

    const V: Versions = Versions {
        trader: 3,
        settled: 7,
    };

    /// Answers `query` at `versions` from the cache, or with `made` (counted).
    async fn ask(
        cache: &PageCache,
        query: &ListFilter,
        versions: Versions,
        made: &'static [u8],
    ) -> Bytes {
        cache
            .get_or_make(query, versions, || async { Ok(Bytes::from_static(made)) })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_page_is_answered_only_at_the_versions_it_was_made_at() {
        let cache = PageCache::new(DEFAULT_BYTES);
        assert_eq!(ask(&cache, &query(1), V, b"[1]").await, &b"[1]"[..]);
        assert_eq!(ask(&cache, &query(1), V, b"[x]").await, &b"[1]"[..], "kept");
        assert_eq!(cache.hits_and_misses(), (1, 1));
        let moved = |trader, settled| Versions { trader, settled };
        assert_eq!(
            ask(&cache, &query(1), moved(4, 7), b"[2]").await,
            &b"[2]"[..],
            "this service wrote"
        );
        assert_eq!(
            ask(&cache, &query(1), moved(4, 8), b"[3]").await,
            &b"[3]"[..],
            "settlement wrote"
        );
        assert_eq!(
            ask(&cache, &query(2), moved(4, 8), b"[4]").await,
            &b"[4]"[..],
            "another user"
        );
        let mut other = query(1);
        other.limit = 10;
        assert_eq!(
            ask(&cache, &other, moved(4, 8), b"[5]").await,
            &b"[5]"[..],
            "another query"
        );
        // A request that read older versions than the cached page's gets its own
        // answer and leaves the newer page in place.
        assert_eq!(ask(&cache, &query(1), V, b"[old]").await, &b"[old]"[..]);
        assert_eq!(
            ask(&cache, &query(1), moved(4, 8), b"[x]").await,
            &b"[3]"[..]
        );
    }

    #[tokio::test]
    async fn requests_for_a_page_being_made_wait_for_it_and_make_it_once() {
        let cache = PageCache::new(DEFAULT_BYTES);
        let makes = Arc::new(AtomicU64::new(0));
        let (release, wait) = tokio::sync::watch::channel(false);
        let asks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, makes, mut wait) = (cache.clone(), makes.clone(), wait.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_make(&query(1), V, || async move {
                            makes.fetch_add(1, Ordering::Relaxed);
                            let _ = wait.wait_for(|go| *go).await;
                            Ok(Bytes::from_static(b"[1]"))
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        // On this test's one thread every ask runs to its wait before the release.
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        assert_eq!(makes.load(Ordering::Relaxed), 1, "the others wait");
        release.send(true).unwrap();
        for a in asks {
            assert_eq!(a.await.unwrap(), &b"[1]"[..]);
        }
        assert_eq!(makes.load(Ordering::Relaxed), 1);
        assert_eq!(cache.hits_and_misses(), (7, 1));
    }

    #[tokio::test]
    async fn a_failed_make_is_not_kept() {
        let cache = PageCache::new(DEFAULT_BYTES);
        let failed = cache
            .get_or_make(&query(1), V, || async {
                Err(ApiError::unprocessable("no"))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(ask(&cache, &query(1), V, b"[1]").await, &b"[1]"[..]);
    }

    #[tokio::test]
    async fn a_cache_of_no_bytes_keeps_nothing() {
        let cache = PageCache::new(0);
        assert_eq!(ask(&cache, &query(1), V, b"[1]").await, &b"[1]"[..]);
        cache.pages.run_pending_tasks();
        assert_eq!(ask(&cache, &query(1), V, b"[2]").await, &b"[2]"[..]);
    }
}
