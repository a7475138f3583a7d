//! Recurring orders under a controlled clock, on both stores: a daily buy runs at its
//! time in the exchange's zone and not before, once; a weekly buy of an amount of money
//! buys the whole shares it pays for; a paused plan does not run and resumes from the
//! next time after now; a run missed while the service was away is recorded skipped,
//! and the next one skips the market's holidays; deleting ends a plan. (The close's
//! expiry of held day orders is in `end_of_day.rs`.)

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use bourse_shell::client::Client;
use bourse_testkit::{Platform, Store, ok, on_both_stores, until};
use serde_json::{Value, json};

/// A moment in exchange time (`2026-12-07T10:00:30`).
fn at(s: &str) -> jiff::Timestamp {
    let dt: jiff::civil::DateTime = s.parse().unwrap();
    dt.to_zoned_datetime(bourse_stock::calendar::tz())
        .unwrap()
        .timestamp()
}

async fn recurring_orders_run_on_schedule_once(store: Store) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "100000").await;
    p.fund(bob_id, "ACME", "100").await;
    ok(
        &bob,
        Method::POST,
        "/v2/orders",
        Some(
            json!({"symbol": "ACME", "qty": 50, "side": "sell", "type": "limit",
                    "time_in_force": "gtc", "limit_price": "100"}),
        ),
    )
    .await;
    let plans = Client::new(&p.running.auto_base).with_token(&p.token("alice").await);
    let counters = p.running.recurring.clone();

    // Monday 7 December 2026, 09:00 in New York.
    p.clock.set(at("2026-12-07T09:00"));
    let daily = ok(
        &plans,
        Method::POST,
        "/v1/recurring",
        Some(json!({"symbol": "ACME", "side": "buy", "qty": "2", "frequency": "daily", "time": "10:00"})),
    )
    .await;
    assert_eq!(
        daily["next_run_at"], "2026-12-07T15:00:00.000000Z",
        "10:00 EST"
    );
    assert_eq!(
        (&daily["status"], &daily["qty"]),
        (&json!("active"), &json!("2"))
    );
    let weekly = ok(
        &plans,
        Method::POST,
        "/v1/recurring",
        Some(
            json!({"symbol": "ACME", "side": "buy", "notional": "250", "frequency": "weekly",
                    "weekdays": ["tue"], "time": "11:00"}),
        ),
    )
    .await;
    assert_eq!(weekly["next_run_at"], "2026-12-08T16:00:00.000000Z");
    let (daily_id, weekly_id) = (
        daily["id"].as_str().unwrap().to_string(),
        weekly["id"].as_str().unwrap().to_string(),
    );

    // 09:59: nothing yet.
    p.clock.set(at("2026-12-07T09:59"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(counters.claimed.load(Ordering::Relaxed), 0);

    // 10:00:30: the daily buy runs, once.
    p.clock.set(at("2026-12-07T10:00:30"));
    until("the first run", async || {
        counters.finished.load(Ordering::Relaxed) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(counters.claimed.load(Ordering::Relaxed), 1, "once");
    let read = ok(
        &plans,
        Method::GET,
        &format!("/v1/recurring/{daily_id}"),
        None,
    )
    .await;
    assert_eq!(read["next_run_at"], "2026-12-08T15:00:00.000000Z");
    let runs = read["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{read}");
    assert_eq!(
        (&runs[0]["status"], &runs[0]["scheduled_for"]),
        (&json!("submitted"), &json!("2026-12-07T15:00:00.000000Z"))
    );
    let order_id = runs[0]["order_id"].as_str().unwrap();
    let order = ok(&alice, Method::GET, &format!("/v2/orders/{order_id}"), None).await;
    assert_eq!(
        (&order["side"], &order["type"], &order["qty"]),
        (&json!("buy"), &json!("market"), &json!("2"))
    );
    assert_eq!(order["client_order_id"], runs[0]["client_order_id"]);
    assert!(
        order["client_order_id"]
            .as_str()
            .unwrap()
            .starts_with("rec-")
    );

    // Paused, the daily plan skips Tuesday; the weekly buy of $250 takes 2 shares at
    // 100.00.
    let paused = ok(
        &plans,
        Method::POST,
        &format!("/v1/recurring/{daily_id}/pause"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (&paused["status"], &paused["next_run_at"]),
        (&json!("paused"), &Value::Null)
    );
    p.clock.set(at("2026-12-08T11:00:30"));
    until("the weekly run", async || {
        counters.finished.load(Ordering::Relaxed) == 2
    })
    .await;
    let read = ok(
        &plans,
        Method::GET,
        &format!("/v1/recurring/{weekly_id}"),
        None,
    )
    .await;
    let run = &read["runs"][0];
    assert_eq!(run["status"], "submitted", "{read}");
    let order = ok(
        &alice,
        Method::GET,
        &format!("/v2/orders/{}", run["order_id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(order["qty"], "2", "$250 at 100.00");
    assert_eq!(
        read["next_run_at"], "2026-12-15T16:00:00.000000Z",
        "next Tuesday"
    );
    let resumed = ok(
        &plans,
        Method::POST,
        &format!("/v1/recurring/{daily_id}/resume"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        resumed["next_run_at"], "2026-12-09T15:00:00.000000Z",
        "after now"
    );

    // Away until Christmas Eve: the run missed is recorded skipped, not made late, and
    // the next skips Christmas and the weekend.
    p.clock.set(at("2026-12-24T10:30"));
    until("the missed run", async || {
        counters.finished.load(Ordering::Relaxed) >= 3
    })
    .await;
    let read = ok(
        &plans,
        Method::GET,
        &format!("/v1/recurring/{daily_id}"),
        None,
    )
    .await;
    assert_eq!(read["next_run_at"], "2026-12-28T15:00:00.000000Z", "{read}");
    let statuses: Vec<&str> = read["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["skipped", "submitted"], "{read}");
    assert!(
        read["runs"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("missed")
    );

    // Deleted: gone from the list, and a 404 after.
    let r = plans
        .delete(&format!("/v1/recurring/{weekly_id}"))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    plans
        .get(&format!("/v1/recurring/{weekly_id}"))
        .await
        .unwrap()
        .assert_error(StatusCode::NOT_FOUND);
    let listed = ok(&plans, Method::GET, "/v1/recurring", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // Two orders in all, never a second for one run.
    let all = ok(&alice, Method::GET, "/v2/orders?status=all", None).await;
    let recurring: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["client_order_id"].as_str().unwrap().starts_with("rec-"))
        .collect();
    assert_eq!(recurring.len(), 2, "{all}");

    // Someone else's plan is not there; bad input is a 422.
    let bobs = Client::new(&p.running.auto_base).with_token(&p.token("bob").await);
    bobs.get(&format!("/v1/recurring/{daily_id}"))
        .await
        .unwrap()
        .assert_error(StatusCode::NOT_FOUND);
    bobs.post(&format!("/v1/recurring/{daily_id}/pause"), &json!({}))
        .await
        .unwrap()
        .assert_error(StatusCode::NOT_FOUND);
    for body in [
        json!({"symbol": "ACME", "side": "buy", "qty": "1", "frequency": "daily", "time": "08:00"}),
        json!({"symbol": "ACME", "side": "buy", "qty": "1", "frequency": "weekly", "time": "10:00"}),
        json!({"symbol": "ACME", "side": "buy", "qty": "1", "frequency": "weekly", "weekdays": ["sat"], "time": "10:00"}),
        json!({"symbol": "ACME", "side": "buy", "qty": "1", "frequency": "monthly", "day_of_month": 31, "time": "10:00"}),
        json!({"symbol": "ACME", "side": "buy", "qty": "1", "notional": "5", "frequency": "daily", "time": "10:00"}),
        json!({"symbol": "ACME", "side": "sell", "notional": "5", "frequency": "daily", "time": "10:00"}),
        json!({"symbol": "NOPE", "side": "buy", "qty": "1", "frequency": "daily", "time": "10:00"}),
        json!({"symbol": "ACME", "side": "buy", "qty": "1", "frequency": "hourly", "time": "10:00"}),
        json!({"symbol": "ACME", "side": "buy", "qty": "0", "frequency": "daily", "time": "10:00"}),
    ] {
        let r = plans.post("/v1/recurring", &body).await.unwrap();
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

on_both_stores!(recurring_orders_run_on_schedule_once);
