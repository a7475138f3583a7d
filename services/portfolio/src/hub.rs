//! The fan-out: who is watching, what they hold, and the last prices.
//!
//! Sockets of one user share one entry (holdings read once, one valuation computed
//! per change however many sockets the user has open). An index symbol → users sends
//! a price move only to the users holding that symbol: each of their entries bumps a
//! version that its sockets wait on, and nothing else wakes. Interest in a symbol's
//! prices begins with the first user holding it and ends with the last
//! ([`Interest`]), so the service follows exactly the symbols its users hold.
//!
//! Leaving is a guard's drop ([`Member`]): a socket that ends any way at all — closed,
//! reset, too slow — takes its entry, its index entries and its interest with it.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use bourse_order::holdings::Holdings;
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::watch;

use crate::valuation::Valuation;

/// Told when the service starts and stops needing a symbol's prices. Called with the
/// hub's lock held: it must not block (queue the change and return).
pub trait Interest: Send + Sync {
    /// The first holder of `symbol` arrived.
    fn watch(&self, symbol: &str);
    /// The last holder of `symbol` left.
    fn unwatch(&self, symbol: &str);
}

/// Counts, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Users with a socket open.
    pub users: usize,
    /// Sockets open.
    pub sockets: usize,
    /// Symbols in the index (each followed on the feed).
    pub symbols: usize,
    /// Last prices kept.
    pub prices: usize,
}

struct Entry {
    sockets: usize,
    holdings: Holdings,
    holdings_gen: u64,
    version: watch::Sender<u64>,
    cached: Option<(u64, Arc<Valuation>)>,
}

/// The hub's maps hash with FxHash: a trade looks up each holder (1,250 of them a trade
/// at 10,000 sockets) and each valuation a price per position, and SipHash was 6% of
/// the server's time there. The keys are the exchange's own user ids and symbols.
#[derive(Default)]
struct Inner {
    prices: FxHashMap<String, (i64, u64)>,
    by_symbol: FxHashMap<String, FxHashSet<u64>>,
    users: FxHashMap<u64, Entry>,
}

/// The hub; share it as `Arc<Hub>`.
pub struct Hub {
    inner: Mutex<Inner>,
    interest: Arc<dyn Interest>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// One socket's membership: its user's change notifications. Dropping it leaves.
#[derive(Debug)]
pub struct Member {
    hub: Arc<Hub>,
    user: u64,
    /// Changes when the user's valuation may have changed.
    pub changes: watch::Receiver<u64>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.hub.leave(self.user);
    }
}

impl Member {
    /// The user's valuation now.
    pub fn valuation(&self) -> Option<Arc<Valuation>> {
        self.hub.valuation(self.user)
    }
}

impl Hub {
    /// An empty hub telling `interest` which symbols it needs.
    pub fn new(interest: Arc<dyn Interest>) -> Arc<Self> {
        Arc::new(Hub {
            inner: Mutex::new(Inner::default()),
            interest,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins `user`'s entry, reading the holdings with `load` if the user has no
    /// socket open yet.
    pub async fn join<E, F, Fut>(self: &Arc<Self>, user: u64, load: F) -> Result<Member, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Holdings, E>>,
    {
        if let Some(m) = self.join_existing(user) {
            return Ok(m);
        }
        let holdings = load().await?;
        let mut inner = self.lock();
        if let Some(e) = inner.users.get_mut(&user) {
            // Another socket of the user arrived while this one read: share its entry.
            e.sockets += 1;
            let changes = e.version.subscribe();
            drop(inner);
            return Ok(Member {
                hub: self.clone(),
                user,
                changes,
            });
        }
        let (version, changes) = watch::channel(0);
        for h in &holdings.positions {
            index(&mut inner, &*self.interest, &h.symbol, user);
        }
        inner.users.insert(
            user,
            Entry {
                sockets: 1,
                holdings,
                holdings_gen: 1,
                version,
                cached: None,
            },
        );
        drop(inner);
        Ok(Member {
            hub: self.clone(),
            user,
            changes,
        })
    }

    fn join_existing(self: &Arc<Self>, user: u64) -> Option<Member> {
        let mut inner = self.lock();
        let e = inner.users.get_mut(&user)?;
        e.sockets += 1;
        let changes = e.version.subscribe();
        Some(Member {
            hub: self.clone(),
            user,
            changes,
        })
    }

    fn leave(&self, user: u64) {
        let mut inner = self.lock();
        let Some(e) = inner.users.get_mut(&user) else {
            return;
        };
        e.sockets -= 1;
        if e.sockets > 0 {
            return;
        }
        if let Some(e) = inner.users.remove(&user) {
            for h in &e.holdings.positions {
                unindex(&mut inner, &*self.interest, &h.symbol, user);
            }
        }
    }

    /// Every user with a socket open here.
    pub fn connected_users(&self) -> Vec<u64> {
        self.lock().users.keys().copied().collect()
    }

    /// Whether `user` has a socket open here.
    pub fn has(&self, user: u64) -> bool {
        self.lock().users.contains_key(&user)
    }

    /// Trade `seq` in `symbol` at `price` (cents): the holders' sockets wake. A trade
    /// older than the price held is ignored, so the feed and a catch-up read from the
    /// database can both report, in any order.
    pub fn on_trade(&self, symbol: &str, price: i64, seq: u64) {
        let mut inner = self.lock();
        let Inner {
            prices,
            by_symbol,
            users,
        } = &mut *inner;
        let Some(holders) = by_symbol.get(symbol) else {
            return;
        };
        match prices.get_mut(symbol) {
            Some(held) if held.1 >= seq => return,
            Some(held) => *held = (price, seq),
            None => {
                prices.insert(symbol.to_string(), (price, seq));
            }
        }
        for u in holders {
            if let Some(e) = users.get(u) {
                e.version.send_modify(|v| *v += 1);
            }
        }
    }

    /// `user`'s holdings as read again (after settlement changed them): the index
    /// follows (a new symbol starts streaming, one sold out stops) and the sockets get a
    /// snapshot. Nothing if the user has no socket open.
    pub fn reload(&self, user: u64, holdings: Holdings) {
        let mut inner = self.lock();
        let Some(e) = inner.users.get_mut(&user) else {
            return;
        };
        let old: HashSet<String> = e
            .holdings
            .positions
            .iter()
            .map(|h| h.symbol.clone())
            .collect();
        let new: HashSet<String> = holdings
            .positions
            .iter()
            .map(|h| h.symbol.clone())
            .collect();
        e.holdings = holdings;
        e.holdings_gen += 1;
        e.version.send_modify(|v| *v += 1);
        for s in new.difference(&old) {
            index(&mut inner, &*self.interest, s, user);
        }
        for s in old.difference(&new) {
            unindex(&mut inner, &*self.interest, s, user);
        }
    }

    /// `user`'s valuation now, computed once per change for all their sockets.
    pub fn valuation(&self, user: u64) -> Option<Arc<Valuation>> {
        let mut inner = self.lock();
        let Inner { prices, users, .. } = &mut *inner;
        let e = users.get_mut(&user)?;
        let version = *e.version.borrow();
        if let Some((v, val)) = &e.cached
            && *v == version
        {
            return Some(val.clone());
        }
        let val = Arc::new(Valuation::new(user, &e.holdings, prices, e.holdings_gen));
        e.cached = Some((version, val.clone()));
        Some(val)
    }

    /// Counts now.
    pub fn stats(&self) -> Stats {
        let inner = self.lock();
        Stats {
            users: inner.users.len(),
            sockets: inner.users.values().map(|e| e.sockets).sum(),
            symbols: inner.by_symbol.len(),
            prices: inner.prices.len(),
        }
    }
}

fn index(inner: &mut Inner, interest: &dyn Interest, symbol: &str, user: u64) {
    let holders = inner.by_symbol.entry(symbol.to_string()).or_default();
    if holders.is_empty() {
        interest.watch(symbol);
    }
    holders.insert(user);
}

fn unindex(inner: &mut Inner, interest: &dyn Interest, symbol: &str, user: u64) {
    let Some(holders) = inner.by_symbol.get_mut(symbol) else {
        return;
    };
    holders.remove(&user);
    if holders.is_empty() {
        inner.by_symbol.remove(symbol);
        inner.prices.remove(symbol);
        interest.unwatch(symbol);
    }
}

#[cfg(test)]
mod tests {
    use bourse_order::holdings::Held;

    use super::*;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Interest for Log {
        fn watch(&self, symbol: &str) {
            self.0.lock().unwrap().push(format!("+{symbol}"));
        }
        fn unwatch(&self, symbol: &str) {
            self.0.lock().unwrap().push(format!("-{symbol}"));
        }
    }

    fn holding(symbols: &[&str]) -> Holdings {
        Holdings {
            cash: 1_000,
            positions: symbols
                .iter()
                .map(|s| Held {
                    symbol: s.to_string(),
                    qty: 2,
                    cost: 100,
                    last_price: Some(50),
                })
                .collect(),
        }
    }

    async fn join(hub: &Arc<Hub>, user: u64, symbols: &[&str]) -> Member {
        let h = holding(symbols);
        hub.join(user, || async move { Ok::<_, ()>(h) })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_tick_wakes_only_the_holders_and_leaving_undoes_everything() {
        let log = Arc::new(Log::default());
        let hub = Hub::new(log.clone());
        let mut a = join(&hub, 1, &["ACME", "BETA"]).await;
        let a2 = join(&hub, 1, &["IGNORED"]).await;
        let mut b = join(&hub, 2, &["BETA"]).await;
        assert_eq!(
            hub.stats(),
            Stats {
                users: 2,
                sockets: 3,
                symbols: 2,
                prices: 0
            }
        );
        assert_eq!(
            *log.0.lock().unwrap(),
            ["+ACME", "+BETA"],
            "a second socket reads nothing"
        );

        hub.on_trade("ACME", 70, 5);
        assert!(a.changes.has_changed().unwrap() && a2.changes.has_changed().unwrap());
        assert!(!b.changes.has_changed().unwrap(), "user 2 holds no ACME");
        let v = a.valuation().unwrap();
        assert_eq!(v.market_value(), 70 * 2 + 50 * 2);
        assert!(
            Arc::ptr_eq(&v, &a2.valuation().unwrap()),
            "one valuation per change"
        );
        a.changes.mark_unchanged();
        hub.on_trade("ACME", 60, 4);
        assert!(
            !a.changes.has_changed().unwrap(),
            "an older trade changes nothing"
        );
        assert_eq!(a.valuation().unwrap().market_value(), 70 * 2 + 50 * 2);
        hub.on_trade("NOBODY", 1, 6);
        assert_eq!(hub.stats().prices, 1, "a symbol nobody holds is not kept");

        drop(a);
        drop(a2);
        assert_eq!(*log.0.lock().unwrap(), ["+ACME", "+BETA", "-ACME"]);
        b.changes.mark_unchanged();
        drop(b);
        assert_eq!(hub.stats(), Stats::default());
        assert_eq!(log.0.lock().unwrap().last().unwrap(), "-BETA");
    }

    #[tokio::test]
    async fn a_reload_follows_the_new_holdings() {
        let log = Arc::new(Log::default());
        let hub = Hub::new(log.clone());
        let a = join(&hub, 1, &["ACME"]).await;
        let first = a.valuation().unwrap().holdings_gen;
        hub.reload(1, holding(&["BETA"]));
        assert!(a.changes.has_changed().unwrap());
        assert_eq!(a.valuation().unwrap().holdings_gen, first + 1);
        assert_eq!(*log.0.lock().unwrap(), ["+ACME", "+BETA", "-ACME"]);
        hub.reload(99, holding(&["GAMMA"]));
        assert_eq!(hub.stats().symbols, 1, "no socket, nothing kept");
        drop(a);
        assert_eq!(hub.stats(), Stats::default());
    }
}
