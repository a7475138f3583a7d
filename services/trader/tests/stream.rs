//! Alpaca's `trade_updates` stream (`GET /stream`) on the in-process platform against
//! the real PostgreSQL: in-band authentication, `listen`, the caller's own order events
//! with Alpaca's names and fields once settled, nothing of anyone else's; and the
//! official alpaca-py `TradingStream` receiving a fill.

use std::time::Duration;

use axum::http::StatusCode;
use bourse_testkit::ws::{Ws, next_json};
use bourse_testkit::{Platform, Store};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn next(ws: &mut Ws) -> Value {
    next_json(ws).await
}

async fn say(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

fn url(p: &Platform) -> String {
    format!("{}/stream", p.trader_base.replacen("http://", "ws://", 1))
}

async fn a_user_hears_their_own_order_events_as_alpaca_names_them(store: Store) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "10000").await;
    p.fund(bob_id, "ACME", "100").await;
    let (key, secret) = p.key("alice", "stream").await;

    // Wrong credentials: unauthorized, then closed.
    let (mut ws, _) = tokio_tungstenite::connect_async(url(&p)).await.unwrap();
    say(
        &mut ws,
        json!({"action": "authenticate", "data": {"key_id": key, "secret_key": "wrong"}}),
    )
    .await;
    let r = next(&mut ws).await;
    assert_eq!(r["stream"], "authorization");
    assert_eq!(r["data"]["status"], "unauthorized");
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap(),
        None | Some(Ok(Message::Close(_))) | Some(Err(_))
    ));

    // Alice's key, then listen.
    let (mut ws, _) = tokio_tungstenite::connect_async(url(&p)).await.unwrap();
    say(
        &mut ws,
        json!({"action": "authenticate", "data": {"key_id": key, "secret_key": secret}}),
    )
    .await;
    let r = next(&mut ws).await;
    assert_eq!(
        r,
        json!({"stream": "authorization", "data": {"action": "authenticate", "status": "authorized"}})
    );
    say(
        &mut ws,
        json!({"action": "listen", "data": {"streams": ["trade_updates"]}}),
    )
    .await;
    assert_eq!(
        next(&mut ws).await,
        json!({"stream": "listening", "data": {"streams": ["trade_updates"]}})
    );

    // Bob's resting sell is not Alice's business.
    let sell = json!({"symbol": "ACME", "qty": "10", "side": "sell", "type": "limit",
                      "time_in_force": "gtc", "limit_price": "100.00"});
    let r = bob.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Alice buys 4: new, then fill.
    let r = alice
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "4", "side": "buy", "type": "market", "time_in_force": "day",
                    "client_order_id": "a-1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.json["status"], "filled", "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let new = next(&mut ws).await;
    assert_eq!(new["stream"], "trade_updates");
    assert_eq!(new["data"]["event"], "new", "{new}");
    assert_eq!(new["data"]["order"]["id"], id.as_str());
    assert_eq!(new["data"]["order"]["client_order_id"], "a-1");
    let fill = next(&mut ws).await;
    let d = &fill["data"];
    assert_eq!(d["event"], "fill", "{fill}");
    assert_eq!(
        (d["price"].as_str(), d["qty"].as_str()),
        (Some("100.00"), Some("4"))
    );
    assert_eq!(d["position_qty"], "4", "the position right after the fill");
    assert_eq!(d["order"]["status"], "filled");
    assert_eq!(d["order"]["filled_qty"], "4");
    assert_eq!(d["order"]["filled_avg_price"], "100.00");
    assert_eq!(d["execution_id"].as_str().map(str::len), Some(36));
    assert!(d["timestamp"].as_str().unwrap().ends_with('Z'));

    // A resting buy, canceled: new, then canceled.
    let r = alice
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit", "time_in_force": "gtc",
                    "limit_price": "90.00"}),
        )
        .await
        .unwrap();
    let resting = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(next(&mut ws).await["data"]["event"], "new");
    let r = alice
        .delete(&format!("/v2/orders/{resting}"))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let canceled = next(&mut ws).await;
    assert_eq!(canceled["data"]["event"], "canceled", "{canceled}");
    assert_eq!(canceled["data"]["order"]["id"], resting.as_str());
    assert_eq!(canceled["data"]["order"]["status"], "canceled");
    // Nothing of Bob's came (his partial fill included): the next message would be his.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), ws.next())
            .await
            .is_err(),
        "nothing else for Alice"
    );

    // Not listening any more: nothing comes, and the registration is gone.
    say(
        &mut ws,
        json!({"action": "listen", "data": {"streams": []}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["data"]["streams"], json!([]));
    drop(ws);
    p.stop().await;
}

async fn the_official_alpaca_sdk_hears_its_fill_on_the_trading_stream(store: Store) {
    let p = Platform::start_on(store).await;
    let (alice_id, _) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "1000").await;
    p.fund(bob_id, "ACME", "10").await;
    let sell = json!({"symbol": "ACME", "qty": "5", "side": "sell", "type": "limit",
                      "time_in_force": "gtc", "limit_price": "100.00"});
    let r = bob.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let (key_id, secret) = p.key("alice", "sdk-stream").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/alpaca_stream.py");
    bourse_testkit::run_sdk_script(script, &p.trader_base, &key_id, &secret).await;
    p.stop().await;
}

bourse_testkit::on_both_stores!(
    a_user_hears_their_own_order_events_as_alpaca_names_them,
    the_official_alpaca_sdk_hears_its_fill_on_the_trading_stream,
);
