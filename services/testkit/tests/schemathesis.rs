//! Every service's OpenAPI document (`/openapi.json`, generated from the handlers) is
//! served, names every route, and is true: schemathesis (PyPI, in the test virtual
//! environment) sends generated requests — valid and invalid — to every operation of
//! the running services (user, trader, stock, portfolio, notification, auto), with an API key, and checks that no answer is a 5xx and that
//! every status, content type and body is the one the document declares.

use axum::http::StatusCode;
use bourse_testkit::{Platform, Store, sdk_python};
use serde_json::{Value, json};

/// Runs schemathesis against `base` with the key; returns its output, failing on any
/// finding.
async fn schemathesis(base: &str, key_id: &str, secret: &str) -> String {
    let python = sdk_python();
    let exe = std::path::Path::new(&python).with_file_name("schemathesis");
    let args = vec![
        "run".to_string(),
        format!("{base}/openapi.json"),
        "--checks".into(),
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance".into(),
        "--max-examples".into(),
        "25".into(),
        "--generation-deterministic".into(),
        "--suppress-health-check".into(),
        "all".into(),
        "--header".into(),
        format!("APCA-API-KEY-ID: {key_id}"),
        "--header".into(),
        format!("APCA-API-SECRET-KEY: {secret}"),
    ];
    let out = tokio::task::spawn_blocking(move || {
        // Its example cache goes under target/, not into the source tree.
        std::process::Command::new(exe)
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run schemathesis")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found problems at {base}:\n{text}"
    );
    text
}

async fn spec(base: &str) -> Value {
    let r = bourse_shell::client::Client::new(base)
        .get("/openapi.json")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    r.json
}

async fn every_service_answers_as_its_openapi_document_says(store: Store) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "100000").await;
    p.fund(bob_id, "ACME", "1000").await;
    // Some market: a trade, a resting bid and ask.
    for (who, body) in [
        (
            &bob,
            json!({"symbol": "ACME", "qty": "5", "side": "sell", "type": "limit", "time_in_force": "gtc", "limit_price": "100"}),
        ),
        (
            &alice,
            json!({"symbol": "ACME", "qty": "2", "side": "buy", "type": "market", "time_in_force": "day"}),
        ),
        (
            &alice,
            json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit", "time_in_force": "gtc", "limit_price": "99"}),
        ),
    ] {
        let r = who.post("/v2/orders", &body).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let (key_id, secret) = p.key("alice", "schemathesis").await;
    // Quotes come from the live book: wait for its first snapshot (until then they are
    // an honest 503, which schemathesis would count as a server error).
    let start = std::time::Instant::now();
    while p.book.view("ACME").is_none() {
        assert!(start.elapsed().as_secs() < 20, "the live book never synced");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let stock = spec(&p.stock_base).await;
    let paths: Vec<&String> = stock["paths"].as_object().unwrap().keys().collect();
    for path in [
        "/v2/assets",
        "/v2/stocks/bars",
        "/v2/stocks/{symbol}/snapshot",
        "/v2/clock",
    ] {
        assert!(paths.iter().any(|p| *p == path), "{path} in {paths:?}");
    }
    assert_eq!(stock["openapi"].as_str().unwrap().get(..2), Some("3."));
    let trader = spec(&p.trader_base).await;
    assert!(trader["paths"]["/v2/orders/{id}"]["patch"].is_object());
    let users = spec(p.users.base()).await;
    assert!(users["paths"]["/v1/keys"]["post"].is_object());
    assert!(
        users["paths"]["/v1/auth/login"]["post"]["security"].is_null(),
        "login needs no credentials"
    );
    let portfolio = spec(&p.portfolio_base).await;
    assert!(portfolio["paths"]["/portfolio"]["get"].is_object());
    let notification = spec(&p.running.notification_base).await;
    assert!(notification["paths"]["/v1/notifications/{id}"]["patch"].is_object());
    assert!(notification["paths"]["/v1/notifications/webhook"]["put"].is_object());
    let auto = spec(&p.running.auto_base).await;
    assert!(auto["paths"]["/v1/alerts/{id}"]["delete"].is_object());
    for base in [
        p.stock_base.as_str(),
        p.trader_base.as_str(),
        p.users.base(),
        p.portfolio_base.as_str(),
        p.running.notification_base.as_str(),
        p.running.auto_base.as_str(),
    ] {
        let out = schemathesis(base, &key_id, &secret).await;
        eprintln!("{out}");
    }
    p.stop().await;
}

bourse_testkit::on_both_stores!(every_service_answers_as_its_openapi_document_says);
