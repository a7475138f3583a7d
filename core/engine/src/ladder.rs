//! One side's price levels in price order: a bitmap ladder over a window of prices, a
//! sorted vector for the few outside it, and the best level kept at hand.
//!
//! # Why a ladder
//! On realistic flow nearly every order that rests opens a level of its own and its
//! cancel closes it (a few hundred live levels spread over hundreds of ticks). Kept as a
//! sorted vector, each opening costs a binary search and a `memmove`; here it sets one
//! bit, and a closing clears one. A bit per price over a window of [`WINDOW`] prices, with
//! a summary bit per 64-price word, finds the next best level after the best one empties
//! in a handful of word operations.
//!
//! # Ranks
//! Both sides are stored by *rank*: the price for bids, its negation for asks, so that a
//! higher rank is always a better level and one code path serves both sides. The window
//! covers ranks `origin .. origin + WINDOW`.
//!
//! # Outside the window
//! Levels whose rank falls outside the window live in `far`, sorted ascending by rank
//! (best last): those above the window are better than every level in it, those below
//! worse. When `far` grows past a bound set at the last re-centring (or the window holds
//! nothing), the ladder re-centres: it puts the best level three quarters of the way up a
//! new window and moves every level into its new place, an O(levels) pass whose bound
//! doubles with what stays outside, so its cost is amortised over the inserts that
//! triggered it. A book whose levels span more than the window keeps its outliers in
//! `far`, where they cost what a sorted vector costs.
//!
//! The ladder holds prices only; the level at a price is found through the side's
//! [`LevelIndex`], except for the best level, whose number is kept.

use crate::book::{Level, LevelRef};
use crate::level_index::LevelIndex;
use crate::slab::{NIL, Slab};
use crate::types::Side;

/// Summary words: each covers 64 leaf words of 64 prices.
const SUMMARY: usize = 1;
/// Leaf words: one bit per price in the window.
const LEAF: usize = SUMMARY * 64;
/// Prices covered by the window.
pub(crate) const WINDOW: i64 = (LEAF * 64) as i64;

/// One side's live levels in price order. See the module docs.
///
/// What every operation reads (the best level, the window's place, the summary, the
/// far levels' vector) shares the first cache line; a leaf word is the only other.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub(crate) struct Ladder {
    /// The best level (`level == NIL` when the side is empty).
    best: LevelRef,
    /// Rank of the window's bit 0.
    origin: i64,
    /// Bit `w % 64` of word `w / 64`: leaf word `w` is not zero.
    summary: [u64; SUMMARY],
    /// `1` for bids, `-1` for asks: `rank = sign * price`.
    sign: i32,
    /// Levels in the window.
    in_window: u32,
    /// Levels outside the window, ascending by rank (best last).
    far: Vec<LevelRef>,
    /// `far` longer than this re-centres the window.
    far_limit: usize,
    /// Bit `r % 64` of word `r / 64`: a level at rank `origin + r`.
    leaf: [u64; LEAF],
}

const _: () = assert!(std::mem::offset_of!(Ladder, far_limit) == 64);

const NONE: LevelRef = LevelRef {
    price: 0,
    level: NIL,
};

impl Ladder {
    /// An empty side.
    pub(crate) fn new(side: Side) -> Self {
        Ladder {
            sign: match side {
                Side::Buy => 1,
                Side::Sell => -1,
            },
            origin: 0,
            summary: [0; SUMMARY],
            leaf: [0; LEAF],
            in_window: 0,
            far: Vec::new(),
            far_limit: 0,
            best: NONE,
        }
    }

    #[inline]
    fn rank(&self, price: i64) -> i64 {
        self.sign as i64 * price
    }

    /// How many of the levels outside the window rank below `rank`: where one at `rank`
    /// goes in `far`, or is.
    #[inline]
    fn far_below(&self, rank: i64) -> usize {
        self.far.partition_point(|l| self.rank(l.price) < rank)
    }

    /// The bit of `rank` in the window, if it is in it.
    #[inline]
    fn offset(&self, rank: i64) -> Option<usize> {
        // Exact for any two i64 ranks: a rank below the origin wraps to ≥ 2^63.
        let off = rank.wrapping_sub(self.origin) as u64;
        (off < WINDOW as u64).then_some(off as usize)
    }

    /// The best level, if the side has any.
    #[inline]
    pub(crate) fn best(&self) -> Option<LevelRef> {
        (self.best.level != NIL).then_some(self.best)
    }

    /// Number of levels on the side.
    pub(crate) fn len(&self) -> usize {
        self.in_window as usize + self.far.len()
    }

    /// Adds `level` at `price`, which has no level on this side yet. `index` must already
    /// hold it (a re-centring looks levels up there).
    #[inline]
    pub(crate) fn insert(
        &mut self,
        price: i64,
        level: u32,
        index: &LevelIndex,
        levels: &Slab<Level>,
    ) {
        let rank = self.rank(price);
        if self.best.level == NIL || rank > self.rank(self.best.price) {
            self.best = LevelRef { price, level };
        }
        if let Some(off) = self.offset(rank) {
            self.set(off);
            return;
        }
        let pos = self.far_below(rank);
        self.far.insert(pos, LevelRef { price, level });
        if self.far.len() > self.far_limit || self.in_window == 0 {
            self.recentre(index, levels);
        }
    }

    /// Removes `level` at `price`. The level must still be in `index` (it may be the new
    /// best's look-up that finds a neighbour, never this one).
    #[inline]
    pub(crate) fn remove(
        &mut self,
        price: i64,
        level: u32,
        index: &LevelIndex,
        levels: &Slab<Level>,
    ) {
        let rank = self.rank(price);
        match self.offset(rank) {
            Some(off) => self.clear(off),
            None => {
                let pos = self.far_below(rank);
                debug_assert_eq!(self.far[pos].level, level);
                self.far.remove(pos);
            }
        }
        if self.best.level == level {
            self.best = self.find_best(index, levels);
        }
    }

    #[inline]
    fn set(&mut self, off: usize) {
        let w = off / 64;
        self.leaf[w] |= 1 << (off % 64);
        self.summary[w / 64] |= 1 << (w % 64);
        self.in_window += 1;
    }

    #[inline]
    fn clear(&mut self, off: usize) {
        let w = off / 64;
        debug_assert!(
            self.leaf[w] & (1 << (off % 64)) != 0,
            "clearing an unset bit"
        );
        let word = self.leaf[w] & !(1 << (off % 64));
        self.leaf[w] = word;
        if word == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
        self.in_window -= 1;
    }

    /// The highest set bit of the window.
    #[inline]
    fn top_offset(&self) -> Option<usize> {
        let s = (0..SUMMARY).rev().find(|&s| self.summary[s] != 0)?;
        let w = s * 64 + 63 - self.summary[s].leading_zeros() as usize;
        Some(w * 64 + 63 - self.leaf[w].leading_zeros() as usize)
    }

    /// The level whose bit is `off`, found through the side's index.
    fn level_at(&self, off: usize, index: &LevelIndex, levels: &Slab<Level>) -> LevelRef {
        let price = self.sign as i64 * (self.origin + off as i64);
        let level = index
            .get(levels, price)
            .expect("a ladder bit has its level");
        LevelRef { price, level }
    }

    /// Which level is best, searched (after the best one went).
    fn find_best(&self, index: &LevelIndex, levels: &Slab<Level>) -> LevelRef {
        let above = self.origin.saturating_add(WINDOW);
        match self.far.last() {
            Some(&top) if self.rank(top.price) >= above => return top,
            _ => {}
        }
        if let Some(off) = self.top_offset() {
            return self.level_at(off, index, levels);
        }
        self.far.last().copied().unwrap_or(NONE)
    }

    /// Moves the window so that the best level sits three quarters of the way up it, and
    /// every level into its new place.
    #[cold]
    fn recentre(&mut self, index: &LevelIndex, levels: &Slab<Level>) {
        // Everything into `far`, in rank order: the window's levels go between the ones
        // below it and the ones above it.
        let n = self.in_window as usize;
        if n > 0 {
            let split = self.far_below(self.origin);
            let len = self.far.len();
            self.far.resize(len + n, NONE);
            self.far.copy_within(split..len, split + n);
            let mut at = split;
            for w in 0..LEAF {
                let mut bits = self.leaf[w];
                while bits != 0 {
                    self.far[at] =
                        self.level_at(w * 64 + bits.trailing_zeros() as usize, index, levels);
                    at += 1;
                    bits &= bits - 1;
                }
            }
            debug_assert_eq!(at, split + n);
            self.leaf = [0; LEAF];
            self.summary = [0; SUMMARY];
            self.in_window = 0;
        }
        let Some(best) = self.far.last() else {
            return;
        };
        let top = self.rank(best.price);
        self.origin = top
            .saturating_sub(WINDOW - WINDOW / 4 - 1)
            .min(i64::MAX - WINDOW);
        let lo = self.far_below(self.origin);
        let hi = self.far_below(self.origin + WINDOW);
        for i in lo..hi {
            let off = (self.rank(self.far[i].price) - self.origin) as usize;
            self.set(off);
        }
        self.far.drain(lo..hi);
        // Re-centre again only once `far` has grown by as much as the side now holds.
        self.far_limit = 2 * self.far.len() + self.in_window as usize / 4 + 64;
    }

    /// The side's levels, best first: those above the window, the window's, then those
    /// below it.
    pub(crate) fn iter<'a>(
        &'a self,
        index: &'a LevelIndex,
        levels: &'a Slab<Level>,
    ) -> impl Iterator<Item = LevelRef> + 'a {
        let split = self.far_below(self.origin);
        let mut word = LEAF;
        let mut bits = 0u64;
        let window = std::iter::from_fn(move || {
            while bits == 0 {
                // The next lower non-empty leaf word, through the summary.
                let below = self.summary_below(word)?;
                word = below;
                bits = self.leaf[word];
            }
            let b = 63 - bits.leading_zeros() as usize;
            bits &= !(1 << b);
            Some(self.level_at(word * 64 + b, index, levels))
        });
        self.far[split..]
            .iter()
            .rev()
            .copied()
            .chain(window)
            .chain(self.far[..split].iter().rev().copied())
    }

    /// The highest non-empty leaf word below word `w`.
    fn summary_below(&self, w: usize) -> Option<usize> {
        let mut s = w / 64;
        // Bits of summary word `s` for leaf words below `w`.
        let mut mask = if w.is_multiple_of(64) {
            0
        } else {
            u64::MAX >> (64 - w % 64)
        };
        if s == SUMMARY {
            s -= 1;
            mask = u64::MAX;
        }
        loop {
            let m = self.summary[s] & mask;
            if m != 0 {
                return Some(s * 64 + 63 - m.leading_zeros() as usize);
            }
            if s == 0 {
                return None;
            }
            s -= 1;
            mask = u64::MAX;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A side driven by random opens and closes, checked against a `BTreeMap` after each.
    struct Model {
        side: Side,
        ladder: Ladder,
        index: LevelIndex,
        levels: Slab<Level>,
        model: BTreeMap<i64, u32>,
    }

    impl Model {
        fn new(side: Side) -> Self {
            Model {
                side,
                ladder: Ladder::new(side),
                index: LevelIndex::default(),
                levels: Slab::with_capacity(16),
                model: BTreeMap::new(),
            }
        }

        fn toggle(&mut self, price: i64) {
            match self.model.remove(&price) {
                Some(l) => {
                    self.ladder.remove(price, l, &self.index, &self.levels);
                    self.index.remove(price, l);
                    self.levels.remove(l);
                }
                None => {
                    let l = self.levels.insert(Level {
                        total: 0,
                        price,
                        head: NIL,
                        tail: NIL,
                    });
                    self.index.insert(price, l);
                    self.ladder.insert(price, l, &self.index, &self.levels);
                    self.model.insert(price, l);
                }
            }
        }

        fn check(&self) {
            let expected: Vec<(i64, u32)> = match self.side {
                Side::Buy => self.model.iter().rev().map(|(&p, &l)| (p, l)).collect(),
                Side::Sell => self.model.iter().map(|(&p, &l)| (p, l)).collect(),
            };
            let got: Vec<(i64, u32)> = self
                .ladder
                .iter(&self.index, &self.levels)
                .map(|l| (l.price, l.level))
                .collect();
            assert_eq!(got, expected, "levels best first");
            assert_eq!(self.ladder.len(), expected.len());
            assert_eq!(
                self.ladder.best().map(|l| (l.price, l.level)),
                expected.first().copied(),
                "best"
            );
        }
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn agrees_with_an_ordered_map_on_a_walk_wider_than_the_window() {
        for side in [Side::Buy, Side::Sell] {
            let mut m = Model::new(side);
            let mut rng = 0x9e37_79b9_7f4a_7c15u64;
            let mut mid = 50_000i64;
            let mut origins = std::collections::BTreeSet::new();
            let mut most_far = 0;
            for step in 0..30_000u32 {
                // A walk over ~10 windows, prices mostly near it, a few far away.
                if step.is_multiple_of(7) {
                    mid += (xorshift(&mut rng) % 41) as i64 - 18;
                }
                let r = xorshift(&mut rng);
                let price = if r.is_multiple_of(50) {
                    1 + (r >> 8) as i64 % (4 * WINDOW * 10)
                } else {
                    (mid + (r >> 8) as i64 % 200 - 100).max(1)
                };
                m.toggle(price);
                origins.insert(m.ladder.origin);
                most_far = most_far.max(m.ladder.far.len());
                if step.is_multiple_of(97) {
                    m.check();
                }
            }
            m.check();
            assert!(origins.len() > 3, "the window moved: {origins:?}");
            assert!(most_far > 10, "levels outside the window: {most_far}");
            // Empty it best first, checking the best at each step.
            while let Some(best) = m.ladder.best() {
                assert_eq!(m.model.get(&best.price), Some(&best.level));
                m.toggle(best.price);
                m.check();
            }
            assert_eq!(m.ladder.len(), 0);
        }
    }

    #[test]
    fn a_new_best_outside_the_window_is_best_at_once_and_recentres_in_time() {
        let mut m = Model::new(Side::Buy);
        m.toggle(1_000);
        m.check();
        // Far above the window: best at once, kept in `far`.
        m.toggle(1_000 + 10 * WINDOW);
        m.check();
        assert_eq!(m.ladder.best().unwrap().price, 1_000 + 10 * WINDOW);
        // Many levels up there: the window follows them.
        for p in 1..200 {
            m.toggle(1_000 + 10 * WINDOW + p);
        }
        m.check();
        assert!(
            m.ladder.far.len() < 100,
            "re-centred: {} outside the window",
            m.ladder.far.len()
        );
        // Extreme prices neither overflow nor misplace.
        m.toggle(i64::MAX - 1);
        m.toggle(1);
        m.check();
        assert_eq!(m.ladder.best().unwrap().price, i64::MAX - 1);
    }
}
