//! The trigger index: every armed stop, stop-limit and trailing stop and every price
//! alert, evaluated against each trade so that a trade touches only the triggers it
//! fires.
//!
//! # Semantics (Alpaca's, and the major exchanges')
//! - A trigger falls or rises ([`Direction`]): a sell stop and an "at or below" alert
//!   fire when a trade is at or below their price; a buy stop and an "at or above"
//!   alert when a trade is at or above it.
//! - A trailing stop tracks the best price since it was armed — the highest for a sell
//!   (it fires when a trade is at or below that mark less the trail), the lowest for a
//!   buy (at or above the mark plus the trail). The trail is an amount in cents or a
//!   fraction in parts per million of the mark (rounded down to a cent). A trade first
//!   moves the marks, then fires: a new high never fires a sell trailing stop. A
//!   trailing stop armed before its symbol's first trade takes that trade as its mark.
//! - A trigger fires once: it leaves the index when it fires.
//!
//! # How it scales
//! Per symbol and direction, with prices mirrored for rising triggers (`x = -price`)
//! so that both directions are "fires when `x` falls to the stop":
//! - fixed levels sit in one ordered set by stop: a trade takes the ones at or above it
//!   with one split, O(log n + k);
//! - trailing stops sit in **groups that share a mark**, each ordered by trail. When a
//!   trade sets a new best price, every group below it merges into one group at that
//!   price (the largest group keeps its members and only its mark changes; the others
//!   move into it, so each stop moves O(log n) times over its life). Each group's
//!   highest stop — its smallest trail — is kept in an ordered set of thresholds, so a
//!   trade visits only the groups that fire something.
//!
//! Memory: a fixed level costs one ordered-set entry and one location entry; a trailing
//! stop the same (measured by `trigger-bench`, PERF.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A trigger's id (the auto service's own).
pub type TriggerId = u64;

/// Parts per million in one.
const PPM: u128 = 1_000_000;

/// Which way a trigger waits for the price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Fires when a trade is at or below its stop (sell stops, "at or below" alerts).
    Falling,
    /// Fires when a trade is at or above its stop (buy stops, "at or above" alerts).
    Rising,
}

/// What a trigger waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// A fixed price, in cents: a stop's stop price, an alert's level.
    Level(i64),
    /// The best price since armed, less (falling) or plus (rising) this many cents.
    TrailAmount(i64),
    /// The best price since armed, less or plus this fraction of it, in parts per
    /// million (1.5% = 15,000), rounded down to a cent.
    TrailPpm(u32),
}

/// An armed trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Trigger {
    /// The symbol (the service's dense id for it).
    pub symbol: u32,
    /// Which way.
    pub direction: Direction,
    /// At what.
    pub condition: Condition,
}

/// Why a trigger was not armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArmError {
    /// That id is armed already.
    Duplicate,
    /// A trail of zero or less (it would fire at once) or a level of zero or less.
    NotPositive,
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ArmError::Duplicate => "a trigger with that id is armed already",
            ArmError::NotPositive => "prices and trails must be positive",
        })
    }
}

impl std::error::Error for ArmError {}

/// Where an armed trigger sits (for cancels, and to forget it when it fires).
#[derive(Clone, Copy, Debug)]
enum At {
    Level {
        symbol: u32,
        half: u8,
        stop: i64,
    },
    Trail {
        symbol: u32,
        half: u8,
        percent: bool,
        key: u64,
        group: u32,
    },
    Pending {
        symbol: u32,
    },
}

/// A group of trailing stops that share a mark, ordered by trail.
#[derive(Debug, Default)]
struct Group {
    mark: i64,
    members: BTreeSet<(u64, TriggerId)>,
}

/// The trailing stops of one direction of one symbol with one kind of trail.
#[derive(Debug, Default)]
struct Trailing {
    percent: bool,
    by_mark: BTreeMap<i64, u32>,
    groups: Vec<Group>,
    free: Vec<u32>,
    /// (the group's highest stop, its mark).
    thresholds: BTreeSet<(i64, i64)>,
}

impl Trailing {
    fn new(percent: bool) -> Self {
        Trailing {
            percent,
            ..Trailing::default()
        }
    }

    fn offset(&self, mark: i64, key: u64) -> i64 {
        if self.percent {
            (u128::from(mark.unsigned_abs()) * u128::from(key) / PPM) as i64
        } else {
            key as i64
        }
    }

    /// The largest trail that fires at `x` in a group at `mark`.
    fn max_firing_key(&self, mark: i64, x: i64) -> Option<u64> {
        let d = mark.checked_sub(x)?;
        if d < 0 {
            return None;
        }
        if !self.percent {
            return Some(d as u64);
        }
        let m = u128::from(mark.unsigned_abs());
        if m == 0 {
            return Some(u64::MAX);
        }
        // floor(m × key / 1e6) ≤ d  ⇔  key ≤ ((d + 1) × 1e6 − 1) / m
        let k = ((d as u128 + 1) * PPM - 1) / m;
        Some(u64::try_from(k).unwrap_or(u64::MAX))
    }

    fn threshold(&self, g: u32) -> Option<(i64, i64)> {
        let group = &self.groups[g as usize];
        let &(key, _) = group.members.first()?;
        Some((group.mark - self.offset(group.mark, key), group.mark))
    }

    fn new_group(&mut self, mark: i64) -> u32 {
        let g = match self.free.pop() {
            Some(g) => g,
            None => {
                self.groups.push(Group::default());
                (self.groups.len() - 1) as u32
            }
        };
        self.groups[g as usize].mark = mark;
        self.by_mark.insert(mark, g);
        g
    }

    fn release(&mut self, g: u32) {
        let mark = self.groups[g as usize].mark;
        if self.by_mark.get(&mark) == Some(&g) {
            self.by_mark.remove(&mark);
        }
        self.groups[g as usize].members = BTreeSet::new();
        self.free.push(g);
    }

    /// Arms `id` with trail `key` at `mark`; returns its group.
    fn arm(&mut self, id: TriggerId, key: u64, mark: i64) -> u32 {
        let g = match self.by_mark.get(&mark) {
            Some(&g) => g,
            None => self.new_group(mark),
        };
        if let Some(t) = self.threshold(g) {
            self.thresholds.remove(&t);
        }
        self.groups[g as usize].members.insert((key, id));
        if let Some(t) = self.threshold(g) {
            self.thresholds.insert(t);
        }
        g
    }

    fn cancel(&mut self, id: TriggerId, key: u64, g: u32) -> bool {
        let old = self.threshold(g);
        if !self.groups[g as usize].members.remove(&(key, id)) {
            return false;
        }
        if let Some(t) = old {
            self.thresholds.remove(&t);
        }
        match self.threshold(g) {
            Some(t) => {
                self.thresholds.insert(t);
            }
            None => self.release(g),
        }
        true
    }

    /// A trade at `x`: marks below it move up to it, then the stops at or above it fire
    /// (into `fired`); members that changed group go into `moved`.
    fn on_trade(&mut self, x: i64, fired: &mut Vec<TriggerId>, moved: &mut Vec<(TriggerId, u32)>) {
        // Every group whose mark is below the trade takes the trade's price as its mark.
        if self.by_mark.first_key_value().is_some_and(|(&m, _)| m < x) {
            let keep = self.by_mark.split_off(&x);
            let below = std::mem::replace(&mut self.by_mark, keep);
            let mut merging: Vec<u32> = below.into_values().collect();
            if let Some(g) = self.by_mark.remove(&x) {
                merging.push(g);
            }
            for &g in &merging {
                if let Some(t) = self.threshold(g) {
                    self.thresholds.remove(&t);
                }
            }
            let survivor = *merging
                .iter()
                .max_by_key(|&&g| self.groups[g as usize].members.len())
                .expect("at least one group");
            for &g in &merging {
                if g == survivor {
                    continue;
                }
                let members = std::mem::take(&mut self.groups[g as usize].members);
                moved.extend(members.iter().map(|&(_, id)| (id, survivor)));
                self.groups[survivor as usize].members.extend(members);
                self.free.push(g);
            }
            self.groups[survivor as usize].mark = x;
            self.by_mark.insert(x, survivor);
            if let Some(t) = self.threshold(survivor) {
                self.thresholds.insert(t);
            }
        }
        // Fire: the groups whose highest stop is at or above the trade.
        while let Some(&(stop, mark)) = self.thresholds.last() {
            if stop < x {
                break;
            }
            self.thresholds.pop_last();
            let Some(&g) = self.by_mark.get(&mark) else {
                continue;
            };
            let Some(max_key) = self.max_firing_key(mark, x) else {
                continue;
            };
            let group = &mut self.groups[g as usize];
            let rest = match max_key.checked_add(1) {
                Some(k) => group.members.split_off(&(k, 0)),
                None => BTreeSet::new(),
            };
            let hit = std::mem::replace(&mut group.members, rest);
            fired.extend(hit.iter().map(|&(_, id)| id));
            match self.threshold(g) {
                Some(t) => {
                    self.thresholds.insert(t);
                }
                None => self.release(g),
            }
        }
    }
}

/// One direction of one symbol: prices mirrored so that everything fires when `x`
/// falls to its stop.
#[derive(Debug)]
struct Half {
    levels: BTreeSet<(i64, TriggerId)>,
    amount: Trailing,
    percent: Trailing,
}

impl Default for Half {
    fn default() -> Self {
        Half {
            levels: BTreeSet::new(),
            amount: Trailing::new(false),
            percent: Trailing::new(true),
        }
    }
}

impl Half {
    fn trailing(&mut self, percent: bool) -> &mut Trailing {
        if percent {
            &mut self.percent
        } else {
            &mut self.amount
        }
    }
}

/// A symbol's triggers.
#[derive(Debug, Default)]
struct Symbol {
    last: Option<i64>,
    halves: [Half; 2],
    /// Trailing stops armed before the symbol's first trade.
    pending: Vec<(TriggerId, u8, bool, u64)>,
}

/// `price` as the half sees it.
fn mirror(half: u8, price: i64) -> i64 {
    if half == 0 { price } else { -price }
}

fn half_of(d: Direction) -> u8 {
    match d {
        Direction::Falling => 0,
        Direction::Rising => 1,
    }
}

/// Every armed trigger, by symbol.
#[derive(Debug, Default)]
pub struct TriggerIndex {
    symbols: Vec<Symbol>,
    at: HashMap<TriggerId, At>,
    moved: Vec<(TriggerId, u32)>,
    fired_here: Vec<TriggerId>,
}

impl TriggerIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Armed triggers.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether none is armed.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// The last trade's price in `symbol`, if it traded since the index was made.
    pub fn last_price(&self, symbol: u32) -> Option<i64> {
        self.symbols.get(symbol as usize).and_then(|s| s.last)
    }

    /// Sets the last price of `symbol` without evaluating anything (restoring the
    /// index after a restart, before the trades that follow).
    pub fn set_last_price(&mut self, symbol: u32, price: i64) {
        self.symbol(symbol).last = Some(price);
    }

    fn symbol(&mut self, symbol: u32) -> &mut Symbol {
        let i = symbol as usize;
        if self.symbols.len() <= i {
            self.symbols.resize_with(i + 1, Symbol::default);
        }
        &mut self.symbols[i]
    }

    /// Arms a trigger. A trailing stop's mark starts at the symbol's last price (or its
    /// next trade).
    pub fn arm(&mut self, id: TriggerId, t: Trigger) -> Result<(), ArmError> {
        self.arm_marked(id, t, None)
    }

    /// Arms a trigger as [`arm`](Self::arm) does, a trailing stop with at least `mark`
    /// as its mark (the best price it had seen, restored after a restart): the better
    /// of `mark` and the symbol's last price.
    pub fn arm_marked(
        &mut self,
        id: TriggerId,
        t: Trigger,
        mark: Option<i64>,
    ) -> Result<(), ArmError> {
        if self.at.contains_key(&id) {
            return Err(ArmError::Duplicate);
        }
        let half = half_of(t.direction);
        let (percent, key) = match t.condition {
            Condition::Level(p) if p > 0 => {
                let stop = mirror(half, p);
                self.symbol(t.symbol).halves[half as usize]
                    .levels
                    .insert((stop, id));
                self.at.insert(
                    id,
                    At::Level {
                        symbol: t.symbol,
                        half,
                        stop,
                    },
                );
                return Ok(());
            }
            Condition::TrailAmount(a) if a > 0 => (false, a as u64),
            Condition::TrailPpm(q) if q > 0 => (true, u64::from(q)),
            _ => return Err(ArmError::NotPositive),
        };
        let s = self.symbol(t.symbol);
        let best = match (
            s.last.map(|p| mirror(half, p)),
            mark.map(|p| mirror(half, p)),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        match best {
            Some(x) => {
                let group = s.halves[half as usize].trailing(percent).arm(id, key, x);
                self.at.insert(
                    id,
                    At::Trail {
                        symbol: t.symbol,
                        half,
                        percent,
                        key,
                        group,
                    },
                );
            }
            None => {
                s.pending.push((id, half, percent, key));
                self.at.insert(id, At::Pending { symbol: t.symbol });
            }
        }
        Ok(())
    }

    /// A trailing stop's mark: the best price since it was armed (the highest for a
    /// falling one, the lowest for a rising one); `None` for other triggers, and for a
    /// trailing stop still waiting for its symbol's first trade.
    pub fn mark(&self, id: TriggerId) -> Option<i64> {
        match *self.at.get(&id)? {
            At::Trail {
                symbol,
                half,
                percent,
                group,
                ..
            } => {
                let h = &self.symbols[symbol as usize].halves[half as usize];
                let t = if percent { &h.percent } else { &h.amount };
                Some(mirror(half, t.groups[group as usize].mark))
            }
            _ => None,
        }
    }

    /// Disarms a trigger; false if it is not armed (fired, canceled or never armed).
    pub fn cancel(&mut self, id: TriggerId) -> bool {
        let Some(at) = self.at.remove(&id) else {
            return false;
        };
        match at {
            At::Level { symbol, half, stop } => self.symbols[symbol as usize].halves[half as usize]
                .levels
                .remove(&(stop, id)),
            At::Trail {
                symbol,
                half,
                percent,
                key,
                group,
            } => self.symbols[symbol as usize].halves[half as usize]
                .trailing(percent)
                .cancel(id, key, group),
            At::Pending { symbol } => {
                let pending = &mut self.symbols[symbol as usize].pending;
                let before = pending.len();
                pending.retain(|p| p.0 != id);
                pending.len() != before
            }
        }
    }

    /// A trade in `symbol` at `price`: appends the triggers it fires to `fired` (each
    /// once, ever) and forgets them.
    pub fn on_trade(&mut self, symbol: u32, price: i64, fired: &mut Vec<TriggerId>) {
        let mut here = std::mem::take(&mut self.fired_here);
        let mut moved = std::mem::take(&mut self.moved);
        here.clear();
        moved.clear();
        self.symbol(symbol).last = Some(price);
        let s = &mut self.symbols[symbol as usize];
        let pending = std::mem::take(&mut s.pending);
        for (id, half, percent, key) in pending {
            let group = s.halves[half as usize]
                .trailing(percent)
                .arm(id, key, mirror(half, price));
            self.at.insert(
                id,
                At::Trail {
                    symbol,
                    half,
                    percent,
                    key,
                    group,
                },
            );
        }
        let s = &mut self.symbols[symbol as usize];
        for half in 0..2u8 {
            let x = mirror(half, price);
            let h = &mut s.halves[half as usize];
            // Nothing to split when the highest stop is below the trade (the usual case).
            if h.levels.last().is_some_and(|&(stop, _)| stop >= x) {
                let hit = h.levels.split_off(&(x, TriggerId::MIN));
                here.extend(hit.iter().map(|&(_, id)| id));
            }
            h.amount.on_trade(x, &mut here, &mut moved);
            h.percent.on_trade(x, &mut here, &mut moved);
        }
        for &(id, group) in &moved {
            if let Some(At::Trail { group: g, .. }) = self.at.get_mut(&id) {
                *g = group;
            }
        }
        for id in &here {
            self.at.remove(id);
        }
        fired.extend_from_slice(&here);
        self.fired_here = here;
        self.moved = moved;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(direction: Direction, condition: Condition) -> Trigger {
        Trigger {
            symbol: 0,
            direction,
            condition,
        }
    }

    fn trade(ix: &mut TriggerIndex, price: i64) -> Vec<TriggerId> {
        let mut fired = Vec::new();
        ix.on_trade(0, price, &mut fired);
        fired.sort_unstable();
        fired
    }

    #[test]
    fn stops_fire_at_or_beyond_their_price_once() {
        let mut ix = TriggerIndex::new();
        ix.arm(1, t(Direction::Falling, Condition::Level(9_500)))
            .unwrap();
        ix.arm(2, t(Direction::Rising, Condition::Level(10_500)))
            .unwrap();
        ix.arm(3, t(Direction::Falling, Condition::Level(9_000)))
            .unwrap();
        assert_eq!(trade(&mut ix, 10_000), Vec::<u64>::new());
        assert_eq!(trade(&mut ix, 9_500), vec![1], "a sell stop at its price");
        assert_eq!(trade(&mut ix, 9_400), Vec::<u64>::new(), "once");
        assert_eq!(
            trade(&mut ix, 11_000),
            vec![2],
            "a buy stop beyond its price"
        );
        assert_eq!(trade(&mut ix, 8_000), vec![3]);
        assert!(ix.is_empty());
        assert_eq!(
            ix.arm(4, t(Direction::Falling, Condition::TrailAmount(0))),
            Err(ArmError::NotPositive)
        );
    }

    #[test]
    fn a_trailing_sell_follows_the_high_and_fires_on_the_fall() {
        let mut ix = TriggerIndex::new();
        // Armed before any trade: the first trade is its mark.
        ix.arm(1, t(Direction::Falling, Condition::TrailAmount(200)))
            .unwrap();
        assert_eq!(trade(&mut ix, 10_000), Vec::<u64>::new());
        assert_eq!(
            trade(&mut ix, 10_500),
            Vec::<u64>::new(),
            "a new high: mark 10,500"
        );
        assert_eq!(trade(&mut ix, 10_301), Vec::<u64>::new(), "above 10,300");
        assert_eq!(
            trade(&mut ix, 10_300),
            vec![1],
            "at the mark less the trail"
        );
        // A percent trail on a buy: 1% of the low.
        ix.arm(2, t(Direction::Rising, Condition::TrailPpm(10_000)))
            .unwrap();
        assert_eq!(
            trade(&mut ix, 10_000),
            Vec::<u64>::new(),
            "a new low: 10,000"
        );
        assert_eq!(trade(&mut ix, 10_099), Vec::<u64>::new());
        assert_eq!(trade(&mut ix, 10_100), vec![2], "the low plus 1%");
    }

    #[test]
    fn a_restored_mark_is_kept_unless_the_last_price_is_better() {
        let mut ix = TriggerIndex::new();
        ix.set_last_price(0, 10_000);
        // A sell trailing stop that had seen 10,400 before a restart.
        ix.arm_marked(
            1,
            t(Direction::Falling, Condition::TrailAmount(200)),
            Some(10_400),
        )
        .unwrap();
        assert_eq!(ix.mark(1), Some(10_400));
        assert_eq!(trade(&mut ix, 10_250), Vec::<u64>::new());
        assert_eq!(trade(&mut ix, 10_200), vec![1], "10,400 less 200");
        // A buy trailing stop whose saved low is worse than the last trade.
        ix.arm_marked(
            2,
            t(Direction::Rising, Condition::TrailAmount(100)),
            Some(10_500),
        )
        .unwrap();
        assert_eq!(ix.mark(2), Some(10_200), "the last trade is the better low");
        ix.arm(3, t(Direction::Falling, Condition::Level(9_000)))
            .unwrap();
        assert_eq!(ix.mark(3), None, "a fixed level has no mark");
        assert_eq!(trade(&mut ix, 10_300), vec![2]);
    }

    #[test]
    fn a_canceled_trigger_never_fires_even_after_its_group_merged() {
        let mut ix = TriggerIndex::new();
        ix.set_last_price(0, 10_000);
        for id in 1..=5 {
            ix.arm(
                id,
                t(Direction::Falling, Condition::TrailAmount(100 * id as i64)),
            )
            .unwrap();
        }
        trade(&mut ix, 9_990); // a second mark for the next ones
        ix.arm(6, t(Direction::Falling, Condition::TrailAmount(100)))
            .unwrap();
        trade(&mut ix, 10_200); // both groups merge at 10,200
        assert!(ix.cancel(3));
        assert!(!ix.cancel(3), "once");
        assert_eq!(
            trade(&mut ix, 9_850),
            vec![1, 2, 6],
            "stops 10,100 and 10,000"
        );
        assert_eq!(trade(&mut ix, 9_000), vec![4, 5], "3 was canceled");
        assert!(ix.is_empty());
    }
}
