//! The stock service end to end in one process (`bourse-testkit`): listings through the
//! engine, trades from the bus into trades and bars, quotes and books from the feed,
//! the calendar, every error path, idempotent ingestion, and the official alpaca-py
//! `StockHistoricalDataClient` reading it all.

use axum::http::StatusCode;
use bourse_shell::client::Client;
use bourse_stock::ingest::Fact;
use bourse_stock::store::PageQuery;
use bourse_testkit::{Platform, Store, assert_error, eventually};
use serde_json::{Value, json};

/// Everything on every bar of ACME, through the store.
fn everything() -> PageQuery {
    PageQuery {
        symbols: vec!["ACME".into()],
        start: i64::MIN,
        end: i64::MAX,
        after: None,
        desc: false,
        limit: 10_000,
    }
}

async fn bars_table(p: &Platform) -> Vec<String> {
    let mut out = Vec::new();
    for tf in ["1Min", "5Min", "1Hour", "1Day"] {
        for b in p.stores.market.bars(&everything(), tf).await.unwrap() {
            out.push(format!("{b:?}"));
        }
    }
    out
}

async fn listings_trades_bars_quotes_and_books_in_alpacas_shapes(store: Store) {
    let p = Platform::start_on(store).await;
    let (alice_id, alice) = p.user("alice").await;
    let (bob_id, bob) = p.user("bob").await;
    let admin = p.stock.clone().with_token(&p.admin_token().await);
    p.fund(alice_id, "USD", "10000").await;

    // Listing: an admin lists BOLT through the engine; it reads back at once.
    let r = admin
        .post(
            "/v1/admin/assets",
            &json!({"symbol": "BOLT", "price_increment": "0.05", "name": "Bolt Inc."}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["symbol"], "BOLT");
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["tradable"], true);
    assert_eq!(r.json["price_increment"], "0.05");
    let bolt_id = r.json["id"].as_str().unwrap().to_string();
    let r = admin
        .post("/v1/admin/assets", &json!({"symbol": "BOLT"}))
        .await
        .unwrap();
    assert_error(&r, StatusCode::CONFLICT);
    for bad in [
        json!({"symbol": "bolt"}),
        json!({"symbol": "USD"}),
        json!({"symbol": "X", "price_increment": "0.001"}),
        json!({"symbol": "Y", "extra": 1}),
    ] {
        let r = admin.post("/v1/admin/assets", &bad).await.unwrap();
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = p.stock.get("/v2/assets").await.unwrap();
    assert_error(&r, StatusCode::UNAUTHORIZED);

    // Everyone reads; ACME (listed at bootstrap) arrives through the bus.
    let reader = bourse_shell::client::Client::new(&p.stock_base);
    let token = {
        let r = p
            .users
            .post(
                "/v1/auth/login",
                &json!({"username": "alice", "password": "pass-word-1"}),
            )
            .await
            .unwrap();
        r.json["access_token"].as_str().unwrap().to_string()
    };
    let reader = reader.with_token(&token);
    let r = reader
        .post("/v1/admin/assets", &json!({"symbol": "NOPE"}))
        .await
        .unwrap();
    assert_error(&r, StatusCode::FORBIDDEN);
    let assets = eventually(&reader, "/v2/assets", |a| {
        a.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let symbols: Vec<&str> = assets
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["ACME", "BOLT"]);
    let r = reader.get(&format!("/v2/assets/{bolt_id}")).await.unwrap();
    assert_eq!(r.json["symbol"], "BOLT", "by id");
    assert_error(
        &reader.get("/v2/assets/NOPE").await.unwrap(),
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &reader.get("/v2/assets?status=sideways").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    );

    // Trades: bob sells ACME, alice buys twice; then a bid and an ask rest.
    p.fund(bob_id, "ACME", "100").await;
    let order = |c: &Client, body: Value| {
        let c = c.clone();
        async move {
            let r = c.post("/v2/orders", &body).await.unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
    };
    let limit = |side: &str, qty: &str, price: &str| {
        json!({"symbol": "ACME", "qty": qty, "side": side, "type": "limit",
               "time_in_force": "gtc", "limit_price": price})
    };
    order(&bob, limit("sell", "10", "100")).await;
    order(&alice, json!({"symbol": "ACME", "qty": "4", "side": "buy", "type": "market", "time_in_force": "day"})).await;
    order(&alice, limit("buy", "3", "100")).await;
    order(&bob, limit("sell", "5", "101.50")).await;
    order(&alice, limit("buy", "2", "99")).await;

    let r = eventually(&reader, "/v2/stocks/ACME/trades/latest", |t| {
        t["trade"]["s"] == 3
    })
    .await;
    assert_eq!(r["symbol"], "ACME");
    assert_eq!(r["trade"]["p"], 100.0);
    assert_eq!(r["trade"]["x"], "BOURSE");
    let t = r["trade"]["t"].as_str().unwrap();
    assert!(t.ends_with('Z') && t.len() > 20, "RFC 3339: {t}");
    let r = reader
        .get("/v2/stocks/trades/latest?symbols=ACME,BOLT,NOPE")
        .await
        .unwrap();
    assert_eq!(r.json["trades"].as_object().unwrap().len(), 1, "{}", r.text);
    assert_error(
        &reader.get("/v2/stocks/BOLT/trades/latest").await.unwrap(),
        StatusCode::NOT_FOUND,
    );

    // Bars: one minute (unless the minute turned between the trades), one day.
    let r = reader
        .get("/v2/stocks/bars?symbols=ACME&timeframe=1Day")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let day = &r.json["bars"]["ACME"][0];
    assert_eq!(
        (
            day["o"].clone(),
            day["h"].clone(),
            day["l"].clone(),
            day["c"].clone()
        ),
        (json!(100.0), json!(100.0), json!(100.0), json!(100.0))
    );
    assert_eq!(
        (day["v"].clone(), day["n"].clone(), day["vw"].clone()),
        (json!(7), json!(2), json!(100.0))
    );
    assert_eq!(r.json["next_page_token"], Value::Null);
    for tf in ["1Min", "5Min", "1Hour"] {
        let r = reader
            .get(&format!("/v2/stocks/ACME/bars?timeframe={tf}"))
            .await
            .unwrap();
        let volume: i64 = r.json["bars"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["v"].as_i64().unwrap())
            .sum();
        assert_eq!(volume, 7, "{tf}: {}", r.text);
        assert_eq!(r.json["symbol"], "ACME");
    }

    // Trades in a range, paged one at a time.
    let r = reader.get("/v2/stocks/ACME/trades?limit=1").await.unwrap();
    assert_eq!(r.json["trades"][0]["s"], 4, "{}", r.text);
    let token = r.json["next_page_token"].as_str().unwrap().to_string();
    let r = reader
        .get(&format!(
            "/v2/stocks/ACME/trades?limit=1&page_token={token}"
        ))
        .await
        .unwrap();
    assert_eq!(r.json["trades"][0]["s"], 3, "{}", r.text);
    assert_eq!(r.json["next_page_token"], Value::Null);
    let r = reader
        .get("/v2/stocks/ACME/trades?sort=desc&limit=1")
        .await
        .unwrap();
    assert_eq!(r.json["trades"][0]["s"], 3, "newest first");
    let r = reader
        .get("/v2/stocks/ACME/trades?start=2000-01-01&end=2000-01-02")
        .await
        .unwrap();
    assert_eq!(r.json["trades"], json!([]), "a range without trades");

    // Quote and book from the feed: bid 99.00 × 2; asks 100.00 × 3, 101.50 × 5.
    let q = eventually(&reader, "/v2/stocks/quotes/latest?symbols=ACME", |q| {
        q["quotes"]["ACME"]["bs"] == 2
    })
    .await;
    let q = &q["quotes"]["ACME"];
    assert_eq!(
        (q["bp"].clone(), q["ap"].clone(), q["as"].clone()),
        (json!(99.0), json!(100.0), json!(3))
    );
    let r = reader.get("/v2/stocks/ACME/quotes/latest").await.unwrap();
    assert_eq!(r.json["quote"]["ap"], 100.0);
    let r = reader
        .get("/v2/stocks/orderbooks/latest?symbols=ACME")
        .await
        .unwrap();
    let book = &r.json["orderbooks"]["ACME"];
    assert_eq!(book["b"], json!([{"p": 99.0, "s": 2}]));
    assert_eq!(
        book["a"],
        json!([{"p": 100.0, "s": 3}, {"p": 101.5, "s": 5}])
    );

    // Snapshot: the latest trade and quote, the minute and daily bars.
    let r = reader.get("/v2/stocks/ACME/snapshot").await.unwrap();
    assert_eq!(r.json["symbol"], "ACME");
    assert_eq!(r.json["latestTrade"]["s"], 3);
    assert_eq!(r.json["latestQuote"]["bp"], 99.0);
    assert_eq!(r.json["dailyBar"]["v"], 7);
    assert!(r.json["minuteBar"]["v"].as_i64().unwrap() > 0);
    assert_eq!(r.json["prevDailyBar"], Value::Null);
    let r = reader
        .get("/v2/stocks/snapshots?symbols=ACME,BOLT")
        .await
        .unwrap();
    assert_eq!(r.json["BOLT"]["latestTrade"], Value::Null, "{}", r.text);
    assert_eq!(r.json["ACME"]["dailyBar"]["n"], 2);

    // Bad requests: each a 4xx in the shell's shape.
    for (path, status) in [
        ("/v2/stocks/bars?symbols=ACME", StatusCode::BAD_REQUEST),
        (
            "/v2/stocks/bars?symbols=ACME&timeframe=2Min",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/v2/stocks/bars?timeframe=1Min", StatusCode::BAD_REQUEST),
        (
            "/v2/stocks/ACME/bars?timeframe=1Min&limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v2/stocks/ACME/bars?timeframe=1Min&limit=x",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v2/stocks/ACME/bars?timeframe=1Min&page_token=zz",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v2/stocks/ACME/bars?timeframe=1Min&start=yesterday",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v2/stocks/ACME/trades?sort=up",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/v2/stocks/NOPE/bars?timeframe=1Min", StatusCode::NOT_FOUND),
        ("/v2/stocks/NOPE/snapshot", StatusCode::NOT_FOUND),
        ("/v2/stocks/quotes/latest", StatusCode::BAD_REQUEST),
        (
            "/v2/calendar?start=2026-12-10&end=2026-12-01",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/v2/calendar?start=soon", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_error(&reader.get(path).await.unwrap(), status);
    }

    // The clock and the calendar.
    let r = reader.get("/v2/clock").await.unwrap();
    assert!(r.json["is_open"].is_boolean(), "{}", r.text);
    assert!(
        r.json["next_open"].as_str().unwrap().contains("-0"),
        "zone offset: {}",
        r.text
    );
    let r = reader
        .get("/v2/calendar?start=2026-12-21&end=2026-12-31")
        .await
        .unwrap();
    let days: Vec<&str> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(
        days,
        [
            "2026-12-21",
            "2026-12-22",
            "2026-12-23",
            "2026-12-24",
            "2026-12-28",
            "2026-12-29",
            "2026-12-30",
            "2026-12-31"
        ]
    );
    assert_eq!(r.json[3]["close"], "13:00", "Christmas Eve closes early");
    assert_eq!(r.json[3]["settlement_date"], "2026-12-28");

    // Redelivered trades change nothing: apply every stored trade again.
    let before = bars_table(&p).await;
    let facts: Vec<Fact> = p
        .stores
        .market
        .trades(&everything())
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            Fact::Trade(
                bourse_stock::bars::Trade {
                    seq: t.seq,
                    symbol: t.symbol,
                    price: t.price,
                    qty: t.qty,
                    time_ns: t.time_ns,
                },
                "buy".into(),
            )
        })
        .collect();
    assert_eq!(facts.len(), 2);
    assert_eq!(
        p.stores.market.apply(&facts).await.unwrap(),
        0,
        "no new trade"
    );
    assert_eq!(bars_table(&p).await, before);

    // Suspension: inactive, not tradable; reinstated.
    let r = admin
        .send(
            axum::http::Method::PATCH,
            "/v1/admin/assets/ACME",
            Some(&json!({"status": "inactive"})),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.json["status"].clone(), r.json["tradable"].clone()),
        (json!("inactive"), json!(false)),
        "{}",
        r.text
    );
    let r = reader.get("/v2/assets?status=active").await.unwrap();
    assert_eq!(r.json.as_array().unwrap().len(), 1);
    let r = admin
        .send(
            axum::http::Method::PATCH,
            "/v1/admin/assets/ACME",
            Some(&json!({"status": "halted"})),
        )
        .await
        .unwrap();
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin
        .send(
            axum::http::Method::PATCH,
            "/v1/admin/assets/ACME",
            Some(&json!({"status": "active"})),
        )
        .await
        .unwrap();
    assert_eq!(r.json["tradable"], true);

    // The official SDK reads the same data.
    let (key_id, secret) = p.key("alice", "data").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/alpaca_data.py");
    bourse_testkit::run_sdk_script(script, &p.stock_base, &key_id, &secret).await;
    p.stop().await;
}

bourse_testkit::on_both_stores!(listings_trades_bars_quotes_and_books_in_alpacas_shapes);
