//! The trader service end to end in one process, against real PostgreSQL: the gateway
//! (engine and journal), the bridge and settlement on the in-process bus, the user
//! service (registration opens engine accounts, an admin funds them) and the trader
//! service over real HTTP. Orders placed over HTTP trade with each other; answers carry
//! the engine's verdict; reads return the client's own writes at once and settlement's
//! view once it has caught up; nobody reaches another user's orders.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bourse_core::{FixedStr, Price, Qty};
use bourse_shell::auth::{Auth, RateLimit, TokenKeys};
use bourse_shell::client::Client;
use bourse_testkit::{PG, Platform, Store, TOKEN_SECRET, assert_error, eventually, serve};
use bourse_trader::TraderState;
use bourse_user::keys::Keys;
use serde_json::{Value, json};

async fn orders_over_http_trade_settle_and_stay_their_owners(store: Store) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "10000").await;
    p.fund(bob_id, "ACME", "100").await;

    // Bob rests a limit sell; the answer is the engine's: new, durable.
    let sell = json!({"symbol": "ACME", "qty": "10", "side": "sell", "type": "limit",
                      "time_in_force": "gtc", "limit_price": "100.00", "client_order_id": "bob-1"});
    let r = bob.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let order = r.json.clone();
    assert_eq!(order["status"], "new");
    assert_eq!(order["client_order_id"], "bob-1");
    assert_eq!(
        (order["qty"].as_str(), order["filled_qty"].as_str()),
        (Some("10"), Some("0"))
    );
    assert_eq!(order["limit_price"], "100.00");
    assert_eq!(
        (order["type"].as_str(), order["side"].as_str()),
        (Some("limit"), Some("sell"))
    );
    let bob_order = order["id"].as_str().unwrap().to_string();
    // The same client_order_id again: the same order, not a second one.
    let again = bob.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json["id"], bob_order.as_str());
    // Read your own write at once.
    let r = bob.get(&format!("/v2/orders/{bob_order}")).await.unwrap();
    assert_eq!(r.json["id"], bob_order.as_str(), "{}", r.text);

    // Alice buys 4 at market: filled at the resting price, in the same answer.
    let r = alice
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": 4, "side": "buy", "type": "market", "time_in_force": "day"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "filled");
    assert_eq!(r.json["filled_qty"], "4");
    assert_eq!(r.json["filled_avg_price"], "100.00");
    assert!(r.json["filled_at"].is_string());
    let alice_order = r.json["id"].as_str().unwrap().to_string();

    // Bob's order as settlement sees it: partially filled at 100.00.
    let o = eventually(&bob, &format!("/v2/orders/{bob_order}"), |o| {
        o["status"] == "partially_filled"
    })
    .await;
    assert_eq!(
        (o["filled_qty"].as_str(), o["filled_avg_price"].as_str()),
        (Some("4"), Some("100.00"))
    );
    // Alice's cash, settled: 10,000 − 400.
    let a = eventually(&alice, "/v2/account", |a| a["cash"] == "9600.00").await;
    assert_eq!(a["buying_power"], "9600.00");
    assert_eq!(a["status"], "ACTIVE");
    // Opened when Alice registered, moments ago (this year, not a made-up date).
    let created = a["created_at"].as_str().unwrap();
    let year = year_of(created);
    assert!(year >= 2026 && created.ends_with('Z'), "{created}");

    // Isolation: Alice can neither see nor cancel Bob's order (404, as for none).
    assert_error(
        &alice.get(&format!("/v2/orders/{bob_order}")).await.unwrap(),
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &alice
            .delete(&format!("/v2/orders/{bob_order}"))
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    );
    let r = alice
        .get("/v2/orders:by_client_order_id?client_order_id=bob-1")
        .await
        .unwrap();
    assert_error(&r, StatusCode::NOT_FOUND);
    let r = alice.get("/v2/orders?status=all").await.unwrap();
    let ids: Vec<&str> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![alice_order.as_str()]);

    // Lists and lookups of one's own.
    let r = bob.get("/v2/orders").await.unwrap();
    assert_eq!(r.json.as_array().unwrap().len(), 1, "{}", r.text);
    let r = bob
        .get("/v2/orders:by_client_order_id?client_order_id=bob-1")
        .await
        .unwrap();
    assert_eq!(r.json["id"], bob_order.as_str(), "{}", r.text);
    let r = bob
        .get("/v2/orders?status=closed&symbols=ACME")
        .await
        .unwrap();
    assert_eq!(r.json, json!([]));

    // Cancel: 204, then canceled; a second cancel: 422.
    let r = bob
        .delete(&format!("/v2/orders/{bob_order}"))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = bob.get(&format!("/v2/orders/{bob_order}")).await.unwrap();
    assert_eq!(r.json["status"], "canceled", "{}", r.text);
    assert_error(
        &bob.delete(&format!("/v2/orders/{bob_order}"))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    let r = bob.get("/v2/orders?status=open").await.unwrap();
    assert_eq!(r.json, json!([]), "{}", r.text);

    // Refusals, each with Alpaca's status.
    let order = |extra: Value| {
        let mut o = json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit",
                           "time_in_force": "gtc", "limit_price": "10"});
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    };
    let cases = [
        (
            order(json!({"qty": "1000", "limit_price": "100"})),
            StatusCode::FORBIDDEN,
        ),
        (
            order(json!({"side": "sell", "qty": "5"})),
            StatusCode::FORBIDDEN,
        ),
        (
            order(json!({"type": "stop", "stop_price": "9"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order(json!({"qty": "1.5"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order(json!({"limit_price": "10.001"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order(json!({"limit_price": null})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order(json!({"type": "market"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order(json!({"time_in_force": "opg"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order(json!({"side": "short"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order(json!({"symbol": "NOPE"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (order(json!({"qty": "0"})), StatusCode::UNPROCESSABLE_ENTITY),
        (
            order(json!({"notional": "50"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"symbol": "ACME"}), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, status) in cases {
        let r = alice.post("/v2/orders", &body).await.unwrap();
        assert_error(&r, status);
    }
    // Every order may trade outside the regular session: `extended_hours` is taken and
    // every order says so.
    let r = alice
        .post(
            "/v2/orders",
            &order(json!({"extended_hours": true, "time_in_force": "ioc", "limit_price": "0.01"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["extended_hours"], true, "{}", r.text);
    assert_eq!(
        r.json["status"], "canceled",
        "an IOC with nothing to take: {}",
        r.text
    );
    assert_error(
        &p.trader
            .post("/v2/orders", &order(json!({})))
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    let r = alice
        .send(axum::http::Method::POST, "/v2/orders", None)
        .await
        .unwrap();
    assert_error(&r, StatusCode::BAD_REQUEST);
    assert_error(
        &alice.get("/v2/orders?status=bogus").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &alice.get("/v2/orders?limit=0").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &alice.get("/v2/orders?after=yesterday").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &alice.get("/v2/orders/no-such-id").await.unwrap(),
        StatusCode::NOT_FOUND,
    );
    // Nothing above was left resting: Alice's buying power is intact.
    let a = alice.get("/v2/account").await.unwrap();
    assert_eq!(a.json["cash"], "9600.00", "{}", a.text);
    p.stop().await;
}

async fn an_http_order_fills_against_one_from_the_binary_gateway_and_both_hear_it(store: Store) {
    use bourse_gateway::protocol::{
        ClientMsg, EnterOrder, ServerMsg, decode_server, encode_client,
    };
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (carol_id, carol) = p.user("carol").await;
    p.fund(alice_id, "USD", "1000").await;
    p.fund(carol_id, "ACME", "50").await;
    // Carol makes a key over HTTP (a user service route) and logs in on the gateway.
    let (key_id, secret) = p.key("carol", "maker").await;
    let ctx = zmq::Context::new();
    let maker = ctx.socket(zmq::DEALER).unwrap();
    maker.set_linger(0).unwrap();
    maker.connect(&p.endpoint).unwrap();
    let send = |m: &ClientMsg| {
        let mut b = Vec::new();
        encode_client(m, &mut b);
        maker.send(&b[..], 0).unwrap();
    };
    let recv = || {
        assert!(
            maker.poll(zmq::POLLIN, 10_000).unwrap() > 0,
            "no report within 10 s"
        );
        decode_server(&maker.recv_bytes(0).unwrap()).unwrap()
    };
    let start = Instant::now();
    loop {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(secret.as_bytes());
        send(&ClientMsg::Login {
            key_id: FixedStr::new(&key_id).unwrap(),
            secret: raw,
        });
        match recv() {
            ServerMsg::LoginAccepted { user } => {
                assert_eq!(user, carol_id);
                break;
            }
            other => {
                assert!(start.elapsed() < Duration::from_secs(5), "{other:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // Carol quotes over the binary protocol; Alice buys over HTTP.
    send(&ClientMsg::Enter(EnterOrder {
        token: FixedStr::new("q1").unwrap(),
        symbol: FixedStr::new("ACME").unwrap(),
        side: bourse_core::Side::Sell,
        order_type: bourse_core::OrderType::Limit,
        tif: bourse_core::TimeInForce::Gtc,
        post_only: false,
        price: Price(10_100),
        qty: Qty(5),
    }));
    assert!(matches!(recv(), ServerMsg::Accepted { .. }));
    let r = alice
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "5", "side": "buy", "type": "market", "time_in_force": "ioc"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (
            r.json["status"].as_str(),
            r.json["filled_avg_price"].as_str()
        ),
        (Some("filled"), Some("101.00"))
    );
    // Carol hears her fill on her own session.
    match recv() {
        ServerMsg::Executed {
            token,
            qty,
            price,
            leaves,
            ..
        } => {
            assert_eq!(
                (token.as_str(), qty, price, leaves),
                ("q1", Qty(5), Price(10_100), Qty(0))
            );
        }
        other => panic!("expected carol's fill, got {other:?}"),
    }
    // And settlement moves the money: 1,000.00 − 5 × 101.00 one way, + the other.
    eventually(&alice, "/v2/account", |a| a["cash"] == "495.00").await;
    eventually(&carol, "/v2/account", |a| a["cash"] == "505.00").await;
    p.stop().await;
}

async fn the_official_alpaca_sdk_trades_through_the_service(store: Store) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "1000").await;
    p.fund(bob_id, "ACME", "10").await;
    let r = bob
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "5", "side": "sell", "type": "limit",
                    "time_in_force": "gtc", "limit_price": "100"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    drop(alice);
    let (key_id, secret) = p.key("alice", "sdk").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/alpaca_trading.py");
    bourse_testkit::run_sdk_script(script, &p.trader_base, &key_id, &secret).await;
    p.stop().await;
}

async fn replace_makes_a_new_order_that_carries_the_fills_and_cancel_all_empties_the_book(
    store: Store,
) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "10000").await;
    p.fund(bob_id, "ACME", "100").await;
    let sell = |token: &str, price: &str| {
        json!({"symbol": "ACME", "qty": "10", "side": "sell", "type": "limit",
               "time_in_force": "gtc", "limit_price": price, "client_order_id": token})
    };
    let buy = |qty: &str| json!({"symbol": "ACME", "qty": qty, "side": "buy", "type": "market", "time_in_force": "day"});
    let r = bob.post("/v2/orders", &sell("b-1", "100")).await.unwrap();
    let old = r.json["id"].as_str().unwrap().to_string();
    let r = alice.post("/v2/orders", &buy("4")).await.unwrap();
    assert_eq!(r.json["status"], "filled", "{}", r.text);
    let alice_market = r.json["id"].as_str().unwrap().to_string();
    eventually(&bob, &format!("/v2/orders/{old}"), |o| {
        o["status"] == "partially_filled"
    })
    .await;

    // Replace: 8 in all (4 already filled) at 101.00 — a new order in its place.
    let patch = |who: &Client, id: &str, body: Value| {
        let (who, path) = (who.clone(), format!("/v2/orders/{id}"));
        async move {
            who.send(axum::http::Method::PATCH, &path, Some(&body))
                .await
                .unwrap()
        }
    };
    let r = patch(&bob, &old, json!({"qty": "8", "limit_price": "101"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new = r.json["id"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(r.json["replaces"], old.as_str());
    assert_eq!(
        (
            r.json["qty"].as_str(),
            r.json["filled_qty"].as_str(),
            r.json["limit_price"].as_str()
        ),
        (Some("8"), Some("4"), Some("101.00"))
    );
    assert_eq!(r.json["status"], "partially_filled");
    let r = bob.get(&format!("/v2/orders/{old}")).await.unwrap();
    assert_eq!(
        (r.json["status"].as_str(), r.json["replaced_by"].as_str()),
        (Some("replaced"), Some(new.as_str())),
        "{}",
        r.text
    );
    // The new order trades at its new price; settled, its average spans both prices.
    let r = alice.post("/v2/orders", &buy("2")).await.unwrap();
    assert_eq!(r.json["filled_avg_price"], "101.00", "{}", r.text);
    let o = eventually(&bob, &format!("/v2/orders/{new}"), |o| {
        o["filled_qty"] == "6"
    })
    .await;
    assert_eq!(o["filled_avg_price"], "100.33", "(4 × 100 + 2 × 101) / 6");
    assert_eq!(o["status"], "partially_filled");

    // Refused replaces.
    patch(&alice, &new, json!({"qty": "7"}))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    patch(&alice, &alice_market, json!({"qty": "7"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    patch(&bob, &old, json!({"qty": "7"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    patch(&bob, &new, json!({"time_in_force": "day"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    patch(&bob, &new, json!({"limit_price": "101.005"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY);

    // Cancel all: every open order, one status each.
    for (t, price) in [("b-2", "110"), ("b-3", "120")] {
        let r = bob.post("/v2/orders", &sell(t, price)).await.unwrap();
        assert_eq!(r.json["status"], "new", "{}", r.text);
    }
    let r = bob.delete("/v2/orders").await.unwrap();
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.text);
    let results = r.json.as_array().unwrap();
    assert_eq!(results.len(), 3, "{}", r.text);
    assert!(results.iter().all(|x| x["status"] == 200), "{}", r.text);
    assert_eq!(bob.get("/v2/orders").await.unwrap().json, json!([]));
    let r = alice.delete("/v2/orders").await.unwrap();
    assert_eq!(
        (r.status, r.json.clone()),
        (StatusCode::MULTI_STATUS, json!([]))
    );

    // Alice's position: 6 shares at an average cost of 100.33, valued at the last trade.
    let positions = eventually(&alice, "/v2/positions", |v| v[0]["qty"] == "6").await;
    let pos = &positions[0];
    assert_eq!(positions.as_array().unwrap().len(), 1);
    assert_eq!(
        (
            pos["symbol"].as_str(),
            pos["avg_entry_price"].as_str(),
            pos["cost_basis"].as_str(),
            pos["current_price"].as_str(),
            pos["market_value"].as_str(),
            pos["unrealized_pl"].as_str(),
        ),
        (
            Some("ACME"),
            Some("100.33"),
            Some("602.00"),
            Some("101.00"),
            Some("606.00"),
            Some("4.00")
        ),
        "{pos}"
    );
    assert_eq!(
        alice.get("/v2/positions/acme").await.unwrap().json["qty"],
        "6"
    );
    bob.get("/v2/positions/NOPE")
        .await
        .unwrap()
        .assert_error(StatusCode::NOT_FOUND);
    // Closing it sells all six at market, into Bob's bid.
    p.fund(bob_id, "USD", "1000").await;
    let r = bob
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "6", "side": "buy", "type": "limit",
                    "time_in_force": "gtc", "limit_price": "99"}),
        )
        .await
        .unwrap();
    assert_eq!(r.json["status"], "new", "{}", r.text);
    let r = alice.delete("/v2/positions/ACME").await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (
            r.json["side"].as_str(),
            r.json["status"].as_str(),
            r.json["filled_avg_price"].as_str()
        ),
        (Some("sell"), Some("filled"), Some("99.00"))
    );
    eventually(&alice, "/v2/positions", |v| v == &json!([])).await;
    alice
        .get("/v2/positions/ACME")
        .await
        .unwrap()
        .assert_error(StatusCode::NOT_FOUND);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_one_connection_serves_every_route() {
    // A handler that held one pooled connection while asking for another would wait
    // for ever here (it did, under load, before: found by http-bench).
    let p = Platform::start().await;
    let (alice_id, _) = p.user("alice").await;
    p.fund(alice_id, "USD", "1000").await;
    p.fund(alice_id, "ACME", "10").await;
    let one = bourse_shell::db::pool(PG, Some(p.schema()), 1)
        .await
        .unwrap();
    let engine = p.running.engine.clone();
    let auth = Arc::new(Auth {
        tokens: TokenKeys::new(TOKEN_SECRET, Duration::from_secs(900)),
        keys: Arc::new(Keys::pg(one.clone())),
        limit: RateLimit::new(
            NonZeroU32::new(1_000).unwrap(),
            NonZeroU32::new(1_000).unwrap(),
        ),
    });
    let base = serve(bourse_trader::app(TraderState::new(
        one,
        auth,
        Some(engine),
    )))
    .await;
    let token = TokenKeys::new(TOKEN_SECRET, Duration::from_secs(900))
        .issue(alice_id, bourse_shell::auth::Role::User)
        .unwrap();
    let c = Client::new(&base).with_token(&token);
    let sell = json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
                      "time_in_force": "gtc", "limit_price": "100", "client_order_id": "one"});
    let r = c.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let r = c.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(r.json["id"], id.as_str(), "the idempotent path too");
    let r = c
        .send(
            axum::http::Method::PATCH,
            &format!("/v2/orders/{id}"),
            Some(&json!({"limit_price": "101"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for path in ["/v2/orders", "/v2/account", "/v2/positions"] {
        assert_eq!(c.get(path).await.unwrap().status, StatusCode::OK, "{path}");
    }
    assert_eq!(
        c.delete("/v2/orders").await.unwrap().status,
        StatusCode::MULTI_STATUS
    );
    p.stop().await;
}

async fn a_suspended_asset_takes_no_new_orders_until_reinstated(store: Store) {
    let p = Platform::start_on(store).await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(bob_id, "ACME", "10").await;
    let admin = p.stock.clone().with_token(&p.admin_token().await);
    // ACME was listed at bootstrap; it reaches the stock tables through the bus.
    eventually(&admin, "/v2/assets/ACME", |a| a["status"] == "active").await;
    let status = |s: &'static str| {
        let admin = admin.clone();
        async move {
            let r = admin
                .send(
                    axum::http::Method::PATCH,
                    "/v1/admin/assets/ACME",
                    Some(&json!({"status": s})),
                )
                .await
                .unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
    };
    let sell = json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
                      "time_in_force": "gtc", "limit_price": "100"});
    status("inactive").await;
    // The trader reads suspensions at most a second old.
    let start = Instant::now();
    loop {
        let r = bob.post("/v2/orders", &sell).await.unwrap();
        if r.status == StatusCode::UNPROCESSABLE_ENTITY {
            assert!(
                r.json["message"].as_str().unwrap().contains("suspended"),
                "{}",
                r.text
            );
            break;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(start.elapsed() < Duration::from_secs(3), "never suspended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    status("active").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = bob.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "reinstated: {}", r.text);
    p.stop().await;
}

async fn one_client_order_id_sent_many_times_at_once_is_one_order(store: Store) {
    // The rows are written in batches: repeats in one batch, and across batches, must
    // still come out as one order.
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    p.fund(alice_id, "USD", "1000").await;
    let body = json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit",
                      "time_in_force": "gtc", "limit_price": "1", "client_order_id": "once"});
    let sends: Vec<_> = (0..40)
        .map(|_| {
            let (alice, body) = (alice.clone(), body.clone());
            tokio::spawn(async move { alice.post("/v2/orders", &body).await.unwrap() })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for s in sends {
        let r = s.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        ids.insert(r.json["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "one order: {ids:?}");
    let r = alice.get("/v2/orders?status=all").await.unwrap();
    assert_eq!(r.json.as_array().unwrap().len(), 1, "{}", r.text);
    // Buying power is settlement's view (the open buy orders it has settled): it holds
    // one share at $1 once settlement has caught up, never more.
    eventually(&alice, "/v2/account", |a| a["buying_power"] == "999.00").await;
    p.stop().await;
}

/// The year of an RFC 3339 time.
fn year_of(t: &str) -> i32 {
    t.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0)
}

async fn the_open_list_is_the_orders_open_now_settled_or_not(store: Store) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "100000").await;
    p.fund(bob_id, "ACME", "100").await;
    let open_ids = |v: &Value| -> Vec<(String, String)> {
        let mut ids: Vec<(String, String)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["client_order_id"].as_str().unwrap().to_string(),
                    o["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        ids.sort();
        ids
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    for (id, qty, price) in [("s1", "10", "100"), ("s2", "5", "101"), ("s3", "5", "102")] {
        let sell = json!({"symbol": "ACME", "qty": qty, "side": "sell", "type": "limit",
                          "time_in_force": "gtc", "limit_price": price, "client_order_id": id});
        let r = bob.post("/v2/orders", &sell).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    // At once, before settlement need have seen them: the verdicts list them.
    let r = bob.get("/v2/orders").await.unwrap();
    assert_eq!(
        open_ids(&r.json),
        pairs(&[("s1", "new"), ("s2", "new"), ("s3", "new")])
    );
    // Alice's buy fills s1 and part of s2: only settlement knows Bob's side of it.
    let r = alice
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "12", "side": "buy", "type": "market", "time_in_force": "day"}),
        )
        .await
        .unwrap();
    assert_eq!(r.json["status"], "filled", "{}", r.text);
    let listed = eventually(&bob, "/v2/orders", |v| v.as_array().unwrap().len() == 2).await;
    assert_eq!(
        open_ids(&listed),
        pairs(&[("s2", "partially_filled"), ("s3", "new")])
    );
    // A cancel shows at once, though settlement's row is still open for a moment.
    let s3 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["client_order_id"] == "s3")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = bob.delete(&format!("/v2/orders/{s3}")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = bob.get("/v2/orders").await.unwrap();
    assert_eq!(open_ids(&r.json), pairs(&[("s2", "partially_filled")]));
    let r = bob.get("/v2/orders?status=closed").await.unwrap();
    assert_eq!(
        open_ids(&r.json),
        pairs(&[("s1", "filled"), ("s3", "canceled")])
    );
    // Alice's own list is hers alone.
    let r = alice.get("/v2/orders").await.unwrap();
    assert_eq!(r.json, json!([]));
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_page_is_answered_only_until_any_writer_changes_the_users_orders() {
    // A second instance of the service beside the platform's, with its own cache: a
    // page it keeps must give way to every other writer's change — the platform's
    // instance, settlement, a statement from outside (the auto service's kind).
    use bourse_trader::store::ListFilter;
    let p = Platform::start().await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "100000").await;
    p.fund(bob_id, "ACME", "100").await;
    let auth = Arc::new(Auth {
        tokens: TokenKeys::new(TOKEN_SECRET, Duration::from_secs(900)),
        keys: Arc::new(Keys::pg(p.pool().clone())),
        limit: RateLimit::new(
            NonZeroU32::new(1_000).unwrap(),
            NonZeroU32::new(1_000).unwrap(),
        ),
    });
    let other = TraderState::new(p.pool().clone(), auth, Some(p.running.engine.clone()));
    let bob_there = Client::new(&serve(bourse_trader::app(other.clone())).await)
        .with_token(&p.token("bob").await);
    for (id, price) in [("s1", "100"), ("s2", "101")] {
        let sell = json!({"symbol": "ACME", "qty": "10", "side": "sell", "type": "limit",
                          "time_in_force": "gtc", "limit_price": price, "client_order_id": id});
        let r = bob.post("/v2/orders", &sell).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let listed = bob_there.get("/v2/orders").await.unwrap();
    assert_eq!(listed.json.as_array().unwrap().len(), 2, "{}", listed.text);
    // The page the list above made, as the cache keys it; a marker put in its place
    // at the current versions shows when the cache answers.
    let default_page = ListFilter::first_page(bob_id);
    let mark = || async {
        let versions = other.store.versions(bob_id).await.unwrap().unwrap();
        other.pages.put(
            default_page.clone(),
            versions,
            axum::body::Bytes::from_static(b"[\"cached\"]"),
        );
    };
    // Settlement writes Bob's two orders when it gets to them, moving his versions:
    // once it has, nothing more moves them until the steps below.
    let started = Instant::now();
    loop {
        let settled: i64 = p
            .pool()
            .get()
            .await
            .unwrap()
            .query_one(
                "SELECT count(*) FROM orders WHERE user_id = $1",
                &[&(bob_id as i64)],
            )
            .await
            .unwrap()
            .get(0);
        if settled == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "settlement stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mark().await;
    assert_eq!(
        bob_there.get("/v2/orders").await.unwrap().json,
        json!(["cached"]),
        "unchanged orders: the cache answers"
    );
    assert_eq!(
        bob.get("/v2/orders")
            .await
            .unwrap()
            .json
            .as_array()
            .unwrap()
            .len(),
        2,
        "the other instance has a cache of its own"
    );

    // 1. The platform's instance cancels s2: the other's next answer has it gone.
    let s2 = listed
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["client_order_id"] == "s2")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = bob.delete(&format!("/v2/orders/{s2}")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = bob_there.get("/v2/orders").await.unwrap();
    let open: Vec<&Value> = r.json.as_array().unwrap().iter().collect();
    assert_eq!(open.len(), 1, "{}", r.text);
    assert_eq!(open[0]["client_order_id"], "s1");

    // 2. Settlement: Alice's buy fills part of s1; only settlement writes Bob's side.
    mark().await;
    let buy = json!({"symbol": "ACME", "qty": "4", "side": "buy", "type": "market",
                     "time_in_force": "day"});
    let r = alice.post("/v2/orders", &buy).await.unwrap();
    assert_eq!(r.json["status"], "filled", "{}", r.text);
    let filled = eventually(&bob_there, "/v2/orders", |v| {
        v.as_array().unwrap().iter().any(|o| o["filled_qty"] == "4")
    })
    .await;
    assert_eq!(filled[0]["status"], "partially_filled", "{filled}");

    // 3. A statement from outside the service (as the auto service saves a mark).
    mark().await;
    p.pool()
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE trader_orders SET hwm = 12345 WHERE user_id = $1",
            &[&(bob_id as i64)],
        )
        .await
        .unwrap();
    let r = bob_there.get("/v2/orders").await.unwrap();
    assert_eq!(r.json[0]["hwm"], "123.45", "{}", r.text);
    p.stop().await;
}

async fn every_write_to_a_users_orders_moves_their_versions_and_no_one_elses(store: Store) {
    // What a cached page's tag rests on, on both stores: the service's writes and
    // settlement's each move the user's versions; another user's move only theirs.
    use bourse_trader::store::Versions;
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "ACME", "100").await;
    p.fund(bob_id, "ACME", "100").await;
    let versions = |user: u64| {
        let store = p.stores.trader.clone();
        async move {
            store
                .versions(user)
                .await
                .unwrap()
                .expect("kept on both stores")
        }
    };
    // Waits until `user`'s settled version passes `than`'s (settlement is asynchronous).
    // `than` is read before the write that settlement follows: read after it, settlement
    // may already have written, and nothing more would come.
    let settled_past = |user: u64, than: Versions| async move {
        let start = Instant::now();
        loop {
            let v = versions(user).await;
            if v.settled > than.settled {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "settlement never wrote"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let v0 = versions(alice_id).await;
    let sell = json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
                      "time_in_force": "gtc", "limit_price": "500"});
    let r = alice.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let v1 = versions(alice_id).await;
    assert!(
        v1.trader > v0.trader,
        "the entry and the verdict: {v0:?} → {v1:?}"
    );
    let v2 = settled_past(alice_id, v0).await;
    let r = alice.delete(&format!("/v2/orders/{id}")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let v3 = versions(alice_id).await;
    assert!(v3.trader > v2.trader, "the cancel: {v2:?} → {v3:?}");
    let v4 = settled_past(alice_id, v2).await;
    // Bob's order, settled, leaves Alice's versions where they were.
    let b0 = versions(bob_id).await;
    let r = bob.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    settled_past(bob_id, b0).await;
    assert_eq!(versions(alice_id).await, v4);
    p.stop().await;
}

bourse_testkit::on_both_stores!(
    every_write_to_a_users_orders_moves_their_versions_and_no_one_elses,
    orders_over_http_trade_settle_and_stay_their_owners,
    an_http_order_fills_against_one_from_the_binary_gateway_and_both_hear_it,
    the_official_alpaca_sdk_trades_through_the_service,
    replace_makes_a_new_order_that_carries_the_fills_and_cancel_all_empties_the_book,
    a_suspended_asset_takes_no_new_orders_until_reinstated,
    one_client_order_id_sent_many_times_at_once_is_one_order,
    the_open_list_is_the_orders_open_now_settled_or_not,
);
