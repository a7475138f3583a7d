//! The end-to-end scenario, through nginx, on any platform (distributed or all in one
//! process): users register, make keys and are funded by an admin; one rests a limit
//! sell over REST, a market maker quotes over the binary gateway, the other buys at
//! market; both hear the fill on `trade_updates`, their portfolio sockets show the new
//! holdings and cash, the market maker gets its execution report; a stop order is held
//! and fired by the auto service, and the notification service puts its trigger and
//! fill in the owner's inbox. The caller checks the ledger in its own store
//! afterwards.

use std::time::{Duration, Instant};

use bourse_core::{FixedStr, OrderType, Price, Qty, Side, TimeInForce};
use bourse_gateway::protocol::{
    ClientMsg, EnterOrder, Liquidity, ServerMsg, decode_server, encode_client,
};
use bourse_shell::client::{Client, Reply};
use bourse_testkit::ws::{Ws, next_json};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A market maker on the binary gateway.
pub(crate) struct Maker {
    socket: zmq::Socket,
    _ctx: zmq::Context,
}

impl Maker {
    pub(crate) fn login(endpoint: &str, key_id: &str, secret: &str) -> Maker {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::DEALER).unwrap();
        socket.set_linger(0).unwrap();
        socket.connect(endpoint).unwrap();
        let m = Maker { socket, _ctx: ctx };
        let mut raw = [0u8; 32];
        raw.copy_from_slice(secret.as_bytes());
        let t0 = Instant::now();
        // A key made over HTTP reaches the gateway within a second.
        loop {
            m.send(&ClientMsg::Login {
                key_id: FixedStr::new(key_id).unwrap(),
                secret: raw,
            });
            match m.recv(2_000) {
                Some(ServerMsg::LoginAccepted { .. }) => return m,
                Some(ServerMsg::LoginRejected { .. }) if t0.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                other => panic!("market maker login: {other:?}"),
            }
        }
    }

    pub(crate) fn send(&self, m: &ClientMsg) {
        let mut b = Vec::new();
        encode_client(m, &mut b);
        self.socket.send(&b[..], 0).unwrap();
    }

    pub(crate) fn recv(&self, ms: i64) -> Option<ServerMsg> {
        if self.socket.poll(zmq::POLLIN, ms).unwrap() == 0 {
            return None;
        }
        decode_server(&self.socket.recv_bytes(0).unwrap()).ok()
    }

    /// Enters a GTC limit order and waits for its acknowledgement.
    pub(crate) fn quote(&self, token: &str, side: Side, cents: i64, qty: i64) {
        self.send(&ClientMsg::Enter(EnterOrder {
            token: FixedStr::new(token).unwrap(),
            symbol: FixedStr::new("ACME").unwrap(),
            side,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            post_only: true,
            price: Price(cents),
            qty: Qty(qty),
        }));
        match self.recv(5_000) {
            Some(ServerMsg::Accepted { order, .. }) => assert_eq!(order.token.as_str(), token),
            other => panic!("quote {token}: {other:?}"),
        }
    }
}

/// A registered user: id, an access token, an API key pair, and a REST client with the
/// key's headers.
pub(crate) struct User {
    pub(crate) id: u64,
    pub(crate) token: String,
    pub(crate) key_id: String,
    pub(crate) secret: String,
    pub(crate) rest: Client,
}

pub(crate) async fn register(proxy: &Client, name: &str) -> User {
    let creds = json!({"username": name, "password": "pass-word-1"});
    let r = proxy.post("/v1/users", &creds).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_u64().unwrap();
    let r = proxy.post("/v1/auth/login", &creds).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.json["access_token"].as_str().unwrap().to_string();
    let r = proxy
        .clone()
        .with_token(&token)
        .post("/v1/keys", &json!({"label": "e2e"}))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let key_id = r.json["key_id"].as_str().unwrap().to_string();
    let secret = r.json["secret"].as_str().unwrap().to_string();
    let rest = proxy.clone().with_key(&key_id, &secret);
    User {
        id,
        token,
        key_id,
        secret,
        rest,
    }
}

pub(crate) async fn fund(admin: &Client, user: u64, asset: &str, amount: &str) {
    let r = admin
        .post(
            &format!("/v1/admin/users/{user}/deposit"),
            &json!({"asset": asset, "amount": amount}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
}

pub(crate) async fn say(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// A `trade_updates` socket through nginx, authenticated and listening.
pub(crate) async fn trade_updates(ws_base: &str, user: &User) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{ws_base}/stream"))
        .await
        .unwrap();
    say(
        &mut ws,
        json!({"action": "authenticate", "data": {"key_id": user.key_id, "secret_key": user.secret}}),
    )
    .await;
    let r: Value = next_json(&mut ws).await;
    assert_eq!(r["data"]["status"], "authorized", "{r}");
    say(
        &mut ws,
        json!({"action": "listen", "data": {"streams": ["trade_updates"]}}),
    )
    .await;
    let r: Value = next_json(&mut ws).await;
    assert_eq!(r["stream"], "listening", "{r}");
    ws
}

/// A portfolio socket through nginx, opened with the user's access token.
pub(crate) async fn portfolio(ws_base: &str, user: &User) -> Ws {
    let url = format!("{ws_base}/portfolio?userID={}", user.id);
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", user.token).parse().unwrap(),
    );
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// Reads `ws` until a message satisfies `done` (within 20 s).
pub(crate) async fn until(ws: &mut Ws, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let m: Value = next_json(ws).await;
        if done(&m) {
            return m;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "never {what}: {m}");
    }
}

/// Places an order, retrying (with the same `client_order_id`, so never twice) while
/// the answer is the proxy's or the engine's "unavailable"; returns the final answer.
pub(crate) async fn place(rest: &Client, order: &Value) -> Reply {
    let t0 = Instant::now();
    loop {
        let r = rest.post("/v2/orders", order).await.unwrap();
        if r.status != 502 && r.status != 503 && r.status != 504 {
            return r;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "order never placed: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Places `order` until the exchange acknowledges it, under `client_id.N` for attempt
/// N: retried with the same id while unavailable; an answer whose outcome is unknown
/// (`pending_new`: the engine restarted under it) is waited out until settlement or
/// the reconciler decides, and placed again under a new id if the engine never
/// received it. Returns the order as acknowledged.
pub(crate) async fn place_acknowledged(rest: &Client, order: &Value, client_id: &str) -> Value {
    for attempt in 0..5 {
        let mut body = order.clone();
        body["client_order_id"] = json!(format!("{client_id}.{attempt}"));
        let r = place(rest, &body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mut o = r.json;
        let t0 = Instant::now();
        while o["status"] == "pending_new" {
            assert!(t0.elapsed() < Duration::from_secs(60), "never decided: {o}");
            tokio::time::sleep(Duration::from_millis(250)).await;
            let path = format!("/v2/orders/{}", o["id"].as_str().unwrap());
            o = rest.get(&path).await.unwrap().json;
        }
        if o["status"] != "rejected" {
            return o;
        }
        eprintln!("{client_id}.{attempt} never reached the engine: placed again");
    }
    panic!("{client_id}: never acknowledged")
}

/// Who took part in [`trade`].
pub(crate) struct Traded {
    pub(crate) admin: Client,
    pub(crate) seller: User,
    pub(crate) buyer: User,
    pub(crate) maker: User,
}

/// The scenario through nginx at `proxy` (the platform's admin is `root`), with the
/// binary gateway at `gateway`. Lists ACME if it is not listed yet.
pub(crate) async fn trade(proxy: &Client, gateway: &str) -> Traded {
    let ws_base = proxy.base().replacen("http://", "ws://", 1);
    // Users, keys and funds, all through nginx.
    let r = proxy
        .post(
            "/v1/auth/login",
            &json!({"username": "root", "password": "root-password"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let admin = proxy
        .clone()
        .with_token(r.json["access_token"].as_str().unwrap());
    let r = admin
        .post(
            "/v1/admin/assets",
            &json!({"symbol": "ACME", "name": "Acme Corp"}),
        )
        .await
        .unwrap();
    assert!(matches!(r.status.as_u16(), 201 | 409), "{}", r.text);
    let seller = register(proxy, "seller").await;
    let buyer = register(proxy, "buyer").await;
    let maker = register(proxy, "maker").await;
    fund(&admin, seller.id, "ACME", "100").await;
    fund(&admin, buyer.id, "USD", "10000.00").await;
    fund(&admin, maker.id, "ACME", "1000").await;
    fund(&admin, maker.id, "USD", "100000.00").await;

    // Through nginx: the request id is passed through, unknown routes and oversized
    // bodies get the platform's JSON errors, JSON is compressed.
    let r = seller
        .rest
        .clone()
        .with_header("x-request-id", "e2e-request-1")
        .get("/v2/clock")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["x-request-id"], "e2e-request-1");
    let r = seller.rest.get("/v2/clock").await.unwrap();
    assert!(
        r.headers.get("x-request-id").is_some(),
        "nginx makes a request id"
    );
    let r = proxy.get("/nowhere").await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json["code"].as_u64()),
        (404, Some(40410000))
    );
    let big = json!({"username": "x".repeat(100_000), "password": "p"});
    let r = proxy.post("/v1/users", &big).await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.json["code"].as_u64()),
        (413, Some(41310000)),
        "{}",
        r.text
    );
    let r = proxy
        .clone()
        .with_header("accept-encoding", "gzip")
        .get("/openapi/trader.json")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-encoding"], "gzip");

    let mut seller_updates = trade_updates(&ws_base, &seller).await;
    let mut buyer_updates = trade_updates(&ws_base, &buyer).await;
    let mut seller_folio = portfolio(&ws_base, &seller).await;
    let mut buyer_folio = portfolio(&ws_base, &buyer).await;
    until(&mut buyer_folio, "the funded cash", |m| {
        m["cash"] == "10000.00"
    })
    .await;
    until(&mut seller_folio, "the funded shares", |m| {
        m["positions"][0]["qty"] == "100"
    })
    .await;

    // The seller rests 10 @ 100.00 over REST; the maker quotes 99.00 / 101.00 over
    // the binary gateway; the buyer takes 15 at market: 10 @ 100.00 and 5 @ 101.00.
    let r = place(
        &seller.rest,
        &json!({"symbol": "ACME", "qty": "10", "side": "sell", "type": "limit",
                "time_in_force": "gtc", "limit_price": "100.00", "client_order_id": "s-1"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sell_id = r.json["id"].as_str().unwrap().to_string();
    let mm = Maker::login(gateway, &maker.key_id, &maker.secret);
    mm.quote("bid-1", Side::Buy, 9_900, 10);
    mm.quote("ask-1", Side::Sell, 10_100, 10);
    let r = place(
        &buyer.rest,
        &json!({"symbol": "ACME", "qty": "15", "side": "buy", "type": "market",
                "time_in_force": "day", "client_order_id": "b-1"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "filled", "{}", r.text);
    assert_eq!(r.json["filled_qty"], "15");
    let buy_id = r.json["id"].as_str().unwrap().to_string();

    match mm.recv(5_000) {
        Some(ServerMsg::Executed {
            token,
            price,
            qty,
            leaves,
            liquidity,
            ..
        }) => assert_eq!(
            (token.as_str(), price, qty, leaves, liquidity),
            ("ask-1", Price(10_100), Qty(5), Qty(5), Liquidity::Added)
        ),
        other => panic!("the maker's execution report: {other:?}"),
    }

    let fill = until(&mut seller_updates, "the seller's fill", |m| {
        m["data"]["event"] == "fill"
    })
    .await;
    assert_eq!(fill["data"]["order"]["id"], sell_id.as_str());
    assert_eq!(
        (fill["data"]["price"].as_str(), fill["data"]["qty"].as_str()),
        (Some("100.00"), Some("10"))
    );
    let fill = until(&mut buyer_updates, "the buyer's fill", |m| {
        m["data"]["event"] == "fill"
    })
    .await;
    assert_eq!(fill["data"]["order"]["id"], buy_id.as_str());
    assert_eq!(fill["data"]["order"]["filled_qty"], "15");
    assert_eq!(fill["data"]["position_qty"], "15");

    let m = until(&mut buyer_folio, "the buyer's new holdings", |m| {
        m["positions"][0]["qty"] == "15"
    })
    .await;
    assert_eq!(m["cash"], "8495.00", "10000.00 - 10 × 100.00 - 5 × 101.00");
    assert_eq!(m["positions"][0]["price"], "101.00", "the last trade");
    let m = until(&mut seller_folio, "the seller's new holdings", |m| {
        m["positions"][0]["qty"] == "90"
    })
    .await;
    assert_eq!(m["cash"], "1000.00");

    // A stop order, held by the auto service: the buyer's sell stop at 99.50 fires on
    // a trade at or below it — the seller selling into the maker's 99.00 bid (again,
    // should the stop or the alert below not be armed yet for the first) — as a market
    // sell of 5.
    let r = place(
        &buyer.rest,
        &json!({"symbol": "ACME", "qty": "5", "side": "sell", "type": "stop",
                "time_in_force": "gtc", "stop_price": "99.50", "client_order_id": "b-stop"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "held", "{}", r.text);
    let stop_id = r.json["id"].as_str().unwrap().to_string();
    // And a price alert at the same level, at the auto service.
    let r = buyer
        .rest
        .post(
            "/v1/alerts",
            &json!({"symbol": "ACME", "condition": "at_or_below", "price": "99.50"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let alert_id = r.json["id"].as_str().unwrap().to_string();
    mm.quote("bid-2", Side::Buy, 9_800, 20);
    let t0 = Instant::now();
    for n in 0.. {
        let r = place(
            &seller.rest,
            &json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "market",
                    "time_in_force": "day", "client_order_id": format!("s-into-bid-{n}")}),
        )
        .await;
        assert_eq!(r.json["status"], "filled", "{}", r.text);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let o = buyer
            .rest
            .get(&format!("/v2/orders/{stop_id}"))
            .await
            .unwrap();
        let a = buyer
            .rest
            .get(&format!("/v1/alerts/{alert_id}"))
            .await
            .unwrap();
        if o.json["status"] != "held" && a.json["status"] == "triggered" {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the stop or the alert never fired: {} {}",
            o.text,
            a.text
        );
    }
    let fill = until(&mut buyer_updates, "the stop's fill", |m| {
        m["data"]["event"] == "fill" && m["data"]["order"]["id"] == stop_id.as_str()
    })
    .await;
    assert_eq!(fill["data"]["order"]["type"], "stop");
    assert_eq!(fill["data"]["order"]["filled_qty"], "5");
    assert_eq!(
        fill["data"]["position_qty"], "10",
        "15 bought, 5 sold by the stop"
    );

    // The notification service told the buyer: the trigger and the fill of the stop,
    // in the inbox, unread.
    let t0 = Instant::now();
    let inbox = loop {
        let r = buyer.rest.get("/v1/notifications").await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        let mine: Vec<Value> = r.json["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["order_id"] == stop_id.as_str())
            .cloned()
            .collect();
        let has = |k: &str| mine.iter().any(|n| n["kind"] == k);
        if has("fill") && has("triggered") {
            break mine;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the stop's notifications never came: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Newest first: the fill, then any partial fills (the stop may sweep two bids),
    // then the trigger.
    let kinds: Vec<&str> = inbox.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"fill"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"triggered"), "{kinds:?}");
    assert!(
        kinds[1..kinds.len() - 1]
            .iter()
            .all(|k| *k == "partial_fill"),
        "{kinds:?}"
    );
    let title = inbox[0]["title"].as_str().unwrap();
    assert!(title.starts_with("Filled: sell 5 ACME, "), "{title}");
    // The alert fired on the same trade, once, and the buyer was told.
    let t0 = Instant::now();
    loop {
        let r = buyer.rest.get("/v1/notifications").await.unwrap();
        let told = r.json["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "price_alert" && n["alert_id"] == alert_id.as_str())
            .count();
        if told == 1 {
            break;
        }
        assert!(told == 0, "told twice: {}", r.text);
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the alert's notification never came: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alert = buyer
        .rest
        .get(&format!("/v1/alerts/{alert_id}"))
        .await
        .unwrap();
    assert_eq!(alert.json["status"], "triggered", "{}", alert.text);
    let unread = buyer
        .rest
        .get("/v1/notifications/unread_count")
        .await
        .unwrap();
    assert!(
        unread.json["unread"].as_u64().unwrap() >= 3,
        "{}",
        unread.text
    );

    Traded {
        admin,
        seller,
        buyer,
        maker,
    }
}
