//! The engine: one shard's instruments, accounts and books, driven by [`Command`]s.
//!
//! # What it owns
//! Every instrument, account, position, resting order and price level of its shard, in
//! preallocated vectors and slabs addressed by `u32` indices. Nothing is shared, nothing
//! is locked: one thread calls [`Engine::execute`] and everything else learns what
//! happened from the events it emits.
//!
//! # Ordering invariant
//! Commands are processed one at a time, to completion, in the order given. Events carry
//! one global sequence number rising by one; for the same commands from the same state
//! the engine emits the same events (it reads no clock, no RNG, and never iterates a hash
//! map where the order could be observed).
//!
//! # Risk
//! Every order is checked before it can trade: the user exists and may trade, the
//! instrument exists, price and quantity fit tick and lot, per-user limits hold, and the
//! order's worst-case cost is *reserved* (cash for buys, shares for sells). Trades move
//! reserved value between the two accounts, so no account can go short or negative.
//!
//! # Performance
//! Per order: one hash look-up for the account, one for the order id (whose hash also
//! serves the insert), the position from the account's last one (a hash only when the
//! instrument changes), then work proportional to the levels and orders it touches. An
//! order is one 64-byte cache line. No allocation in steady state (slabs and maps are
//! sized by [`EngineConfig`] and grow by amortised doubling only past that; the order
//! index grows with the book, at new highs only), no I/O, no logging. The order path
//! does not branch on an order's side where it can compute instead ([`by_side`],
//! [`crosses`]): in a real order stream the side is a coin toss, and each wrong guess
//! of the branch predictor costs about what a dozen instructions do.

use crate::account::{Account, Balance, Limits, Position};
use crate::book::{Book, Level, Order, crosses, enqueue, level_orders, unlink};
use crate::command::{AdminOp, Asset, Command, LimitsUpdate, NewOrder};
use crate::event::{CancelReason, Event, EventKind, EventSink, RejectReason};
use crate::hashing::{Map, map};
use crate::order_index::{self, OrderIndex};
use crate::slab::{NIL, Slab};
use crate::types::{
    Amount, ClientOrderId, OrderType, Price, Qty, Seq, Side, Symbol, SymbolId, TimeInForce, UserId,
};
use crate::user_index::UserIndex;

/// How much to preallocate. Exceeding a figure costs an amortised reallocation, never an
/// error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Instruments.
    pub instruments: usize,
    /// Users.
    pub users: usize,
    /// Positions (user × instrument pairs with holdings).
    pub positions: usize,
    /// Resting orders.
    pub orders: usize,
    /// Price levels across all books.
    pub levels: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            instruments: 64,
            users: 1_024,
            positions: 4_096,
            orders: 16_384,
            levels: 4_096,
        }
    }
}

/// A listed instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// Ticker.
    pub symbol: Symbol,
    /// Price increment, in minor units.
    pub tick: i64,
    /// Quantity increment.
    pub lot: i64,
}

/// How a match pass ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchEnd {
    /// Filled, or no more crossing liquidity.
    Normal,
    /// Stopped before trading with the same user's resting order.
    SelfTrade,
    /// The order's notional budget (market orders) ran out.
    Budget,
}

/// The matching engine of one shard.
#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) seq: u64,
    pub(crate) instruments: Vec<Instrument>,
    pub(crate) symbols: Map<Symbol, u32>,
    pub(crate) books: Vec<Book>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) users: UserIndex,
    pub(crate) positions: Vec<Position>,
    pub(crate) position_index: Map<u64, u32>,
    pub(crate) orders: Slab<Order>,
    pub(crate) order_index: OrderIndex,
    pub(crate) levels: Slab<Level>,
    /// Cash in all accounts together: deposits never let it overflow, so no single
    /// balance can.
    pub(crate) cash_supply: Amount,
    /// Shares of each instrument in all accounts together, for the same reason.
    pub(crate) share_supply: Vec<Amount>,
}

#[inline]
fn emit(seq: &mut u64, out: &mut impl EventSink, kind: EventKind) {
    *seq += 1;
    out.push(Event {
        seq: Seq(*seq),
        kind,
    });
}

/// `(cash, 0)` for a buy and `(0, shares)` for a sell, computed without a branch.
///
/// What an order reserves or gives back is cash on one side and shares on the other.
/// The side of a stream of orders is a coin toss to the branch predictor, and a wrong
/// guess costs more than touching both balances, one of them with zero: the order
/// path's reservations are written this way.
#[inline(always)]
fn by_side(side: Side, cash: Amount, shares: Amount) -> (Amount, Amount) {
    let sell = i64::from(side as u8);
    (cash * (1 - sell), shares * sell)
}

/// The refusal of an order whose side's balance is short: cash for a buy, shares for a
/// sell.
fn short_of(side: Side) -> RejectReason {
    match side {
        Side::Buy => RejectReason::InsufficientFunds,
        Side::Sell => RejectReason::InsufficientShares,
    }
}

#[inline]
fn position_key(account: u32, symbol: u32) -> u64 {
    (u64::from(account) << 32) | u64::from(symbol)
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(EngineConfig::default())
    }
}

impl Engine {
    /// An empty engine with room for `config`'s figures.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            seq: 0,
            instruments: Vec::with_capacity(config.instruments),
            symbols: map(config.instruments),
            books: Vec::with_capacity(config.instruments),
            accounts: Vec::with_capacity(config.users),
            users: UserIndex::with_capacity(config.users),
            positions: Vec::with_capacity(config.positions),
            position_index: map(config.positions),
            orders: Slab::with_capacity(config.orders),
            order_index: OrderIndex::new(),
            levels: Slab::with_capacity(config.levels),
            cash_supply: 0,
            share_supply: Vec::with_capacity(config.instruments),
        }
    }

    /// The sequence number of the last event emitted (0 before any).
    pub fn seq(&self) -> Seq {
        Seq(self.seq)
    }

    /// The id of the instrument called `symbol`.
    pub fn symbol_id(&self, symbol: &Symbol) -> Option<SymbolId> {
        self.symbols.get(symbol).map(|&i| SymbolId(i))
    }

    /// The instrument with this id.
    pub fn instrument(&self, id: SymbolId) -> Option<&Instrument> {
        self.instruments.get(id.0 as usize)
    }

    /// Every instrument, in id order.
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// Number of resting orders.
    pub fn resting_orders(&self) -> usize {
        self.orders.len()
    }

    /// Best bid and best ask of an instrument.
    pub fn best_prices(&self, id: SymbolId) -> (Option<Price>, Option<Price>) {
        match self.books.get(id.0 as usize) {
            Some(b) => (b.best(Side::Buy).map(Price), b.best(Side::Sell).map(Price)),
            None => (None, None),
        }
    }

    /// Price levels with resting orders in an instrument's book, both sides together.
    pub fn price_levels(&self, id: SymbolId) -> usize {
        self.books.get(id.0 as usize).map_or(0, Book::level_count)
    }

    /// An open order of `user`: its instrument, side, price and open quantity.
    pub fn open_order(
        &self,
        user: UserId,
        id: ClientOrderId,
    ) -> Option<(SymbolId, Side, Price, Qty)> {
        let &a = self.users.get(&user)?;
        let slot = self.order_index.get(&self.orders, a, &id)?;
        let o = &self.orders[slot];
        Some((
            SymbolId(self.symbol_of(o)),
            o.side,
            Price(o.price),
            Qty(o.open),
        ))
    }

    /// A user's cash balance.
    pub fn cash(&self, user: UserId) -> Option<Balance> {
        self.users
            .get(&user)
            .map(|&a| self.accounts[a as usize].cash)
    }

    /// A user's holding of an instrument (zero if the user never held it).
    pub fn shares(&self, user: UserId, symbol: SymbolId) -> Option<Balance> {
        let &a = self.users.get(&user)?;
        Some(
            self.position_index
                .get(&position_key(a, symbol.0))
                .map(|&p| self.positions[p as usize].shares)
                .unwrap_or_default(),
        )
    }

    /// Processes one command to completion, writing its events to `out`.
    pub fn execute(&mut self, cmd: &Command, out: &mut impl EventSink) {
        match cmd {
            Command::New(o) => self.new_order(o, out),
            Command::Cancel { user, id } => self.cancel(*user, *id, out),
            Command::Replace {
                user,
                id,
                new_id,
                price,
                qty,
            } => self.replace(*user, *id, *new_id, *price, *qty, out),
            Command::AddInstrument { symbol, tick, lot } => {
                self.add_instrument(*symbol, *tick, *lot, out)
            }
            Command::AddUser { user } => self.add_user(*user, out),
            Command::Deposit {
                user,
                asset,
                amount,
            } => self.deposit(*user, *asset, *amount, out),
            Command::Withdraw {
                user,
                asset,
                amount,
            } => self.withdraw(*user, *asset, *amount, out),
            Command::SetLimits { user, limits } => self.set_limits(*user, limits, out),
            Command::EndOfDay => self.end_of_day(out),
            Command::Invalid { user, id, reason } => self.reject(*user, *id, *reason, out),
        }
    }

    fn reject(
        &mut self,
        user: Option<UserId>,
        id: Option<ClientOrderId>,
        reason: RejectReason,
        out: &mut impl EventSink,
    ) {
        emit(&mut self.seq, out, EventKind::Rejected { user, id, reason });
    }

    fn done(&mut self, op: AdminOp, user: Option<UserId>, out: &mut impl EventSink) {
        emit(&mut self.seq, out, EventKind::Done { op, user });
    }

    // ---------------------------------------------------------------- admin commands

    fn add_instrument(&mut self, symbol: Symbol, tick: Price, lot: Qty, out: &mut impl EventSink) {
        let reason = if self.symbols.contains_key(&symbol) || symbol.as_str() == crate::CASH {
            Some(RejectReason::DuplicateId)
        } else if tick.0 <= 0 {
            Some(RejectReason::InvalidPrice)
        } else if lot.0 <= 0 {
            Some(RejectReason::InvalidQty)
        } else {
            None
        };
        if let Some(r) = reason {
            return self.reject(None, None, r, out);
        }
        let id = self.instruments.len() as u32;
        self.instruments.push(Instrument {
            symbol,
            tick: tick.0,
            lot: lot.0,
        });
        self.symbols.insert(symbol, id);
        self.books.push(Book::default());
        self.share_supply.push(0);
        self.done(AdminOp::AddInstrument, None, out);
    }

    fn add_user(&mut self, user: UserId, out: &mut impl EventSink) {
        if self.users.contains_key(&user) {
            return self.reject(Some(user), None, RejectReason::DuplicateId, out);
        }
        let a = self.accounts.len() as u32;
        self.accounts.push(Account {
            user,
            cash: Balance::default(),
            limits: Limits::default(),
            open_orders: 0,
            recent: (NIL, NIL),
        });
        self.users.insert(user, a);
        self.done(AdminOp::AddUser, Some(user), out);
    }

    /// Checks a deposit or withdrawal and returns the account and asset index.
    fn transfer_target(
        &self,
        user: UserId,
        asset: Asset,
        amount: Amount,
    ) -> Result<(u32, Option<u32>), RejectReason> {
        let &a = self.users.get(&user).ok_or(RejectReason::UnknownUser)?;
        let sym = match asset {
            Asset::Cash => None,
            Asset::Shares(s) if (s.0 as usize) < self.instruments.len() => Some(s.0),
            Asset::Shares(_) => return Err(RejectReason::UnknownSymbol),
        };
        if amount <= 0 {
            return Err(RejectReason::InvalidQty);
        }
        Ok((a, sym))
    }

    fn deposit(&mut self, user: UserId, asset: Asset, amount: Amount, out: &mut impl EventSink) {
        let (a, sym) = match self.transfer_target(user, asset, amount) {
            Ok(t) => t,
            Err(r) => return self.reject(Some(user), None, r, out),
        };
        match sym {
            None => match self.cash_supply.checked_add(amount) {
                Some(s) => {
                    self.cash_supply = s;
                    self.accounts[a as usize].cash.total += amount;
                }
                None => return self.reject(Some(user), None, RejectReason::LimitExceeded, out),
            },
            Some(s) => {
                match self.share_supply[s as usize].checked_add(amount) {
                    Some(t) => self.share_supply[s as usize] = t,
                    None => return self.reject(Some(user), None, RejectReason::LimitExceeded, out),
                }
                let p = self.position(a, s);
                self.positions[p as usize].shares.total += amount;
            }
        }
        self.done(AdminOp::Deposit, Some(user), out);
    }

    fn withdraw(&mut self, user: UserId, asset: Asset, amount: Amount, out: &mut impl EventSink) {
        let (a, sym) = match self.transfer_target(user, asset, amount) {
            Ok(t) => t,
            Err(r) => return self.reject(Some(user), None, r, out),
        };
        let balance = match sym {
            None => &mut self.accounts[a as usize].cash,
            Some(s) => match self.position_index.get(&position_key(a, s)) {
                Some(&p) => &mut self.positions[p as usize].shares,
                None => {
                    return self.reject(Some(user), None, RejectReason::InsufficientFunds, out);
                }
            },
        };
        if balance.free() < amount {
            return self.reject(Some(user), None, RejectReason::InsufficientFunds, out);
        }
        balance.total -= amount;
        match sym {
            None => self.cash_supply -= amount,
            Some(s) => self.share_supply[s as usize] -= amount,
        }
        self.done(AdminOp::Withdraw, Some(user), out);
    }

    fn set_limits(&mut self, user: UserId, limits: &LimitsUpdate, out: &mut impl EventSink) {
        let Some(&a) = self.users.get(&user) else {
            return self.reject(Some(user), None, RejectReason::UnknownUser, out);
        };
        let negative = limits.max_order_qty.is_some_and(|q| q.0 < 0)
            || limits.max_order_notional.is_some_and(|n| n < 0);
        if negative {
            return self.reject(Some(user), None, RejectReason::InvalidQty, out);
        }
        self.accounts[a as usize].limits.apply(limits);
        self.done(AdminOp::SetLimits, Some(user), out);
    }

    fn end_of_day(&mut self, out: &mut impl EventSink) {
        // Deterministic order: symbol, bids then asks, best level first, queue order.
        let mut day = Vec::new();
        for book in &self.books {
            for side in [Side::Buy, Side::Sell] {
                for l in book.levels(side, &self.levels) {
                    day.extend(
                        level_orders(&self.levels, &self.orders, l.level)
                            .filter(|&o| self.orders[o].tif == TimeInForce::Day),
                    );
                }
            }
        }
        for o in day {
            self.remove_resting(o, CancelReason::Expired, out);
        }
        self.done(AdminOp::EndOfDay, None, out);
    }

    /// The position index of (`account`, `symbol`), created empty if missing.
    #[inline]
    pub(crate) fn position(&mut self, account: u32, symbol: u32) -> u32 {
        match self.find_position(account, symbol) {
            Some(p) => p,
            None => self.new_position(account, symbol),
        }
    }

    /// Creates the empty position of (`account`, `symbol`).
    #[cold]
    #[inline(never)]
    fn new_position(&mut self, account: u32, symbol: u32) -> u32 {
        let p = self.positions.len() as u32;
        self.positions.push(Position {
            account,
            symbol,
            shares: Balance::default(),
        });
        self.position_index.insert(position_key(account, symbol), p);
        self.accounts[account as usize].recent = (symbol, p);
        p
    }

    /// The position index of (`account`, `symbol`), if the account ever held it.
    #[inline]
    fn find_position(&mut self, account: u32, symbol: u32) -> Option<u32> {
        let (recent_symbol, recent) = self.accounts[account as usize].recent;
        if recent_symbol == symbol {
            return Some(recent);
        }
        let &p = self.position_index.get(&position_key(account, symbol))?;
        self.accounts[account as usize].recent = (symbol, p);
        Some(p)
    }

    // ---------------------------------------------------------------- orders

    /// Checks price and quantity against the instrument's tick and lot.
    fn check_price_qty(
        inst: &Instrument,
        price: Option<i64>,
        qty: i64,
    ) -> Result<(), RejectReason> {
        // `%` is a slow division: skip it for the common tick and lot of 1.
        if let Some(p) = price
            && (p <= 0 || (inst.tick != 1 && p % inst.tick != 0))
        {
            return Err(RejectReason::InvalidPrice);
        }
        if qty <= 0 || (inst.lot != 1 && qty % inst.lot != 0) {
            return Err(RejectReason::InvalidQty);
        }
        Ok(())
    }

    /// Every check of a new order that does not depend on balances; returns the account
    /// and the hash of the order's key in the order index.
    #[inline]
    fn check_new(&self, o: &NewOrder) -> Result<(u32, u64), RejectReason> {
        let &a = self.users.get(&o.user).ok_or(RejectReason::UnknownUser)?;
        let limits = &self.accounts[a as usize].limits;
        if !limits.trading_enabled {
            return Err(RejectReason::TradingDisabled);
        }
        let inst = self
            .instruments
            .get(o.symbol.0 as usize)
            .ok_or(RejectReason::UnknownSymbol)?;
        let h = order_index::hash(a, &o.id);
        if self
            .order_index
            .get_hashed(&self.orders, h, a, &o.id)
            .is_some()
        {
            return Err(RejectReason::DuplicateId);
        }
        let market = o.order_type == OrderType::Market;
        Self::check_price_qty(inst, (!market).then_some(o.price.0), o.qty.0)?;
        if o.qty.0 > limits.max_order_qty {
            return Err(RejectReason::LimitExceeded);
        }
        if !market {
            match o.price.0.checked_mul(o.qty.0) {
                Some(n) if n <= limits.max_order_notional => {}
                _ => return Err(RejectReason::LimitExceeded),
            }
            if o.tif.rests() && self.accounts[a as usize].open_orders >= limits.max_open_orders {
                return Err(RejectReason::LimitExceeded);
            }
        }
        if o.post_only {
            let opposite = self.books[o.symbol.0 as usize].best(o.side.opposite());
            let would_cross = market || opposite.is_some_and(|b| crosses(o.side, o.price.0, b));
            if would_cross {
                return Err(RejectReason::PostOnlyWouldCross);
            }
        }
        Ok((a, h))
    }

    fn new_order(&mut self, o: &NewOrder, out: &mut impl EventSink) {
        let (a, h) = match self.check_new(o) {
            Ok(r) => r,
            Err(r) => return self.reject(Some(o.user), Some(o.id), r, out),
        };
        let sym = o.symbol.0;
        let market = o.order_type == OrderType::Market;
        let limits = self.accounts[a as usize].limits;
        // Reserve the worst case; `budget` caps what a market order may trade in notional.
        let mut budget = Amount::MAX;
        // A limit order whose position exists (nearly every one) reserves without a
        // branch on its side ([`by_side`]); a market order, or a first order in an
        // instrument, takes the path below, with the position looked up here.
        let known = self.find_position(a, sym);
        let position = match (known, o.side) {
            (Some(p), _) if !market => {
                let (cash_need, shares_need) = by_side(o.side, o.price.0 * o.qty.0, o.qty.0);
                let cash = &mut self.accounts[a as usize].cash;
                let shares = &mut self.positions[p as usize].shares;
                if (cash.free() < cash_need) | (shares.free() < shares_need) {
                    return self.reject(Some(o.user), Some(o.id), short_of(o.side), out);
                }
                cash.reserved += cash_need;
                shares.reserved += shares_need;
                p
            }
            (_, Side::Buy) => {
                let cash = self.accounts[a as usize].cash;
                let need = if market {
                    budget = cash.free().min(limits.max_order_notional);
                    budget
                } else {
                    o.price.0 * o.qty.0
                };
                if need <= 0 || cash.free() < need {
                    return self.reject(Some(o.user), Some(o.id), short_of(o.side), out);
                }
                self.accounts[a as usize].cash.reserved += need;
                // Created only once the cash is there (a refused order leaves none).
                known.unwrap_or_else(|| self.new_position(a, sym))
            }
            (_, Side::Sell) => {
                let p = match known {
                    Some(p) if self.positions[p as usize].shares.free() >= o.qty.0 => p,
                    _ => return self.reject(Some(o.user), Some(o.id), short_of(o.side), out),
                };
                if market {
                    budget = limits.max_order_notional;
                }
                self.positions[p as usize].shares.reserved += o.qty.0;
                p
            }
        };
        emit(
            &mut self.seq,
            out,
            EventKind::Accepted {
                user: o.user,
                id: o.id,
                symbol: o.symbol,
                side: o.side,
                price: (!market).then_some(o.price),
                qty: o.qty,
            },
        );
        let order = Order {
            id: o.id,
            account: a,
            position,
            level: NIL,
            prev: NIL,
            next: NIL,
            price: if market { 0 } else { o.price.0 },
            open: o.qty.0,
            filled: 0,
            side: o.side,
            tif: o.tif,
            post_only: o.post_only,
        };
        // Most orders rest without trading: skip the match pass when nothing crosses,
        // and write the order straight into its slot.
        let crossing = market
            || self.books[sym as usize]
                .best(o.side.opposite())
                .is_some_and(|b| crosses(o.side, o.price.0, b));
        if !crossing && o.tif.rests() {
            let slot = self.orders.insert(order);
            return self.rest(slot, h, sym, a);
        }
        let mut taker = order;
        if !market
            && o.tif == TimeInForce::Fok
            && !self.can_fill(&taker, sym, limits.self_trade_prevention)
        {
            self.release(&taker, market, budget);
            return self.report_canceled(&taker, CancelReason::Fok, out);
        }
        let end = if crossing {
            self.match_order(
                &mut taker,
                sym,
                market,
                &mut budget,
                limits.self_trade_prevention,
                out,
            )
        } else {
            MatchEnd::Normal
        };
        if market && o.side == Side::Buy {
            // Give back what the market buy reserved but did not spend.
            self.accounts[a as usize].cash.reserved -= budget;
        }
        if taker.open == 0 {
            return;
        }
        let reason = match end {
            MatchEnd::SelfTrade => CancelReason::SelfTrade,
            MatchEnd::Budget => CancelReason::MarketNoLiquidity,
            MatchEnd::Normal if market => CancelReason::MarketNoLiquidity,
            MatchEnd::Normal if o.tif == TimeInForce::Ioc => CancelReason::Ioc,
            MatchEnd::Normal if o.tif == TimeInForce::Fok => CancelReason::Fok,
            MatchEnd::Normal => {
                let slot = self.orders.insert(taker);
                self.rest(slot, h, sym, a);
                return;
            }
        };
        if !(market && o.side == Side::Buy) {
            self.release(&taker, market, 0);
        }
        self.report_canceled(&taker, reason, out);
    }

    /// Links an order already in the slab, `account`'s in instrument `sym`, into its
    /// book and indexes it under its key's hash `h`.
    fn rest(&mut self, slot: u32, h: u64, sym: u32, account: u32) {
        enqueue(
            &mut self.books[sym as usize],
            &mut self.levels,
            &mut self.orders,
            slot,
        );
        self.order_index.insert_hashed(&self.orders, h, slot);
        self.accounts[account as usize].open_orders += 1;
    }

    /// Gives back what an order still reserves for its open quantity. For a market buy
    /// the reservation is the unspent `budget`.
    fn release(&mut self, o: &Order, market: bool, budget: Amount) {
        match o.side {
            Side::Buy => {
                let r = if market { budget } else { o.price * o.open };
                self.accounts[o.account as usize].cash.reserved -= r;
            }
            Side::Sell => self.positions[o.position as usize].shares.reserved -= o.open,
        }
    }

    fn report_canceled(&mut self, o: &Order, reason: CancelReason, out: &mut impl EventSink) {
        emit(
            &mut self.seq,
            out,
            EventKind::Canceled {
                user: self.accounts[o.account as usize].user,
                id: o.id,
                qty: Qty(o.open),
                reason,
            },
        );
    }

    /// Takes a resting order off the book and the index, releases its reservation and
    /// reports it.
    fn remove_resting(&mut self, slot: u32, reason: CancelReason, out: &mut impl EventSink) {
        self.unindex(slot);
        self.cancel_unindexed(slot, reason, out);
    }

    /// [`Self::remove_resting`] for an order already taken out of the index.
    ///
    /// The order's position and account are each read once: a sell's shares go back
    /// with the position's instrument look-up, a buy's cash with the account's count
    /// and user (what [`Self::release`], [`Self::drop_order`] and
    /// [`Self::report_canceled`] do, on the cancel path's two cache lines).
    fn cancel_unindexed(&mut self, slot: u32, reason: CancelReason, out: &mut impl EventSink) {
        let o = self.orders[slot];
        // Both reservations are given back, the other side's with zero.
        let (cash, shares) = by_side(o.side, o.price * o.open, o.open);
        let position = &mut self.positions[o.position as usize];
        let sym = position.symbol;
        position.shares.reserved -= shares;
        unlink(
            &mut self.books[sym as usize],
            &mut self.levels,
            &mut self.orders,
            slot,
        );
        self.orders.remove(slot);
        let account = &mut self.accounts[o.account as usize];
        account.open_orders -= 1;
        account.cash.reserved -= cash;
        let user = account.user;
        emit(
            &mut self.seq,
            out,
            EventKind::Canceled {
                user,
                id: o.id,
                qty: Qty(o.open),
                reason,
            },
        );
    }

    /// Drops an order that is no longer linked from the index and the slab.
    fn forget(&mut self, slot: u32) {
        self.unindex(slot);
        self.drop_order(slot);
    }

    /// Takes the order in `slot` out of the order index.
    fn unindex(&mut self, slot: u32) {
        let o = &self.orders[slot];
        self.order_index.remove(o.account, &o.id, slot);
    }

    /// An order's instrument (its position's).
    #[inline]
    fn symbol_of(&self, o: &Order) -> u32 {
        self.positions[o.position as usize].symbol
    }

    /// Drops an order that is neither linked nor indexed any more from its account's
    /// count and the slab.
    fn drop_order(&mut self, slot: u32) {
        let account = self.orders[slot].account;
        self.accounts[account as usize].open_orders -= 1;
        self.orders.remove(slot);
    }

    fn cancel(&mut self, user: UserId, id: ClientOrderId, out: &mut impl EventSink) {
        let Some(&a) = self.users.get(&user) else {
            return self.reject(Some(user), Some(id), RejectReason::UnknownUser, out);
        };
        match self.order_index.take(&self.orders, a, &id) {
            Some(slot) => self.cancel_unindexed(slot, CancelReason::User, out),
            None => self.reject(Some(user), Some(id), RejectReason::UnknownOrder, out),
        }
    }

    /// Finds the order a replace names and moves its index entry to `new_id` (the common
    /// path costs three hash operations: account, remove old id, insert new id). Checks,
    /// in the replay format's order, the user, the order, trading, and the new id.
    fn take_for_replace(
        &mut self,
        user: UserId,
        id: ClientOrderId,
        new_id: ClientOrderId,
    ) -> Result<(u32, u32), RejectReason> {
        let &a = self.users.get(&user).ok_or(RejectReason::UnknownUser)?;
        let rekey = new_id != id;
        let slot = if rekey {
            self.order_index.take(&self.orders, a, &id)
        } else {
            self.order_index.get(&self.orders, a, &id)
        };
        let slot = slot.ok_or(RejectReason::UnknownOrder)?;
        let refusal = if !self.accounts[a as usize].limits.trading_enabled {
            Some(RejectReason::TradingDisabled)
        } else if rekey {
            // The order still carries `id`, so only another order can match `new_id`.
            if self.order_index.get(&self.orders, a, &new_id).is_some() {
                Some(RejectReason::DuplicateId)
            } else {
                // Renamed as it is re-keyed: an indexed order carries its key.
                self.orders[slot].id = new_id;
                self.order_index.insert(&self.orders, a, &new_id, slot);
                None
            }
        } else {
            None
        };
        if let Some(r) = refusal {
            if rekey {
                self.order_index.insert(&self.orders, a, &id, slot);
            }
            return Err(r);
        }
        Ok((a, slot))
    }

    /// Puts an order's index entry back under its old id after a refused replace.
    fn undo_rekey(&mut self, a: u32, slot: u32, id: ClientOrderId, new_id: ClientOrderId) {
        if new_id != id {
            self.order_index.remove(a, &new_id, slot);
            self.orders[slot].id = id;
            self.order_index.insert(&self.orders, a, &id, slot);
        }
    }

    /// The checks of a replace that need no look-up; returns the reservation change, as
    /// (cash, shares) (see [`by_side`]).
    fn check_replace(
        &self,
        a: u32,
        slot: u32,
        price: Price,
        qty: Qty,
    ) -> Result<(Amount, Amount), RejectReason> {
        let acct = &self.accounts[a as usize];
        let o = &self.orders[slot];
        let sym = self.symbol_of(o) as usize;
        Self::check_price_qty(&self.instruments[sym], Some(price.0), qty.0)?;
        if qty.0 <= o.filled {
            return Ok((0, 0));
        }
        if qty.0 > acct.limits.max_order_qty {
            return Err(RejectReason::LimitExceeded);
        }
        match price.0.checked_mul(qty.0) {
            Some(n) if n <= acct.limits.max_order_notional => {}
            _ => return Err(RejectReason::LimitExceeded),
        }
        let new_open = qty.0 - o.filled;
        // Both balances, the other side's with zero (see `new_order`).
        let delta = by_side(
            o.side,
            price.0 * new_open - o.price * o.open,
            new_open - o.open,
        );
        let shares = &self.positions[o.position as usize].shares;
        if (delta.0 > acct.cash.free()) | (delta.1 > shares.free()) {
            return Err(short_of(o.side));
        }
        if o.post_only {
            let opposite = self.books[sym].best(o.side.opposite());
            if opposite.is_some_and(|b| crosses(o.side, price.0, b)) {
                return Err(RejectReason::PostOnlyWouldCross);
            }
        }
        Ok(delta)
    }

    fn replace(
        &mut self,
        user: UserId,
        id: ClientOrderId,
        new_id: ClientOrderId,
        price: Price,
        qty: Qty,
        out: &mut impl EventSink,
    ) {
        let (a, slot) = match self.take_for_replace(user, id, new_id) {
            Ok(r) => r,
            Err(r) => return self.reject(Some(user), Some(id), r, out),
        };
        let delta = match self.check_replace(a, slot, price, qty) {
            Ok(d) => d,
            Err(r) => {
                self.undo_rekey(a, slot, id, new_id);
                return self.reject(Some(user), Some(id), r, out);
            }
        };
        let old = self.orders[slot];
        let sym = self.symbol_of(&old);
        if qty.0 <= old.filled {
            self.undo_rekey(a, slot, id, new_id);
            return self.remove_resting(slot, CancelReason::Replaced, out);
        }
        emit(
            &mut self.seq,
            out,
            EventKind::Replaced {
                user,
                id,
                new_id,
                price,
                qty,
            },
        );
        self.accounts[old.account as usize].cash.reserved += delta.0;
        self.positions[old.position as usize].shares.reserved += delta.1;
        // The order already carries `new_id`: `take_for_replace` renamed it as it
        // re-keyed its index entry.
        let new_open = qty.0 - old.filled;
        if price.0 == old.price && new_open < old.open {
            // Same price, less quantity: keeps its place in the queue.
            self.levels[old.level].total -= old.open - new_open;
            self.orders[slot].open = new_open;
            return;
        }
        unlink(
            &mut self.books[sym as usize],
            &mut self.levels,
            &mut self.orders,
            slot,
        );
        let mut taker = old;
        taker.price = price.0;
        taker.open = new_open;
        let stp = self.accounts[old.account as usize]
            .limits
            .self_trade_prevention;
        let mut budget = Amount::MAX;
        let end = self.match_order(&mut taker, sym, false, &mut budget, stp, out);
        self.orders[slot] = taker;
        if taker.open == 0 {
            self.forget(slot);
        } else if end == MatchEnd::SelfTrade {
            self.forget(slot);
            self.release(&taker, false, 0);
            self.report_canceled(&taker, CancelReason::SelfTrade, out);
        } else {
            // Still indexed and counted: only its place in the book changes.
            enqueue(
                &mut self.books[sym as usize],
                &mut self.levels,
                &mut self.orders,
                slot,
            );
        }
    }

    // ---------------------------------------------------------------- matching

    /// Whether a FOK order could fill completely now (stopping, as matching would, at
    /// the user's own resting order when self-trade prevention is on).
    fn can_fill(&self, taker: &Order, symbol: u32, stp: bool) -> bool {
        let book = &self.books[symbol as usize];
        let mut need = taker.open;
        for l in book.levels(taker.side.opposite(), &self.levels) {
            if !crosses(taker.side, taker.price, l.price) {
                return false;
            }
            let lvl = &self.levels[l.level];
            if !stp {
                need -= lvl.total;
            } else {
                for o in level_orders(&self.levels, &self.orders, l.level) {
                    let m = &self.orders[o];
                    if m.account == taker.account {
                        return false;
                    }
                    need -= m.open;
                    if need <= 0 {
                        return true;
                    }
                }
            }
            if need <= 0 {
                return true;
            }
        }
        false
    }

    /// Trades `taker` against the opposite side of `symbol`'s book until it is filled, the
    /// book no longer crosses its price (market orders cross everything), its notional
    /// `budget` runs out, or self-trade prevention stops it.
    fn match_order(
        &mut self,
        taker: &mut Order,
        symbol: u32,
        market: bool,
        budget: &mut Amount,
        stp: bool,
        out: &mut impl EventSink,
    ) -> MatchEnd {
        let Engine {
            seq,
            instruments,
            books,
            accounts,
            positions,
            orders,
            order_index,
            levels,
            ..
        } = self;
        let book = &mut books[symbol as usize];
        let lot = instruments[symbol as usize].lot;
        let taker_user = accounts[taker.account as usize].user;
        let opp = taker.side.opposite();
        while taker.open > 0 {
            let Some(best) = book.best_level(opp) else {
                return MatchEnd::Normal;
            };
            if !market && !crosses(taker.side, taker.price, best.price) {
                return MatchEnd::Normal;
            }
            let m = levels[best.level].head;
            let maker = orders[m];
            if stp && maker.account == taker.account {
                return MatchEnd::SelfTrade;
            }
            let price = best.price;
            let mut q = taker.open.min(maker.open);
            if *budget != Amount::MAX {
                let affordable = *budget / price / lot * lot;
                q = q.min(affordable);
                if q == 0 {
                    return MatchEnd::Budget;
                }
            }
            let notional = price * q;
            if *budget != Amount::MAX {
                *budget -= notional;
            }
            // Settle: cash from buyer to seller, shares from seller to buyer; each side's
            // reservation shrinks by what this fill consumed.
            let (buyer, seller) = match taker.side {
                Side::Buy => (&*taker, &maker),
                Side::Sell => (&maker, &*taker),
            };
            let buyer_release = if market && taker.side == Side::Buy {
                notional
            } else {
                buyer.price * q
            };
            let bc = &mut accounts[buyer.account as usize].cash;
            bc.total -= notional;
            bc.reserved -= buyer_release;
            positions[buyer.position as usize].shares.total += q;
            let ss = &mut positions[seller.position as usize].shares;
            ss.total -= q;
            ss.reserved -= q;
            accounts[seller.account as usize].cash.total += notional;

            taker.open -= q;
            taker.filled += q;
            let maker_leaves = maker.open - q;
            emit(
                seq,
                out,
                EventKind::Trade {
                    symbol: SymbolId(symbol),
                    price: Price(price),
                    qty: Qty(q),
                    maker_user: accounts[maker.account as usize].user,
                    maker_id: maker.id,
                    maker_leaves: Qty(maker_leaves),
                    taker_user,
                    taker_id: taker.id,
                    taker_leaves: Qty(taker.open),
                    taker_side: taker.side,
                },
            );
            levels[best.level].total -= q;
            let mo = &mut orders[m];
            mo.open = maker_leaves;
            mo.filled += q;
            if maker_leaves == 0 {
                unlink(book, levels, orders, m);
                order_index.remove(maker.account, &maker.id, m);
                accounts[maker.account as usize].open_orders -= 1;
                orders.remove(m);
            }
        }
        MatchEnd::Normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Asset;
    use crate::types::FixedStr;

    /// Runs `cmd` and returns the kind of its last event.
    fn run(e: &mut Engine, cmd: Command) -> EventKind {
        let mut out = Vec::new();
        e.execute(&cmd, &mut out);
        out.last().expect("every command says something").kind
    }

    fn id(s: &str) -> ClientOrderId {
        FixedStr::new(s).unwrap()
    }

    fn order(side: Side, name: &str, price: i64, qty: i64) -> Command {
        Command::New(NewOrder {
            user: UserId(1),
            id: id(name),
            symbol: SymbolId(0),
            side,
            order_type: OrderType::Limit,
            price: Price(price),
            qty: Qty(qty),
            tif: TimeInForce::Gtc,
            post_only: false,
        })
    }

    fn replace(name: &str, price: i64, qty: i64) -> Command {
        Command::Replace {
            user: UserId(1),
            id: id(name),
            new_id: id(name),
            price: Price(price),
            qty: Qty(qty),
        }
    }

    fn refused(kind: EventKind) -> Option<RejectReason> {
        match kind {
            EventKind::Rejected { reason, .. } => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn each_side_reserves_its_own_balance_to_the_last_unit() {
        // The order path reserves both balances, the other side's with zero
        // (`by_side`): a buy must touch only cash and a sell only shares, each exactly
        // up to what is free and not one unit further, on entry and on replace.
        let mut e = Engine::default();
        run(
            &mut e,
            Command::AddInstrument {
                symbol: FixedStr::new("ACME").unwrap(),
                tick: Price(1),
                lot: Qty(1),
            },
        );
        run(&mut e, Command::AddUser { user: UserId(1) });
        for asset in [Asset::Cash, Asset::Shares(SymbolId(0))] {
            let amount = if asset == Asset::Cash { 1_000 } else { 10 };
            let deposit = Command::Deposit {
                user: UserId(1),
                asset,
                amount,
            };
            run(&mut e, deposit);
        }
        let balances = |e: &Engine| {
            let cash = e.cash(UserId(1)).unwrap();
            let shares = e.shares(UserId(1), SymbolId(0)).unwrap();
            (cash.reserved, shares.reserved)
        };

        // Buys: all the cash, then not one unit more; shares untouched.
        assert!(refused(run(&mut e, order(Side::Buy, "b", 10, 50))).is_none());
        assert_eq!(balances(&e), (500, 0));
        assert!(refused(run(&mut e, replace("b", 10, 100))).is_none());
        assert_eq!(balances(&e), (1_000, 0));
        let over = refused(run(&mut e, order(Side::Buy, "b2", 1, 1)));
        assert_eq!(over, Some(RejectReason::InsufficientFunds));
        let over = refused(run(&mut e, replace("b", 10, 101)));
        assert_eq!(over, Some(RejectReason::InsufficientFunds));
        assert_eq!(balances(&e), (1_000, 0));

        // Sells: all the shares, then not one more; cash untouched.
        assert!(refused(run(&mut e, order(Side::Sell, "s", 20, 5))).is_none());
        assert_eq!(balances(&e), (1_000, 5));
        assert!(refused(run(&mut e, replace("s", 21, 10))).is_none());
        assert_eq!(balances(&e), (1_000, 10));
        let over = refused(run(&mut e, order(Side::Sell, "s2", 20, 1)));
        assert_eq!(over, Some(RejectReason::InsufficientShares));
        let over = refused(run(&mut e, replace("s", 21, 11)));
        assert_eq!(over, Some(RejectReason::InsufficientShares));
        assert_eq!(balances(&e), (1_000, 10));

        // Smaller replaces and cancels give back exactly what each side holds.
        assert!(refused(run(&mut e, replace("b", 10, 40))).is_none());
        assert_eq!(balances(&e), (400, 10));
        let cancel = |name| Command::Cancel {
            user: UserId(1),
            id: id(name),
        };
        assert!(matches!(
            run(&mut e, cancel("s")),
            EventKind::Canceled { qty: Qty(10), .. }
        ));
        assert_eq!(balances(&e), (400, 0));
        assert!(matches!(
            run(&mut e, cancel("b")),
            EventKind::Canceled { qty: Qty(40), .. }
        ));
        assert_eq!(balances(&e), (0, 0));
    }
}
