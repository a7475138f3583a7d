//! Order books: price levels with intrusive FIFO queues of orders.
//!
//! # Book layout
//! Each side of a book is a [`Ladder`] of its levels in price order (a bitmap over a
//! window of prices, the best level kept at hand) and a [`LevelIndex`] from price to
//! level. Opening or closing a level sets or clears a bit; taking the best level is a
//! field read; finding the next best after it empties is a few word operations.
//!
//! Levels and orders live in two [`Slab`]s shared by every book of the engine; a level
//! holds the head and tail of a doubly linked list threaded through its orders
//! (`prev`/`next` indices), so enqueue, dequeue and removal from the middle are O(1)
//! without allocation. A level that loses its last order is freed at once: every level
//! on a side has at least one order.
//!
//! # Ordering invariant
//! Within a level orders are in arrival order (time priority); across levels, price
//! priority. A book never rests crossed: matching runs before any order rests.

use crate::ladder::Ladder;
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

/// A level and its price.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LevelRef {
    pub(crate) price: i64,
    pub(crate) level: u32,
}

/// One instrument's book.
#[derive(Clone, Debug)]
pub(crate) struct Book {
    /// Each side's levels in price order (`[bids, asks]`).
    ladders: [Ladder; 2],
    /// Price → level, per side, so that an order joining an existing level needs no
    /// search.
    index: [LevelIndex; 2],
}

impl Default for Book {
    fn default() -> Self {
        Book {
            ladders: [Ladder::new(Side::Buy), Ladder::new(Side::Sell)],
            index: Default::default(),
        }
    }
}

impl Book {
    /// The best level on `side`.
    #[inline]
    pub(crate) fn best_level(&self, side: Side) -> Option<LevelRef> {
        self.ladders[side as usize].best()
    }

    /// The best price on `side`.
    #[inline]
    pub(crate) fn best(&self, side: Side) -> Option<i64> {
        self.best_level(side).map(|l| l.price)
    }

    /// `side`'s levels, best first.
    pub(crate) fn levels<'a>(
        &'a self,
        side: Side,
        levels: &'a Slab<Level>,
    ) -> impl Iterator<Item = LevelRef> + 'a {
        let s = side as usize;
        self.ladders[s].iter(&self.index[s], levels)
    }

    /// Number of levels on both sides.
    pub(crate) fn level_count(&self) -> usize {
        self.ladders[0].len() + self.ladders[1].len()
    }
}

/// Whether an order on `side` with limit `limit` trades against a resting price `resting`.
#[inline]
pub(crate) fn crosses(side: Side, limit: i64, resting: i64) -> bool {
    // `resting <= limit` for a buy, `resting >= limit` for a sell, without a branch on
    // the side (a coin toss to the branch predictor; see `engine::by_side`). Prices are
    // positive, so the difference cannot overflow.
    let sign = 1 - 2 * i64::from(side as u8);
    (limit - resting) * sign >= 0
}

/// Appends order `o` (already in `orders`, with `side` and `price` set) at the back of its
/// price level, creating the level if needed.
pub(crate) fn enqueue(book: &mut Book, levels: &mut Slab<Level>, orders: &mut Slab<Order>, o: u32) {
    let (side, price, open) = {
        let ord = &orders[o];
        (ord.side, ord.price, ord.open)
    };
    let s = side as usize;
    let index = &mut book.index[s];
    let level = match index.get(levels, price) {
        Some(l) => l,
        None => {
            let l = levels.insert(Level {
                total: 0,
                price,
                head: NIL,
                tail: NIL,
            });
            index.insert(price, l);
            book.ladders[s].insert(price, l, index, levels);
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

/// Called when `level` on `side` has just lost its last order: frees it.
fn level_emptied(book: &mut Book, levels: &mut Slab<Level>, side: Side, level: u32) {
    let s = side as usize;
    let price = levels[level].price;
    book.ladders[s].remove(price, level, &book.index[s], levels);
    book.index[s].remove(price, level);
    levels.remove(level);
}

/// Iterates a level's orders from the front of the queue.
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

    fn prices(book: &Book, side: Side, levels: &Slab<Level>) -> Vec<i64> {
        book.levels(side, levels).map(|l| l.price).collect()
    }

    #[test]
    fn levels_come_best_first_and_fifo_within_level() {
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
        let bids = prices(&book, Side::Buy, &levels);
        let mut sorted = bids.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        sorted.dedup();
        assert_eq!(bids, sorted, "bids descending, no duplicate levels");
        assert_eq!(book.best(Side::Buy), Some(105));
        let at_100 = book
            .levels(Side::Buy, &levels)
            .find(|l| l.price == 100)
            .unwrap()
            .level;
        let queue: Vec<u32> = level_orders(&levels, &orders, at_100).collect();
        assert_eq!(queue, vec![ids[0], ids[3]], "time priority within a level");
        assert_eq!(levels[at_100].total, 5);

        unlink(&mut book, &mut levels, &mut orders, ids[0]);
        assert_eq!(levels[at_100].total, 4);
        unlink(&mut book, &mut levels, &mut orders, ids[3]);
        // An emptied level is gone from the side and its slot freed...
        assert!(!prices(&book, Side::Buy, &levels).contains(&100));
        assert_eq!(levels.len(), 33);
        // ...and the next order at its price opens a new one.
        let again = orders.insert(order(Side::Buy, 100, 7));
        enqueue(&mut book, &mut levels, &mut orders, again);
        assert_eq!(levels[orders[again].level].total, 7);
        unlink(&mut book, &mut levels, &mut orders, again);
        // Emptying the top makes the next level best.
        unlink(&mut book, &mut levels, &mut orders, ids[1]);
        assert_eq!(book.best(Side::Buy), Some(103));
        unlink(&mut book, &mut levels, &mut orders, ids[4]);
        assert_eq!(book.best(Side::Buy), Some(95));
        assert_eq!(book.level_count(), 31);
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
        assert_eq!(prices(&book, Side::Sell, &levels), vec![90, 100, 110]);
        assert!(crosses(Side::Buy, 90, 90));
        assert!(!crosses(Side::Buy, 89, 90));
        assert!(crosses(Side::Sell, 90, 95));
        assert!(crosses(Side::Sell, 95, 95));
        assert!(!crosses(Side::Sell, 96, 95));
        assert!(crosses(Side::Buy, i64::MAX, 1) && !crosses(Side::Buy, 1, i64::MAX));
        assert!(crosses(Side::Sell, 1, i64::MAX) && !crosses(Side::Sell, i64::MAX, 1));
    }
}
