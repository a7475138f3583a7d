//! The auto service's loop: held conditional orders armed in the trigger index,
//! trades from the bus evaluated against it, and what fires entered into the engine.
//!
//! # The loop
//! Each round: arm the orders held since the last look and disarm those that left
//! `held` (canceled); read a batch of trades from the service's durable queue
//! (`trade.*`); feed each trade newer than the saved position to the index; **fire**
//! what it triggers — one compare-and-set from `held` to `pending_new` for all of
//! them, then each entered into the engine under its row's token through the service
//! session, and the engine's verdict recorded as the trader service records its own;
//! then save the position and the trailing stops' changed marks in one transaction;
//! then acknowledge the batch.
//!
//! # Exactly once
//! An order fires at most once: the compare-and-set lets only one of the auto service
//! and a cancel win, and a fired row is never held again. A trade delivered again (a
//! restart, the bridge republishing) at or below the saved position is skipped, and a
//! trade after it fires only what is still held. An order fired but never entered (the
//! service died between the two) reads `pending_new`, and the trader service's
//! reconciler marks it `rejected` (`not_received`) if the engine never saw it: it is
//! never entered twice.
//!
//! # Known limitations
//! New held orders are seen by polling (every [`POLL`]), so a trade in the moment
//! after an order is entered may pass before it is armed. A `day` conditional order
//! still held at the close is expired by [`crate::session`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bourse_bus::reconnect::Reconnecting;
use bourse_bus::{BusError, Consumer};
use bourse_core::{FixedStr, OrderType, Price, Qty, Side, TimeInForce, UserId};
use bourse_gateway::protocol::{EnterOrder, ServerMsg, ServiceMsg};
use bourse_gateway_client::GatewayClient;
use bourse_shell::ApiError;
use bourse_stock::store::MarketStore;
use bourse_trader::store::TraderStore;
use serde::Deserialize;

use crate::store::{ActiveAlert, AutoStore, Fired, Held};
use crate::triggers::{Condition, Direction, Trigger, TriggerId, TriggerIndex};

/// How often held orders are looked for.
pub const POLL: Duration = Duration::from_millis(100);
/// How far back each look reaches before the newest row it has seen: a row is
/// committed a moment after its time is taken, and must not be passed over.
const LOOKBACK_MICROS: i64 = 5_000_000;
/// Most trades in one round.
pub const BATCH: usize = 2_000;
/// Deliveries the broker may have in flight to the auto service.
pub const PREFETCH: u16 = 4_000;
/// Brackets' entries are looked at every this many rounds.
const BRACKET_ROUNDS: u64 = 3;
/// New and canceled price alerts are looked for every this many rounds.
const ALERT_ROUNDS: u64 = 5;

/// What the service exposes while it runs (for readiness, metrics and tests).
#[derive(Debug, Default)]
pub struct Status {
    /// Orders armed in the index.
    pub armed: AtomicU64,
    /// Orders fired since start.
    pub fired: AtomicU64,
    /// Price alerts fired since start.
    pub alerts_fired: AtomicU64,
    /// The last trade evaluated (its sequence number).
    pub position: AtomicU64,
    /// Rounds completed since start (each a look at the held orders and a batch).
    pub rounds: AtomicU64,
    /// The bus consumer is connected.
    pub connected: Arc<AtomicBool>,
}

/// Where the service reads and writes.
#[derive(Clone, Debug)]
pub struct Stores {
    /// Its own (held orders, position).
    pub auto: Arc<dyn AutoStore>,
    /// The trader's (verdicts, as the trader records them).
    pub trader: Arc<dyn TraderStore>,
    /// Market data (the last price of each symbol at start).
    pub market: Arc<dyn MarketStore>,
}

/// A trade, as the bridge's body says (`docs/events.md`).
#[derive(Debug, Deserialize)]
struct TradeBody {
    event: String,
    seq: u64,
    #[serde(default)]
    symbol: Option<String>,
    #[serde(default)]
    price: Option<i64>,
    #[serde(default)]
    maker_user: Option<u64>,
    #[serde(default)]
    maker_id: Option<String>,
    #[serde(default)]
    taker_user: Option<u64>,
    #[serde(default)]
    taker_id: Option<String>,
}

/// A trade to evaluate.
#[derive(Debug)]
struct Trade {
    seq: u64,
    symbol: String,
    price: i64,
    /// The orders that traded: (owner, engine id).
    parties: Vec<(u64, String)>,
}

/// An armed order or price alert.
#[derive(Debug)]
struct Armed {
    /// The order's id, or the alert's.
    order: String,
    /// A price alert (not an order).
    alert: bool,
    /// The other leg of a one-cancels-other pair (owner, engine id), whose trade
    /// cancels this one.
    oco_key: Option<(u64, String)>,
    symbol: u32,
    trailing: bool,
    saved_mark: Option<i64>,
}

/// The index and what maps its ids to orders.
#[derive(Debug, Default)]
struct Book {
    index: TriggerIndex,
    symbols: HashMap<String, u32>,
    armed: HashMap<TriggerId, Armed>,
    ids: HashMap<String, TriggerId>,
    alert_ids: HashMap<String, TriggerId>,
    /// Held legs of one-cancels-other pairs, by the other leg (owner, engine id).
    oco_watch: HashMap<(u64, String), String>,
    next: TriggerId,
    /// Symbols traded since the marks were last saved.
    traded: HashSet<u32>,
    held_cursor: Option<i64>,
    left_cursor: i64,
    alert_cursor: Option<i64>,
    alert_left_cursor: i64,
}

impl Book {
    fn symbol(&mut self, name: &str) -> u32 {
        let n = self.symbols.len() as u32;
        *self.symbols.entry(name.to_string()).or_insert(n)
    }

    /// Arms `h` (nothing if it is armed already, or its condition is unreadable).
    fn arm(&mut self, h: &Held) {
        if self.ids.contains_key(&h.id) {
            return;
        }
        let direction = if h.side == "buy" {
            Direction::Rising
        } else {
            Direction::Falling
        };
        let c = h.condition;
        let (condition, trailing) = match (c.stop_price, c.trail_price, c.trail_ppm) {
            (Some(p), _, _) => (Condition::Level(p), false),
            (None, Some(a), _) => (Condition::TrailAmount(a), true),
            (None, None, Some(q)) => (
                Condition::TrailPpm(q.clamp(1, u32::MAX as i64) as u32),
                true,
            ),
            (None, None, None) => {
                tracing::warn!(order = %h.id, "auto: a held order without a condition");
                return;
            }
        };
        let symbol = self.symbol(&h.symbol);
        self.next += 1;
        let id = self.next;
        let trigger = Trigger {
            symbol,
            direction,
            condition,
        };
        if let Err(e) = self.index.arm_marked(id, trigger, h.hwm) {
            tracing::warn!(order = %h.id, "auto: not armed: {e}");
            return;
        }
        self.ids.insert(h.id.clone(), id);
        if let Some(k) = &h.oco {
            self.oco_watch.insert(k.clone(), h.id.clone());
        }
        self.armed.insert(
            id,
            Armed {
                order: h.id.clone(),
                alert: false,
                oco_key: h.oco.clone(),
                symbol,
                trailing,
                saved_mark: h.hwm,
            },
        );
    }

    fn disarm(&mut self, order: &str) {
        if let Some(id) = self.ids.remove(order) {
            self.index.cancel(id);
            if let Some(a) = self.armed.remove(&id)
                && let Some(k) = a.oco_key
            {
                self.oco_watch.remove(&k);
            }
        }
    }

    /// Arms a price alert (nothing if it is armed already).
    fn arm_alert(&mut self, a: &ActiveAlert) {
        if self.alert_ids.contains_key(&a.id) {
            return;
        }
        let symbol = self.symbol(&a.symbol);
        self.next += 1;
        let id = self.next;
        let trigger = Trigger {
            symbol,
            direction: if a.above {
                Direction::Rising
            } else {
                Direction::Falling
            },
            condition: Condition::Level(a.price),
        };
        if let Err(e) = self.index.arm(id, trigger) {
            tracing::warn!(alert = %a.id, "auto: alert not armed: {e}");
            return;
        }
        self.alert_ids.insert(a.id.clone(), id);
        self.armed.insert(
            id,
            Armed {
                order: a.id.clone(),
                alert: true,
                oco_key: None,
                symbol,
                trailing: false,
                saved_mark: None,
            },
        );
    }

    fn disarm_alert(&mut self, alert: &str) {
        if let Some(id) = self.alert_ids.remove(alert) {
            self.index.cancel(id);
            self.armed.remove(&id);
        }
    }

    /// The trailing stops of symbols traded since the last save whose mark moved.
    fn changed_marks(&mut self) -> Vec<(String, i64)> {
        if self.traded.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (id, a) in self.armed.iter_mut() {
            if !a.trailing || !self.traded.contains(&a.symbol) {
                continue;
            }
            if let Some(m) = self.index.mark(*id)
                && a.saved_mark != Some(m)
            {
                a.saved_mark = Some(m);
                out.push((a.order.clone(), m));
            }
        }
        self.traded.clear();
        out
    }
}

/// Retries `f` until it succeeds or `stop` is set (then `None`), backing off.
async fn until_done<T, F, Fut>(what: &str, stop: &AtomicBool, f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    bourse_shell::retry::until_done("auto", what, stop, f).await
}

/// Runs until `stop`: `consumer` connects to the service's trade queue (again after
/// any failure).
pub async fn run<C, CF, CFut>(
    stores: Stores,
    engine: GatewayClient,
    consumer: CF,
    status: Arc<Status>,
    stop: Arc<AtomicBool>,
) where
    C: Consumer,
    CF: FnMut() -> CFut,
    CFut: Future<Output = Result<C, BusError>>,
{
    let mut book = Book::default();
    let Some(position) = until_done("reading the position", &stop, || stores.auto.position()).await
    else {
        return;
    };
    let mut position = position;
    status.position.store(position, Ordering::Relaxed);
    // The last price of every symbol, so that trailing stops start from it.
    if let Some(prices) = until_done("reading the last prices", &stop, || async {
        let listed = stores.market.instruments(None).await?;
        let names: Vec<String> = listed.into_iter().map(|i| i.symbol).collect();
        stores.market.latest_trades(&names).await
    })
    .await
    {
        for t in prices {
            let s = book.symbol(&t.symbol);
            book.index.set_last_price(s, t.price);
        }
    }
    // Orders that left `held` before now were never armed here.
    let Some(now) = until_done("reading the time", &stop, || stores.auto.now()).await else {
        return;
    };
    book.left_cursor = now;
    book.alert_left_cursor = now;
    let mut bus = Reconnecting::new(consumer, status.connected.clone());
    let mut trades = Vec::new();
    let mut fired_ids = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let round = status.rounds.load(Ordering::Relaxed);
        if !sync(
            &stores,
            &mut book,
            &stop,
            round.is_multiple_of(ALERT_ROUNDS),
        )
        .await
        {
            return;
        }
        status
            .armed
            .store(book.armed.len() as u64, Ordering::Relaxed);
        // Every few rounds, brackets whose entry filled: the take-profit into the book
        // (the stop-loss is armed by the next look at the held orders); whose entry
        // ended unfilled: their exits canceled.
        if status
            .rounds
            .load(Ordering::Relaxed)
            .is_multiple_of(BRACKET_ROUNDS)
        {
            let Some(activated) = until_done("activating brackets", &stop, || {
                stores.auto.activate_brackets()
            })
            .await
            else {
                return;
            };
            if !activated.is_empty() {
                enter(&stores, &engine, activated).await;
            }
            if until_done("canceling orphan legs", &stop, || {
                stores.auto.cancel_orphan_legs()
            })
            .await
            .is_none()
            {
                return;
            }
        }
        let batch = bus.batch(BATCH, POLL).await;
        if let Some(e) = &batch.lost {
            tracing::warn!("auto: the trade queue: {e}");
        }
        let Some(last_tag) = batch.deliveries.last().map(|d| d.tag) else {
            status.rounds.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        trades.clear();
        for d in &batch.deliveries {
            match serde_json::from_slice::<TradeBody>(&d.message.body) {
                Ok(TradeBody {
                    event,
                    seq,
                    symbol: Some(symbol),
                    price: Some(price),
                    maker_user,
                    maker_id,
                    taker_user,
                    taker_id,
                }) if event == "trade" && seq > position => trades.push(Trade {
                    seq,
                    symbol,
                    price,
                    parties: [maker_user.zip(maker_id), taker_user.zip(taker_id)]
                        .into_iter()
                        .flatten()
                        .collect(),
                }),
                Ok(_) => {}
                Err(e) => tracing::warn!(seq = d.message.seq, "auto: an unreadable trade: {e}"),
            }
        }
        // In sequence order, whatever order they came in.
        trades.sort_unstable_by_key(|t| t.seq);
        let mut fired: Vec<(String, Option<i64>)> = Vec::new();
        let mut alerts: Vec<(String, i64, u64)> = Vec::new();
        let mut oco_cancels: Vec<String> = Vec::new();
        for Trade {
            seq,
            symbol,
            price,
            parties,
        } in &trades
        {
            if *seq <= position {
                continue; // the same trade twice in one batch
            }
            position = *seq;
            // A one-cancels-other leg traded: its held other leg will not fire.
            for p in parties {
                if let Some(held) = book.oco_watch.get(p).cloned() {
                    book.disarm(&held);
                    oco_cancels.push(held);
                }
            }
            let s = book.symbol(symbol);
            book.traded.insert(s);
            fired_ids.clear();
            book.index.on_trade(s, *price, &mut fired_ids);
            for id in &fired_ids {
                if let Some(a) = book.armed.remove(id) {
                    if a.alert {
                        book.alert_ids.remove(&a.order);
                        alerts.push((a.order, *price, *seq));
                    } else {
                        book.ids.remove(&a.order);
                        if let Some(k) = &a.oco_key {
                            book.oco_watch.remove(k);
                        }
                        fired.push((a.order, a.saved_mark));
                    }
                }
            }
        }
        if !fired.is_empty() {
            let Some(orders) =
                until_done("firing orders", &stop, || stores.auto.fire(&fired)).await
            else {
                return;
            };
            status
                .fired
                .fetch_add(orders.len() as u64, Ordering::Relaxed);
            metrics::counter!("auto_orders_fired_total").increment(orders.len() as u64);
            enter(&stores, &engine, orders).await;
        }
        for held in &oco_cancels {
            if until_done("canceling an oco leg", &stop, || {
                stores.trader.cancel_held(held)
            })
            .await
            .is_none()
            {
                return;
            }
        }
        if !alerts.is_empty() {
            let Some(n) =
                until_done("firing alerts", &stop, || stores.auto.fire_alerts(&alerts)).await
            else {
                return;
            };
            status.alerts_fired.fetch_add(n as u64, Ordering::Relaxed);
            metrics::counter!("auto_alerts_fired_total").increment(n as u64);
        }
        let marks = book.changed_marks();
        if until_done("saving the position", &stop, || {
            stores.auto.save(position, &marks)
        })
        .await
        .is_none()
        {
            return;
        }
        status.position.store(position, Ordering::Relaxed);
        metrics::gauge!("auto_trade_position").set(position as f64);
        // Redelivered on the next connection if this fails, and skipped there.
        let _ = bus.ack_upto(last_tag).await;
        status.rounds.fetch_add(1, Ordering::Relaxed);
    }
}

/// Arms what was entered and disarms what left `held` since the last look; false if
/// stopped before it could read them.
async fn sync(stores: &Stores, book: &mut Book, stop: &AtomicBool, alerts: bool) -> bool {
    let since = book.held_cursor.map(|c| c - LOOKBACK_MICROS);
    let Some(held) = until_done("reading held orders", stop, || stores.auto.held(since)).await
    else {
        return false;
    };
    for h in &held {
        book.arm(h);
        book.held_cursor = Some(book.held_cursor.map_or(h.created, |c| c.max(h.created)));
    }
    if book.held_cursor.is_none() {
        // Nothing held yet: from the beginning again next time (there is nothing to
        // read twice).
        book.held_cursor = Some(0);
    }
    let left_since = book.left_cursor - LOOKBACK_MICROS;
    let Some(left) = until_done("reading canceled orders", stop, || {
        stores.auto.left_held(left_since)
    })
    .await
    else {
        return false;
    };
    for (order, at) in &left {
        book.disarm(order);
        book.left_cursor = book.left_cursor.max(*at);
    }
    if !alerts {
        metrics::gauge!("auto_orders_armed").set(book.armed.len() as f64);
        return true;
    }
    // Price alerts: the same, from their own table.
    let since = book.alert_cursor.map(|c| c - LOOKBACK_MICROS);
    let Some(active) =
        until_done("reading alerts", stop, || stores.auto.active_alerts(since)).await
    else {
        return false;
    };
    for a in &active {
        book.arm_alert(a);
        book.alert_cursor = Some(book.alert_cursor.map_or(a.created, |c| c.max(a.created)));
    }
    if book.alert_cursor.is_none() {
        book.alert_cursor = Some(0);
    }
    let left_since = book.alert_left_cursor - LOOKBACK_MICROS;
    let Some(left) = until_done("reading canceled alerts", stop, || {
        stores.auto.left_alerts(left_since)
    })
    .await
    else {
        return false;
    };
    for (alert, at) in &left {
        book.disarm_alert(alert);
        book.alert_left_cursor = book.alert_left_cursor.max(*at);
    }
    metrics::gauge!("auto_orders_armed").set(book.armed.len() as f64);
    true
}

/// Enters fired orders into the engine, all at once, and records each verdict as the
/// trader service does. An order whose outcome is unknown (the gateway did not answer)
/// stays `pending_new` for the trader's reconciler.
async fn enter(stores: &Stores, engine: &GatewayClient, orders: Vec<Fired>) {
    let requests = orders.into_iter().map(|mut f| async move {
        // A one-cancels-other leg: the other leg leaves the book first (what it had
        // not filled is what this one may sell), or, gone already, this one goes too.
        if let Some((other, token)) = f.oco.clone() {
            match cancel_other(stores, engine, f.user, &other, &token).await {
                Some(open) if open > 0 => f.qty = f.qty.min(open),
                Some(_) => return Some(canceled(f.id)),
                None => return None,
            }
        }
        let order = match engine_order(&f) {
            Ok(o) => o,
            Err(why) => {
                tracing::warn!(order = %f.id, "auto: cannot enter a fired order: {why}");
                return None;
            }
        };
        match engine
            .request(ServiceMsg::EnterFor {
                request: 0,
                user: UserId(f.user),
                order,
            })
            .await
        {
            Ok(reports) => {
                let o = bourse_trader::orders::outcome(&reports, f.qty);
                Some(o.verdict(f.id))
            }
            Err(e) => {
                tracing::warn!(order = %f.id, "auto: entering a fired order: {e}");
                None
            }
        }
    });
    let verdicts: Vec<_> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .flatten()
        .collect();
    if verdicts.is_empty() {
        return;
    }
    if let Err(e) = stores.trader.finish(verdicts).await {
        // The orders are in the engine: reads show settlement's account of them.
        tracing::warn!("auto: recording verdicts: {}", e.message);
    }
}

/// A fired order's verdict when it does not enter: canceled (its other leg filled).
fn canceled(id: String) -> bourse_trader::writes::Verdict {
    bourse_trader::writes::Verdict {
        id,
        status: "canceled",
        filled: 0,
        value: 0,
        order_seq: None,
        known_seq: 0,
        reject_reason: None,
    }
}

/// Cancels the other leg of a fired one-cancels-other order in the engine and records
/// it; the quantity it still had open (0: it was no longer open), `None` if the engine
/// did not answer.
async fn cancel_other(
    stores: &Stores,
    engine: &GatewayClient,
    user: u64,
    other: &str,
    token: &str,
) -> Option<i64> {
    let reports = match engine
        .request(ServiceMsg::CancelFor {
            request: 0,
            user: UserId(user),
            token: FixedStr::new(token).ok()?,
        })
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(order = other, "auto: canceling an oco leg: {e}");
            return None;
        }
    };
    for r in &reports {
        match r.msg {
            ServerMsg::Canceled { qty, seq, .. } => {
                if let Err(e) = stores.trader.canceled(other, seq as i64).await {
                    tracing::warn!(
                        order = other,
                        "auto: recording an oco cancel: {}",
                        e.message
                    );
                }
                return Some(qty.0);
            }
            ServerMsg::Rejected { .. } => return Some(0),
            _ => {}
        }
    }
    None
}

/// What the engine is given for a fired order: a stop and a trailing stop as a market
/// order, a stop-limit as a limit order.
fn engine_order(f: &Fired) -> Result<EnterOrder, String> {
    let side = match f.side.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => return Err(format!("side {other}")),
    };
    let tif = match f.time_in_force.as_str() {
        "day" => TimeInForce::Day,
        "gtc" => TimeInForce::Gtc,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        other => return Err(format!("time in force {other}")),
    };
    let (order_type, price) = match (f.order_type.as_str(), f.limit_price) {
        // A bracket's take-profit, activated.
        ("stop_limit" | "limit", Some(p)) => (OrderType::Limit, p),
        ("stop" | "trailing_stop", _) => (OrderType::Market, 0),
        (other, _) => return Err(format!("type {other}")),
    };
    Ok(EnterOrder {
        token: FixedStr::new(&f.token).map_err(|_| "token".to_string())?,
        symbol: FixedStr::new(&f.symbol).map_err(|_| "symbol".to_string())?,
        side,
        order_type,
        tif,
        post_only: false,
        price: Price(price),
        qty: Qty(f.qty),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bourse_trader::store::Condition as Cond;

    fn held(id: &str, side: &str, condition: Cond, hwm: Option<i64>) -> Held {
        Held {
            id: id.into(),
            symbol: "ACME".into(),
            side: side.into(),
            condition,
            hwm,
            created: 0,
            oco: None,
        }
    }

    #[test]
    fn an_oco_leg_is_watched_by_its_other_leg_until_it_is_disarmed() {
        let mut b = Book::default();
        let stop = Cond {
            stop_price: Some(9_000),
            ..Cond::default()
        };
        let leg = Held {
            oco: Some((7, "Hlimitleg000001".into())),
            ..held("s", "sell", stop, None)
        };
        b.arm(&leg);
        assert_eq!(
            b.oco_watch.get(&(7, "Hlimitleg000001".to_string())),
            Some(&"s".to_string())
        );
        b.disarm("s");
        assert!(b.oco_watch.is_empty() && b.armed.is_empty());
    }

    #[test]
    fn a_book_arms_once_disarms_and_reports_only_moved_marks() {
        let mut b = Book::default();
        let stop = Cond {
            stop_price: Some(9_500),
            ..Cond::default()
        };
        let trail = Cond {
            trail_price: Some(100),
            ..Cond::default()
        };
        b.arm(&held("s", "sell", stop, None));
        b.arm(&held("s", "sell", stop, None));
        b.arm(&held("t", "sell", trail, Some(10_000)));
        b.arm(&held("x", "sell", Cond::default(), None));
        assert_eq!(b.armed.len(), 2, "once each; no condition: not armed");
        let s = b.symbol("ACME");
        let mut fired = Vec::new();
        b.index.on_trade(s, 9_990, &mut fired);
        b.traded.insert(s);
        assert!(fired.is_empty());
        assert!(b.changed_marks().is_empty(), "the mark stayed at 10,000");
        b.index.on_trade(s, 10_050, &mut fired);
        b.traded.insert(s);
        assert_eq!(b.changed_marks(), vec![("t".to_string(), 10_050)]);
        assert!(b.changed_marks().is_empty(), "saved");
        b.disarm("s");
        b.index.on_trade(s, 9_000, &mut fired);
        assert_eq!(
            fired.len(),
            1,
            "only the trailing stop: the stop was disarmed"
        );
    }

    #[test]
    fn fired_orders_become_the_engine_orders_their_type_says() {
        let f = Fired {
            id: "o".into(),
            user: 7,
            token: "Habcdefghijklmno".into(),
            symbol: "ACME".into(),
            side: "sell".into(),
            order_type: "stop_limit".into(),
            time_in_force: "gtc".into(),
            qty: 5,
            limit_price: Some(9_400),
            oco: None,
        };
        let o = engine_order(&f).unwrap();
        assert_eq!(
            (o.order_type, o.price, o.side),
            (OrderType::Limit, Price(9_400), Side::Sell)
        );
        let stop = Fired {
            order_type: "trailing_stop".into(),
            limit_price: None,
            ..f.clone()
        };
        assert_eq!(engine_order(&stop).unwrap().order_type, OrderType::Market);
        // A bracket's take-profit, activated: a limit order at its price.
        let take_profit = Fired {
            order_type: "limit".into(),
            limit_price: Some(12_000),
            ..f.clone()
        };
        let o = engine_order(&take_profit).unwrap();
        assert_eq!((o.order_type, o.price), (OrderType::Limit, Price(12_000)));
        let no_price = Fired {
            order_type: "limit".into(),
            limit_price: None,
            ..f.clone()
        };
        assert!(engine_order(&no_price).is_err());
        let market = Fired {
            order_type: "market".into(),
            ..f
        };
        assert!(engine_order(&market).is_err());
    }
}
