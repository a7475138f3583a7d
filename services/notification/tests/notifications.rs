//! Notifications end to end in one process, on both stores: a stop order placed
//! through the REST API triggers, and its trigger and its fill reach the owner's inbox,
//! their socket and their webhook — a receiver in this test that fails three times per
//! call before it answers 200, so each event gets exactly one success, after retries
//! backing off, every call signed and logged. A webhook that never answers 2xx ends in
//! the dead letter and is sent again on request. Preferences keep kinds out; users see
//! only their own; and the service's loop, given the same events twice, stores each
//! once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use bourse_bus::memory::MemoryBus;
use bourse_bus::{Message, Publisher};
use bourse_notification::webhook::{ATTEMPT_HEADER, ID_HEADER, SIGNATURE_HEADER, verify};
use bourse_shell::client::Client;
use bourse_testkit::ws::{Ws, next_text};
use bourse_testkit::{Platform, Store, ok, on_both_stores, order, until};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// One call the receiver took.
#[derive(Clone, Debug)]
struct Call {
    who: String,
    id: String,
    attempt: u32,
    signature: String,
    body: String,
    answered: u16,
}

/// A webhook receiver: `/flaky` fails each notification's first three calls (500) and
/// takes the fourth; `/down` never takes any (503).
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<Call>>>,
}

async fn hook(
    State(r): State<Receiver>,
    Path(who): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let id = header(ID_HEADER);
    let mut calls = r.calls.lock().unwrap();
    let before = calls.iter().filter(|c| c.who == who && c.id == id).count();
    let answered = match who.as_str() {
        "flaky" if before >= 3 => StatusCode::OK,
        "flaky" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    calls.push(Call {
        who,
        attempt: header(ATTEMPT_HEADER).parse().unwrap_or(0),
        signature: header(SIGNATURE_HEADER),
        id,
        body,
        answered: answered.as_u16(),
    });
    answered
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let app = axum::Router::new()
            .route("/{who}", axum::routing::post(hook))
            .with_state(r.clone());
        (r, bourse_testkit::serve(app).await)
    }

    fn calls(&self, who: &str) -> Vec<Call> {
        let all = self.calls.lock().unwrap();
        all.iter().filter(|c| c.who == who).cloned().collect()
    }
}

async fn socket(p: &Platform, token: &str) -> Ws {
    let url = format!(
        "{}/v1/notifications/stream",
        p.running.notification_base.replacen("http://", "ws://", 1)
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn next_json(ws: &mut Ws) -> Value {
    serde_json::from_str(&next_text(ws).await).unwrap()
}

async fn a_triggered_stop_reaches_the_inbox_the_socket_and_the_webhook_once(store: Store) {
    let p = Platform::start_on(store).await;
    let (receiver, hooks) = Receiver::start().await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    let (carol_id, carol) = p.user("carol").await;
    p.fund(alice_id, "USD", "100000").await;
    p.fund(bob_id, "ACME", "100").await;
    p.fund(carol_id, "ACME", "100").await;
    let notes = |name: &str| {
        let base = p.running.notification_base.clone();
        let name = name.to_string();
        let p = &p;
        async move { Client::new(base).with_token(&p.token(&name).await) }
    };
    let (bob_n, alice_n, carol_n) = (
        notes("bob").await,
        notes("alice").await,
        notes("carol").await,
    );

    // Bob's webhook: the secret is shown once, the URL thereafter.
    let hook = ok(
        &bob_n,
        Method::PUT,
        "/v1/notifications/webhook",
        Some(json!({"url": format!("{hooks}/flaky")})),
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{hook}");
    let shown = ok(&bob_n, Method::GET, "/v1/notifications/webhook", None).await;
    assert_eq!(shown["url"], format!("{hooks}/flaky"));
    assert!(
        shown.get("secret").is_none(),
        "the secret is not shown again: {shown}"
    );
    // Carol's webhook never takes a call.
    ok(
        &carol_n,
        Method::PUT,
        "/v1/notifications/webhook",
        Some(json!({"url": format!("{hooks}/down")})),
    )
    .await;
    // Alice wants acceptances and no fills.
    let prefs = ok(
        &alice_n,
        Method::PUT,
        "/v1/notifications/preferences",
        Some(json!({"kinds": {"new": true, "fill": false, "partial_fill": false}})),
    )
    .await;
    assert_eq!(
        (
            &prefs["kinds"]["new"],
            &prefs["kinds"]["fill"],
            &prefs["kinds"]["canceled"]
        ),
        (&json!(true), &json!(false), &json!(true))
    );

    let mut ws = socket(&p, &p.token("bob").await).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"type": "hello", "unread": 0})
    );

    // Bob's sell stop at 95; Alice's bid at 93 for it to sell into once it fires.
    let stop = order(
        &bob,
        json!({"symbol": "ACME", "qty": "5", "side": "sell", "type": "stop",
               "time_in_force": "gtc", "stop_price": "95", "client_order_id": "bob-stop"}),
    )
    .await;
    assert_eq!(stop["status"], "held");
    order(
        &alice,
        json!({"symbol": "ACME", "qty": "5", "side": "buy", "type": "limit",
               "time_in_force": "gtc", "limit_price": "93"}),
    )
    .await;
    let armed = p.running.auto.clone();
    until("the stop armed", async || {
        armed.armed.load(Ordering::Relaxed) == 1
    })
    .await;
    // A trade at 94 (Carol sells one to Alice) crosses it.
    order(
        &carol,
        json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
               "time_in_force": "gtc", "limit_price": "94"}),
    )
    .await;
    order(
        &alice,
        json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}),
    )
    .await;

    // The socket: the trigger, then the fill, each as the inbox shows it.
    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "notification", "{first}");
    let triggered = &first["notification"];
    assert_eq!(triggered["kind"], "triggered", "{first}");
    assert_eq!(triggered["title"], "Triggered: stop sell 5 ACME");
    assert_eq!(triggered["order_id"], stop["id"]);
    assert_eq!(triggered["client_order_id"], "bob-stop");
    let second = next_json(&mut ws).await;
    let fill = &second["notification"];
    assert_eq!(fill["kind"], "fill", "{second}");
    assert_eq!(fill["title"], "Filled: sell 5 ACME, 5 at 93.00");
    assert_eq!(
        (&fill["price"], &fill["qty"]),
        (&json!("93.00"), &json!("5"))
    );
    assert_eq!(fill["read"], false);

    // The inbox: the same two, newest first, paged.
    let inbox = ok(&bob_n, Method::GET, "/v1/notifications", None).await;
    let listed = inbox["notifications"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{inbox}");
    assert_eq!((&listed[0], &listed[1]), (fill, triggered));
    assert!(inbox["next_page_token"].is_null());
    let page1 = ok(&bob_n, Method::GET, "/v1/notifications?limit=1", None).await;
    assert_eq!(page1["notifications"][0]["id"], fill["id"]);
    let token = page1["next_page_token"].as_str().unwrap();
    let page2 = ok(
        &bob_n,
        Method::GET,
        &format!("/v1/notifications?limit=1&page_token={token}"),
        None,
    )
    .await;
    assert_eq!(page2["notifications"][0]["id"], triggered["id"]);
    let unread = |c: Client| async move {
        ok(&c, Method::GET, "/v1/notifications/unread_count", None).await["unread"].clone()
    };
    assert_eq!(unread(bob_n.clone()).await, 2);
    let id = fill["id"].as_str().unwrap();
    let marked = ok(
        &bob_n,
        Method::PATCH,
        &format!("/v1/notifications/{id}"),
        Some(json!({"read": true})),
    )
    .await;
    assert_eq!(marked["read"], true);
    assert_eq!(unread(bob_n.clone()).await, 1);
    let only_unread = ok(
        &bob_n,
        Method::GET,
        "/v1/notifications?unread_only=true",
        None,
    )
    .await;
    assert_eq!(only_unread["notifications"].as_array().unwrap().len(), 1);
    // Not Alice's to mark, nor to see.
    alice_n
        .send(
            Method::PATCH,
            &format!("/v1/notifications/{id}"),
            Some(&json!({"read": false})),
        )
        .await
        .unwrap()
        .assert_error(StatusCode::NOT_FOUND);
    let all = ok(
        &bob_n,
        Method::POST,
        "/v1/notifications/read_all",
        Some(json!({})),
    )
    .await;
    assert_eq!(all["marked"], 1);
    assert_eq!(unread(bob_n.clone()).await, 0);

    // Alice: her acceptances, no fills (she turned them off), no one else's.
    let hers = ok(&alice_n, Method::GET, "/v1/notifications", None).await;
    let kinds: Vec<&str> = hers["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["new", "new"], "{hers}");

    // Bob's webhook: each event taken exactly once, on its fourth call.
    let rx = receiver.clone();
    until("both deliveries taken", async || {
        rx.calls("flaky")
            .iter()
            .filter(|c| c.answered == 200)
            .count()
            == 2
    })
    .await;
    let mut by_id: HashMap<String, Vec<Call>> = HashMap::new();
    for c in receiver.calls("flaky") {
        by_id.entry(c.id.clone()).or_default().push(c);
    }
    let ids: Vec<String> = [triggered, fill]
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    let mut seen: Vec<String> = by_id.keys().cloned().collect();
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want, "one delivery per notification");
    let now = jiff::Timestamp::now().as_second() as u64;
    for (id, calls) in &by_id {
        let answers: Vec<u16> = calls.iter().map(|c| c.answered).collect();
        assert_eq!(answers, vec![500, 500, 500, 200], "notification {id}");
        assert_eq!(
            calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        for c in calls {
            assert!(
                verify(&secret, &c.signature, &c.body, now, 300),
                "signed: {}",
                c.signature
            );
            assert!(!verify("whsec_wrong", &c.signature, &c.body, now, 300));
            let sent: Value = serde_json::from_str(&c.body).unwrap();
            assert_eq!(sent["id"], json!(id));
        }
    }
    // The log, once the worker has recorded the last answers.
    let delivered = async || {
        let r = ok(
            &bob_n,
            Method::GET,
            "/v1/notifications/webhook/deliveries",
            None,
        )
        .await;
        r["deliveries"].as_array().unwrap().clone()
    };
    until("both recorded delivered", async || {
        delivered().await.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let log = delivered().await;
    assert_eq!(log.len(), 2);
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert!(d["next_attempt_at"].is_null());
        let codes: Vec<i64> = d["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status_code"].as_i64().unwrap())
            .collect();
        assert_eq!(codes, vec![500, 500, 500, 200], "{d}");
        assert_eq!(d["attempts"][0]["error"], "status 500");
    }
    // Nothing more comes (no second success), however long one waits for it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.calls("flaky").len(), 8);

    // Carol's: her sell's fill, dead after five calls, then sent once more on request.
    let carol_dead = async || {
        let r = ok(
            &carol_n,
            Method::GET,
            "/v1/notifications/webhook/deliveries?status=dead",
            None,
        )
        .await;
        r["deliveries"].as_array().unwrap().clone()
    };
    until("carol's delivery dead", async || {
        !carol_dead().await.is_empty()
    })
    .await;
    let dead = carol_dead().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"].as_array().unwrap().len(), 5);
    assert_eq!(receiver.calls("down").len(), 5);
    let down = receiver.calls("down");
    assert!(down.iter().all(|c| c.answered == 503));
    let numbers: Vec<u32> = down.iter().map(|c| c.attempt).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4, 5]);
    let did = dead[0]["id"].as_str().unwrap();
    bob_n
        .post(
            &format!("/v1/notifications/webhook/deliveries/{did}/redeliver"),
            &json!({}),
        )
        .await
        .unwrap()
        .assert_error(StatusCode::NOT_FOUND);
    let again = ok(
        &carol_n,
        Method::POST,
        &format!("/v1/notifications/webhook/deliveries/{did}/redeliver"),
        Some(json!({})),
    )
    .await;
    assert_eq!(again["status"], "pending");
    let rx = receiver.clone();
    until("the sixth call", async || rx.calls("down").len() == 6).await;
    until("dead again", async || {
        carol_dead()
            .await
            .first()
            .is_some_and(|d| d["attempts"].as_array().unwrap().len() == 6)
    })
    .await;

    // Bad input: a 4xx with the error body, never a 500.
    for (method, path, body, status) in [
        (
            Method::PUT,
            "/v1/notifications/webhook",
            json!({"url": "ftp://x.example/h"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            "/v1/notifications/webhook",
            json!({"uri": "https://x.example/h"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            "/v1/notifications/preferences",
            json!({"kinds": {"fills": true}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/v1/notifications?limit=0",
            Value::Null,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/v1/notifications?page_token=abc",
            Value::Null,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/v1/notifications/webhook/deliveries?status=lost",
            Value::Null,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            "/v1/notifications/abc",
            json!({"read": true}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            "/v1/notifications/1",
            json!({"read": "yes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let r = alice_n
            .send(method.clone(), path, body.as_ref())
            .await
            .unwrap();
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        r.assert_error(status);
    }
    Client::new(&p.running.notification_base)
        .get("/v1/notifications")
        .await
        .unwrap()
        .assert_error(StatusCode::UNAUTHORIZED);
    p.stop().await;
}

/// The loop on its own, given the same events twice (a redelivery, a restart between
/// storing and acknowledging): one inbox entry each.
async fn events_delivered_twice_are_stored_once(store: Store) {
    let p = Platform::start_on(store).await;
    let (user, _) = p.user("dora").await;
    let bus = MemoryBus::new();
    let consumer = bus.durable_consumer("again", &["exec.*"]);
    let status = Arc::new(bourse_notification::service::Status::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut first = Some(consumer);
    let push_bus = bus.clone();
    let task = tokio::spawn(bourse_notification::service::run(
        p.stores.notifications.clone(),
        move || std::future::ready(first.take().ok_or(bourse_bus::BusError::Closed)),
        move || {
            let b = push_bus.clone();
            async move { Ok(b.publisher()) }
        },
        status.clone(),
        stop.clone(),
    ));
    let canceled = |seq: u64| Message {
        routing_key: format!("exec.{user}"),
        seq,
        prev_seq: Some(0),
        body: json!({"event": "canceled", "seq": seq, "cmd_seq": seq, "time_ns": 1,
                     "user": user, "id": format!("o{seq}"), "qty": 3, "reason": "ioc"})
        .to_string()
        .into_bytes(),
    };
    let mut publisher = bus.publisher();
    publisher
        .publish(&[canceled(1_000_001), canceled(1_000_002)])
        .await
        .unwrap();
    publisher
        .publish(&[canceled(1_000_002), canceled(1_000_001)])
        .await
        .unwrap();
    publisher.publish(&[canceled(1_000_003)]).await.unwrap();
    let s = status.clone();
    until("three stored", async || {
        s.stored.load(Ordering::Relaxed) >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status.stored.load(Ordering::Relaxed), 3, "each once");
    let inbox = Client::new(&p.running.notification_base).with_token(&p.token("dora").await);
    let listed = ok(&inbox, Method::GET, "/v1/notifications", None).await;
    let titles: Vec<&str> = listed["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        vec![
            "Canceled (ioc): order o1000003",
            "Canceled (ioc): order o1000002",
            "Canceled (ioc): order o1000001"
        ]
    );
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    p.stop().await;
}

on_both_stores!(
    a_triggered_stop_reaches_the_inbox_the_socket_and_the_webhook_once,
    events_delivered_twice_are_stored_once,
);
