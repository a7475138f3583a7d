//! Alpaca's market data stream (`GET /v2/{feed}`) on the in-process platform: the
//! server speaks first, in-band key authentication, subscriptions per channel and
//! symbol, trades, quotes and bars from the feed as orders trade; and the official
//! alpaca-py `StockDataStream` (MessagePack) receiving all three.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bourse_shell::client::Client;
use bourse_testkit::ws::{Ws, next_json};
use bourse_testkit::{Platform, Store};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The next array of messages.
async fn next(ws: &mut Ws) -> Vec<Value> {
    next_json(ws).await
}

async fn say(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Bob sells and Alice buys 1 ACME at `price` until `stop`, one trade every 300 ms.
fn keep_trading(alice: Client, bob: Client, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut cents = 10_000;
        while !stop.load(Ordering::Relaxed) {
            cents += 1;
            let price = format!("{}.{:02}", cents / 100, cents % 100);
            let sell = json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
                              "time_in_force": "gtc", "limit_price": price});
            let r = bob.post("/v2/orders", &sell).await.unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let buy = json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"});
            let r = alice.post("/v2/orders", &buy).await.unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

async fn platform_with_traders(store: Store) -> (Platform, Client, Client) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    p.fund(alice_id, "USD", "1000000").await;
    p.fund(bob_id, "ACME", "100000").await;
    (p, alice, bob)
}

async fn trades_quotes_and_bars_stream_to_subscribers_in_alpacas_shapes(store: Store) {
    let (p, alice, bob) = platform_with_traders(store).await;
    let (key, secret) = p.key("alice", "data-stream").await;
    let url = format!("{}/v2/iex", p.stock_base.replacen("http://", "ws://", 1));

    // Not a feed: 404, as JSON, no socket.
    match tokio_tungstenite::connect_async(url.replace("/v2/iex", "/v2/nope")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), StatusCode::NOT_FOUND)
        }
        other => panic!("expected a 404, got {other:?}"),
    }

    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    assert_eq!(
        next(&mut ws).await,
        vec![json!({"T": "success", "msg": "connected"})]
    );
    say(&mut ws, json!({"action": "subscribe", "trades": ["ACME"]})).await;
    assert_eq!(
        next(&mut ws).await[0]["code"],
        401,
        "subscribing needs authentication"
    );
    say(
        &mut ws,
        json!({"action": "auth", "key": key, "secret": secret}),
    )
    .await;
    assert_eq!(
        next(&mut ws).await,
        vec![json!({"T": "success", "msg": "authenticated"})]
    );
    // A browser's way: a login's access token in the auth message.
    {
        let token = p.token("alice").await;
        let connect = async |url: &str| tokio_tungstenite::connect_async(url).await.unwrap().0;
        let mut browser = connect(&url).await;
        assert_eq!(next(&mut browser).await[0]["msg"], "connected");
        say(&mut browser, json!({"action": "auth", "token": token})).await;
        assert_eq!(next(&mut browser).await[0]["msg"], "authenticated");
        let mut forged = connect(&url).await;
        next(&mut forged).await;
        say(
            &mut forged,
            json!({"action": "auth", "token": "not-a-token"}),
        )
        .await;
        assert_eq!(next(&mut forged).await[0]["code"], 402);
    }
    say(
        &mut ws,
        json!({"action": "subscribe", "trades": ["ACME"], "quotes": ["acme"], "bars": ["*"]}),
    )
    .await;
    let sub = &next(&mut ws).await[0];
    assert_eq!(sub["T"], "subscription");
    assert_eq!(
        (
            sub["trades"].clone(),
            sub["quotes"].clone(),
            sub["bars"].clone()
        ),
        (json!(["ACME"]), json!(["ACME"]), json!(["*"]))
    );

    let stop = Arc::new(AtomicBool::new(false));
    let trading = keep_trading(alice, bob, stop.clone());
    let (mut trade, mut quote, mut bar) = (None, None, None);
    let start = Instant::now();
    while trade.is_none() || quote.is_none() || bar.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "trade {trade:?} quote {quote:?} bar {bar:?}"
        );
        for m in next(&mut ws).await {
            assert_eq!(m["S"], "ACME", "{m}");
            match m["T"].as_str() {
                Some("t") => trade = Some(m),
                Some("q") => quote = Some(m),
                Some("b") => bar = Some(m),
                _ => panic!("unexpected {m}"),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    trading.await.unwrap();
    let t = trade.unwrap();
    assert!(t["p"].as_f64().unwrap() > 100.0 && t["s"] == 1, "{t}");
    assert!(
        t["i"].as_u64().is_some() && t["t"].as_str().unwrap().ends_with('Z'),
        "{t}"
    );
    let q = quote.unwrap();
    assert!(
        q["bp"].is_number() && q["ap"].is_number() && q["t"].is_string(),
        "{q}"
    );
    let b = bar.unwrap();
    for f in ["o", "h", "l", "c", "vw"] {
        assert!(b[f].as_f64().unwrap() > 100.0, "{f} in {b}");
    }
    assert!(
        b["v"].as_i64().unwrap() >= 1 && b["n"].as_u64().unwrap() >= 1,
        "{b}"
    );

    // Unsubscribed from trades: the subscription says so.
    say(
        &mut ws,
        json!({"action": "unsubscribe", "trades": ["ACME"], "quotes": ["ACME"], "bars": ["*"]}),
    )
    .await;
    loop {
        let msgs = next(&mut ws).await;
        if msgs[0]["T"] == "subscription" {
            assert_eq!(msgs[0]["trades"], json!([]));
            break;
        }
    }
    drop(ws);
    p.stop().await;
}

async fn the_official_alpaca_sdk_streams_trades_quotes_and_bars(store: Store) {
    let (p, alice, bob) = platform_with_traders(store).await;
    let (key, secret) = p.key("alice", "sdk-data-stream").await;
    let stop = Arc::new(AtomicBool::new(false));
    let trading = keep_trading(alice, bob, stop.clone());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/alpaca_data_stream.py"
    );
    bourse_testkit::run_sdk_script(script, &p.stock_base, &key, &secret).await;
    stop.store(true, Ordering::Relaxed);
    trading.await.unwrap();
    p.stop().await;
}

bourse_testkit::on_both_stores!(
    trades_quotes_and_bars_stream_to_subscribers_in_alpacas_shapes,
    the_official_alpaca_sdk_streams_trades_quotes_and_bars,
);
