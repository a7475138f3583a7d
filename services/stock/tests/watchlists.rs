//! Watchlists end to end in one process (`bourse-testkit`), on both stores: a user's
//! lists and nobody else's, every refusal, two changes at once both kept, the cap,
//! and the official alpaca-py `TradingClient` doing the same.

use axum::http::{Method, StatusCode};
use bourse_shell::client::Client;
use bourse_stock::watchlists::{MAX_NAME, MAX_SYMBOLS, MAX_WATCHLISTS};
use bourse_testkit::{Platform, Store, assert_error, eventually, ok};
use serde_json::{Value, json};

fn symbols(w: &Value) -> Vec<&str> {
    w["assets"]
        .as_array()
        .unwrap_or_else(|| panic!("assets in {w}"))
        .iter()
        .map(|a| a["symbol"].as_str().unwrap())
        .collect()
}

/// Lists `symbol` as the admin.
async fn list(admin: &Client, symbol: &str) {
    let r = admin
        .post("/v1/admin/assets", &json!({"symbol": symbol}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

async fn each_user_keeps_named_lists_of_listed_symbols(store: Store) {
    let p = Platform::start_on(store).await;
    let (_, alice_trader) = p.user("alice").await;
    p.user("bob").await;
    let alice = p.stock.clone().with_token(&p.token("alice").await);
    let bob = p.stock.clone().with_token(&p.token("bob").await);
    let admin = p.stock.clone().with_token(&p.admin_token().await);
    list(&admin, "BOLT").await;
    eventually(&alice, "/v2/assets/ACME", |a| a["symbol"] == "ACME").await;

    // Created with its symbols once each, in order; listed without them.
    assert_error(
        &p.stock.get("/v2/watchlists").await.unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    let made = ok(
        &alice,
        Method::POST,
        "/v2/watchlists",
        Some(json!({"name": "Tech", "symbols": ["BOLT", "ACME", "BOLT"]})),
    )
    .await;
    assert_eq!(symbols(&made), ["BOLT", "ACME"]);
    assert_eq!(made["name"], "Tech");
    assert_eq!(made["assets"][0]["tradable"], true);
    let account = ok(&alice_trader, Method::GET, "/v2/account", None).await;
    assert_eq!(made["account_id"], account["id"], "the account's own id");
    let id = made["id"].as_str().unwrap().to_string();
    let at = format!("/v2/watchlists/{id}");
    let lists = ok(&alice, Method::GET, "/v2/watchlists", None).await;
    assert_eq!(lists.as_array().unwrap().len(), 1);
    assert_eq!(lists[0]["id"], made["id"]);
    assert!(lists[0].get("assets").is_none(), "{lists}");
    let empty = ok(
        &alice,
        Method::POST,
        "/v2/watchlists",
        Some(json!({"name": "Later"})),
    )
    .await;
    assert_eq!(symbols(&empty), Vec::<&str>::new());

    // Refusals: a name taken, blank or too long; an unknown symbol; too many symbols;
    // an unknown field.
    let too_many: Vec<String> = (0..=MAX_SYMBOLS).map(|i| format!("S{i}")).collect();
    let r = alice
        .post(
            "/v2/watchlists",
            &json!({"name": "Big", "symbols": too_many}),
        )
        .await
        .unwrap();
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("at most"), "{}", r.text);
    for bad in [
        json!({"name": "Tech"}),
        json!({"name": "  "}),
        json!({"name": "x".repeat(MAX_NAME + 1)}),
        json!({"name": "Other", "symbols": ["ACME", "NOPE"]}),
        json!({"name": "Other", "colour": "red"}),
    ] {
        let r = alice.post("/v2/watchlists", &bad).await.unwrap();
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY);
    }

    // Nobody else sees or touches it: a 404, as for one that does not exist.
    assert_eq!(
        ok(&bob, Method::GET, "/v2/watchlists", None).await,
        json!([])
    );
    for (method, path, body) in [
        (Method::GET, at.clone(), None),
        (Method::PUT, at.clone(), Some(json!({"name": "Mine"}))),
        (Method::POST, at.clone(), Some(json!({"symbol": "ACME"}))),
        (Method::DELETE, format!("{at}/ACME"), None),
        (Method::DELETE, at.clone(), None),
    ] {
        let r = bob.send(method, &path, body.as_ref()).await.unwrap();
        assert_error(&r, StatusCode::NOT_FOUND);
    }
    let r = alice.get("/v2/watchlists/no-such-id").await.unwrap();
    assert_error(&r, StatusCode::NOT_FOUND);
    assert_eq!(
        symbols(&ok(&alice, Method::GET, &at, None).await),
        ["BOLT", "ACME"]
    );

    // Add (again: no change), remove, rename, replace the symbols.
    let w = ok(&alice, Method::POST, &at, Some(json!({"symbol": "ACME"}))).await;
    assert_eq!(symbols(&w), ["BOLT", "ACME"]);
    let w = ok(&alice, Method::DELETE, &format!("{at}/BOLT"), None).await;
    assert_eq!(symbols(&w), ["ACME"]);
    let r = alice.delete(&format!("{at}/BOLT")).await.unwrap();
    assert_error(&r, StatusCode::NOT_FOUND);
    let w = ok(&alice, Method::POST, &at, Some(json!({"symbol": "BOLT"}))).await;
    assert_eq!(symbols(&w), ["ACME", "BOLT"]);
    let r = alice.post(&at, &json!({"symbol": "NOPE"})).await.unwrap();
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY);
    let w = ok(&alice, Method::PUT, &at, Some(json!({"name": "Core"}))).await;
    assert_eq!(
        (w["name"].as_str(), symbols(&w)),
        (Some("Core"), vec!["ACME", "BOLT"])
    );
    assert!(
        w["updated_at"].as_str() > made["updated_at"].as_str(),
        "{w}"
    );
    assert_eq!(w["created_at"], made["created_at"]);
    let w = ok(&alice, Method::PUT, &at, Some(json!({"symbols": []}))).await;
    assert_eq!((w["name"].as_str(), symbols(&w)), (Some("Core"), vec![]));
    for bad in [
        json!({}),
        json!({"name": "Later"}),
        json!({"symbols": ["NOPE"]}),
    ] {
        let r = alice.send(Method::PUT, &at, Some(&bad)).await.unwrap();
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY);
    }

    // Eight symbols added at once, each by its own request: every one is kept.
    let many: Vec<String> = (1..=8).map(|i| format!("W{i}")).collect();
    for s in &many {
        list(&admin, s).await;
    }
    let adds = many.iter().map(|s| {
        let (alice, at) = (alice.clone(), at.clone());
        let body = json!({"symbol": s});
        tokio::spawn(async move { ok(&alice, Method::POST, &at, Some(body)).await })
    });
    for add in adds.collect::<Vec<_>>() {
        add.await.unwrap();
    }
    let w = ok(&alice, Method::GET, &at, None).await;
    let mut kept = symbols(&w);
    kept.sort_unstable();
    assert_eq!(kept, many, "no add lost to another");

    // Deleted once; then gone.
    let r = alice.delete(&at).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_error(&alice.get(&at).await.unwrap(), StatusCode::NOT_FOUND);
    assert_error(&alice.delete(&at).await.unwrap(), StatusCode::NOT_FOUND);

    // At most MAX_WATCHLISTS each ("Later" is one of them).
    for i in 1..MAX_WATCHLISTS {
        ok(
            &alice,
            Method::POST,
            "/v2/watchlists",
            Some(json!({"name": format!("list {i}")})),
        )
        .await;
    }
    let r = alice
        .post("/v2/watchlists", &json!({"name": "one too many"}))
        .await
        .unwrap();
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY);
    ok(
        &bob,
        Method::POST,
        "/v2/watchlists",
        Some(json!({"name": "Tech"})),
    )
    .await;

    // The official SDK, on a fresh user.
    p.user("carol").await;
    let (key_id, secret) = p.key("carol", "watchlists").await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/alpaca_watchlists.py"
    );
    bourse_testkit::run_sdk_script(script, &p.stock_base, &key_id, &secret).await;
    p.stop().await;
}

bourse_testkit::on_both_stores!(each_user_keeps_named_lists_of_listed_symbols);
