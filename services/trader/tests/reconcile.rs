//! The reconciler on the in-process platform against the real PostgreSQL: an order row
//! whose request never reached the engine (written, then its verdict never came) is
//! marked `rejected` (`not_received`) once settlement has passed the probe, and a
//! retry with its `client_order_id` answers that; a row the engine did execute, whose
//! verdict was lost alike, is left for settlement to tell, and reads `new`.

use std::time::Duration;

use axum::http::StatusCode;
use bourse_testkit::{Platform, eventually};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_the_engine_never_received_is_rejected_and_an_executed_one_is_not() {
    let p = Platform::start().await;
    let (alice_id, alice) = p.user("alice").await;
    p.fund(alice_id, "USD", "1000").await;

    // An order that executed: its verdict then forgotten, as if the answer had been lost.
    let r = alice
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit",
                    "time_in_force": "gtc", "limit_price": "10.00", "client_order_id": "kept"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let kept = r.json["id"].as_str().unwrap().to_string();
    // An order whose request was lost on the way: a row with a token the engine never saw.
    let db = p.pool().get().await.unwrap();
    db.execute(
        "INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
             time_in_force, qty, limit_price, status)
         VALUES ('00000000-0000-4000-8000-000000000001', $1, 'lost', 'never-sent', 'ACME',
                 'buy', 'limit', 'gtc', 1, 1000, 'pending_new')",
        &[&(alice_id as i64)],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE trader_orders SET status = 'pending_new', known_seq = 0, filled_qty = 0,
             created_at = clock_timestamp() - interval '1 minute',
             updated_at = clock_timestamp() - interval '1 minute'
         WHERE user_id = $1",
        &[&(alice_id as i64)],
    )
    .await
    .unwrap();
    // Settlement has the executed one.
    eventually(&alice, &format!("/v2/orders/{kept}"), |o| {
        o["status"] == "new"
    })
    .await;

    let engine = p.running.engine.clone();
    let rejected = bourse_trader::reconcile::round(
        &bourse_trader::store::pg::PgTrader::new(p.pool().clone()),
        &engine,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(rejected, 1, "only the order the engine never received");

    let r = alice
        .get("/v2/orders:by_client_order_id?client_order_id=lost")
        .await
        .unwrap();
    assert_eq!(r.json["status"], "rejected", "{}", r.text);
    let r = alice
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit",
                    "time_in_force": "gtc", "limit_price": "10.00", "client_order_id": "lost"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (StatusCode::OK, Some("rejected")),
        "a retry answers the order as it is, never a second one: {}",
        r.text
    );
    let r = alice.get(&format!("/v2/orders/{kept}")).await.unwrap();
    assert_eq!(r.json["status"], "new", "{}", r.text);
    // Nothing left to do: a second round touches nothing.
    assert_eq!(
        bourse_trader::reconcile::round(
            &bourse_trader::store::pg::PgTrader::new(p.pool().clone()),
            &engine,
            Duration::from_secs(10)
        )
        .await
        .unwrap(),
        0
    );
    drop(db);
    p.stop().await;
}
