//! From the engine's `exec.<user>` events to notifications: which kind each is, what
//! its payload says, and the key that makes it one inbox entry however often it is
//! delivered.

use bourse_shell::money::format_cents;
use bourse_trader::stream::{OrderEvent, order_events};
use serde_json::{Value, json};

use crate::kind::Kind;
use crate::store::{Draft, ExpiredHeld, FiredAlert, OrderInfo};

/// One user's order event from an `exec.<user>` message, with the fields of the
/// engine's body a notification shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The order event (user, engine order id, Alpaca's name, fill).
    pub order: OrderEvent,
    /// A cancel's or reject's reason.
    pub reason: Option<String>,
    /// The symbol, when the engine's body names it.
    pub symbol: Option<String>,
    /// A cancel's open quantity, an acceptance's or a replace's quantity.
    pub qty: Option<i64>,
}

/// The events of one `exec.<user>` message (none for anything else).
pub fn events(routing_key: &str, body: &Value) -> Vec<Event> {
    order_events(routing_key, body)
        .into_iter()
        .map(|order| Event {
            order,
            reason: body["reason"].as_str().map(str::to_string),
            symbol: body["symbol"].as_str().map(str::to_string),
            qty: body["qty"].as_i64(),
        })
        .collect()
}

/// The kind of `e`, given the order it is about (if the trader service entered it).
pub fn kind(e: &Event, order: Option<&OrderInfo>) -> Option<Kind> {
    Some(match e.order.event {
        // A fired conditional order's acceptance is its trigger.
        "new" if order.is_some_and(|o| o.triggered) => Kind::Triggered,
        name => Kind::parse(name).filter(|k| *k != Kind::PriceAlert)?,
    })
}

/// What a conditional order type reads as in a title.
fn type_words(order_type: &str) -> &str {
    match order_type {
        "stop_limit" => "stop-limit",
        "trailing_stop" => "trailing stop",
        other => other,
    }
}

/// The notification of `e` (of `kind`), for the order `order` if the trader service
/// entered it.
pub fn draft(e: &Event, kind: Kind, order: Option<&OrderInfo>) -> Draft {
    let o = &e.order;
    let symbol = order.map(|x| x.symbol.clone()).or_else(|| e.symbol.clone());
    let side = order.map(|x| x.side.as_str());
    let what = match (side, &symbol) {
        (Some(side), Some(s)) => format!("{side} {} {s}", order.map_or(0, |x| x.qty)),
        (None, Some(s)) => format!("order {} on {s}", o.token),
        _ => format!("order {}", o.token),
    };
    let title = match kind {
        Kind::New => format!("Accepted: {what}"),
        Kind::Fill | Kind::PartialFill => {
            let (price, qty) = o.fill.unwrap_or((0, 0));
            let head = if kind == Kind::Fill {
                "Filled"
            } else {
                "Partially filled"
            };
            format!("{head}: {what}, {qty} at {}", format_cents(price))
        }
        Kind::Canceled => match e.reason.as_deref() {
            Some("user") | None => format!("Canceled: {what}"),
            Some(r) => format!("Canceled ({r}): {what}"),
        },
        Kind::Expired => format!("Expired: {what}"),
        Kind::Replaced => format!("Replaced: {what}"),
        Kind::Rejected => format!(
            "Rejected ({}): {what}",
            e.reason.as_deref().unwrap_or("unknown")
        ),
        Kind::Triggered => format!(
            "Triggered: {} {what}",
            type_words(order.map_or("stop", |x| x.order_type.as_str()))
        ),
        // Not an order event ([`kind`] never says it of one): [`alert_draft`] makes these.
        Kind::PriceAlert => format!("Price alert: {what}"),
    };
    let mut body = json!({
        "title": title,
        "event": o.event,
        "seq": o.seq,
        "event_time": jiff::Timestamp::from_nanosecond(i128::from(o.time_ns))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_string(),
        "order_id": order.map(|x| x.id.clone()),
        "client_order_id": order.map_or(o.token.clone(), |x| x.client_order_id.clone()),
        "symbol": symbol,
        "side": side,
        "order_type": order.map(|x| x.order_type.clone()),
    });
    if let Some((price, qty)) = o.fill {
        body["price"] = json!(format_cents(price));
        body["qty"] = json!(qty.to_string());
    } else if let Some(q) = e.qty {
        body["qty"] = json!(q.to_string());
    }
    if let Some(r) = &e.reason {
        body["reason"] = json!(r);
    }
    Draft {
        user: o.user,
        key: format!("{}.{}", o.seq, o.token),
        kind,
        body,
    }
}

/// The notification of a fired price alert, keyed by the alert (it fires once).
pub fn alert_draft(a: &FiredAlert) -> Draft {
    let (trade_price, seq) = a.trade;
    let words = if a.condition == "at_or_above" {
        "at or above"
    } else {
        "at or below"
    };
    let mut title = format!(
        "{} traded at {}: {words} {}",
        a.symbol,
        format_cents(trade_price),
        format_cents(a.price)
    );
    if !a.note.is_empty() {
        title = format!("{title} ({})", a.note);
    }
    Draft {
        user: a.user,
        key: format!("alert.{}", a.id),
        kind: Kind::PriceAlert,
        body: json!({
            "title": title,
            "event": "price_alert",
            "seq": seq,
            "event_time": a.triggered_at,
            "alert_id": a.id,
            "symbol": a.symbol,
            "condition": a.condition,
            "price": format_cents(a.price),
            "trade_price": format_cents(trade_price),
            "note": a.note,
        }),
    }
}

/// The notification of a held conditional order expired at the close, keyed by the
/// order (it expires once).
pub fn expired_draft(e: &ExpiredHeld) -> Draft {
    Draft {
        user: e.user,
        key: format!("expired.{}", e.id),
        kind: Kind::Expired,
        body: json!({
            "title": format!(
                "Expired: {} {} {} {} (held until the close)",
                type_words(&e.order_type),
                e.side,
                e.qty,
                e.symbol
            ),
            "event": "expired",
            "seq": null,
            "event_time": e.expired_at,
            "order_id": e.id,
            "client_order_id": e.client_order_id,
            "symbol": e.symbol,
            "side": e.side,
            "order_type": e.order_type,
            "qty": e.qty.to_string(),
            "reason": "expired",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(triggered: bool) -> OrderInfo {
        OrderInfo {
            id: "0b7c".into(),
            client_order_id: "mine-1".into(),
            symbol: "ACME".into(),
            side: "sell".into(),
            order_type: "stop".into(),
            qty: 5,
            triggered,
        }
    }

    #[test]
    fn a_fill_names_the_order_its_price_and_quantity() {
        let trade = json!({"event":"trade","seq":9,"time_ns":5,"symbol":"ACME","price":9500,"qty":5,
            "maker_user":1,"maker_id":"s1","maker_leaves":0,"taker_user":2,"taker_id":"b1","taker_leaves":6});
        let e = &events("exec.1", &trade)[0];
        let order = info(false);
        let k = kind(e, Some(&order)).unwrap();
        assert_eq!(k, Kind::Fill);
        let d = draft(e, k, Some(&order));
        assert_eq!((d.user, d.key.as_str()), (1, "9.s1"));
        assert_eq!(d.body["title"], "Filled: sell 5 ACME, 5 at 95.00");
        assert_eq!(
            (&d.body["order_id"], &d.body["client_order_id"]),
            (&json!("0b7c"), &json!("mine-1"))
        );
        assert_eq!(
            (&d.body["price"], &d.body["qty"]),
            (&json!("95.00"), &json!("5"))
        );
        let taker = &events("exec.2", &trade)[0];
        let d = draft(taker, kind(taker, None).unwrap(), None);
        assert_eq!(d.kind, Kind::PartialFill);
        assert_eq!(
            d.body["client_order_id"], "b1",
            "no trader order: the engine's id"
        );
        assert!(d.body["order_id"].is_null());
    }

    #[test]
    fn a_fired_alert_says_what_traded_where() {
        let a = FiredAlert {
            id: "a1".into(),
            user: 4,
            symbol: "ACME".into(),
            condition: "at_or_above".into(),
            price: 12_000,
            note: "take profits".into(),
            trade: (12_050, 77),
            triggered_at: "2026-12-02T15:30:00.000000Z".into(),
            at: 1,
        };
        let d = alert_draft(&a);
        assert_eq!(
            (d.user, d.key.as_str(), d.kind),
            (4, "alert.a1", Kind::PriceAlert)
        );
        assert_eq!(
            d.body["title"],
            "ACME traded at 120.50: at or above 120.00 (take profits)"
        );
        assert_eq!(
            (&d.body["trade_price"], &d.body["seq"]),
            (&json!("120.50"), &json!(77))
        );
    }

    #[test]
    fn a_fired_orders_acceptance_is_its_trigger_and_reasons_are_shown() {
        let accepted = json!({"event":"accepted","seq":3,"time_ns":1,"user":7,"id":"t1",
            "symbol":"ACME","side":"sell","price":null,"qty":5});
        let e = &events("exec.7", &accepted)[0];
        assert_eq!(kind(e, Some(&info(true))), Some(Kind::Triggered));
        assert_eq!(kind(e, Some(&info(false))), Some(Kind::New));
        assert_eq!(
            draft(e, Kind::Triggered, Some(&info(true))).body["title"],
            "Triggered: stop sell 5 ACME"
        );
        let canceled = json!({"event":"canceled","seq":4,"time_ns":1,"user":7,"id":"t2",
            "qty":3,"reason":"ioc"});
        let e = &events("exec.7", &canceled)[0];
        let d = draft(e, kind(e, None).unwrap(), None);
        assert_eq!(
            (d.kind, d.body["title"].as_str()),
            (Kind::Canceled, Some("Canceled (ioc): order t2"))
        );
        assert_eq!(
            (&d.body["reason"], &d.body["qty"]),
            (&json!("ioc"), &json!("3"))
        );
        let rejected = json!({"event":"rejected","seq":5,"time_ns":1,"user":7,"id":"t3",
            "reason":"insufficient_funds"});
        let e = &events("exec.7", &rejected)[0];
        assert_eq!(
            draft(e, kind(e, None).unwrap(), None).body["title"],
            "Rejected (insufficient_funds): order t3"
        );
    }
}
