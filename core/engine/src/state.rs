//! The canonical view of an engine's state, its hash, and rebuilding an engine from it.
//!
//! [`State`] lists everything observable in a fixed order (instruments by id, accounts by
//! user id, holdings by symbol, orders in priority order) and nothing that is an accident
//! of the implementation (slab indices, hash-map order, zero holdings). Two engines with
//! equal `State`s behave identically from then on, which is what makes it the content of
//! a snapshot and the thing [`State::hash`] fingerprints: the fast engine and the
//! reference engine, or an engine before a crash and after recovery, are compared by it.

use crate::account::{Account, Balance, Limits};
use crate::book::{Order, enqueue, level_orders};
use crate::engine::{Engine, EngineConfig, Instrument};
use crate::slab::NIL;
use crate::types::{Amount, ClientOrderId, Price, Qty, Side, Symbol, TimeInForce, UserId};

/// A resting order, as the state lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    /// Owner.
    pub user: UserId,
    /// Client order id.
    pub id: ClientOrderId,
    /// Limit price.
    pub price: Price,
    /// Quantity still open.
    pub open: Qty,
    /// Quantity already filled.
    pub filled: Qty,
    /// Time in force (GTC or DAY).
    pub tif: TimeInForce,
    /// Post-only flag.
    pub post_only: bool,
}

/// One instrument and its book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookState {
    /// The instrument.
    pub instrument: Instrument,
    /// Bids in priority order (best price first, then time).
    pub bids: Vec<RestingOrder>,
    /// Asks in priority order.
    pub asks: Vec<RestingOrder>,
}

impl BookState {
    /// One side's orders.
    pub fn side(&self, side: Side) -> &[RestingOrder] {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// One side's levels as (price, summed open quantity), best first.
    pub fn levels(&self, side: Side) -> Vec<(Price, Qty)> {
        let mut out: Vec<(Price, Qty)> = Vec::new();
        for o in self.side(side) {
            match out.last_mut() {
                Some((p, q)) if *p == o.price => q.0 += o.open.0,
                _ => out.push((o.price, o.open)),
            }
        }
        out
    }
}

/// One account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountState {
    /// Owner.
    pub user: UserId,
    /// Cash.
    pub cash: Balance,
    /// Non-zero holdings, by symbol.
    pub holdings: Vec<(Symbol, Balance)>,
    /// Trading conditions.
    pub limits: Limits,
}

/// Everything observable about an engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Sequence number of the last event.
    pub seq: u64,
    /// Instruments in id order, each with its book.
    pub books: Vec<BookState>,
    /// Accounts by user id.
    pub accounts: Vec<AccountState>,
}

/// 64-bit FNV-1a: simple, stable across platforms and releases.
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn i64(&mut self, v: i64) {
        self.write(&v.to_le_bytes());
    }
}

impl State {
    /// A stable fingerprint of the state.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.i64(self.seq as i64);
        for b in &self.books {
            h.write(b.instrument.symbol.as_bytes());
            h.i64(b.instrument.tick);
            h.i64(b.instrument.lot);
            for side in [&b.bids, &b.asks] {
                h.i64(side.len() as i64);
                for o in side {
                    h.i64(o.user.0 as i64);
                    h.write(o.id.as_bytes());
                    h.i64(o.price.0);
                    h.i64(o.open.0);
                    h.i64(o.filled.0);
                    h.write(&[o.tif as u8, u8::from(o.post_only)]);
                }
            }
        }
        for a in &self.accounts {
            h.i64(a.user.0 as i64);
            h.i64(a.cash.total);
            h.i64(a.cash.reserved);
            for (s, bal) in &a.holdings {
                h.write(s.as_bytes());
                h.i64(bal.total);
                h.i64(bal.reserved);
            }
            let l = &a.limits;
            h.i64(l.max_order_qty);
            h.i64(l.max_order_notional);
            h.i64(i64::from(l.max_open_orders));
            h.write(&[
                u8::from(l.trading_enabled),
                u8::from(l.self_trade_prevention),
            ]);
        }
        h.0
    }

    /// Total cash over all accounts.
    pub fn total_cash(&self) -> Amount {
        self.accounts.iter().map(|a| a.cash.total).sum()
    }

    /// Total shares of `symbol` over all accounts.
    pub fn total_shares(&self, symbol: &Symbol) -> Amount {
        self.accounts
            .iter()
            .flat_map(|a| a.holdings.iter())
            .filter(|(s, _)| s == symbol)
            .map(|(_, b)| b.total)
            .sum()
    }
}

impl Engine {
    /// The canonical state. Allocates: for snapshots, tests and audits, not the hot path.
    pub fn state(&self) -> State {
        let books = self
            .instruments
            .iter()
            .zip(&self.books)
            .map(|(inst, book)| {
                let side = |s: Side| {
                    book.levels(s, &self.levels)
                        .flat_map(|l| level_orders(&self.levels, &self.orders, l.level))
                        .map(|o| {
                            let o = &self.orders[o];
                            RestingOrder {
                                user: self.accounts[o.account as usize].user,
                                id: o.id,
                                price: Price(o.price),
                                open: Qty(o.open),
                                filled: Qty(o.filled),
                                tif: o.tif,
                                post_only: o.post_only,
                            }
                        })
                        .collect()
                };
                BookState {
                    instrument: *inst,
                    bids: side(Side::Buy),
                    asks: side(Side::Sell),
                }
            })
            .collect();
        let mut holdings: Vec<Vec<(Symbol, Balance)>> = vec![Vec::new(); self.accounts.len()];
        for p in &self.positions {
            if p.shares != Balance::default() {
                let sym = self.instruments[p.symbol as usize].symbol;
                holdings[p.account as usize].push((sym, p.shares));
            }
        }
        let mut accounts: Vec<AccountState> = self
            .accounts
            .iter()
            .zip(holdings)
            .map(|(a, mut h)| {
                h.sort_by_key(|x| x.0);
                AccountState {
                    user: a.user,
                    cash: a.cash,
                    holdings: h,
                    limits: a.limits,
                }
            })
            .collect();
        accounts.sort_by_key(|a| a.user);
        State {
            seq: self.seq,
            books,
            accounts,
        }
    }

    /// Rebuilds an engine from a state (a snapshot). The result has the same
    /// [`State`] and behaves identically from then on.
    pub fn from_state(state: &State, mut config: EngineConfig) -> Engine {
        let orders: usize = state
            .books
            .iter()
            .map(|b| b.bids.len() + b.asks.len())
            .sum();
        config.orders = config.orders.max(orders);
        config.users = config.users.max(state.accounts.len());
        config.instruments = config.instruments.max(state.books.len());
        let mut e = Engine::new(config);
        e.seq = state.seq;
        for b in &state.books {
            let id = e.instruments.len() as u32;
            e.instruments.push(b.instrument);
            e.symbols.insert(b.instrument.symbol, id);
            e.books.push(Default::default());
            e.share_supply.push(0);
        }
        for a in &state.accounts {
            let idx = e.accounts.len() as u32;
            e.accounts.push(Account {
                user: a.user,
                cash: a.cash,
                limits: a.limits,
                open_orders: 0,
                recent: (NIL, NIL),
            });
            e.users.insert(a.user, idx);
            e.cash_supply += a.cash.total;
            for (sym, bal) in &a.holdings {
                if let Some(&s) = e.symbols.get(sym) {
                    let p = e.position(idx, s);
                    e.positions[p as usize].shares = *bal;
                    e.share_supply[s as usize] += bal.total;
                }
            }
        }
        for (s, b) in state.books.iter().enumerate() {
            for (side, list) in [(Side::Buy, &b.bids), (Side::Sell, &b.asks)] {
                for r in list {
                    let Some(&account) = e.users.get(&r.user) else {
                        continue;
                    };
                    let position = e.position(account, s as u32);
                    let slot = e.orders.insert(Order {
                        id: r.id,
                        account,
                        position,
                        level: NIL,
                        prev: NIL,
                        next: NIL,
                        price: r.price.0,
                        open: r.open.0,
                        filled: r.filled.0,
                        side,
                        tif: r.tif,
                        post_only: r.post_only,
                    });
                    enqueue(&mut e.books[s], &mut e.levels, &mut e.orders, slot);
                    e.order_index.insert(&e.orders, account, &r.id, slot);
                    e.accounts[account as usize].open_orders += 1;
                }
            }
        }
        e
    }
}
