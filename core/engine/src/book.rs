//! Order books: price levels with intrusive FIFO queues of orders.
//!
//! # Book layout
//! Each side of a book is a `Vec<LevelRef>` sorted so that the **best level is last**:
//! bids ascending by price, asks descending. Taking the best level, and removing it once
//! empty, is O(1) at the end of the vector; a new level is found by binary search and
//! inserted with a `memmove` of the levels *better* than it, which near the top of the
//! book (where nearly all activity is) moves only a handful of entries.
//!
//! Levels and orders live in two [`Slab`]s shared by every book of the engine; a level
//! holds the head and tail of a doubly linked list threaded through its orders
//! (`prev`/`next` indices), so enqueue, dequeue and removal from the middle are O(1)
//! without allocation.
//!
//! # Ordering invariant
//! Within a level orders are in arrival order (time priority); across levels, price
//! priority. A book never rests crossed: matching runs before any order rests.
//!
//! # Empty levels
//! A level that empties below the top of the book is not removed at once: it stays in
//! the vector, empty (a *tombstone*), so that the next order at that price — in a busy
//! book, very soon — finds it in place with no `memmove` at all. The top level is never
//! empty: emptying it pops it and any tombstones behind it. When tombstones outnumber
//! live levels four to one (and there are more than 64), the side is compacted in one
//! O(n) pass, so the cost is amortised and the vector stays bounded by five times the
//! live levels plus 64.
//! Tombstones are invisible: every walk over levels skips empty ones.
//!
//! # Known limitation
//! Inserting a level deep in a very long side costs a `memmove` proportional to the
//! number of better levels (about 1 µs for 1,000 levels). Levels far from the top are
//! rarely created in practice; a radix tree would remove the cost at the price of
//! pointer chasing on every access.

use crate::level_index::LevelIndex;
use crate::slab::{NIL, Slab};
use crate::types::{ClientOrderId, Side, TimeInForce};

/// A resting (or, while it matches, incoming) order: one 64-byte cache line.
///
/// Cancels and fills touch an order and its two neighbours in the level's queue, so the
/// order is kept to one line: the user is its account's (`Account::user`) and the
/// instrument its position's (`Position::symbol`), both small arrays that stay cached.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub(crate) struct Order {
    pub(crate) id: ClientOrderId,
    pub(crate) price: i64,
    pub(crate) open: i64,
    pub(crate) filled: i64,
    pub(crate) account: u32,
    /// The (account, instrument) position: where a sell's shares are reserved, a buy's
    /// arrive, and the order's instrument is found.
    pub(crate) position: u32,
    pub(crate) level: u32,
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) side: Side,
    pub(crate) tif: TimeInForce,
    pub(crate) post_only: bool,
}

const _: () = assert!(std::mem::size_of::<Order>() == 64);

/// A price level: the FIFO of orders at one price on one side.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Level {
    pub(crate) total: i64,
    /// The level's price, by which the side's [`LevelIndex`] confirms a match.
    pub(crate) price: i64,
    pub(crate) head: u32,
    pub(crate) tail: u32,
}

/// A level's entry in its side's sorted vector.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LevelRef {
    pub(crate) price: i64,
    pub(crate) level: u32,
}

/// One instrument's book.
#[derive(Clone, Debug, Default)]
pub(crate) struct Book {
    /// Ascending by price: best bid last.
    pub(crate) bids: Vec<LevelRef>,
    /// Descending by price: best ask last.
    pub(crate) asks: Vec<LevelRef>,
    /// Empty levels kept in `bids` / `asks` (never at the top; see the module docs).
    tombstones: [u32; 2],
    /// Price → level, per side, for every entry of `bids` / `asks` (tombstones too), so
    /// that an order joining an existing level needs no search.
    index: [LevelIndex; 2],
}

impl Book {
    /// The side's levels, best last.
    #[inline]
    pub(crate) fn side(&self, side: Side) -> &Vec<LevelRef> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// The best price on `side`.
    #[inline]
    pub(crate) fn best(&self, side: Side) -> Option<i64> {
        self.side(side).last().map(|l| l.price)
    }
}

/// Whether an order on `side` with limit `limit` trades against a resting price `resting`.
#[inline]
pub(crate) fn crosses(side: Side, limit: i64, resting: i64) -> bool {
    match side {
        Side::Buy => resting <= limit,
        Side::Sell => resting >= limit,
    }
}

/// `true` when price `a` is better than `b` for a level on `side`.
#[inline]
fn better(side: Side, a: i64, b: i64) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

/// Appends order `o` (already in `orders`, with `side` and `price` set) at the back of its
/// price level, creating the level if needed.
pub(crate) fn enqueue(book: &mut Book, levels: &mut Slab<Level>, orders: &mut Slab<Order>, o: u32) {
    let (side, price, open) = {
        let ord = &orders[o];
        (ord.side, ord.price, ord.open)
    };
    let index = &mut book.index[side as usize];
    let level = match index.get(levels, price) {
        Some(l) => {
            if levels[l].head == NIL {
                book.tombstones[side as usize] -= 1;
            }
            l
        }
        None => {
            let l = levels.insert(Level {
                total: 0,
                price,
                head: NIL,
                tail: NIL,
            });
            index.insert(price, l);
            let refs = match side {
                Side::Buy => &mut book.bids,
                Side::Sell => &mut book.asks,
            };
            // Levels are stored worst first: insert before the first better one.
            let pos = level_position(refs, side, price);
            refs.insert(pos, LevelRef { price, level: l });
            l
        }
    };
    let lvl = &mut levels[level];
    let tail = lvl.tail;
    lvl.total += open;
    lvl.tail = o;
    if tail == NIL {
        lvl.head = o;
    } else {
        orders[tail].next = o;
    }
    let ord = &mut orders[o];
    ord.level = level;
    ord.prev = tail;
    ord.next = NIL;
}

/// Index just past the last level that is not better than `price`: where a new level
/// at `price` goes.
#[inline]
fn level_position(refs: &[LevelRef], side: Side, price: i64) -> usize {
    let n = refs.len();
    // A short linear scan from the top covers the common case cheaply.
    let mut i = n;
    let mut steps = 0;
    while i > 0 && steps < 8 {
        if !better(side, refs[i - 1].price, price) {
            return i;
        }
        i -= 1;
        steps += 1;
    }
    if i == 0 {
        return 0;
    }
    refs[..i].partition_point(|l| !better(side, l.price, price))
}

/// Unlinks order `o` from its level, adjusting the level total by its open quantity, and
/// removes the level if it became empty. Does not free the order's slot.
pub(crate) fn unlink(book: &mut Book, levels: &mut Slab<Level>, orders: &mut Slab<Order>, o: u32) {
    let Order {
        level,
        prev,
        next,
        open,
        side,
        ..
    } = orders[o];
    if prev != NIL {
        orders[prev].next = next;
    }
    if next != NIL {
        orders[next].prev = prev;
    }
    let lvl = &mut levels[level];
    if lvl.head == o {
        lvl.head = next;
    }
    if lvl.tail == o {
        lvl.tail = prev;
    }
    lvl.total -= open;
    if lvl.head == NIL {
        level_emptied(book, levels, side, level);
    }
}

/// Called when `level` on `side` has just lost its last order: pops it if it is the
/// top (with any tombstones behind it), otherwise leaves it as a tombstone.
fn level_emptied(book: &mut Book, levels: &mut Slab<Level>, side: Side, level: u32) {
    let s = side as usize;
    let index = &mut book.index[s];
    let refs = match side {
        Side::Buy => &mut book.bids,
        Side::Sell => &mut book.asks,
    };
    if refs.last().is_some_and(|l| l.level == level) {
        while let Some(&top) = refs.last() {
            if top.level != level && levels[top.level].head != NIL {
                break;
            }
            if top.level != level {
                book.tombstones[s] -= 1;
            }
            levels.remove(top.level);
            index.remove(top.price, top.level);
            refs.pop();
        }
        return;
    }
    book.tombstones[s] += 1;
    let dead = book.tombstones[s] as usize;
    if dead > 64 && dead > 4 * (refs.len() - dead) {
        refs.retain(|l| {
            let keep = levels[l.level].head != NIL;
            if !keep {
                levels.remove(l.level);
                index.remove(l.price, l.level);
            }
            keep
        });
        book.tombstones[s] = 0;
    }
}

/// Iterates a level's orders from the front of the queue (nothing for a tombstone).
pub(crate) fn level_orders<'a>(
    levels: &'a Slab<Level>,
    orders: &'a Slab<Order>,
    level: u32,
) -> impl Iterator<Item = u32> + 'a {
    let mut cur = levels[level].head;
    std::iter::from_fn(move || {
        if cur == NIL {
            None
        } else {
            let o = cur;
            cur = orders[o].next;
            Some(o)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FixedStr;

    fn order(side: Side, price: i64, open: i64) -> Order {
        Order {
            id: FixedStr::new("x").unwrap(),
            account: 0,
            position: 0,
            level: NIL,
            prev: NIL,
            next: NIL,
            price,
            open,
            filled: 0,
            side,
            tif: TimeInForce::Gtc,
            post_only: false,
        }
    }

    #[test]
    fn levels_stay_sorted_best_last_and_fifo_within_level() {
        let mut book = Book::default();
        let mut levels = Slab::with_capacity(4);
        let mut orders = Slab::with_capacity(4);
        let mut ids = vec![];
        for (p, q) in [(100, 1), (105, 2), (95, 3), (100, 4), (103, 5)] {
            // ids: 0 → 100, 1 → 105, 2 → 95, 3 → 100, 4 → 103
            let o = orders.insert(order(Side::Buy, p, q));
            enqueue(&mut book, &mut levels, &mut orders, o);
            ids.push(o);
        }
        for p in 0..30 {
            let o = orders.insert(order(Side::Buy, 50 + p, 1));
            enqueue(&mut book, &mut levels, &mut orders, o);
        }
        let prices: Vec<i64> = book.bids.iter().map(|l| l.price).collect();
        let mut sorted = prices.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            prices, sorted,
            "bids ascending, best last, no duplicate levels"
        );
        assert_eq!(book.best(Side::Buy), Some(105));
        let at_100 = book.bids.iter().find(|l| l.price == 100).unwrap().level;
        let queue: Vec<u32> = level_orders(&levels, &orders, at_100).collect();
        assert_eq!(queue, vec![ids[0], ids[3]], "time priority within a level");
        assert_eq!(levels[at_100].total, 5);

        unlink(&mut book, &mut levels, &mut orders, ids[0]);
        assert_eq!(levels[at_100].total, 4);
        unlink(&mut book, &mut levels, &mut orders, ids[3]);
        // Below the top, an emptied level stays as an invisible tombstone...
        assert_eq!(level_orders(&levels, &orders, at_100).count(), 0);
        assert_eq!(book.tombstones[0], 1);
        // ...and is reused, not recreated, by the next order at its price.
        let again = orders.insert(order(Side::Buy, 100, 7));
        enqueue(&mut book, &mut levels, &mut orders, again);
        assert_eq!(orders[again].level, at_100);
        assert_eq!(book.tombstones[0], 0);
        unlink(&mut book, &mut levels, &mut orders, again);
        // Emptying the top pops it and every tombstone behind it.
        unlink(&mut book, &mut levels, &mut orders, ids[1]);
        assert_eq!(book.best(Side::Buy), Some(103));
        unlink(&mut book, &mut levels, &mut orders, ids[4]);
        assert_eq!(
            book.best(Side::Buy),
            Some(95),
            "the tombstone at 100 went with the top"
        );
        assert_eq!(book.tombstones[0], 0);
    }

    #[test]
    fn tombstones_are_compacted_when_they_outnumber_live_levels_four_to_one() {
        let mut book = Book::default();
        let mut levels = Slab::with_capacity(4);
        let mut orders = Slab::with_capacity(4);
        let ids: Vec<u32> = (0..300)
            .map(|p| {
                let o = orders.insert(order(Side::Sell, 1_000 + p, 1));
                enqueue(&mut book, &mut levels, &mut orders, o);
                o
            })
            .collect();
        // Empty every level but the best (1000) and every tenth.
        for (p, &o) in ids.iter().enumerate().skip(1) {
            if p % 10 != 0 {
                unlink(&mut book, &mut levels, &mut orders, o);
            }
        }
        let live = book
            .asks
            .iter()
            .filter(|l| levels[l.level].head != NIL)
            .count();
        assert_eq!(live, 30);
        assert!(book.asks.len() < 300, "a compaction ran");
        assert!(
            book.asks.len() <= 5 * live + 65,
            "compacted: {} refs",
            book.asks.len()
        );
        let dead = book.asks.len() - live;
        assert_eq!(book.tombstones[1] as usize, dead);
        assert_eq!(
            levels.len(),
            book.asks.len(),
            "compaction freed the dead levels"
        );
        let prices: Vec<i64> = book.asks.iter().map(|l| l.price).collect();
        assert!(
            prices.windows(2).all(|w| w[0] > w[1]),
            "still sorted, best last"
        );
        assert_eq!(book.best(Side::Sell), Some(1_000));
    }

    #[test]
    fn asks_sort_descending_and_crossing() {
        let mut book = Book::default();
        let mut levels = Slab::with_capacity(4);
        let mut orders = Slab::with_capacity(4);
        for p in [100, 90, 110] {
            let o = orders.insert(order(Side::Sell, p, 1));
            enqueue(&mut book, &mut levels, &mut orders, o);
        }
        let prices: Vec<i64> = book.asks.iter().map(|l| l.price).collect();
        assert_eq!(prices, vec![110, 100, 90]);
        assert!(crosses(Side::Buy, 90, 90));
        assert!(!crosses(Side::Buy, 89, 90));
        assert!(crosses(Side::Sell, 90, 95));
    }
}
