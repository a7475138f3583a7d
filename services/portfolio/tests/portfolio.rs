//! The portfolio socket end to end, on the in-process platform against the real
//! PostgreSQL: the designed flow (snapshot, updates as prices move, a new symbol
//! streaming after `portfolio.changed`, a sold one stopping), isolation, churn back to
//! where it started, and a slow client dropped without holding anyone up.
// The counting allocator below is the one unsafe thing here: a `GlobalAlloc` is an
// unsafe trait, and it only forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bourse_portfolio::hub::{Hub, Interest, Stats};
use bourse_portfolio::{PortfolioState, StreamConfig};
use bourse_shell::client::Client;
use bourse_testkit::ws::{Ws, next_json};
use bourse_testkit::{Platform, Store, serve};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Live heap bytes, to see that sockets give back what they took.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is
// all that is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn request(url: &str, token: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

async fn open(url: &str, token: &str) -> Ws {
    let (ws, resp) = tokio_tungstenite::connect_async(request(url, token))
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// The next portfolio message (pings skipped), within 10 s.
async fn next(ws: &mut Ws) -> Value {
    next_json(ws).await
}

/// Messages until one satisfies `done` (updates may come between).
async fn until(ws: &mut Ws, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let m = next(ws).await;
        if done(&m) {
            return m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never {what}: last {m}"
        );
    }
}

fn position<'a>(m: &'a Value, symbol: &str) -> Option<&'a Value> {
    m["positions"]
        .as_array()?
        .iter()
        .find(|p| p["symbol"] == symbol)
}

/// `seller` rests a limit sell, `buyer` takes it at market: one trade at `price`.
async fn trade(seller: &Client, buyer: &Client, symbol: &str, qty: u32, price: &str) {
    let sell = json!({"symbol": symbol, "qty": qty.to_string(), "side": "sell", "type": "limit",
                      "time_in_force": "gtc", "limit_price": price});
    let r = seller.post("/v2/orders", &sell).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let buy = json!({"symbol": symbol, "qty": qty.to_string(), "side": "buy", "type": "market",
                     "time_in_force": "day"});
    let r = buyer.post("/v2/orders", &buy).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "filled", "{}", r.text);
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn cents(v: &Value) -> i64 {
    let t = v.as_str().unwrap();
    let (whole, frac) = t.split_once('.').unwrap();
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    whole.parse::<i64>().unwrap() * 100 + sign * frac.parse::<i64>().unwrap()
}

/// The examples of `docs/portfolio.md` have the fields a live message has, and add up.
fn check_doc_examples(live: &Value) {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/portfolio.md"
    ))
    .unwrap();
    let examples: Vec<Value> = doc
        .split("```json\n")
        .skip(1)
        .map(|b| serde_json::from_str(b.split("```").next().unwrap()).unwrap())
        .collect();
    assert_eq!(examples.len(), 2, "a snapshot and an update");
    let live_position = &live["positions"][0];
    for e in &examples {
        assert_eq!(keys(e), keys(live), "{e}");
        let mut value = 0;
        let mut cost = 0;
        for p in e["positions"].as_array().unwrap() {
            assert_eq!(keys(p), keys(live_position), "{p}");
            let qty: i64 = p["qty"].as_str().unwrap().parse().unwrap();
            assert_eq!(cents(&p["market_value"]), qty * cents(&p["price"]));
            assert_eq!(
                cents(&p["unrealized_pl"]),
                cents(&p["market_value"]) - cents(&p["cost_basis"])
            );
            value += cents(&p["market_value"]);
            cost += cents(&p["cost_basis"]);
        }
        assert_eq!(cents(&e["market_value"]), value, "{e}");
        assert_eq!(cents(&e["cost_basis"]), cost, "{e}");
        assert_eq!(cents(&e["equity"]), cents(&e["cash"]) + value, "{e}");
        assert_eq!(cents(&e["unrealized_pl"]), value - cost, "{e}");
    }
    assert_eq!(examples[0]["type"], "snapshot");
    assert_eq!(examples[1]["type"], "update");
}

async fn the_portfolio_streams_its_holdings_and_follows_what_the_user_buys_and_sells(store: Store) {
    let p = Platform::start_on(store).await;
    let admin = p.stock.clone().with_token(&p.admin_token().await);
    let r = admin
        .post("/v1/admin/assets", &json!({"symbol": "BETA"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    let (dave_id, dave) = p.user("dave").await;
    let (erin_id, erin) = p.user("erin").await;
    p.fund(alice_id, "USD", "10000").await;
    p.fund(alice_id, "ACME", "10").await;
    p.fund(bob_id, "BETA", "100").await;
    p.fund(bob_id, "USD", "10000").await;
    for (u, asset, amount) in [
        (dave_id, "ACME", "100"),
        (dave_id, "BETA", "100"),
        (erin_id, "USD", "100000"),
    ] {
        p.fund(u, asset, amount).await;
    }
    // Settlement has the deposits before the socket reads them.
    bourse_testkit::eventually(&alice, "/v2/positions", |v| v[0]["qty"] == "10").await;

    let token = p.token("alice").await;
    let url = p.ws(&format!("/portfolio?userID={alice_id}"));
    let mut ws = open(&url, &token).await;
    let snap = next(&mut ws).await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    assert_eq!(snap["seq"], 1);
    assert_eq!(snap["user"], alice_id);
    assert_eq!(snap["cash"], "10000.00");
    let acme = position(&snap, "ACME").unwrap();
    assert_eq!(acme["qty"], "10");
    assert_eq!(acme["price"], Value::Null, "ACME never traded");
    assert_eq!(acme["cost_basis"], "0.00", "deposited shares cost nothing");
    check_doc_examples(&snap);

    // Someone else's trade in ACME moves Alice's valuation.
    trade(&dave, &erin, "ACME", 1, "50.00").await;
    let up = until(&mut ws, "ACME at 50", |m| {
        position(m, "ACME").is_some_and(|a| a["price"] == "50.00")
    })
    .await;
    assert_eq!(up["type"], "update");
    assert_eq!(up["market_value"], "500.00");
    assert_eq!(up["equity"], "10500.00");
    assert!(up["seq"].as_u64().unwrap() > 1);

    // Alice buys BETA: after settlement's portfolio.changed, a snapshot holding it...
    trade(&bob, &alice, "BETA", 5, "20.00").await;
    let snap = until(&mut ws, "BETA held", |m| position(m, "BETA").is_some()).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["cash"], "9900.00");
    assert_eq!(position(&snap, "BETA").unwrap()["cost_basis"], "100.00");
    // ...and BETA's trades now stream to her.
    trade(&dave, &erin, "BETA", 1, "25.00").await;
    let up = until(&mut ws, "BETA at 25", |m| {
        position(m, "BETA").is_some_and(|b| b["price"] == "25.00")
    })
    .await;
    assert_eq!(position(&up, "BETA").unwrap()["market_value"], "125.00");
    assert_eq!(position(&up, "BETA").unwrap()["unrealized_pl"], "25.00");

    // She sells it all: a snapshot without it, and BETA's trades stop coming.
    let buy_back = json!({"symbol": "BETA", "qty": "5", "side": "buy", "type": "limit",
                          "time_in_force": "gtc", "limit_price": "24.00"});
    let r = bob.post("/v2/orders", &buy_back).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = alice
        .post(
            "/v2/orders",
            &json!({"symbol": "BETA", "qty": "5", "side": "sell", "type": "market", "time_in_force": "day"}),
        )
        .await
        .unwrap();
    assert_eq!(r.json["status"], "filled", "{}", r.text);
    let snap = until(&mut ws, "BETA sold", |m| {
        m["type"] == "snapshot" && position(m, "BETA").is_none()
    })
    .await;
    assert_eq!(snap["cash"], "10020.00");
    assert_eq!(
        p.hub.stats().symbols,
        1,
        "only ACME is followed now: {:?}",
        p.hub.stats()
    );
    // A second hint for the same settlement may still bring a snapshot: take them all.
    let mut seq = snap["seq"].as_u64().unwrap();
    while let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_millis(500), ws.next()).await
    {
        seq = serde_json::from_str::<Value>(&t).unwrap()["seq"]
            .as_u64()
            .unwrap();
    }
    trade(&dave, &erin, "BETA", 1, "30.00").await;
    trade(&dave, &erin, "ACME", 1, "51.00").await;
    let next_one = until(&mut ws, "ACME at 51", |m| {
        position(m, "ACME").is_some_and(|a| a["price"] == "51.00")
    })
    .await;
    assert_eq!(
        next_one["seq"].as_u64().unwrap(),
        seq + 1,
        "nothing came for BETA's trade"
    );

    // Another user's id, or no credentials: refused before the upgrade, in JSON.
    let bob_token = p.token("bob").await;
    for (req, status) in [
        (request(&url, &bob_token), StatusCode::NOT_FOUND),
        (
            url.as_str().into_client_request().unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (request(&url, "not-a-token"), StatusCode::UNAUTHORIZED),
    ] {
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), status);
                let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
                assert!(
                    body["code"].is_number() && body["message"].is_string(),
                    "{body}"
                );
            }
            other => panic!("expected {status}, got {other:?}"),
        }
    }
    // A browser's way: the token as a subprotocol, answered with `bourse`; a bad one
    // is a 401 as in a header.
    let browser = |token: &str| {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            format!("bourse, bearer.{token}").parse().unwrap(),
        );
        req
    };
    let (mut bws, resp) = tokio_tungstenite::connect_async(browser(&token))
        .await
        .unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "bourse");
    let first = next(&mut bws).await;
    assert_eq!(
        (&first["type"], &first["user"]),
        (&json!("snapshot"), &json!(alice_id))
    );
    bws.close(None).await.unwrap();
    match tokio_tungstenite::connect_async(browser("not-a-token")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED)
        }
        other => panic!("expected 401, got {other:?}"),
    }
    // A plain GET (no upgrade) is a 400, not a hang.
    let r = Client::new(&p.portfolio_base)
        .with_token(&token)
        .get(&format!("/portfolio?userID={alice_id}"))
        .await
        .unwrap();
    r.assert_error(StatusCode::BAD_REQUEST);
    let r = Client::new(&p.portfolio_base)
        .with_token(&token)
        .get("/portfolio?userID=seven")
        .await
        .unwrap();
    r.assert_error(StatusCode::BAD_REQUEST);

    ws.close(None).await.unwrap();
    let start = Instant::now();
    while p.hub.stats() != Stats::default() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            p.hub.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.stop().await;
}

/// An interest that follows no feed: these tests move prices through the hub.
#[derive(Default)]
struct Nothing;

impl Interest for Nothing {
    fn watch(&self, _: &str) {}
    fn unwatch(&self, _: &str) {}
}

/// A portfolio app on the platform's database and auth, with its own hub and pacing.
async fn own_app(p: &Platform, stream: StreamConfig) -> (Arc<Hub>, String) {
    let hub = Hub::new(Arc::new(Nothing));
    let base = serve(bourse_portfolio::app(
        PortfolioState {
            holdings: p.stores.holdings.clone(),
            auth: p.auth.clone(),
            hub: hub.clone(),
            stream,
        },
        None,
    ))
    .await;
    (hub, base.replacen("http://", "ws://", 1))
}

/// Waits until settlement shows `user` holding something.
async fn holdings_settled(p: &Platform, user: u64) {
    let start = Instant::now();
    while p
        .stores
        .holdings
        .holdings(user, None)
        .await
        .unwrap()
        .positions
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "deposits never settled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn settle_to(hub: &Hub, want: Stats) {
    let start = Instant::now();
    while hub.stats() != want {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?} != {want:?}",
            hub.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_sockets_come_and_go_and_leave_nothing_behind() {
    let p = Platform::start().await;
    let mut users = Vec::new();
    for name in ["user1", "user2", "user3", "user4"] {
        let (id, _) = p.user(name).await;
        p.fund(id, "ACME", "5").await;
        p.fund(id, "USD", "100").await;
        users.push((id, p.token(name).await));
    }
    let last = users.last().unwrap().0;
    holdings_settled(&p, last).await;
    let (hub, base) = own_app(&p, StreamConfig::default()).await;

    // Rounds of 250 sockets open at once, half closed properly and half dropped without
    // a close frame; the first round warms the allocator's and the runtime's caches.
    let round = |hub: Arc<Hub>| {
        let (base, users) = (base.clone(), users.clone());
        async move {
            let mut sockets = Vec::new();
            for i in 0..250 {
                let (id, token) = &users[i % users.len()];
                let mut ws = open(&format!("{base}/portfolio?userID={id}"), token).await;
                let first = next(&mut ws).await;
                assert_eq!(first["type"], "snapshot");
                sockets.push(ws);
            }
            let s = hub.stats();
            assert_eq!((s.sockets, s.users, s.symbols), (250, 4, 1), "{s:?}");
            hub.on_trade("ACME", 4_200, 1);
            for (i, mut ws) in sockets.into_iter().enumerate() {
                if i % 2 == 0 {
                    ws.close(None).await.unwrap();
                } else {
                    drop(ws); // abrupt: TCP goes, no close frame
                }
            }
            settle_to(&hub, Stats::default()).await;
        }
    };
    round(hub.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..8 {
        round(hub.clone()).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let grown = LIVE.load(Ordering::Relaxed) - before;
    // 2,000 sockets later: within 1 MiB of where it was (a leak of even 1 KiB a socket
    // would be 2 MiB).
    assert!(
        grown < 1 << 20,
        "live heap grew {grown} bytes over 2,000 sockets"
    );
    p.stop().await;
}

async fn a_client_that_does_not_read_is_closed_and_holds_no_one_up(store: Store) {
    let p = Platform::start_on(store).await;
    let (id, _) = p.user("slow").await;
    p.fund(id, "ACME", "5").await;
    holdings_settled(&p, id).await;
    let token = p.token("slow").await;
    let stream = StreamConfig {
        interval: Duration::ZERO,
        send_timeout: Duration::from_millis(300),
        heartbeat: Duration::from_secs(30),
    };
    let (hub, base) = own_app(&p, stream).await;
    let url = format!("{base}/portfolio?userID={id}");

    // The slow client: a tiny receive buffer, and it never reads.
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(request(&url, &token), tcp)
        .await
        .unwrap();
    // The fast one reads everything, counting.
    let mut fast = open(&url, &token).await;
    let got = Arc::new(AtomicI64::new(0));
    let (counter, done) = (got.clone(), Arc::new(AtomicBool::new(false)));
    let reader_done = done.clone();
    let reader = tokio::spawn(async move {
        while !reader_done.load(Ordering::Relaxed) {
            if let Ok(Some(Ok(Message::Text(_)))) =
                tokio::time::timeout(Duration::from_millis(100), fast.next()).await
            {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        fast
    });
    settle_to(
        &hub,
        Stats {
            users: 1,
            sockets: 2,
            symbols: 1,
            prices: 0,
        },
    )
    .await;
    // Prices move as fast as they can until the slow socket is let go.
    let start = Instant::now();
    let mut price = 1_000;
    while hub.stats().sockets == 2 {
        price += 1;
        hub.on_trade("ACME", price, price as u64);
        tokio::task::yield_now().await;
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the slow client was never dropped"
        );
    }
    let at_drop = got.load(Ordering::Relaxed);
    // The fast one kept getting messages, and still does.
    for _ in 0..50 {
        price += 1;
        hub.on_trade("ACME", price, price as u64);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        at_drop > 0,
        "the fast client got nothing while the slow one stalled"
    );
    assert!(
        got.load(Ordering::Relaxed) > at_drop,
        "the fast client stopped"
    );
    done.store(true, Ordering::Relaxed);
    let mut fast = reader.await.unwrap();

    // Reading at last, the slow client finds its backlog, then the close code.
    let mut code = None;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(5), slow.next()).await {
        match m {
            Ok(Message::Close(Some(f))) => {
                code = Some(u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(bourse_portfolio::socket::SLOW_CONSUMER));
    fast.close(None).await.unwrap();
    settle_to(&hub, Stats::default()).await;
    p.stop().await;
}

bourse_testkit::on_both_stores!(
    the_portfolio_streams_its_holdings_and_follows_what_the_user_buys_and_sells,
    a_client_that_does_not_read_is_closed_and_holds_no_one_up,
);
