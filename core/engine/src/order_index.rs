//! The resting orders by (account, client order id): a hash table of order slots.
//!
//! # Why not a `HashMap`
//! Every order command looks an order up by its key, and nearly every look-up lands on a
//! random place in the table. A `HashMap<(u32, ClientOrderId), u32>` stores the 20-byte
//! key beside the slot: 25 bytes a bucket, ~6 MB for 65,536 orders at the load the
//! engine keeps, so nearly every probe missed the L2 cache (PERF.md, the equity-flow
//! profile). The key is already in the order itself, so this table (hashbrown's
//! `HashTable`, the engine behind `std`'s maps) stores only the order's slot: **5 bytes a
//! bucket** with its control byte. A probe compares 7 bits of the hash for 16 buckets at
//! once and reads the order only for a match, which is nearly always the order looked
//! for (and read next anyway). A table of its own with linear probing was tried first:
//! fewer instructions, but its probe and shift loops mispredicted ~4 more branches a
//! command, and it ran slower (PERF.md).
//!
//! # Sized by use, kept half empty
//! The table starts small and doubles as the number of resting orders reaches new highs,
//! so a book of a few hundred orders probes kilobytes (L1) instead of a table sized for
//! the configured maximum. Growing rehashes every entry, O(resting orders), once per
//! doubling and only on the way up. It is kept at most half full: under insert/remove
//! churn a fuller hashbrown table collects deleted markers and then rehashes in place, an
//! O(capacity) stall on the order path; half empty, deletes leave empty buckets.
//!
//! # Invariant
//! Every entry's order carries the key it is indexed under whenever the table may grow
//! (an insert), since growing rehashes each entry from its order. A replace renames the
//! order when it re-keys the entry (and renames it back if the replace is refused).
//! Nothing observable depends on the table's layout.

use hashbrown::HashTable;

use crate::book::Order;
use crate::slab::Slab;
use crate::types::ClientOrderId;

/// (account, client order id) → order slot.
#[derive(Clone, Debug)]
pub(crate) struct OrderIndex {
    table: HashTable<u32>,
}

/// The smallest table.
const MIN_CAPACITY: usize = 256;

/// 64 well-mixed bits of an order's key (a folded 64×64→128-bit multiply of the id's two
/// words and the account): hashbrown takes its 7-bit tag from the top and the bucket
/// from the bottom.
#[inline]
pub(crate) fn hash(account: u32, id: &ClientOrderId) -> u64 {
    let b = id.as_bytes();
    let lo = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let hi = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    let x = lo ^ 0x243f_6a88_85a3_08d3;
    let y = hi ^ (u64::from(account) << 17) ^ 0x1319_8a2e_0370_7344;
    let m = u128::from(x) * u128::from(y);
    (m as u64) ^ ((m >> 64) as u64)
}

/// The hash of the key the order in `slot` carries.
#[inline]
fn rehash(orders: &Slab<Order>, slot: u32) -> u64 {
    let o = &orders[slot];
    hash(o.account, &o.id)
}

/// Whether the order in a slot is `account`'s order `id`: how a probe confirms a match.
#[inline]
fn is_order<'a>(
    orders: &'a Slab<Order>,
    account: u32,
    id: &'a ClientOrderId,
) -> impl Fn(&u32) -> bool + 'a {
    move |&s| {
        let o = &orders[s];
        o.account == account && o.id == *id
    }
}

impl OrderIndex {
    /// An empty index, small: it grows with the book, not to the configured maximum
    /// of resting orders (see the module docs).
    pub(crate) fn new() -> Self {
        OrderIndex {
            table: HashTable::with_capacity(MIN_CAPACITY),
        }
    }

    /// Entries in the table.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The slot of `account`'s resting order `id`.
    #[inline]
    pub(crate) fn get(
        &self,
        orders: &Slab<Order>,
        account: u32,
        id: &ClientOrderId,
    ) -> Option<u32> {
        self.get_hashed(orders, hash(account, id), account, id)
    }

    /// [`Self::get`] with the key's [`hash`] already made: a new order's duplicate
    /// check, whose `h` then serves [`Self::insert_hashed`].
    #[inline]
    pub(crate) fn get_hashed(
        &self,
        orders: &Slab<Order>,
        h: u64,
        account: u32,
        id: &ClientOrderId,
    ) -> Option<u32> {
        self.table.find(h, is_order(orders, account, id)).copied()
    }

    /// Indexes `slot` under (`account`, `id`), which the caller knows is not indexed yet
    /// and which the order in `slot` carries.
    #[inline]
    pub(crate) fn insert(
        &mut self,
        orders: &Slab<Order>,
        account: u32,
        id: &ClientOrderId,
        slot: u32,
    ) {
        self.insert_hashed(orders, hash(account, id), slot);
    }

    /// [`Self::insert`] with the key's [`hash`] already made.
    #[inline]
    pub(crate) fn insert_hashed(&mut self, orders: &Slab<Order>, h: u64, slot: u32) {
        if (self.table.len() + 1) * 2 > self.table.capacity() {
            self.grow(orders);
        }
        self.table.insert_unique(h, slot, |&s| rehash(orders, s));
    }

    /// Removes the entry of (`account`, `id`) that points at `slot`; nothing if there is
    /// none. Compares slots, not orders.
    #[inline]
    pub(crate) fn remove(&mut self, account: u32, id: &ClientOrderId, slot: u32) {
        if let Ok(e) = self.table.find_entry(hash(account, id), |&s| s == slot) {
            e.remove();
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
        let e = self
            .table
            .find_entry(hash(account, id), is_order(orders, account, id))
            .ok()?;
        Some(e.remove().0)
    }

    /// Doubles the table, at a new high of resting orders.
    #[cold]
    fn grow(&mut self, orders: &Slab<Order>) {
        let more = self.table.capacity().max(MIN_CAPACITY);
        self.table.reserve(more, |&s| rehash(orders, s));
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
        let mut index = OrderIndex::new();
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
                    index.insert(&orders, key.0, &key.1, slot);
                    model.insert(key, slot);
                }
            }
            assert_eq!(index.len(), model.len());
        }
        for (k, &slot) in &model {
            assert_eq!(index.get(&orders, k.0, &k.1), Some(slot), "{k:?}");
        }
        assert!(
            index.table.capacity() >= 2 * model.len(),
            "kept at most half full"
        );
    }

    #[test]
    fn the_same_id_of_two_accounts_is_two_orders() {
        let mut orders = Slab::with_capacity(4);
        let mut index = OrderIndex::new();
        let a = orders.insert(order(1, "x"));
        let b = orders.insert(order(2, "x"));
        let x = FixedStr::new("x").unwrap();
        index.insert(&orders, 1, &x, a);
        index.insert(&orders, 2, &x, b);
        assert_eq!(index.get(&orders, 1, &x), Some(a));
        assert_eq!(index.get(&orders, 2, &x), Some(b));
        assert_eq!(index.get(&orders, 3, &x), None);
        index.remove(1, &x, a);
        assert_eq!(index.get(&orders, 1, &x), None);
        assert_eq!(index.get(&orders, 2, &x), Some(b));
    }

    #[test]
    fn a_re_keyed_entry_follows_its_renamed_order_and_back() {
        // A replace takes the old key, renames the order and indexes the new key; a
        // refused replace removes the new key by slot and restores the old one.
        let mut orders = Slab::with_capacity(4);
        let mut index = OrderIndex::new();
        let slot = orders.insert(order(1, "old"));
        let (old, new) = (FixedStr::new("old").unwrap(), FixedStr::new("new").unwrap());
        index.insert(&orders, 1, &old, slot);
        assert_eq!(index.take(&orders, 1, &old), Some(slot));
        orders[slot].id = new;
        index.insert(&orders, 1, &new, slot);
        assert_eq!(index.get(&orders, 1, &new), Some(slot));
        assert_eq!(index.get(&orders, 1, &old), None);
        index.remove(1, &new, slot);
        orders[slot].id = old;
        index.insert(&orders, 1, &old, slot);
        assert_eq!(index.get(&orders, 1, &old), Some(slot));
        assert_eq!(index.get(&orders, 1, &new), None);
        assert_eq!(index.len(), 1);
    }
}
