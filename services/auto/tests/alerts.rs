//! Price alerts end to end in one process, on both stores: made at the auto service's
//! `POST /v1/alerts`, armed, fired once by the first trade that crosses them (never
//! again, never when canceled), and told to their owner in the notification inbox.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use bourse_shell::client::Client;
use bourse_testkit::{Platform, Store, ok, on_both_stores, trade};
use serde_json::{Value, json};

async fn until_value(what: &str, mut f: impl AsyncFnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn alerts_fire_once_when_a_trade_crosses_them(store: Store) {
    let p = Platform::start_on(store).await;
    p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    let (carol_id, carol) = p.user("carol").await;
    p.fund(bob_id, "ACME", "100").await;
    p.fund(carol_id, "USD", "100000").await;
    let token = p.token("alice").await;
    let auto = Client::new(&p.running.auto_base).with_token(&token);
    let inbox = Client::new(&p.running.notification_base).with_token(&token);

    let above = ok(
        &auto,
        Method::POST,
        "/v1/alerts",
        Some(json!({"symbol": "acme", "condition": "at_or_above", "price": "120", "note": "sell some"})),
    )
    .await;
    assert_eq!(
        (&above["symbol"], &above["price"], &above["status"]),
        (&json!("ACME"), &json!("120.00"), &json!("active"))
    );
    assert!(above["triggered_at"].is_null());
    let below = ok(
        &auto,
        Method::POST,
        "/v1/alerts",
        Some(json!({"symbol": "ACME", "condition": "at_or_below", "price": "90.00"})),
    )
    .await;
    let canceled = ok(
        &auto,
        Method::POST,
        "/v1/alerts",
        Some(json!({"symbol": "ACME", "condition": "at_or_above", "price": "110"})),
    )
    .await;
    let r = auto
        .delete(&format!("/v1/alerts/{}", canceled["id"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let listed = ok(&auto, Method::GET, "/v1/alerts", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "active ones: {listed}");
    let auto_status = p.running.auto.clone();
    until_value("the alerts armed", async || {
        (auto_status.armed.load(std::sync::atomic::Ordering::Relaxed) == 2).then_some(Value::Null)
    })
    .await;

    // 100, then 121: only the at-or-above-120 alert fires (the canceled one at 110
    // would have, were it armed).
    trade(&bob, &carol, "100").await;
    trade(&bob, &carol, "121").await;
    let id = above["id"].as_str().unwrap();
    let fired = until_value("the alert fired", async || {
        let a = ok(&auto, Method::GET, &format!("/v1/alerts/{id}"), None).await;
        (a["status"] == "triggered").then_some(a)
    })
    .await;
    assert_eq!(fired["triggered_price"], "121.00");
    assert!(fired["triggered_seq"].as_i64().unwrap() > 0);
    assert!(fired["triggered_at"].is_string());
    let note = until_value("the alert's notification", async || {
        let page = ok(&inbox, Method::GET, "/v1/notifications", None).await;
        page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["kind"] == "price_alert")
            .cloned()
    })
    .await;
    assert_eq!(
        note["title"],
        "ACME traded at 121.00: at or above 120.00 (sell some)"
    );
    assert_eq!(
        (&note["alert_id"], &note["trade_price"]),
        (&json!(id), &json!("121.00"))
    );

    // Again above 120: nothing fires twice; the cancel of a fired alert is refused.
    trade(&bob, &carol, "125").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let page = ok(&inbox, Method::GET, "/v1/notifications", None).await;
    let alerts: Vec<&Value> = page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "price_alert")
        .collect();
    assert_eq!(alerts.len(), 1, "{page}");
    assert_eq!(
        p.running
            .auto
            .alerts_fired
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let r = auto.delete(&format!("/v1/alerts/{id}")).await.unwrap();
    r.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    let still = ok(
        &auto,
        Method::GET,
        &format!("/v1/alerts/{}", below["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(still["status"], "active");
    let all = ok(&auto, Method::GET, "/v1/alerts?status=all", None).await;
    let statuses: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["canceled", "active", "triggered"],
        "newest first"
    );

    // Only the owner's; bad input is a 4xx with the error body.
    let bobs = Client::new(&p.running.auto_base).with_token(&p.token("bob").await);
    bobs.get(&format!("/v1/alerts/{id}"))
        .await
        .unwrap()
        .assert_error(StatusCode::NOT_FOUND);
    bobs.delete(&format!("/v1/alerts/{}", below["id"].as_str().unwrap()))
        .await
        .unwrap()
        .assert_error(StatusCode::NOT_FOUND);
    assert_eq!(
        ok(&bobs, Method::GET, "/v1/alerts?status=all", None).await,
        json!([])
    );
    for body in [
        json!({"symbol": "NOPE", "condition": "at_or_above", "price": "1"}),
        json!({"symbol": "ACME", "condition": "above", "price": "1"}),
        json!({"symbol": "ACME", "condition": "at_or_above", "price": "0"}),
        json!({"symbol": "ACME", "condition": "at_or_above", "price": "1.001"}),
        json!({"symbol": "ACME", "condition": "at_or_above", "price": 1}),
        json!({"symbol": "ACME", "condition": "at_or_above", "price": "1", "extra": true}),
    ] {
        let r = Client::new(&p.running.auto_base)
            .with_token(&token)
            .post("/v1/alerts", &body)
            .await
            .unwrap();
        assert!(
            r.status.is_client_error(),
            "{body}: {} {}",
            r.status,
            r.text
        );
        r.assert_error(r.status);
    }
    auto.get("/v1/alerts?status=bogus")
        .await
        .unwrap()
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    Client::new(&p.running.auto_base)
        .get("/v1/alerts")
        .await
        .unwrap()
        .assert_error(StatusCode::UNAUTHORIZED);
    p.stop().await;
}

on_both_stores!(alerts_fire_once_when_a_trade_crosses_them);
