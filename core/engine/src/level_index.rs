//! One side's price → level index: a small direct-mapped table by price, and a hash map
//! for the prices whose place in it is taken.
//!
//! An order joining its price level finds the level here, so the look-up is on every
//! resting order's path. Nearly all levels sit in a narrow band of prices near the top of
//! the book, so a table of [`SLOTS`] level numbers indexed by the price's low bits holds
//! nearly all of them, one to a slot, with neighbouring prices in neighbouring slots (a
//! cache line covers sixteen). A look-up reads the slot and confirms the level's own
//! price — a line the caller reads next anyway — instead of probing a hash table's
//! control bytes and then its bucket. A price whose slot holds another level (a price
//! [`SLOTS`] ticks away, or more, on a long walk) goes to the map, which is only probed
//! while it holds anything.
//!
//! Every indexed level is in exactly one of the two places; removal looks in the slot
//! first, then in the map.

use crate::book::Level;
use crate::hashing::{Map, map};
use crate::slab::{NIL, Slab};

/// Direct-mapped slots per side (4 KiB of level numbers).
pub(crate) const SLOTS: usize = 1024;

/// Price → level for one side of one book.
#[derive(Clone, Debug)]
pub(crate) struct LevelIndex {
    /// `slots[price % SLOTS]`: a level at that price, or at another price with the same
    /// low bits, or [`NIL`].
    slots: Box<[u32]>,
    /// Levels whose slot was taken when they were indexed.
    overflow: Map<i64, u32>,
}

impl Default for LevelIndex {
    fn default() -> Self {
        LevelIndex {
            slots: vec![NIL; SLOTS].into_boxed_slice(),
            overflow: map(0),
        }
    }
}

#[inline]
fn slot(price: i64) -> usize {
    (price as u64 as usize) & (SLOTS - 1)
}

impl LevelIndex {
    /// The level at `price`, if one is indexed.
    #[inline]
    pub(crate) fn get(&self, levels: &Slab<Level>, price: i64) -> Option<u32> {
        let l = self.slots[slot(price)];
        if l != NIL && levels[l].price == price {
            return Some(l);
        }
        if self.overflow.is_empty() {
            None
        } else {
            self.overflow.get(&price).copied()
        }
    }

    /// Indexes `level` at `price`, which the caller knows has no level yet.
    #[inline]
    pub(crate) fn insert(&mut self, price: i64, level: u32) {
        let s = &mut self.slots[slot(price)];
        if *s == NIL {
            *s = level;
            return;
        }
        // Keep the map at most half full: a fuller hashbrown table under this
        // insert/remove churn fills with deleted markers and rehashes in place, an
        // O(capacity) stall on the order path. Growing here only happens when the
        // overflow reaches a new high-water mark.
        let overflow = &mut self.overflow;
        if (overflow.len() + 1) * 2 > overflow.capacity() {
            overflow.reserve(overflow.len() + 1);
        }
        overflow.insert(price, level);
    }

    /// Removes `level`, indexed at `price`.
    #[inline]
    pub(crate) fn remove(&mut self, price: i64, level: u32) {
        let s = &mut self.slots[slot(price)];
        if *s == level {
            *s = NIL;
        } else {
            self.overflow.remove(&price);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn level(price: i64) -> Level {
        Level {
            total: 0,
            price,
            head: NIL,
            tail: NIL,
        }
    }

    #[test]
    fn agrees_with_a_hash_map_when_prices_share_slots() {
        let mut levels = Slab::with_capacity(16);
        let mut index = LevelIndex::default();
        let mut model: HashMap<i64, u32> = HashMap::new();
        // Prices SLOTS apart share a slot; negative prices wrap like any other.
        let prices: Vec<i64> = (-3..4)
            .flat_map(|k| [5, 6, 1023].map(|p| p + k * SLOTS as i64))
            .collect();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let price = prices[(rng % prices.len() as u64) as usize];
            match model.get(&price).copied() {
                Some(l) => {
                    assert_eq!(index.get(&levels, price), Some(l));
                    index.remove(price, l);
                    levels.remove(l);
                    model.remove(&price);
                }
                None => {
                    assert_eq!(index.get(&levels, price), None);
                    let l = levels.insert(level(price));
                    index.insert(price, l);
                    model.insert(price, l);
                }
            }
            for &p in &prices {
                assert_eq!(index.get(&levels, p), model.get(&p).copied(), "price {p}");
            }
        }
        assert!(
            !index.overflow.is_empty() || model.len() <= 3,
            "shared slots were exercised"
        );
    }
}
