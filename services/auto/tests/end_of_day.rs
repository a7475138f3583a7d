//! The engine's day ends at the close, on both stores: under a controlled clock, a
//! `day` limit order resting in the book turns `expired` once the close has passed and
//! a `gtc` one rests on; a `day` order entered after the close, for the next session,
//! is not touched until the next close (the end of day is sent once per close).

use axum::http::Method;
use bourse_testkit::{Platform, Store, ok, on_both_stores, until};
use serde_json::json;

/// A moment in exchange time (`2026-12-07T10:00:30`).
fn at(s: &str) -> jiff::Timestamp {
    let dt: jiff::civil::DateTime = s.parse().unwrap();
    dt.to_zoned_datetime(bourse_stock::calendar::tz())
        .unwrap()
        .timestamp()
}

async fn the_close_ends_the_engines_day_once(store: Store) {
    let p = Platform::start_on(store).await;
    // Monday 7 December 2026, 10:00 in New York: the market is open.
    p.clock.set(at("2026-12-07T10:00"));
    let (alice_id, alice) = p.user("alice").await;
    p.fund(alice_id, "USD", "100000").await;
    let buy = |tif: &str, price: &str| {
        json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit",
               "time_in_force": tif, "limit_price": price})
    };
    let day = ok(&alice, Method::POST, "/v2/orders", Some(buy("day", "90"))).await;
    let gtc = ok(&alice, Method::POST, "/v2/orders", Some(buy("gtc", "91"))).await;
    let status = |o: &serde_json::Value| {
        let path = format!("/v2/orders/{}", o["id"].as_str().unwrap());
        let alice = alice.clone();
        async move { ok(&alice, Method::GET, &path, None).await["status"].clone() }
    };
    until("both rest", async || {
        status(&day).await == "new" && status(&gtc).await == "new"
    })
    .await;

    // 16:00:01: the close has passed.
    p.clock.set(at("2026-12-07T16:00:01"));
    until("the day order expired", async || {
        status(&day).await == "expired"
    })
    .await;
    assert_eq!(status(&gtc).await, "new", "a gtc order rests on");

    // A day order entered after the close, for the next session, is not touched by a
    // second look at the same close.
    let late = ok(&alice, Method::POST, "/v2/orders", Some(buy("day", "89"))).await;
    until("the late order rests", async || {
        status(&late).await == "new"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(status(&late).await, "new");

    // Tuesday's close ends it.
    p.clock.set(at("2026-12-08T16:00:01"));
    until("the next close expires it", async || {
        status(&late).await == "expired"
    })
    .await;
    assert_eq!(status(&gtc).await, "new");
}

on_both_stores!(the_close_ends_the_engines_day_once);
