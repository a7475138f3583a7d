//! Conditional orders end to end in one process, on both stores: entered at the trader
//! service's `POST /v2/orders`, held, armed by the auto service, fired by the trades
//! that cross them, entered into the engine under their own ids and settled like any
//! order; canceled before they fire, they never fire. Then the auto service's loop on
//! its own, stopped and started again over trades delivered twice: nothing fires twice
//! and a trailing stop keeps the mark it had.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bourse_auto::service::{Status, Stores};
use bourse_bus::memory::MemoryBus;
use bourse_bus::{Message, Publisher};
use bourse_testkit::{Platform, Store, assert_error, eventually, on_both_stores, order, trade};
use serde_json::{Value, json};

/// Waits until `done` holds of the auto service's status.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stops_fire_once_when_trades_cross_them(store: Store) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    let (carol_id, carol) = p.user("carol").await;
    p.fund(alice_id, "USD", "100000").await;
    p.fund(bob_id, "ACME", "100").await;
    p.fund(carol_id, "ACME", "100").await;
    p.fund(carol_id, "USD", "100000").await;
    let auto = p.running.auto.clone();

    // Bob's sell stop at 95: held, shown as Alpaca shows it, and open.
    let stop = order(
        &bob,
        json!({"symbol": "ACME", "qty": "5", "side": "sell", "type": "stop",
               "time_in_force": "gtc", "stop_price": "95", "client_order_id": "bob-stop"}),
    )
    .await;
    assert_eq!(stop["status"], "held");
    assert_eq!(
        (stop["type"].as_str(), stop["stop_price"].as_str()),
        (Some("stop"), Some("95.00"))
    );
    assert!(stop["limit_price"].is_null() && stop["filled_avg_price"].is_null());
    let stop_id = stop["id"].as_str().unwrap().to_string();
    let again = order(
        &bob,
        json!({"symbol": "ACME", "qty": "5", "side": "sell", "type": "stop",
               "time_in_force": "gtc", "stop_price": "95", "client_order_id": "bob-stop"}),
    )
    .await;
    assert_eq!(again["id"], stop_id.as_str(), "a repeated client_order_id");
    let open = bob.get("/v2/orders").await.unwrap();
    assert_eq!(open.json.as_array().unwrap().len(), 1, "{}", open.text);
    assert_eq!(open.json[0]["status"], "held");
    // Nobody else sees it.
    assert_error(
        &alice.get(&format!("/v2/orders/{stop_id}")).await.unwrap(),
        StatusCode::NOT_FOUND,
    );
    // A stop to cancel before it fires, and a trailing stop 2.00 under the high.
    let doomed = order(
        &bob,
        json!({"symbol": "ACME", "qty": "5", "side": "sell", "type": "stop",
               "time_in_force": "day", "stop_price": "99.50"}),
    )
    .await;
    let doomed_id = doomed["id"].as_str().unwrap().to_string();
    let trailing = order(
        &bob,
        json!({"symbol": "ACME", "qty": "3", "side": "sell", "type": "trailing_stop",
               "time_in_force": "gtc", "trail_price": "2"}),
    )
    .await;
    assert_eq!(
        (
            trailing["trail_price"].as_str(),
            trailing["status"].as_str()
        ),
        (Some("2.00"), Some("held"))
    );
    let trailing_id = trailing["id"].as_str().unwrap().to_string();
    // Alice's buy stop-limit: at 103 or above, a limit buy at 104.
    let stop_limit = order(
        &alice,
        json!({"symbol": "ACME", "qty": 2, "side": "buy", "type": "stop_limit",
               "time_in_force": "gtc", "stop_price": "103", "limit_price": "104"}),
    )
    .await;
    let stop_limit_id = stop_limit["id"].as_str().unwrap().to_string();
    until("four armed", || auto.armed.load(Ordering::Relaxed) == 4).await;

    // The doomed stop is canceled where it is held; a second cancel finds it closed.
    let r = bob
        .delete(&format!("/v2/orders/{doomed_id}"))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = bob.get(&format!("/v2/orders/{doomed_id}")).await.unwrap();
    assert_eq!(r.json["status"], "canceled");
    assert_error(
        &bob.delete(&format!("/v2/orders/{doomed_id}"))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    until("the cancel disarmed", || {
        auto.armed.load(Ordering::Relaxed) == 3
    })
    .await;

    // Trades at 100 then 101: nothing fires (the trailing stop's mark rises to 101).
    trade(&carol, &alice, "100").await;
    trade(&carol, &alice, "101").await;
    // 103: the stop-limit fires, a limit buy of 2 at 104, and rests (nothing offered).
    trade(&carol, &alice, "103").await;
    let o = eventually(&alice, &format!("/v2/orders/{stop_limit_id}"), |o| {
        o["status"] == "new"
    })
    .await;
    assert_eq!(
        (o["type"].as_str(), o["limit_price"].as_str()),
        (Some("stop_limit"), Some("104.00"))
    );
    // Carol sells into it at 104: the stop-limit fills.
    order(
        &carol,
        json!({"symbol": "ACME", "qty": 2, "side": "sell", "type": "market", "time_in_force": "day"}),
    )
    .await;
    eventually(&alice, &format!("/v2/orders/{stop_limit_id}"), |o| {
        o["status"] == "filled" && o["filled_avg_price"] == "104.00"
    })
    .await;

    // A bid for the stops to sell into, then a trade at 101 (the high, 104, less 2 is
    // 102): the trailing stop fires, a market sell of 3 filled at the bid.
    order(
        &alice,
        json!({"symbol": "ACME", "qty": 20, "side": "buy", "type": "limit",
               "time_in_force": "gtc", "limit_price": "94", "client_order_id": "bid"}),
    )
    .await;
    trade(&carol, &alice, "101").await;
    let t = eventually(&bob, &format!("/v2/orders/{trailing_id}"), |o| {
        o["status"] == "filled"
    })
    .await;
    assert_eq!(
        (t["filled_qty"].as_str(), t["filled_avg_price"].as_str()),
        (Some("3"), Some("94.00")),
        "{t}"
    );
    assert_eq!(t["type"], "trailing_stop");
    // The sells at 94 are trades at or below 95: Bob's stop fires too, and fills at 94.
    let s = eventually(&bob, &format!("/v2/orders/{stop_id}"), |o| {
        o["status"] == "filled"
    })
    .await;
    assert_eq!(
        (s["filled_qty"].as_str(), s["filled_avg_price"].as_str()),
        (Some("5"), Some("94.00"))
    );
    until("nothing armed", || auto.armed.load(Ordering::Relaxed) == 0).await;
    assert_eq!(
        auto.fired.load(Ordering::Relaxed),
        3,
        "the stop-limit, the trailing stop and the stop: once each"
    );
    // Bob sold 8, and holds 92; the canceled stop never fired.
    let pos = eventually(&bob, "/v2/positions/ACME", |p| p["qty"] == "92").await;
    assert_eq!(pos["side"], "long");
    let r = bob.get(&format!("/v2/orders/{doomed_id}")).await.unwrap();
    assert_eq!(r.json["status"], "canceled");
    p.stop().await;
}

async fn conditional_orders_are_checked_like_any_other(store: Store) {
    let p = Platform::start_on(store).await;
    let (_, alice) = p.user("alice").await;
    let base = json!({"symbol": "ACME", "qty": 1, "side": "sell", "time_in_force": "gtc"});
    let with = |extra: Value| {
        let mut o = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    };
    for (bad, why) in [
        (json!({"type": "stop"}), "no stop price"),
        (
            json!({"type": "stop", "stop_price": "-1"}),
            "a negative stop",
        ),
        (
            json!({"type": "stop", "stop_price": "95.001"}),
            "a fraction of a cent",
        ),
        (
            json!({"type": "stop", "stop_price": "95", "limit_price": "94"}),
            "a limit on a stop",
        ),
        (
            json!({"type": "stop_limit", "stop_price": "95"}),
            "a stop-limit without a limit",
        ),
        (json!({"type": "trailing_stop"}), "no trail"),
        (
            json!({"type": "trailing_stop", "trail_price": "1", "trail_percent": "1"}),
            "two trails",
        ),
        (
            json!({"type": "trailing_stop", "trail_percent": "100"}),
            "a 100% trail",
        ),
        (
            json!({"type": "trailing_stop", "trail_percent": "0.00001"}),
            "past 4 decimals",
        ),
        (
            json!({"type": "trailing_stop", "stop_price": "95", "trail_price": "1"}),
            "a stop on a trail",
        ),
        (
            json!({"type": "limit", "limit_price": "95", "stop_price": "94"}),
            "a stop on a limit",
        ),
        (
            json!({"type": "stop", "stop_price": "95", "time_in_force": "ioc"}),
            "ioc",
        ),
        (
            json!({"type": "stop", "stop_price": "95", "symbol": "NOPE"}),
            "an unlisted symbol",
        ),
        (
            json!({"type": "stop", "stop_price": "95", "order_class": "bracket"}),
            "a bracket",
        ),
    ] {
        let r = alice.post("/v2/orders", &with(bad)).await.unwrap();
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{why}: {}",
            r.text
        );
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A percent trail reads back as it was given.
    let t = order(
        &alice,
        with(json!({"type": "trailing_stop", "trail_percent": "1.25"})),
    )
    .await;
    assert_eq!(
        (t["trail_percent"].as_str(), t["trail_price"].as_str()),
        (Some("1.25"), None)
    );
    // A held order is replaced where it is held (tests/replace.rs has the rest): the
    // new one keeps the trail as it was given.
    let r = alice
        .send(
            axum::http::Method::PATCH,
            &format!("/v2/orders/{}", t["id"].as_str().unwrap()),
            Some(&json!({"qty": 2})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (&r.json["status"], &r.json["qty"], &r.json["trail_percent"]),
        (&json!("held"), &json!("2"), &json!("1.25"))
    );
    p.stop().await;
}

on_both_stores!(
    stops_fire_once_when_trades_cross_them,
    conditional_orders_are_checked_like_any_other
);

/// A trade message as the bridge publishes it.
fn trade_message(seq: u64, price: i64) -> Message {
    Message {
        routing_key: "trade.ACME".into(),
        seq,
        prev_seq: None,
        body: json!({"event": "trade", "seq": seq, "symbol": "ACME", "price": price, "qty": 1})
            .to_string()
            .into_bytes(),
    }
}

/// One run of the auto service's loop on `bus`'s queue `auto-test`, until `stop`.
fn start_auto(p: &Platform, bus: &MemoryBus, stop: Arc<AtomicBool>) -> Arc<Status> {
    let status = Arc::new(Status::default());
    let connect = {
        let bus = bus.clone();
        move || std::future::ready(Ok(bus.durable_consumer("auto-test", &["trade.*"])))
    };
    tokio::spawn(bourse_auto::service::run(
        Stores {
            auto: p.stores.auto.clone(),
            trader: p.stores.trader.clone(),
            market: p.stores.market.clone(),
        },
        p.running.engine.clone(),
        connect,
        status.clone(),
        stop,
    ));
    status
}

/// The auto service stopped and started again over trades delivered twice: what fired
/// before does not fire again, a trade it had evaluated does not fire an order armed
/// after it, and a trailing stop keeps its mark. (The platform's own auto service
/// arms the same orders but sees no trade: these trades go to this test's bus only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_auto_service_fires_nothing_twice_and_keeps_its_marks() {
    let p = Platform::start_on(Store::Postgres).await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(bob_id, "ACME", "100").await;
    let stop_order = order(
        &bob,
        json!({"symbol": "ACME", "qty": 1, "side": "sell", "type": "stop",
               "time_in_force": "gtc", "stop_price": "95"}),
    )
    .await;
    let trailing = order(
        &bob,
        json!({"symbol": "ACME", "qty": 1, "side": "sell", "type": "trailing_stop",
               "time_in_force": "gtc", "trail_price": "2"}),
    )
    .await;
    let bus = MemoryBus::new();
    let mut publisher = bus.publisher();

    let stop_a = Arc::new(AtomicBool::new(false));
    let a = start_auto(&p, &bus, stop_a.clone());
    until("two armed", || a.armed.load(Ordering::Relaxed) == 2).await;
    // Its queue exists only once it has connected (after its first look at the held
    // orders): a trade published before then reaches no queue.
    until("connected", || a.connected.load(Ordering::Relaxed)).await;
    // 100, then a high of 105, then 94: the stop fires; the trailing stop (mark 105,
    // fires at 103) too.
    publisher
        .publish(&[trade_message(1_000, 10_000), trade_message(1_001, 10_500)])
        .await
        .unwrap();
    until("the high evaluated", || {
        a.position.load(Ordering::Relaxed) == 1_001
    })
    .await;
    let saved = eventually(
        &bob,
        &format!("/v2/orders/{}", trailing["id"].as_str().unwrap()),
        |o| o["hwm"] == "105.00",
    )
    .await;
    assert_eq!(saved["status"], "held");
    publisher
        .publish(&[trade_message(1_002, 9_400)])
        .await
        .unwrap();
    until("two fired", || a.fired.load(Ordering::Relaxed) == 2).await;
    stop_a.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(400)).await;
    for o in [&stop_order, &trailing] {
        let r = bob
            .get(&format!("/v2/orders/{}", o["id"].as_str().unwrap()))
            .await
            .unwrap();
        assert_ne!(r.json["status"], "held", "{}", r.text);
    }

    // New orders: a stop at 95 and a trailing stop 2.00 under the last trade.
    let late_stop = order(
        &bob,
        json!({"symbol": "ACME", "qty": 1, "side": "sell", "type": "stop",
               "time_in_force": "gtc", "stop_price": "95"}),
    )
    .await;
    let late_id = late_stop["id"].as_str().unwrap().to_string();
    // Started again: the same trades again (a bridge republishing from its
    // checkpoint), then a new one at 96.
    let stop_b = Arc::new(AtomicBool::new(false));
    let b = start_auto(&p, &bus, stop_b.clone());
    until("connected", || b.connected.load(Ordering::Relaxed)).await;
    publisher
        .publish(&[
            trade_message(1_000, 10_000),
            trade_message(1_001, 10_500),
            trade_message(1_002, 9_400),
            trade_message(1_003, 9_600),
        ])
        .await
        .unwrap();
    until("the redelivered trades evaluated", || {
        b.position.load(Ordering::Relaxed) == 1_003
    })
    .await;
    assert_eq!(b.fired.load(Ordering::Relaxed), 0, "nothing fired twice");
    assert_eq!(b.armed.load(Ordering::Relaxed), 1, "the late stop only");
    let r = bob.get(&format!("/v2/orders/{late_id}")).await.unwrap();
    assert_eq!(
        r.json["status"], "held",
        "a trade it had seen fires nothing new"
    );
    publisher
        .publish(&[trade_message(1_004, 9_500)])
        .await
        .unwrap();
    until("the late stop fired", || {
        b.fired.load(Ordering::Relaxed) == 1
    })
    .await;
    stop_b.store(true, Ordering::Relaxed);
    p.stop().await;
}
