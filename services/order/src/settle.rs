//! Settling a batch of engine events in one transaction.
//!
//! [`Plan`] is the pure part: given the open orders and the holdings' cost walks the
//! batch refers to, it applies the events in sequence and says which rows to write.
//! [`Settler`] is the single writer: it keeps the open orders and each holding's cost
//! walk ([`Cost`]) in memory (loaded once, updated after each commit) and the
//! settlement position (the highest event sequence number settled), drops every event
//! at or below the position — a redelivered batch changes nothing — and has the store
//! ([`crate::store`]) write a batch in one transaction with the new position.
//!
//! # Ordering invariant
//! Events are applied in account-stream order only: a batch is taken in `seq` order,
//! and an event whose stream predecessor ([`Incoming::prev_seq`]) is neither settled
//! nor in the batch arrived before that predecessor. It is not applied
//! ([`Outcome::early`]), and the caller holds it, unacknowledged, for a later batch.
//! Two things deliver out of order: a dead bridge's late tail overtaking the restarted
//! bridge's republication from its checkpoint (the held copy later turns out a
//! duplicate), and the broker requeueing a dead consumer's unacknowledged deliveries
//! after later ones went to its successor (the predecessor comes later). Applying an
//! early event would move the position past its predecessor, which would then be
//! dropped as a duplicate and lost.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bourse_core::CASH;

use crate::OrderError;
use crate::event::EngineEvent;
use crate::holdings::Cost;
use crate::store::SettlementStore;

/// An order row as settlement keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRow {
    /// The sequence number of the event that opened it.
    pub order_seq: i64,
    /// Owner.
    pub user_id: i64,
    /// Client order id.
    pub client_id: String,
    /// Ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Limit price (`None`: market).
    pub price: Option<i64>,
    /// Quantity.
    pub qty: i64,
    /// Filled so far.
    pub filled: i64,
    /// The value of this row's own fills (price × quantity of each trade, in cents):
    /// what the order it replaced had filled is not in it.
    pub filled_value: i64,
    /// Filled when it opened: 0, or what the order it replaced had filled.
    pub opened_filled: i64,
    /// `open`, `filled`, `canceled` or `replaced`.
    pub status: String,
    /// Why it was canceled.
    pub reason: Option<String>,
    /// The last event that changed it.
    pub updated_seq: i64,
}

/// A trade row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRow {
    /// Event sequence number (execution id).
    pub seq: i64,
    /// The command that caused it.
    pub cmd_seq: i64,
    /// Ticker.
    pub symbol: String,
    /// Price.
    pub price: i64,
    /// Quantity.
    pub qty: i64,
    /// Buying user.
    pub buyer: i64,
    /// Selling user.
    pub seller: i64,
    /// The buy order, if known.
    pub buy_order_seq: Option<i64>,
    /// The sell order, if known.
    pub sell_order_seq: Option<i64>,
    /// What the buy order had left after the trade.
    pub buy_leaves: i64,
    /// What the sell order had left after the trade.
    pub sell_leaves: i64,
    /// `buy` if the incoming order bought.
    pub taker_side: String,
}

/// One stored leg of a ledger entry (a deposit's or a withdrawal's: a trade's legs
/// follow from its row, and the `ledger` view derives them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leg {
    /// The event.
    pub seq: i64,
    /// Leg number within the event.
    pub leg: i16,
    /// Whose (0: outside the exchange).
    pub user_id: i64,
    /// [`CASH`] (`USD`) or a ticker.
    pub asset: String,
    /// Signed amount.
    pub amount: i64,
    /// `deposit` or `withdraw`.
    pub kind: &'static str,
}

/// The rows one batch of events turns into. An order's history is not among them: it
/// follows from the order's row and its trades (the `order_history` view: opened, each
/// fill, closed otherwise).
#[derive(Debug, Default)]
pub struct Plan {
    /// New and changed orders, by order sequence number.
    pub orders: BTreeMap<i64, OrderRow>,
    /// (user, client id) → the open order with that id.
    open: HashMap<(i64, String), i64>,
    /// Trades.
    pub trades: Vec<TradeRow>,
    /// Stored ledger legs (deposits and withdrawals).
    pub ledger: Vec<Leg>,
    /// Balance changes per (user, asset).
    pub balances: BTreeMap<(i64, String), i64>,
    /// The cost walk after the batch ([`Cost`]) of every (user, symbol) in `balances`
    /// (cash has none): written onto the balance row as it stands, not as a change.
    pub costs: BTreeMap<(i64, String), Cost>,
    /// The cost walks as they stood before the batch, of the pairs it refers to.
    costs_before: HashMap<(i64, String), Cost>,
    /// Each traded symbol's last trade in the batch: (price, event sequence number).
    pub last_trades: BTreeMap<String, (i64, i64)>,
    /// New users: (user, seq).
    pub users: Vec<(i64, i64)>,
    /// Users whose portfolio changed.
    pub touched: BTreeSet<u64>,
    /// Orders that existed before the batch (updated, not inserted).
    existing: HashSet<i64>,
}

/// What a batch of events refers to that was there before it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Referenced {
    /// (user, client id) of the existing orders it fills, cancels or replaces.
    pub orders: HashSet<(i64, String)>,
    /// (user, symbol) of the holdings whose shares it moves: each trade's two sides,
    /// and each deposit or withdrawal of shares.
    pub holdings: HashSet<(i64, String)>,
}

/// What `events` refer to (one pass).
pub fn referenced(events: &[&EngineEvent]) -> Referenced {
    let mut r = Referenced::default();
    for e in events {
        match e {
            EngineEvent::Trade {
                symbol,
                maker_user,
                maker_id,
                taker_user,
                taker_id,
                ..
            } => {
                for (user, id) in [(*maker_user, maker_id), (*taker_user, taker_id)] {
                    r.orders.insert((user as i64, id.clone()));
                    r.holdings.insert((user as i64, symbol.clone()));
                }
            }
            EngineEvent::Canceled { user, id, .. } | EngineEvent::Replaced { user, id, .. } => {
                r.orders.insert((*user as i64, id.clone()));
            }
            EngineEvent::Done {
                user: Some(user),
                asset: Some(asset),
                ..
            } if asset != CASH => {
                r.holdings.insert((*user as i64, asset.clone()));
            }
            _ => {}
        }
    }
    r
}

impl Plan {
    /// A plan over these open orders (those the batch refers to), with no shares held
    /// by anyone before it.
    pub fn new(open: Vec<OrderRow>) -> Plan {
        Plan::with_costs(open, HashMap::new())
    }

    /// A plan over these open orders and the cost walks of the holdings the batch refers
    /// to (a pair absent held no shares from trading).
    pub fn with_costs(open: Vec<OrderRow>, costs: HashMap<(i64, String), Cost>) -> Plan {
        let mut plan = Plan {
            costs_before: costs,
            ..Plan::default()
        };
        for o in open {
            plan.open
                .insert((o.user_id, o.client_id.clone()), o.order_seq);
            plan.existing.insert(o.order_seq);
            plan.orders.insert(o.order_seq, o);
        }
        plan
    }

    /// Orders opened in this batch (to insert, in their final state).
    pub fn new_orders(&self) -> impl Iterator<Item = &OrderRow> {
        self.orders
            .values()
            .filter(|o| !self.existing.contains(&o.order_seq))
    }

    /// Each balance the batch changes: (user, asset), the change of its amount, and the
    /// cost walk to write beside it as it stands after the batch (cash has none: zero).
    pub fn balance_rows(&self) -> impl Iterator<Item = (&(i64, String), i64, Cost)> {
        self.balances
            .iter()
            .map(|(k, amount)| (k, *amount, self.costs.get(k).copied().unwrap_or_default()))
    }

    /// The users whose orders of the trader service (client ids of its tokens) the
    /// batch writes, ascending: whose `order_versions` the batch moves, which the
    /// trader's cached pages are tagged with (migration 0012).
    pub fn trader_users(&self) -> Vec<i64> {
        let mut users: Vec<i64> = self
            .orders
            .values()
            .filter(|o| o.client_id.starts_with(crate::token::TOKEN_PREFIX))
            .map(|o| o.user_id)
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Orders that were open before the batch and changed (to update).
    pub fn changed_orders(&self) -> impl Iterator<Item = &OrderRow> {
        self.orders
            .values()
            .filter(|o| self.existing.contains(&o.order_seq))
    }

    fn change(&mut self, seq: i64, order_seq: i64, f: impl FnOnce(&mut OrderRow)) {
        if let Some(o) = self.orders.get_mut(&order_seq) {
            f(o);
            o.updated_seq = seq;
            if o.status != "open" {
                self.open.remove(&(o.user_id, o.client_id.clone()));
            }
        }
    }

    fn fill(
        &mut self,
        seq: i64,
        user: u64,
        id: &str,
        qty: i64,
        notional: i64,
        leaves: i64,
    ) -> Option<i64> {
        let order_seq = *self.open.get(&(user as i64, id.to_string()))?;
        self.change(seq, order_seq, |o| {
            o.filled += qty;
            o.filled_value = o.filled_value.saturating_add(notional);
            if leaves == 0 {
                o.status = "filled".into();
            }
        });
        Some(order_seq)
    }

    /// A ledger leg that is stored (a deposit's or a withdrawal's), and its balance
    /// change.
    fn leg(&mut self, seq: i64, user: u64, asset: &str, amount: i64, kind: &'static str) {
        // An event's legs are pushed one after another: count them from the end.
        let leg = self
            .ledger
            .iter()
            .rev()
            .take_while(|l| l.seq == seq)
            .count() as i16;
        self.ledger.push(Leg {
            seq,
            leg,
            user_id: user as i64,
            asset: asset.to_string(),
            amount,
            kind,
        });
        self.balance(user, asset, amount);
    }

    /// A balance change (user 0, the world outside the exchange, has none); a
    /// holding's cost walk comes along, so that its row is written as it stands.
    fn balance(&mut self, user: u64, asset: &str, amount: i64) -> Option<&mut Cost> {
        if user == 0 {
            return None;
        }
        let key = (user as i64, asset.to_string());
        *self.balances.entry(key.clone()).or_insert(0) += amount;
        self.touched.insert(user);
        if asset == CASH {
            return None;
        }
        let before = &self.costs_before;
        Some(
            self.costs
                .entry(key)
                .or_insert_with_key(|k| before.get(k).copied().unwrap_or_default()),
        )
    }

    /// Applies one event (events must come in sequence order).
    pub fn apply(&mut self, e: &EngineEvent) {
        let seq = e.seq() as i64;
        match e {
            EngineEvent::Accepted {
                user,
                id,
                symbol,
                side,
                price,
                qty,
                ..
            } => {
                let row = OrderRow {
                    order_seq: seq,
                    user_id: *user as i64,
                    client_id: id.clone(),
                    symbol: symbol.clone().unwrap_or_default(),
                    side: side.clone(),
                    price: *price,
                    qty: *qty,
                    filled: 0,
                    filled_value: 0,
                    opened_filled: 0,
                    status: "open".into(),
                    reason: None,
                    updated_seq: seq,
                };
                self.open.insert((row.user_id, row.client_id.clone()), seq);
                self.orders.insert(seq, row);
                self.touched.insert(*user);
            }
            EngineEvent::Trade {
                cmd_seq,
                symbol,
                price,
                qty,
                maker_user,
                maker_id,
                maker_leaves,
                taker_user,
                taker_id,
                taker_leaves,
                taker_side,
                ..
            } => {
                let notional = price.saturating_mul(*qty);
                let maker = self.fill(seq, *maker_user, maker_id, *qty, notional, *maker_leaves);
                let taker = self.fill(seq, *taker_user, taker_id, *qty, notional, *taker_leaves);
                let (buyer, seller, buy_order, sell_order, buy_leaves, sell_leaves) =
                    if taker_side == "buy" {
                        (
                            *taker_user,
                            *maker_user,
                            taker,
                            maker,
                            *taker_leaves,
                            *maker_leaves,
                        )
                    } else {
                        (
                            *maker_user,
                            *taker_user,
                            maker,
                            taker,
                            *maker_leaves,
                            *taker_leaves,
                        )
                    };
                // The trade's ledger legs follow from its row (the `ledger` view derives
                // them): only the balances move here.
                self.balance(buyer, CASH, -notional);
                self.balance(seller, CASH, notional);
                if let Some(c) = self.balance(seller, symbol, -qty) {
                    *c = c.after(*price, *qty, false);
                }
                if let Some(c) = self.balance(buyer, symbol, *qty) {
                    *c = c.after(*price, *qty, true);
                }
                self.last_trades.insert(symbol.clone(), (*price, seq));
                self.trades.push(TradeRow {
                    seq,
                    cmd_seq: *cmd_seq as i64,
                    symbol: symbol.clone(),
                    price: *price,
                    qty: *qty,
                    buyer: buyer as i64,
                    seller: seller as i64,
                    buy_order_seq: buy_order,
                    sell_order_seq: sell_order,
                    buy_leaves,
                    sell_leaves,
                    taker_side: taker_side.clone(),
                });
            }
            EngineEvent::Canceled {
                user, id, reason, ..
            } => {
                if let Some(&order_seq) = self.open.get(&(*user as i64, id.clone())) {
                    self.change(seq, order_seq, |o| {
                        o.status = "canceled".into();
                        o.reason = Some(reason.clone());
                    });
                }
                self.touched.insert(*user);
            }
            EngineEvent::Replaced {
                user,
                id,
                new_id,
                price,
                qty,
                ..
            } => {
                let Some(&old_seq) = self.open.get(&(*user as i64, id.clone())) else {
                    return;
                };
                self.change(seq, old_seq, |o| o.status = "replaced".into());
                if let Some(old) = self.orders.get(&old_seq).cloned() {
                    let row = OrderRow {
                        order_seq: seq,
                        client_id: new_id.clone(),
                        price: Some(*price),
                        qty: *qty,
                        opened_filled: old.filled,
                        filled_value: 0,
                        status: "open".into(),
                        reason: None,
                        updated_seq: seq,
                        ..old
                    };
                    self.open.insert((row.user_id, row.client_id.clone()), seq);
                    self.orders.insert(seq, row);
                }
                self.touched.insert(*user);
            }
            EngineEvent::Done {
                op,
                user: Some(user),
                asset,
                amount,
                ..
            } => match (op.as_str(), asset, amount) {
                ("add_user", _, _) => self.users.push((*user as i64, seq)),
                ("deposit", Some(asset), Some(amount)) => {
                    self.leg(seq, *user, asset, *amount, "deposit");
                    self.leg(seq, 0, asset, -amount, "deposit");
                }
                ("withdraw", Some(asset), Some(amount)) => {
                    self.leg(seq, *user, asset, -amount, "withdraw");
                    self.leg(seq, 0, asset, *amount, "withdraw");
                }
                _ => {}
            },
            EngineEvent::Done { user: None, .. } | EngineEvent::Rejected { .. } => {}
        }
    }
}

/// A delivered event and its predecessor on the account stream (`None`: not known, as
/// from a bridge that did not number the stream; then delivery order is trusted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The event.
    pub event: EngineEvent,
    /// The account stream's event before it (0: none).
    pub prev_seq: Option<u64>,
}

impl From<EngineEvent> for Incoming {
    fn from(event: EngineEvent) -> Self {
        Incoming {
            event,
            prev_seq: None,
        }
    }
}

/// What a settled batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Events applied (new ones; duplicates are not counted).
    pub applied: usize,
    /// Indices (into the settled slice) of the events that came before their
    /// predecessor and were not applied (see the module's ordering invariant).
    pub early: Vec<usize>,
    /// Trades recorded.
    pub trades: usize,
    /// Users whose portfolio changed.
    pub touched: BTreeSet<u64>,
}

/// The one writer of the settlement tables (see the module docs).
#[derive(Debug)]
pub struct Settler {
    open: HashMap<(i64, String), OrderRow>,
    /// The cost walk of every holding with shares from trading (a pair absent: none).
    costs: HashMap<(i64, String), Cost>,
    position: u64,
    events: u64,
}

impl Settler {
    /// Loads the open orders, the holdings' cost walks and the position.
    pub async fn load(store: &dyn SettlementStore) -> Result<Settler, OrderError> {
        let loaded = store.load().await?;
        Ok(Settler {
            open: loaded
                .open
                .into_iter()
                .map(|o| ((o.user_id, o.client_id.clone()), o))
                .collect(),
            costs: loaded.costs.into_iter().collect(),
            position: loaded.seq,
            events: loaded.events,
        })
    }

    /// The highest event sequence number settled.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Settles `events` (in sequence order; duplicates and events at or below the
    /// position are dropped, and so are events that came before their predecessor) in
    /// one transaction: [`plan`](Self::plan), then [`Planned::commit`]. On error
    /// nothing changed in the database, but this settler has moved on as if it had:
    /// load it again, then settle the same events again.
    pub async fn settle(
        &mut self,
        store: &dyn SettlementStore,
        events: &[Incoming],
    ) -> Result<Outcome, OrderError> {
        self.plan(events).commit(store).await
    }

    /// Works out the rows `events` make (see [`settle`](Self::settle) for which are
    /// applied) against the open orders and position as they will be once every batch
    /// planned before has committed, and moves this settler on as if this one had too.
    /// This is what lets the next batch be planned while the last one commits; the
    /// batches must then be committed in the order they were planned, each only after
    /// the one before succeeded. After a failed commit this settler is ahead of the
    /// database: load it again.
    pub fn plan(&mut self, events: &[Incoming]) -> Planned {
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| events[i].event.seq()); // stable: in order stays in order
        let mut last = self.position;
        let mut early = Vec::new();
        let mut todo: Vec<&EngineEvent> = Vec::with_capacity(events.len());
        for i in order {
            let e = &events[i];
            let seq = e.event.seq();
            if seq <= last {
                continue; // a duplicate
            }
            if e.prev_seq.is_some_and(|p| p > last) {
                early.push(i);
                continue;
            }
            last = seq;
            todo.push(&e.event);
        }
        let mut outcome = Outcome {
            applied: todo.len(),
            early,
            ..Outcome::default()
        };
        if todo.is_empty() {
            return Planned {
                plan: None,
                seq: last,
                events: self.events,
                outcome,
            };
        }
        let referenced = referenced(&todo);
        let open = referenced
            .orders
            .iter()
            .filter_map(|k| self.open.get(k).cloned())
            .collect();
        let costs = referenced
            .holdings
            .into_iter()
            .filter_map(|k| self.costs.get(&k).map(|c| (k, *c)))
            .collect();
        let mut plan = Plan::with_costs(open, costs);
        for e in &todo {
            plan.apply(e);
        }
        for (k, c) in &plan.costs {
            if *c == Cost::default() {
                self.costs.remove(k);
            } else {
                self.costs.insert(k.clone(), *c);
            }
        }
        // Bring the cache along, as the commit will the tables.
        for o in plan.orders.values() {
            let key = (o.user_id, o.client_id.clone());
            if o.status == "open" {
                self.open.insert(key, o.clone());
            } else if self
                .open
                .get(&key)
                .is_some_and(|c| c.order_seq == o.order_seq)
            {
                self.open.remove(&key);
            }
        }
        self.position = last;
        self.events += todo.len() as u64;
        outcome.trades = plan.trades.len();
        outcome.touched = std::mem::take(&mut plan.touched);
        Planned {
            plan: Some(plan),
            seq: last,
            events: self.events,
            outcome,
        }
    }
}

/// A batch [`Settler::plan`] worked out: its rows, and the position they move
/// settlement to.
#[derive(Debug)]
pub struct Planned {
    /// `None`: nothing to write (every event a duplicate or early).
    plan: Option<Plan>,
    seq: u64,
    events: u64,
    outcome: Outcome,
}

impl Planned {
    /// What committing it does.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Writes the rows and the new position in one transaction (nothing when there is
    /// nothing to write). On error nothing changed in the database.
    pub async fn commit(self, store: &dyn SettlementStore) -> Result<Outcome, OrderError> {
        if let Some(plan) = &self.plan {
            store.commit(plan, self.seq, self.events).await?;
        }
        Ok(self.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> EngineEvent {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_trade_moves_cash_and_shares_in_balanced_legs_and_fills_orders() {
        let mut plan = Plan::new(Vec::new());
        for e in [
            r#"{"event":"done","seq":1,"op":"deposit","user":1,"asset":"ACME","amount":10}"#,
            r#"{"event":"done","seq":2,"op":"deposit","user":2,"asset":"USD","amount":5000}"#,
            r#"{"event":"accepted","seq":3,"user":1,"id":"s1","symbol":"ACME","side":"sell","price":101,"qty":10}"#,
            r#"{"event":"accepted","seq":4,"user":2,"id":"b1","symbol":"ACME","side":"buy","price":102,"qty":4}"#,
            r#"{"event":"trade","seq":5,"cmd_seq":4,"symbol":"ACME","price":101,"qty":4,"maker_user":1,"maker_id":"s1","maker_leaves":6,"taker_user":2,"taker_id":"b1","taker_leaves":0,"taker_side":"buy"}"#,
            r#"{"event":"canceled","seq":6,"user":1,"id":"s1","qty":6,"reason":"user"}"#,
        ] {
            plan.apply(&ev(e));
        }
        // Every (seq, asset) nets to zero.
        let mut net: BTreeMap<(i64, String), i64> = BTreeMap::new();
        for l in &plan.ledger {
            *net.entry((l.seq, l.asset.clone())).or_default() += l.amount;
        }
        assert!(net.values().all(|&v| v == 0), "{net:?}");
        let b = |u: i64, a: &str| plan.balances.get(&(u, a.to_string())).copied();
        assert_eq!(b(1, CASH), Some(404));
        assert_eq!(b(1, "ACME"), Some(6));
        assert_eq!(b(2, CASH), Some(5000 - 404));
        assert_eq!(b(2, "ACME"), Some(4));
        assert_eq!(plan.orders[&3].status, "canceled");
        assert_eq!(plan.orders[&3].filled, 4);
        assert_eq!(plan.orders[&4].status, "filled");
        // Each side's row carries the value of its fills.
        assert_eq!(
            (plan.orders[&3].filled_value, plan.orders[&4].filled_value),
            (404, 404)
        );
        assert_eq!(plan.trades[0].buy_order_seq, Some(4));
        assert_eq!(plan.last_trades["ACME"], (101, 5));
        assert_eq!(plan.trades[0].sell_order_seq, Some(3));
        assert_eq!(plan.touched, BTreeSet::from([1, 2]));
    }

    #[test]
    fn trades_step_each_sides_cost_walk_from_where_it_stood() {
        let key = |u: i64| (u, "ACME".to_string());
        // User 1 holds 10 from trading, bought for 1,000; user 2 none.
        let mut plan = Plan::with_costs(
            Vec::new(),
            HashMap::from([(
                key(1),
                Cost {
                    traded: 10,
                    cost: 1_000,
                },
            )]),
        );
        for e in [
            // 1 sells 4 to 2 at 1.50, then 2 deposits 5 more, then 2 sells 6 to 1 at 1.20.
            r#"{"event":"trade","seq":5,"cmd_seq":4,"symbol":"ACME","price":150,"qty":4,"maker_user":1,"maker_id":"s1","maker_leaves":0,"taker_user":2,"taker_id":"b1","taker_leaves":0,"taker_side":"buy"}"#,
            r#"{"event":"done","seq":6,"op":"deposit","user":2,"asset":"ACME","amount":5}"#,
            r#"{"event":"trade","seq":7,"cmd_seq":6,"symbol":"ACME","price":120,"qty":6,"maker_user":1,"maker_id":"b2","maker_leaves":0,"taker_user":2,"taker_id":"s2","taker_leaves":0,"taker_side":"sell"}"#,
        ] {
            plan.apply(&ev(e));
        }
        // 1: 10 for 1,000, sells 4 (6 for 600), buys 6 at 120 (12 for 1,320).
        assert_eq!(
            plan.costs[&key(1)],
            Cost {
                traded: 12,
                cost: 1_320
            }
        );
        // 2: buys 4 at 150 (4 for 600); the deposit adds no cost; sells 6, but only the
        // 4 from trading leave the walk, with all their cost.
        assert_eq!(plan.costs[&key(2)], Cost::default());
        assert_eq!(plan.balances[&key(2)], 3);
        // Cash carries no walk.
        assert!(!plan.costs.contains_key(&(1, CASH.to_string())));
    }

    #[test]
    fn a_replace_closes_the_old_order_and_opens_the_new_with_its_fills() {
        let open = OrderRow {
            order_seq: 10,
            user_id: 7,
            client_id: "a".into(),
            symbol: "ACME".into(),
            side: "buy".into(),
            price: Some(100),
            qty: 10,
            filled: 3,
            filled_value: 300,
            opened_filled: 0,
            status: "open".into(),
            reason: None,
            updated_seq: 12,
        };
        let mut plan = Plan::new(vec![open]);
        plan.apply(&ev(
            r#"{"event":"replaced","seq":20,"user":7,"id":"a","new_id":"b","price":99,"qty":8}"#,
        ));
        assert_eq!(plan.orders[&10].status, "replaced");
        let new = &plan.orders[&20];
        assert_eq!(
            (new.client_id.as_str(), new.price, new.qty, new.filled),
            ("b", Some(99), 8, 3)
        );
        // The fills' value stays with the row that made them.
        assert_eq!((plan.orders[&10].filled_value, new.filled_value), (300, 0));
        plan.apply(&ev(
            r#"{"event":"canceled","seq":21,"user":7,"id":"b","qty":5,"reason":"user"}"#,
        ));
        assert_eq!(plan.orders[&20].status, "canceled");
    }
}
