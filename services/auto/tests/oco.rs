//! One-cancels-other orders end to end in one process, on both stores: a take-profit
//! limit in the book and a stop-loss held beside it. When the stop triggers, the
//! take-profit leaves the book before the stop sells; when the take-profit trades, the
//! stop is canceled and never fires; canceling one leg cancels the other.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use bourse_testkit::{
    Platform, Store, ok, on_both_stores, order, order_status as status, trade, until,
};
use serde_json::{Value, json};

fn oco(qty: u32, take: &str, stop: &str) -> Value {
    json!({"symbol": "ACME", "qty": qty, "side": "sell", "type": "limit", "time_in_force": "gtc",
           "order_class": "oco", "take_profit": {"limit_price": take},
           "stop_loss": {"stop_price": stop}})
}

async fn one_fill_cancels_the_other(store: Store) {
    let p = Platform::start_on(store).await;
    let alice = p.funded("alice", "USD", "100000").await;
    let bob = p.funded("bob", "ACME", "100").await;
    let carol = p.funded("carol", "ACME", "100").await;
    let dave = p.funded("dave", "USD", "100000").await;
    let auto = p.running.auto.clone();

    // Bob's oco: sell 10 at 110 or, should it trade at 90 or below, at market.
    let o = order(&bob, oco(10, "110", "90")).await;
    assert_eq!(
        (
            &o["order_class"],
            &o["type"],
            &o["limit_price"],
            &o["status"]
        ),
        (
            &json!("oco"),
            &json!("limit"),
            &json!("110.00"),
            &json!("new")
        )
    );
    let legs = o["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 1, "{o}");
    let leg = &legs[0];
    assert_eq!(
        (
            &leg["type"],
            &leg["stop_price"],
            &leg["status"],
            &leg["order_class"]
        ),
        (
            &json!("stop"),
            &json!("90.00"),
            &json!("held"),
            &json!("oco")
        )
    );
    assert_eq!(leg["qty"], "10");
    let (parent, stop) = (
        o["id"].as_str().unwrap().to_string(),
        leg["id"].as_str().unwrap().to_string(),
    );
    until("the stop leg armed", async || {
        auto.armed.load(Ordering::Relaxed) == 1
    })
    .await;

    // Alice bids 85 for 10; a trade at 89 (Carol to Dave) triggers the stop: the
    // take-profit leaves the book and the stop sells its 10 into Alice's bid.
    order(
        &alice,
        json!({"symbol": "ACME", "qty": 10, "side": "buy", "type": "limit",
               "time_in_force": "gtc", "limit_price": "85"}),
    )
    .await;
    trade(&carol, &dave, "89").await;
    until("the stop filled", async || {
        status(&bob, &stop).await == "filled"
    })
    .await;
    assert_eq!(status(&bob, &parent).await, "canceled");
    let filled = ok(&bob, Method::GET, &format!("/v2/orders/{stop}"), None).await;
    assert_eq!(
        (&filled["filled_qty"], &filled["filled_avg_price"]),
        (&json!("10"), &json!("85.00"))
    );

    // A second oco: sell 5 at 120 or below 80. Dave buys 5 at market from the
    // take-profit: the stop is canceled, and a trade at 79 fires nothing.
    let o = order(&bob, oco(5, "120", "80")).await;
    let (parent, stop) = (
        o["id"].as_str().unwrap().to_string(),
        o["legs"][0]["id"].as_str().unwrap().to_string(),
    );
    until("the second stop armed", async || {
        auto.armed.load(Ordering::Relaxed) == 1
    })
    .await;
    let fired_before = auto.fired.load(Ordering::Relaxed);
    let bought = order(
        &dave,
        json!({"symbol": "ACME", "qty": 5, "side": "buy", "type": "market", "time_in_force": "day"}),
    )
    .await;
    assert_eq!(bought["filled_avg_price"], "120.00", "{bought}");
    until("the take-profit filled", async || {
        status(&bob, &parent).await == "filled"
    })
    .await;
    until("the stop leg canceled", async || {
        status(&bob, &stop).await == "canceled"
    })
    .await;
    until("the stop leg disarmed", async || {
        auto.armed.load(Ordering::Relaxed) == 0
    })
    .await;
    trade(&carol, &dave, "79").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        auto.fired.load(Ordering::Relaxed),
        fired_before,
        "nothing fired"
    );
    assert_eq!(status(&bob, &stop).await, "canceled");

    // A third: canceling the take-profit cancels the stop.
    let o = order(&bob, oco(5, "130", "70")).await;
    let (parent, stop) = (
        o["id"].as_str().unwrap().to_string(),
        o["legs"][0]["id"].as_str().unwrap().to_string(),
    );
    let r = bob.delete(&format!("/v2/orders/{parent}")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(status(&bob, &parent).await, "canceled");
    assert_eq!(status(&bob, &stop).await, "canceled");

    // What an oco order must be: a 422 otherwise.
    let mut bad = Vec::new();
    let mut market = oco(5, "130", "70");
    market["type"] = json!("market");
    bad.push(market);
    let mut no_stop = oco(5, "130", "70");
    no_stop.as_object_mut().unwrap().remove("stop_loss");
    bad.push(no_stop);
    bad.push(oco(5, "130", "140"));
    let mut ioc = oco(5, "130", "70");
    ioc["time_in_force"] = json!("ioc");
    bad.push(ioc);
    let mut other_limit = oco(5, "130", "70");
    other_limit["limit_price"] = json!("125");
    bad.push(other_limit);
    let mut bracket = oco(5, "130", "70");
    bracket["order_class"] = json!("bracket");
    bad.push(bracket);
    bad.push(
        json!({"symbol": "ACME", "qty": 1, "side": "sell", "type": "limit",
                    "time_in_force": "gtc", "limit_price": "130",
                    "take_profit": {"limit_price": "130"}}),
    );
    for body in bad {
        let r = bob.post("/v2/orders", &body).await.unwrap();
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let o = order(&bob, oco(5, "130", "70")).await;
    let id = o["id"].as_str().unwrap();
    bob.send(
        Method::PATCH,
        &format!("/v2/orders/{id}"),
        Some(&json!({"limit_price": "131"})),
    )
    .await
    .unwrap()
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    p.stop().await;
}

on_both_stores!(one_fill_cancels_the_other);
