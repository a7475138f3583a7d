//! Bracket orders end to end in one process, on both stores: an entry and two exits
//! that wait, held, until the entry fills; then the take-profit is in the book and the
//! stop-loss armed, one canceling the other. An entry canceled, or ended unfilled,
//! takes its exits with it. A one-triggers-other order is the same with one exit.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use bourse_testkit::{
    Platform, Store, ok, on_both_stores, order, order_status as status, trade, until,
};
use serde_json::{Value, json};

fn bracket(kind: &str, qty: u32, limit: Option<&str>, take: &str, stop: &str) -> Value {
    let mut o = json!({"symbol": "ACME", "qty": qty, "side": "buy", "type": kind,
        "time_in_force": "gtc", "order_class": "bracket",
        "take_profit": {"limit_price": take}, "stop_loss": {"stop_price": stop}});
    if let Some(l) = limit {
        o["limit_price"] = json!(l);
    }
    o
}

fn legs(o: &Value) -> (String, String) {
    let legs = o["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2, "{o}");
    (
        legs[0]["id"].as_str().unwrap().to_string(),
        legs[1]["id"].as_str().unwrap().to_string(),
    )
}

async fn exits_wait_for_the_entry_then_cancel_each_other(store: Store) {
    let p = Platform::start_on(store).await;
    let alice = p.funded("alice", "USD", "100000").await;
    let bob = p.funded("bob", "ACME", "100").await;
    let carol = p.funded("carol", "ACME", "10").await;
    let dave = p.funded("dave", "USD", "100000").await;
    let auto = p.running.auto.clone();
    order(
        &bob,
        json!({"symbol": "ACME", "qty": 10, "side": "sell", "type": "limit",
               "time_in_force": "gtc", "limit_price": "100"}),
    )
    .await;

    // Alice buys 10 at market with a take-profit at 120 and a stop-loss at 90.
    let o = order(&alice, bracket("market", 10, None, "120", "90")).await;
    assert_eq!(
        (&o["order_class"], &o["type"]),
        (&json!("bracket"), &json!("market"))
    );
    let (tp, sl) = legs(&o);
    let read = ok(
        &alice,
        Method::GET,
        &format!("/v2/orders/{}", o["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(read["legs"][0]["type"], "limit");
    assert_eq!(read["legs"][0]["limit_price"], "120.00");
    assert_eq!(read["legs"][0]["side"], "sell");
    assert_eq!(read["legs"][1]["type"], "stop");
    assert_eq!(read["legs"][1]["stop_price"], "90.00");
    // The entry filled: the take-profit goes into the book, the stop-loss is armed.
    until("the take-profit in the book", async || {
        status(&alice, &tp).await == "new"
    })
    .await;
    until("the stop-loss armed", async || {
        auto.armed.load(Ordering::Relaxed) == 1
    })
    .await;
    assert_eq!(status(&alice, &sl).await, "held");

    // A trade at 89 fires the stop-loss: the take-profit leaves the book, and the stop
    // sells Alice's 10 into Dave's bid.
    order(
        &dave,
        json!({"symbol": "ACME", "qty": 10, "side": "buy", "type": "limit",
               "time_in_force": "gtc", "limit_price": "85"}),
    )
    .await;
    trade(&carol, &dave, "89").await;
    until("the stop-loss filled", async || {
        status(&alice, &sl).await == "filled"
    })
    .await;
    assert_eq!(status(&alice, &tp).await, "canceled");

    // A limit entry that rests: its exits wait, and go when it is canceled.
    let o = order(&alice, bracket("limit", 5, Some("80"), "110", "70")).await;
    let entry = o["id"].as_str().unwrap().to_string();
    let (tp, sl) = legs(&o);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        (status(&alice, &tp).await, status(&alice, &sl).await),
        ("held".into(), "held".into())
    );
    assert_eq!(
        auto.armed.load(Ordering::Relaxed),
        0,
        "waiting exits are not armed"
    );
    let r = alice.delete(&format!("/v2/orders/{entry}")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        (status(&alice, &tp).await, status(&alice, &sl).await),
        ("canceled".into(), "canceled".into())
    );

    // A market entry with nothing to buy ends unfilled: its exits are canceled.
    let o = order(&alice, bracket("market", 5, None, "130", "60")).await;
    let (tp, sl) = legs(&o);
    until("the orphan exits canceled", async || {
        status(&alice, &tp).await == "canceled" && status(&alice, &sl).await == "canceled"
    })
    .await;

    // What a bracket must be: a 422 otherwise.
    for body in [
        bracket("market", 5, None, "90", "120"),
        bracket("limit", 5, Some("130"), "120", "90"),
        bracket("stop", 5, None, "120", "90"),
        {
            let mut b = bracket("market", 5, None, "120", "90");
            b["time_in_force"] = json!("ioc");
            b
        },
        {
            let mut b = bracket("market", 5, None, "120", "90");
            b.as_object_mut().unwrap().remove("take_profit");
            b
        },
    ] {
        let r = alice.post("/v2/orders", &body).await.unwrap();
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    }
    p.stop().await;
}

on_both_stores!(exits_wait_for_the_entry_then_cancel_each_other);

fn oto(kind: &str, qty: u32, exit: (&str, Value)) -> Value {
    let mut o = json!({"symbol": "ACME", "qty": qty, "side": "buy", "type": kind,
        "time_in_force": "gtc", "order_class": "oto"});
    o[exit.0] = exit.1;
    o
}

fn one_leg(o: &Value) -> String {
    let legs = o["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 1, "{o}");
    legs[0]["id"].as_str().unwrap().to_string()
}

async fn one_exit_waits_for_the_entry(store: Store) {
    let p = Platform::start_on(store).await;
    let alice = p.funded("alice", "USD", "100000").await;
    let bob = p.funded("bob", "ACME", "100").await;
    let carol = p.funded("carol", "ACME", "10").await;
    let dave = p.funded("dave", "USD", "100000").await;
    let auto = p.running.auto.clone();
    order(
        &bob,
        json!({"symbol": "ACME", "qty": 15, "side": "sell", "type": "limit",
               "time_in_force": "gtc", "limit_price": "100"}),
    )
    .await;

    // A stop-loss alone: armed once the entry fills, then fired by a trade through it.
    let o = order(
        &alice,
        oto("market", 10, ("stop_loss", json!({"stop_price": "90"}))),
    )
    .await;
    assert_eq!(o["order_class"], "oto");
    let sl = one_leg(&o);
    assert_eq!(o["legs"][0]["type"], "stop");
    assert_eq!(o["legs"][0]["side"], "sell");
    until("the stop-loss armed", async || {
        auto.armed.load(Ordering::Relaxed) == 1
    })
    .await;
    assert_eq!(status(&alice, &sl).await, "held");
    order(
        &dave,
        json!({"symbol": "ACME", "qty": 10, "side": "buy", "type": "limit",
               "time_in_force": "gtc", "limit_price": "85"}),
    )
    .await;
    trade(&carol, &dave, "89").await;
    until("the stop-loss filled", async || {
        status(&alice, &sl).await == "filled"
    })
    .await;

    // A take-profit alone: into the book once the entry fills.
    let o = order(
        &alice,
        oto("market", 5, ("take_profit", json!({"limit_price": "120"}))),
    )
    .await;
    let tp = one_leg(&o);
    assert_eq!(o["legs"][0]["limit_price"], "120.00");
    until("the take-profit in the book", async || {
        status(&alice, &tp).await == "new"
    })
    .await;

    // A resting entry canceled takes its waiting exit with it.
    let mut resting = oto("limit", 5, ("stop_loss", json!({"stop_price": "70"})));
    resting["limit_price"] = json!("80");
    let o = order(&alice, resting).await;
    let sl = one_leg(&o);
    let r = alice
        .delete(&format!("/v2/orders/{}", o["id"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(status(&alice, &sl).await, "canceled");

    // What an oto must be: exactly one exit, on the right side of a limit entry.
    for body in [
        {
            let mut b = oto("market", 5, ("stop_loss", json!({"stop_price": "90"})));
            b["take_profit"] = json!({"limit_price": "120"});
            b
        },
        json!({"symbol": "ACME", "qty": 5, "side": "buy", "type": "market",
               "time_in_force": "gtc", "order_class": "oto"}),
        {
            let mut b = oto("limit", 5, ("stop_loss", json!({"stop_price": "90"})));
            b["limit_price"] = json!("85");
            b
        },
        {
            let mut b = oto("limit", 5, ("take_profit", json!({"limit_price": "90"})));
            b["limit_price"] = json!("95");
            b
        },
        oto("stop", 5, ("stop_loss", json!({"stop_price": "90"}))),
    ] {
        let r = alice.post("/v2/orders", &body).await.unwrap();
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    }
    p.stop().await;
}

on_both_stores!(one_exit_waits_for_the_entry);
