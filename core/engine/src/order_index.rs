//! The resting orders by (account, client order id): a compact open-addressing table.
//!
//! # Why not a `HashMap`
//! Every order command looks an order up by its key, and nearly every look-up lands on a
//! random place in the table. A `HashMap<(u32, ClientOrderId), u32>` stores the 20-byte
//! key beside the slot: 24-byte buckets, ~6 MB for 65,536 orders at the load the engine
//! keeps, so nearly every probe missed the L2 cache (PERF.md, the equity-flow profile).
//! The key is already in the order itself, so this table stores only what finds and
//! confirms it: the slot of the order and 32 bits of the key's hash, **8 bytes an entry**
//! (1 MB for the same orders). A probe compares the stored hash bits first and reads the
//! order only when they match, which is nearly always the order looked for (the order is
//! read next anyway).
//!
//! # Layout and invariants
//! Linear probing over a power-of-two array, kept at most half full, with backward-shift
//! deletion: there are no tombstones, so heavy insert/remove churn never degrades probe
//! lengths or forces an in-place rehash. An entry's home bucket is its stored hash bits
//! masked, so growing needs no order.
//!
//! # Sized by use, allocated up front
//! The table starts small and doubles as the number of resting orders reaches new highs,
//! so a book of a few hundred orders probes a few kilobytes (L1) instead of a table
//! sized for the configured maximum. Memory for the configured maximum is reserved up
//! front, so growing within it allocates nothing; only growing past it does.
//! The table's layout depends only on the sequence of inserts and removes, never on a
//! seed, and nothing observable depends on it.

use crate::book::Order;
use crate::slab::Slab;
use crate::types::ClientOrderId;

/// An empty bucket. A real entry's low half is a slot, never `u32::MAX` (the slab's NIL).
const EMPTY: u64 = u64::MAX;

/// (account, client order id) → order slot.
#[derive(Clone, Debug)]
pub(crate) struct OrderIndex {
    /// `(hash bits << 32) | slot`, or [`EMPTY`]; a power-of-two length.
    buckets: Vec<u64>,
    mask: usize,
    len: usize,
    /// Where growing puts the entries while it re-places them (reserved like `buckets`).
    scratch: Vec<u64>,
}

/// The smallest table: 2 KB.
const MIN_BUCKETS: usize = 256;

/// 32 well-mixed bits of an order's key (a folded 64×64→128-bit multiply of the id's two
/// words and the account).
#[inline]
pub(crate) fn hash(account: u32, id: &ClientOrderId) -> u32 {
    let b = id.as_bytes();
    let lo = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let hi = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    let x = lo ^ 0x243f_6a88_85a3_08d3;
    let y = hi ^ (u64::from(account) << 17) ^ 0x1319_8a2e_0370_7344;
    let m = u128::from(x) * u128::from(y);
    let h = (m as u64) ^ ((m >> 64) as u64);
    (h ^ (h >> 32)) as u32
}

impl OrderIndex {
    /// Room for `orders` entries before growing allocates.
    pub(crate) fn with_capacity(orders: usize) -> Self {
        let reserved = (orders * 2).next_power_of_two().max(MIN_BUCKETS);
        let mut buckets = Vec::with_capacity(reserved);
        buckets.resize(MIN_BUCKETS, EMPTY);
        OrderIndex {
            buckets,
            mask: MIN_BUCKETS - 1,
            len: 0,
            scratch: Vec::with_capacity(reserved / 2),
        }
    }

    /// Entries in the table.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bucket holding `account`'s order `id`, if it rests.
    #[inline]
    fn position(&self, orders: &Slab<Order>, account: u32, id: &ClientOrderId) -> Option<usize> {
        self.position_hashed(orders, hash(account, id), account, id)
    }

    /// [`Self::position`] with the key's [`hash`] already made.
    #[inline]
    fn position_hashed(
        &self,
        orders: &Slab<Order>,
        h: u32,
        account: u32,
        id: &ClientOrderId,
    ) -> Option<usize> {
        let mut i = h as usize & self.mask;
        loop {
            let e = self.buckets[i];
            if e == EMPTY {
                return None;
            }
            if (e >> 32) as u32 == h {
                let o = &orders[e as u32];
                if o.account == account && o.id == *id {
                    return Some(i);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The slot of `account`'s resting order `id`.
    #[inline]
    pub(crate) fn get(&self, orders: &Slab<Order>, account: u32, id: &ClientOrderId) -> Option<u32> {
        self.position(orders, account, id)
            .map(|i| self.buckets[i] as u32)
    }

    /// Indexes `slot` under (`account`, `id`). The caller knows the key is not indexed
    /// yet (the order in `slot` need not carry `id` yet: a replace re-keys before it
    /// renames).
    #[inline]
    pub(crate) fn insert(&mut self, account: u32, id: &ClientOrderId, slot: u32) {
        self.insert_hashed(hash(account, id), slot);
    }

    /// Whether (`account`, `id`), whose [`hash`] is `h`, is indexed: a new order's
    /// duplicate check, whose `h` then serves [`Self::insert_hashed`].
    #[inline]
    pub(crate) fn contains_hashed(
        &self,
        orders: &Slab<Order>,
        h: u32,
        account: u32,
        id: &ClientOrderId,
    ) -> bool {
        self.position_hashed(orders, h, account, id).is_some()
    }

    /// [`Self::insert`] with the key's [`hash`] already made.
    #[inline]
    pub(crate) fn insert_hashed(&mut self, h: u32, slot: u32) {
        if (self.len + 1) * 2 > self.buckets.len() {
            self.grow();
        }
        self.place((u64::from(h) << 32) | u64::from(slot));
        self.len += 1;
    }

    /// Removes the entry of (`account`, `id`) that points at `slot`; nothing if there is
    /// none. Needs no order, so it works while a replace has the order half renamed.
    #[inline]
    pub(crate) fn remove(&mut self, account: u32, id: &ClientOrderId, slot: u32) {
        let h = hash(account, id);
        let want = (u64::from(h) << 32) | u64::from(slot);
        let mut i = h as usize & self.mask;
        loop {
            let e = self.buckets[i];
            if e == EMPTY {
                return;
            }
            if e == want {
                self.delete_at(i);
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes the entry of `account`'s order `id` and returns its slot.
    #[inline]
    pub(crate) fn take(
        &mut self,
        orders: &Slab<Order>,
        account: u32,
        id: &ClientOrderId,
    ) -> Option<u32> {
        let i = self.position(orders, account, id)?;
        let slot = self.buckets[i] as u32;
        self.delete_at(i);
        Some(slot)
    }

    /// Puts an entry in the first free bucket from its home.
    #[inline]
    fn place(&mut self, entry: u64) {
        let mut i = (entry >> 32) as usize & self.mask;
        while self.buckets[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = entry;
    }

    /// Empties bucket `i` and shifts back the entries after it that may move closer to
    /// their home, so that every entry stays reachable without tombstones.
    #[inline]
    fn delete_at(&mut self, mut i: usize) {
        self.len -= 1;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let e = self.buckets[j];
            if e == EMPTY {
                break;
            }
            let home = (e >> 32) as usize & self.mask;
            // `e` may fill the hole at `i` unless its home lies cyclically in (i, j].
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.buckets[i] = e;
                i = j;
            }
        }
        self.buckets[i] = EMPTY;
    }

    /// Doubles the table, at a new high of resting orders: O(entries), amortised over
    /// the inserts that filled it. Allocates only past the configured size.
    #[cold]
    fn grow(&mut self) {
        self.scratch.clear();
        self.scratch
            .extend(self.buckets.iter().copied().filter(|&e| e != EMPTY));
        let n = self.buckets.len() * 2;
        self.buckets.clear();
        self.buckets.resize(n, EMPTY);
        self.mask = n - 1;
        for i in 0..self.scratch.len() {
            self.place(self.scratch[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::NIL;
    use crate::types::{FixedStr, Side, TimeInForce};
    use std::collections::HashMap;

    fn order(account: u32, id: &str) -> Order {
        Order {
            id: FixedStr::new(id).unwrap(),
            account,
            position: 0,
            level: NIL,
            prev: NIL,
            next: NIL,
            price: 1,
            open: 1,
            filled: 0,
            side: Side::Buy,
            tif: TimeInForce::Gtc,
            post_only: false,
        }
    }

    /// A deterministic xorshift, so the churn below is the same every run.
    fn next(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    #[test]
    fn agrees_with_a_hash_map_under_churn_and_growth() {
        let mut orders = Slab::with_capacity(16);
        // Tiny on purpose: the churn below grows it several times and wraps its probes.
        let mut index = OrderIndex::with_capacity(4);
        let mut model: HashMap<(u32, FixedStr), u32> = HashMap::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15;
        for step in 0..200_000u64 {
            let account = (next(&mut rng) % 7) as u32;
            let id = format!("c{}", next(&mut rng) % 3_000);
            let key = (account, FixedStr::new(&id).unwrap());
            match model.get(&key).copied() {
                Some(slot) if step % 3 != 0 => {
                    assert_eq!(index.get(&orders, key.0, &key.1), Some(slot));
                    if step % 2 == 0 {
                        assert_eq!(index.take(&orders, key.0, &key.1), Some(slot));
                    } else {
                        index.remove(key.0, &key.1, slot);
                    }
                    orders.remove(slot);
                    model.remove(&key);
                }
                Some(slot) => assert_eq!(index.get(&orders, key.0, &key.1), Some(slot)),
                None => {
                    assert_eq!(index.get(&orders, key.0, &key.1), None);
                    let slot = orders.insert(order(account, &id));
                    index.insert(key.0, &key.1, slot);
                    model.insert(key, slot);
                }
            }
            assert_eq!(index.len(), model.len());
        }
        for (k, &slot) in &model {
            assert_eq!(index.get(&orders, k.0, &k.1), Some(slot), "{k:?}");
        }
        assert!(index.buckets.len() >= 2 * model.len(), "kept at most half full");
    }

    #[test]
    fn the_same_id_of_two_accounts_is_two_orders() {
        let mut orders = Slab::with_capacity(4);
        let mut index = OrderIndex::with_capacity(4);
        let a = orders.insert(order(1, "x"));
        let b = orders.insert(order(2, "x"));
        let x = FixedStr::new("x").unwrap();
        index.insert(1, &x, a);
        index.insert(2, &x, b);
        assert_eq!(index.get(&orders, 1, &x), Some(a));
        assert_eq!(index.get(&orders, 2, &x), Some(b));
        assert_eq!(index.get(&orders, 3, &x), None);
        index.remove(1, &x, a);
        assert_eq!(index.get(&orders, 1, &x), None);
        assert_eq!(index.get(&orders, 2, &x), Some(b));
    }

    #[test]
    fn an_entry_is_found_by_its_key_before_its_order_is_renamed() {
        // A replace indexes the new id while the order still carries the old one; the
        // entry is then removable by key and slot alone.
        let mut orders = Slab::with_capacity(4);
        let mut index = OrderIndex::with_capacity(4);
        let slot = orders.insert(order(1, "old"));
        let (old, new) = (FixedStr::new("old").unwrap(), FixedStr::new("new").unwrap());
        index.insert(1, &old, slot);
        assert_eq!(index.take(&orders, 1, &old), Some(slot));
        index.insert(1, &new, slot);
        assert_eq!(index.get(&orders, 1, &new), None, "the order is still `old`");
        index.remove(1, &new, slot);
        index.insert(1, &old, slot);
        assert_eq!(index.get(&orders, 1, &old), Some(slot));
        assert_eq!(index.len(), 1);
    }
}
