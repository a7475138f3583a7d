//! The order book by price level, kept from the engine's events alone.
//!
//! The engine publishes what happened to orders, not levels. This module keeps every
//! open order's side, price and open quantity (keyed by owner and client order id, as
//! the events name them) and the sum per price level, so that after the last event of
//! each command the levels equal the engine's book exactly (`tests/levels_match.rs`
//! checks this against the engine after every command of the exchange-core workload).
//!
//! Within one command the levels may briefly look crossed: an incoming limit order is
//! added whole when `Accepted`, then reduced by its trades and removed by a `Canceled`
//! for an IOC remainder. Publishers therefore read the levels only between commands.

use std::collections::{BTreeMap, HashMap};

use bourse_core::{ClientOrderId, Event, EventKind, Price, Qty, Side, State, SymbolId, UserId};
use serde::{Deserialize, Serialize};

/// One price level: a price and the total open quantity resting there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Price in minor units.
    pub price: i64,
    /// Total open quantity at this price.
    pub qty: i64,
}

/// One instrument's levels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sides {
    /// Bids by price (best is the highest).
    pub bids: BTreeMap<i64, i64>,
    /// Asks by price (best is the lowest).
    pub asks: BTreeMap<i64, i64>,
}

impl Sides {
    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, i64> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn add(&mut self, side: Side, price: i64, qty: i64) {
        if qty == 0 {
            return;
        }
        let levels = self.side_mut(side);
        let total = levels.entry(price).or_insert(0);
        *total += qty;
        if *total == 0 {
            levels.remove(&price);
        }
    }

    /// The best `n` bids, best first.
    pub fn top_bids(&self, n: usize) -> Vec<Level> {
        self.bids
            .iter()
            .rev()
            .take(n)
            .map(|(&price, &qty)| Level { price, qty })
            .collect()
    }

    /// The best `n` asks, best first.
    pub fn top_asks(&self, n: usize) -> Vec<Level> {
        self.asks
            .iter()
            .take(n)
            .map(|(&price, &qty)| Level { price, qty })
            .collect()
    }
}

/// An open order as the events describe it.
#[derive(Clone, Copy, Debug)]
struct Open {
    symbol: SymbolId,
    side: Side,
    /// `None` for a market order, which never rests.
    price: Option<i64>,
    open: i64,
    filled: i64,
}

/// Every instrument's levels, kept from events.
#[derive(Clone, Debug, Default)]
pub struct LevelBook {
    orders: HashMap<(UserId, ClientOrderId), Open>,
    books: Vec<Sides>,
}

impl LevelBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// The levels of a state (an engine recovered from the journal, say): every
    /// resting order, so that later events apply on top.
    pub fn from_state(state: &State) -> Self {
        let mut book = LevelBook::new();
        for (i, b) in state.books.iter().enumerate() {
            let symbol = SymbolId(i as u32);
            for (side, orders) in [(Side::Buy, &b.bids), (Side::Sell, &b.asks)] {
                for o in orders {
                    book.orders.insert(
                        (o.user, o.id),
                        Open {
                            symbol,
                            side,
                            price: Some(o.price.0),
                            open: o.open.0,
                            filled: o.filled.0,
                        },
                    );
                    book.book(symbol).add(side, o.price.0, o.open.0);
                }
            }
        }
        book
    }

    /// One instrument's levels (empty if it has none yet).
    pub fn sides(&self, symbol: SymbolId) -> Option<&Sides> {
        self.books.get(symbol.0 as usize)
    }

    fn book(&mut self, symbol: SymbolId) -> &mut Sides {
        let i = symbol.0 as usize;
        if self.books.len() <= i {
            self.books.resize_with(i + 1, Sides::default);
        }
        &mut self.books[i]
    }

    /// Applies one event; returns the instrument whose levels (or trades) it touched.
    pub fn apply(&mut self, event: &Event) -> Option<SymbolId> {
        match event.kind {
            EventKind::Accepted {
                user,
                id,
                symbol,
                side,
                price,
                qty,
            } => {
                let price = price.map(|Price(p)| p);
                self.orders.insert(
                    (user, id),
                    Open {
                        symbol,
                        side,
                        price,
                        open: qty.0,
                        filled: 0,
                    },
                );
                if let Some(p) = price {
                    self.book(symbol).add(side, p, qty.0);
                }
                Some(symbol)
            }
            EventKind::Trade {
                symbol,
                qty: Qty(q),
                maker_user,
                maker_id,
                taker_user,
                taker_id,
                ..
            } => {
                self.fill((maker_user, maker_id), q);
                self.fill((taker_user, taker_id), q);
                Some(symbol)
            }
            EventKind::Canceled { user, id, .. } => {
                let o = self.orders.remove(&(user, id))?;
                if let Some(p) = o.price {
                    self.book(o.symbol).add(o.side, p, -o.open);
                }
                Some(o.symbol)
            }
            EventKind::Replaced {
                user,
                id,
                new_id,
                price: Price(price),
                qty: Qty(total),
            } => {
                let o = self.orders.remove(&(user, id))?;
                let book = self.book(o.symbol);
                if let Some(p) = o.price {
                    book.add(o.side, p, -o.open);
                }
                let open = total - o.filled;
                book.add(o.side, price, open);
                self.orders.insert(
                    (user, new_id),
                    Open {
                        price: Some(price),
                        open,
                        ..o
                    },
                );
                Some(o.symbol)
            }
            EventKind::Rejected { .. } | EventKind::Done { .. } => None,
        }
    }

    fn fill(&mut self, key: (UserId, ClientOrderId), qty: i64) {
        let Some(o) = self.orders.get_mut(&key) else {
            return;
        };
        o.open -= qty;
        o.filled += qty;
        let (symbol, side, price, open) = (o.symbol, o.side, o.price, o.open);
        if open <= 0 {
            self.orders.remove(&key);
        }
        if let Some(p) = price {
            self.book(symbol).add(side, p, -qty);
        }
    }

    /// How many orders are open (resting, or mid-command).
    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }
}
