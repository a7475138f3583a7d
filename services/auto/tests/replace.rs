//! Held conditional orders replaced before they fire (`PATCH /v2/orders/{id}`), on both
//! stores: the new order is held in the old one's place with its new quantity, stop or
//! trail; the old one never fires; a trade through the new stop fires it. What cannot be
//! replaced answers 422, another user's order 404.

use axum::http::{Method, StatusCode};
use bourse_testkit::{
    Platform, Store, assert_error, ok, on_both_stores, order, order_status as status, trade, until,
};
use serde_json::{Value, json};

async fn patch(
    c: &bourse_shell::client::Client,
    id: &str,
    body: Value,
) -> bourse_shell::client::Reply {
    c.send(Method::PATCH, &format!("/v2/orders/{id}"), Some(&body))
        .await
        .unwrap()
}

fn id(o: &Value) -> String {
    o["id"].as_str().unwrap().to_string()
}

async fn held_orders_are_replaced_where_they_are_held(store: Store) {
    let p = Platform::start_on(store).await;
    let alice = p.funded("alice", "USD", "100000").await;
    let bob = p.funded("bob", "ACME", "100").await;
    let carol = p.funded("carol", "ACME", "100").await;
    let dave = p.funded("dave", "USD", "100000").await;
    // Dave's bid takes what the stops sell.
    order(
        &dave,
        json!({"symbol": "ACME", "qty": 20, "side": "buy", "type": "limit",
               "time_in_force": "gtc", "limit_price": "80"}),
    )
    .await;

    // Bob's sell stop at 95 for 5, moved to 90 for 4.
    let old = order(
        &bob,
        json!({"symbol": "ACME", "qty": 5, "side": "sell", "type": "stop",
               "time_in_force": "gtc", "stop_price": "95"}),
    )
    .await;
    let r = patch(&bob, &id(&old), json!({"stop_price": "90", "qty": "4"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new = r.json;
    assert_eq!(
        (
            &new["status"],
            &new["stop_price"],
            &new["qty"],
            &new["type"]
        ),
        (&json!("held"), &json!("90.00"), &json!("4"), &json!("stop"))
    );
    assert_eq!(new["replaces"], json!(id(&old)));
    let old_now = ok(&bob, Method::GET, &format!("/v2/orders/{}", id(&old)), None).await;
    assert_eq!(
        (&old_now["status"], &old_now["replaced_by"]),
        (&json!("replaced"), &new["id"])
    );
    // Not another user's to replace, nor to see.
    assert_error(
        &patch(&alice, &id(&new), json!({"stop_price": "91"})).await,
        StatusCode::NOT_FOUND,
    );
    // What a held stop's replace cannot change.
    for body in [
        json!({"limit_price": "89"}),
        json!({"trail": "1"}),
        json!({"time_in_force": "day"}),
        json!({"qty": "0"}),
        json!({"stop_price": "-1"}),
    ] {
        assert_error(
            &patch(&bob, &id(&new), body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    // A client id in use: 422, and the order stays held as it was.
    order(
        &bob,
        json!({"symbol": "ACME", "qty": 1, "side": "sell", "type": "limit",
               "time_in_force": "gtc", "limit_price": "500", "client_order_id": "taken"}),
    )
    .await;
    assert_error(
        &patch(
            &bob,
            &id(&new),
            json!({"stop_price": "91", "client_order_id": "taken"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(status(&bob, &id(&new)).await, "held");

    // A trade at 93 crosses the old stop, not the new one: Alice's buy stop at 92 fires
    // on it (so the trade has been seen; it buys Carol's 96), Bob's stays held, the old
    // one replaced.
    order(
        &carol,
        json!({"symbol": "ACME", "qty": 1, "side": "sell", "type": "limit",
               "time_in_force": "gtc", "limit_price": "96"}),
    )
    .await;
    let witness = order(
        &alice,
        json!({"symbol": "ACME", "qty": 1, "side": "buy", "type": "stop",
               "time_in_force": "gtc", "stop_price": "92"}),
    )
    .await;
    // Trades at 93 until the witness has fired (it is armed on the service's next look).
    until("the witness stop filled", async || {
        trade(&carol, &alice, "93").await;
        status(&alice, &id(&witness)).await == "filled"
    })
    .await;
    assert_eq!(status(&bob, &id(&old)).await, "replaced");
    assert_eq!(status(&bob, &id(&new)).await, "held");

    // A trade at 89 fires the new stop: 4 sold into Dave's bid.
    trade(&carol, &alice, "89").await;
    until("the replacing stop filled", async || {
        status(&bob, &id(&new)).await == "filled"
    })
    .await;
    let filled = ok(&bob, Method::GET, &format!("/v2/orders/{}", id(&new)), None).await;
    assert_eq!(filled["filled_qty"], "4");
    assert_eq!(status(&bob, &id(&old)).await, "replaced");
    // Fired, it is no longer replaced here.
    assert_error(
        &patch(&bob, &id(&new), json!({"stop_price": "85"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );

    // A trailing stop's trail, in the unit it was entered with.
    let trailing = order(
        &bob,
        json!({"symbol": "ACME", "qty": 2, "side": "sell", "type": "trailing_stop",
               "time_in_force": "gtc", "trail_percent": "5"}),
    )
    .await;
    assert_error(
        &patch(&bob, &id(&trailing), json!({"stop_price": "80"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &patch(&bob, &id(&trailing), json!({"trail": "100"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    let r = patch(&bob, &id(&trailing), json!({"trail": "2.5"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (&r.json["trail_percent"], &r.json["status"]),
        (&json!("2.5"), &json!("held"))
    );
    p.stop().await;
}

on_both_stores!(held_orders_are_replaced_where_they_are_held);
