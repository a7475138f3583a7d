//! A naive, obviously correct twin of [`Engine`](crate::Engine), for tests.
//!
//! Books are `BTreeMap<price, VecDeque<order>>`, accounts a `BTreeMap`, and every look-up
//! is a scan. It is slow and allocates freely; what matters is that each rule of the
//! replay format reads here as plainly as it is written there. Property tests replay the
//! same random command streams through both engines and require identical events and
//! identical [`State`]s after every command.

use std::collections::{BTreeMap, VecDeque};

use crate::account::{Balance, Limits};
use crate::command::{AdminOp, Asset, Command, NewOrder};
use crate::engine::Instrument;
use crate::event::{CancelReason, Event, EventKind, RejectReason};
use crate::state::{AccountState, BookState, RestingOrder, State};
use crate::types::{
    Amount, ClientOrderId, OrderType, Price, Qty, Seq, Side, SymbolId, TimeInForce, UserId,
};

#[derive(Clone, Debug)]
struct Resting {
    user: UserId,
    id: ClientOrderId,
    open: i64,
    filled: i64,
    tif: TimeInForce,
    post_only: bool,
}

#[derive(Clone, Debug, Default)]
struct RefBook {
    bids: BTreeMap<i64, VecDeque<Resting>>,
    asks: BTreeMap<i64, VecDeque<Resting>>,
}

impl RefBook {
    fn side(&mut self, side: Side) -> &mut BTreeMap<i64, VecDeque<Resting>> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Best price of `side`.
    fn best(&self, side: Side) -> Option<i64> {
        match side {
            Side::Buy => self.bids.keys().next_back().copied(),
            Side::Sell => self.asks.keys().next().copied(),
        }
    }

    /// Orders of `side` in priority order, with their prices.
    fn in_priority(&self, side: Side) -> Vec<(i64, &Resting)> {
        let levels: Vec<(&i64, &VecDeque<Resting>)> = match side {
            Side::Buy => self.bids.iter().rev().collect(),
            Side::Sell => self.asks.iter().collect(),
        };
        let mut out = Vec::new();
        for (p, q) in levels {
            for o in q {
                out.push((*p, o));
            }
        }
        out
    }
}

#[derive(Clone, Debug, Default)]
struct RefAccount {
    cash: Balance,
    holdings: BTreeMap<u32, Balance>,
    limits: Limits,
}

/// The reference engine.
#[derive(Clone, Debug, Default)]
pub struct ReferenceEngine {
    seq: u64,
    instruments: Vec<Instrument>,
    books: Vec<RefBook>,
    accounts: BTreeMap<UserId, RefAccount>,
}

fn crosses(side: Side, limit: i64, resting: i64) -> bool {
    match side {
        Side::Buy => resting <= limit,
        Side::Sell => resting >= limit,
    }
}

impl ReferenceEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    fn emit(&mut self, out: &mut Vec<Event>, kind: EventKind) {
        self.seq += 1;
        out.push(Event {
            seq: Seq(self.seq),
            kind,
        });
    }

    fn find(&self, user: UserId, id: ClientOrderId) -> Option<(usize, Side, i64)> {
        for (s, b) in self.books.iter().enumerate() {
            for (side, levels) in [(Side::Buy, &b.bids), (Side::Sell, &b.asks)] {
                for (p, q) in levels {
                    if q.iter().any(|o| o.user == user && o.id == id) {
                        return Some((s, side, *p));
                    }
                }
            }
        }
        None
    }

    fn open_orders(&self, user: UserId) -> usize {
        self.books
            .iter()
            .flat_map(|b| b.bids.values().chain(b.asks.values()))
            .flatten()
            .filter(|o| o.user == user)
            .count()
    }

    /// Processes one command, appending its events to `out`.
    pub fn execute(&mut self, cmd: &Command, out: &mut Vec<Event>) {
        let result = match *cmd {
            Command::New(o) => self.new_order(&o, out),
            Command::Cancel { user, id } => self.cancel(user, id, out),
            Command::Replace {
                user,
                id,
                new_id,
                price,
                qty,
            } => self.replace(user, id, new_id, price.0, qty.0, out),
            Command::Invalid { user, id, reason } => Err((user, id, reason)),
            _ => self.admin(cmd, out),
        };
        if let Err((user, id, reason)) = result {
            self.emit(out, EventKind::Rejected { user, id, reason });
        }
    }

    fn admin(&mut self, cmd: &Command, out: &mut Vec<Event>) -> Rejection {
        let (op, user) = match *cmd {
            Command::AddInstrument { symbol, tick, lot } => {
                let taken = symbol.as_str() == crate::CASH
                    || self.instruments.iter().any(|i| i.symbol == symbol);
                let reason = if taken {
                    RejectReason::DuplicateId
                } else if tick.0 <= 0 {
                    RejectReason::InvalidPrice
                } else if lot.0 <= 0 {
                    RejectReason::InvalidQty
                } else {
                    self.instruments.push(Instrument {
                        symbol,
                        tick: tick.0,
                        lot: lot.0,
                    });
                    self.books.push(RefBook::default());
                    return self.done(out, AdminOp::AddInstrument, None);
                };
                return Err((None, None, reason));
            }
            Command::AddUser { user } => {
                if self.accounts.contains_key(&user) {
                    return Err((Some(user), None, RejectReason::DuplicateId));
                }
                self.accounts.insert(user, RefAccount::default());
                (AdminOp::AddUser, user)
            }
            Command::Deposit {
                user,
                asset,
                amount,
            } => {
                let sym = self.transfer_check(user, asset, amount)?;
                let supply: Amount = match sym {
                    None => self.accounts.values().map(|a| a.cash.total).sum(),
                    Some(s) => self
                        .accounts
                        .values()
                        .filter_map(|a| a.holdings.get(&s))
                        .map(|b| b.total)
                        .sum(),
                };
                if supply.checked_add(amount).is_none() {
                    return Err((Some(user), None, RejectReason::LimitExceeded));
                }
                let acct = self.account(user);
                match sym {
                    None => acct.cash.total += amount,
                    Some(s) => acct.holdings.entry(s).or_default().total += amount,
                }
                (AdminOp::Deposit, user)
            }
            Command::Withdraw {
                user,
                asset,
                amount,
            } => {
                let sym = self.transfer_check(user, asset, amount)?;
                let acct = self.account(user);
                let bal = match sym {
                    None => &mut acct.cash,
                    Some(s) => acct.holdings.entry(s).or_default(),
                };
                if bal.total - bal.reserved < amount {
                    return Err((Some(user), None, RejectReason::InsufficientFunds));
                }
                bal.total -= amount;
                (AdminOp::Withdraw, user)
            }
            Command::SetLimits { user, limits } => {
                if !self.accounts.contains_key(&user) {
                    return Err((Some(user), None, RejectReason::UnknownUser));
                }
                if limits.max_order_qty.is_some_and(|q| q.0 < 0)
                    || limits.max_order_notional.is_some_and(|n| n < 0)
                {
                    return Err((Some(user), None, RejectReason::InvalidQty));
                }
                self.account(user).limits.apply(&limits);
                (AdminOp::SetLimits, user)
            }
            Command::EndOfDay => {
                let mut day = Vec::new();
                for book in &self.books {
                    for side in [Side::Buy, Side::Sell] {
                        for (_, o) in book.in_priority(side) {
                            if o.tif == TimeInForce::Day {
                                day.push((o.user, o.id));
                            }
                        }
                    }
                }
                for (user, id) in day {
                    self.take_off(user, id, CancelReason::Expired, out);
                }
                return self.done(out, AdminOp::EndOfDay, None);
            }
            _ => unreachable!("admin() is only called with admin commands"),
        };
        self.done(out, op, Some(user))
    }

    fn done(&mut self, out: &mut Vec<Event>, op: AdminOp, user: Option<UserId>) -> Rejection {
        self.emit(out, EventKind::Done { op, user });
        Ok(())
    }

    fn account(&mut self, user: UserId) -> &mut RefAccount {
        self.accounts.entry(user).or_default()
    }

    fn transfer_check(
        &self,
        user: UserId,
        asset: Asset,
        amount: Amount,
    ) -> Result<Option<u32>, (Option<UserId>, Option<ClientOrderId>, RejectReason)> {
        let err = |r| Err((Some(user), None, r));
        if !self.accounts.contains_key(&user) {
            return err(RejectReason::UnknownUser);
        }
        let sym = match asset {
            Asset::Cash => None,
            Asset::Shares(s) if (s.0 as usize) < self.instruments.len() => Some(s.0),
            Asset::Shares(_) => return err(RejectReason::UnknownSymbol),
        };
        if amount <= 0 {
            return err(RejectReason::InvalidQty);
        }
        Ok(sym)
    }

    fn new_order(&mut self, o: &NewOrder, out: &mut Vec<Event>) -> Rejection {
        let err = |r| Err((Some(o.user), Some(o.id), r));
        let Some(acct) = self.accounts.get(&o.user) else {
            return err(RejectReason::UnknownUser);
        };
        let limits = acct.limits;
        if !limits.trading_enabled {
            return err(RejectReason::TradingDisabled);
        }
        let Some(inst) = self.instruments.get(o.symbol.0 as usize).copied() else {
            return err(RejectReason::UnknownSymbol);
        };
        if self.find(o.user, o.id).is_some() {
            return err(RejectReason::DuplicateId);
        }
        let market = o.order_type == OrderType::Market;
        if !market && (o.price.0 <= 0 || o.price.0 % inst.tick != 0) {
            return err(RejectReason::InvalidPrice);
        }
        if o.qty.0 <= 0 || o.qty.0 % inst.lot != 0 {
            return err(RejectReason::InvalidQty);
        }
        if o.qty.0 > limits.max_order_qty {
            return err(RejectReason::LimitExceeded);
        }
        let s = o.symbol.0 as usize;
        if !market {
            let notional = i128::from(o.price.0) * i128::from(o.qty.0);
            if notional > i128::from(limits.max_order_notional) {
                return err(RejectReason::LimitExceeded);
            }
            if o.tif.rests() && self.open_orders(o.user) as u64 >= u64::from(limits.max_open_orders)
            {
                return err(RejectReason::LimitExceeded);
            }
        }
        if o.post_only {
            let best = self.books[s].best(o.side.opposite());
            if market || best.is_some_and(|b| crosses(o.side, o.price.0, b)) {
                return err(RejectReason::PostOnlyWouldCross);
            }
        }
        let acct = self.account(o.user);
        let free_cash = acct.cash.total - acct.cash.reserved;
        let mut budget = None;
        match o.side {
            Side::Buy => {
                let need = if market {
                    let b = free_cash.min(limits.max_order_notional);
                    budget = Some(b);
                    b
                } else {
                    o.price.0 * o.qty.0
                };
                if need <= 0 || free_cash < need {
                    return err(RejectReason::InsufficientFunds);
                }
                acct.cash.reserved += need;
            }
            Side::Sell => {
                let h = acct.holdings.get(&o.symbol.0).copied().unwrap_or_default();
                if h.total - h.reserved < o.qty.0 {
                    return err(RejectReason::InsufficientShares);
                }
                acct.holdings.entry(o.symbol.0).or_default().reserved += o.qty.0;
                if market {
                    budget = Some(limits.max_order_notional);
                }
            }
        }
        self.emit(
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
        let mut taker = Resting {
            user: o.user,
            id: o.id,
            open: o.qty.0,
            filled: 0,
            tif: o.tif,
            post_only: o.post_only,
        };
        let price = (!market).then_some(o.price.0);
        let stp = limits.self_trade_prevention;
        if !market && o.tif == TimeInForce::Fok && !self.fillable(s, o.side, &taker, price, stp) {
            self.unreserve(o.user, s, o.side, price.unwrap_or(0), taker.open);
            return self.canceled(out, &taker, CancelReason::Fok);
        }
        let end = self.match_against(s, o.side, &mut taker, price, &mut budget, stp, out);
        if market && o.side == Side::Buy {
            let left = budget.unwrap_or(0);
            self.account(o.user).cash.reserved -= left;
        }
        if taker.open == 0 {
            return Ok(());
        }
        let reason = match end {
            End::SelfTrade => CancelReason::SelfTrade,
            End::Budget => CancelReason::MarketNoLiquidity,
            End::Normal if market => CancelReason::MarketNoLiquidity,
            End::Normal if o.tif == TimeInForce::Ioc => CancelReason::Ioc,
            End::Normal if o.tif == TimeInForce::Fok => CancelReason::Fok,
            End::Normal => {
                self.books[s]
                    .side(o.side)
                    .entry(o.price.0)
                    .or_default()
                    .push_back(taker);
                return Ok(());
            }
        };
        if !(market && o.side == Side::Buy) {
            self.unreserve(o.user, s, o.side, price.unwrap_or(0), taker.open);
        }
        self.canceled(out, &taker, reason)
    }

    fn canceled(&mut self, out: &mut Vec<Event>, o: &Resting, reason: CancelReason) -> Rejection {
        self.emit(
            out,
            EventKind::Canceled {
                user: o.user,
                id: o.id,
                qty: Qty(o.open),
                reason,
            },
        );
        Ok(())
    }

    fn unreserve(&mut self, user: UserId, s: usize, side: Side, price: i64, open: i64) {
        let acct = self.account(user);
        match side {
            Side::Buy => acct.cash.reserved -= price * open,
            Side::Sell => acct.holdings.entry(s as u32).or_default().reserved -= open,
        }
    }

    fn fillable(
        &self,
        s: usize,
        side: Side,
        taker: &Resting,
        price: Option<i64>,
        stp: bool,
    ) -> bool {
        let mut got = 0;
        for (p, o) in self.books[s].in_priority(side.opposite()) {
            if price.is_some_and(|l| !crosses(side, l, p)) {
                break;
            }
            if stp && o.user == taker.user {
                break;
            }
            got += o.open;
        }
        got >= taker.open
    }

    /// Matches `taker` against the book; `price` is `None` for market orders, `budget`
    /// caps the notional it may trade.
    #[allow(clippy::too_many_arguments)]
    fn match_against(
        &mut self,
        s: usize,
        side: Side,
        taker: &mut Resting,
        price: Option<i64>,
        budget: &mut Option<Amount>,
        stp: bool,
        out: &mut Vec<Event>,
    ) -> End {
        let lot = self.instruments[s].lot;
        while taker.open > 0 {
            let Some(best) = self.books[s].best(side.opposite()) else {
                return End::Normal;
            };
            if price.is_some_and(|l| !crosses(side, l, best)) {
                return End::Normal;
            }
            let maker = self.books[s].side(side.opposite())[&best][0].clone();
            if stp && maker.user == taker.user {
                return End::SelfTrade;
            }
            let mut q = taker.open.min(maker.open);
            if let Some(b) = budget {
                q = q.min(*b / best / lot * lot);
                if q == 0 {
                    return End::Budget;
                }
                *b -= best * q;
            }
            let notional = best * q;
            let (buyer, seller) = match side {
                Side::Buy => (taker.user, maker.user),
                Side::Sell => (maker.user, taker.user),
            };
            // The buyer's reservation per share: the maker's price when the maker buys,
            // the taker's limit when the taker buys, the fill price for market buys.
            let buyer_reserved_per_share = match (side, price) {
                (Side::Buy, Some(l)) => l,
                _ => best,
            };
            let b = self.account(buyer);
            b.cash.total -= notional;
            b.cash.reserved -= buyer_reserved_per_share * q;
            b.holdings.entry(s as u32).or_default().total += q;
            let sl = self.account(seller);
            sl.cash.total += notional;
            let h = sl.holdings.entry(s as u32).or_default();
            h.total -= q;
            h.reserved -= q;
            taker.open -= q;
            taker.filled += q;
            let levels = self.books[s].side(side.opposite());
            let queue = levels.get_mut(&best).expect("best level exists");
            queue[0].open -= q;
            queue[0].filled += q;
            let maker_leaves = queue[0].open;
            if maker_leaves == 0 {
                queue.pop_front();
                if queue.is_empty() {
                    levels.remove(&best);
                }
            }
            self.emit(
                out,
                EventKind::Trade {
                    symbol: SymbolId(s as u32),
                    price: Price(best),
                    qty: Qty(q),
                    maker_user: maker.user,
                    maker_id: maker.id,
                    maker_leaves: Qty(maker_leaves),
                    taker_user: taker.user,
                    taker_id: taker.id,
                    taker_leaves: Qty(taker.open),
                    taker_side: side,
                },
            );
        }
        End::Normal
    }

    /// Removes a resting order, gives back its reservation and reports it.
    fn take_off(
        &mut self,
        user: UserId,
        id: ClientOrderId,
        reason: CancelReason,
        out: &mut Vec<Event>,
    ) {
        let Some((s, side, price)) = self.find(user, id) else {
            return;
        };
        let levels = self.books[s].side(side);
        let queue = levels.get_mut(&price).expect("found level");
        let pos = queue
            .iter()
            .position(|o| o.user == user && o.id == id)
            .expect("found order");
        let o = queue.remove(pos).expect("in range");
        if queue.is_empty() {
            levels.remove(&price);
        }
        self.unreserve(user, s, side, price, o.open);
        let _ = self.canceled(out, &o, reason);
    }

    fn cancel(&mut self, user: UserId, id: ClientOrderId, out: &mut Vec<Event>) -> Rejection {
        if !self.accounts.contains_key(&user) {
            return Err((Some(user), Some(id), RejectReason::UnknownUser));
        }
        if self.find(user, id).is_none() {
            return Err((Some(user), Some(id), RejectReason::UnknownOrder));
        }
        self.take_off(user, id, CancelReason::User, out);
        Ok(())
    }

    fn replace(
        &mut self,
        user: UserId,
        id: ClientOrderId,
        new_id: ClientOrderId,
        price: i64,
        qty: i64,
        out: &mut Vec<Event>,
    ) -> Rejection {
        let err = |r| Err((Some(user), Some(id), r));
        let Some(acct) = self.accounts.get(&user) else {
            return err(RejectReason::UnknownUser);
        };
        let limits = acct.limits;
        let cash_free = acct.cash.total - acct.cash.reserved;
        let Some((s, side, old_price)) = self.find(user, id) else {
            return err(RejectReason::UnknownOrder);
        };
        if !limits.trading_enabled {
            return err(RejectReason::TradingDisabled);
        }
        if new_id != id && self.find(user, new_id).is_some() {
            return err(RejectReason::DuplicateId);
        }
        let inst = self.instruments[s];
        if price <= 0 || price % inst.tick != 0 {
            return err(RejectReason::InvalidPrice);
        }
        if qty <= 0 || qty % inst.lot != 0 {
            return err(RejectReason::InvalidQty);
        }
        let old = self.books[s].side(side)[&old_price]
            .iter()
            .find(|o| o.user == user && o.id == id)
            .cloned()
            .expect("found order");
        if qty <= old.filled {
            self.take_off(user, id, CancelReason::Replaced, out);
            return Ok(());
        }
        if qty > limits.max_order_qty
            || i128::from(price) * i128::from(qty) > i128::from(limits.max_order_notional)
        {
            return err(RejectReason::LimitExceeded);
        }
        let new_open = qty - old.filled;
        let shares_free = acct
            .holdings
            .get(&(s as u32))
            .map_or(0, |h| h.total - h.reserved);
        match side {
            Side::Buy if price * new_open - old_price * old.open > cash_free => {
                return err(RejectReason::InsufficientFunds);
            }
            Side::Sell if new_open - old.open > shares_free => {
                return err(RejectReason::InsufficientShares);
            }
            _ => {}
        }
        if old.post_only
            && self.books[s]
                .best(side.opposite())
                .is_some_and(|b| crosses(side, price, b))
        {
            return err(RejectReason::PostOnlyWouldCross);
        }
        self.emit(
            out,
            EventKind::Replaced {
                user,
                id,
                new_id,
                price: Price(price),
                qty: Qty(qty),
            },
        );
        // Re-reserve: give back the old reservation, take the new one.
        self.unreserve(user, s, side, old_price, old.open);
        self.unreserve(user, s, side, price, -new_open);
        let levels = self.books[s].side(side);
        let queue = levels.get_mut(&old_price).expect("found level");
        let pos = queue
            .iter()
            .position(|o| o.user == user && o.id == id)
            .expect("found order");
        if price == old_price && new_open < old.open {
            queue[pos].open = new_open;
            queue[pos].id = new_id;
            return Ok(());
        }
        let mut taker = queue.remove(pos).expect("in range");
        if queue.is_empty() {
            levels.remove(&old_price);
        }
        taker.open = new_open;
        taker.id = new_id;
        let end = self.match_against(
            s,
            side,
            &mut taker,
            Some(price),
            &mut None,
            limits.self_trade_prevention,
            out,
        );
        if taker.open == 0 {
            return Ok(());
        }
        if end == End::SelfTrade {
            self.unreserve(user, s, side, price, taker.open);
            return self.canceled(out, &taker, CancelReason::SelfTrade);
        }
        self.books[s]
            .side(side)
            .entry(price)
            .or_default()
            .push_back(taker);
        Ok(())
    }

    /// The canonical state, comparable with [`Engine::state`](crate::Engine::state).
    pub fn state(&self) -> State {
        let order = |(p, o): (i64, &Resting)| RestingOrder {
            user: o.user,
            id: o.id,
            price: Price(p),
            open: Qty(o.open),
            filled: Qty(o.filled),
            tif: o.tif,
            post_only: o.post_only,
        };
        State {
            seq: self.seq,
            books: self
                .instruments
                .iter()
                .zip(&self.books)
                .map(|(i, b)| BookState {
                    instrument: *i,
                    bids: b.in_priority(Side::Buy).into_iter().map(order).collect(),
                    asks: b.in_priority(Side::Sell).into_iter().map(order).collect(),
                })
                .collect(),
            accounts: self
                .accounts
                .iter()
                .map(|(u, a)| {
                    let mut holdings: Vec<_> = a
                        .holdings
                        .iter()
                        .filter(|(_, b)| **b != Balance::default())
                        .map(|(s, b)| (self.instruments[*s as usize].symbol, *b))
                        .collect();
                    holdings.sort_by_key(|x| x.0);
                    AccountState {
                        user: *u,
                        cash: a.cash,
                        holdings,
                        limits: a.limits,
                    }
                })
                .collect(),
        }
    }
}

type Rejection = Result<(), (Option<UserId>, Option<ClientOrderId>, RejectReason)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Normal,
    SelfTrade,
    Budget,
}
