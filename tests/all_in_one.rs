//! `bourse` with no subcommand: the whole platform in one process on the embedded
//! SQLite store, nothing else running. The end-to-end scenario of `tests/e2e_nginx.rs`
//! runs against it through a real nginx with the repository's configuration (both
//! upstreams of each service pointing at the one process); the ledger in the SQLite
//! file balances; the process is killed with SIGKILL and restarted on the same data
//! directory, and every acknowledged order, the users, their keys and their holdings
//! are all still there. And `--demo`: the start-up's demo key and curl work, and its
//! market makers trade.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bourse_shell::client::Client;
use bourse_shell::lite::Lite;
use common::all_in_one::AllInOne;
use common::free_port;
use common::scenario::{Traded, place_acknowledged, trade};
use serde_json::json;

/// Every ledger entry balances, per (event, asset); returns how many legs there are.
async fn ledger_balances(data: &Path) -> usize {
    let lite = Lite::open(data.join("bourse.db")).unwrap();
    let (legs, unbalanced) = lite
        .read(|c| {
            let legs: i64 = c.query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))?;
            let unbalanced: i64 = c.query_row(
                "SELECT count(*) FROM (SELECT seq, asset FROM ledger GROUP BY seq, asset
                 HAVING sum(amount) <> 0)",
                [],
                |r| r.get(0),
            )?;
            Ok((legs, unbalanced))
        })
        .await
        .unwrap();
    assert_eq!(unbalanced, 0, "every ledger entry balances");
    legs as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_platform_in_one_process_trades_behind_nginx_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let gateway = format!("tcp://127.0.0.1:{}", free_port());
    let feed = format!("tcp://127.0.0.1:{}", free_port());
    let platform = AllInOne::start(&data, &gateway, &feed, &[]);
    assert!(
        platform
            .lines
            .iter()
            .any(|l| l.contains("on the embedded store")),
        "SQLite by default: {:#?}",
        platform.lines
    );

    let port = free_port();
    let conf = common::nginx::render(port, |role, _| platform.addr(role));
    let (nginx, base) = common::nginx::start(dir.path(), port, conf).await;
    let proxy = Client::new(&base);
    let Traded { seller, buyer, .. } = trade(&proxy, &gateway).await;
    let legs = ledger_balances(&data).await;
    assert!(legs >= 8, "deposits and trades made legs: {legs}");

    // Acknowledged orders, then SIGKILL.
    let mut acked = Vec::new();
    for n in 0..10 {
        let o = place_acknowledged(
            &seller.rest,
            &json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
                    "time_in_force": "gtc", "limit_price": format!("{}.00", 300 + n)}),
            &format!("k-{n}"),
        )
        .await;
        acked.push(o["id"].as_str().unwrap().to_string());
    }
    let positions_before = buyer.rest.get("/v2/positions").await.unwrap().json;
    drop(nginx);
    drop(platform);

    // Restarted on the same directory (new ports: nginx follows). New gateway and feed
    // ports too: the old ones were free for the kernel to hand out as any connection's
    // own port while the first run went on (once, a parallel test's had taken one).
    let gateway = format!("tcp://127.0.0.1:{}", free_port());
    let feed = format!("tcp://127.0.0.1:{}", free_port());
    let platform = AllInOne::start(&data, &gateway, &feed, &[]);
    let port = free_port();
    let conf = common::nginx::render(port, |role, _| platform.addr(role));
    let (_nginx, base) = common::nginx::start(dir.path(), port, conf).await;
    let proxy = Client::new(&base);
    let seller_rest = proxy.clone().with_key(&seller.key_id, &seller.secret);
    let buyer_rest = proxy.clone().with_key(&buyer.key_id, &buyer.secret);
    let t0 = Instant::now();
    for id in &acked {
        loop {
            let r = seller_rest.get(&format!("/v2/orders/{id}")).await.unwrap();
            assert_eq!(r.status, 200, "order {id} after the restart: {}", r.text);
            if r.json["status"] == "new" {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "order {id} never settled: {}",
                r.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let r = buyer_rest.get("/v2/positions").await.unwrap();
    assert_eq!(r.json, positions_before, "holdings survive");
    let r = proxy
        .post(
            "/v1/auth/login",
            &json!({"username": "buyer", "password": "pass-word-1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "the user survives: {}", r.text);
    let o = place_acknowledged(
        &buyer_rest,
        &json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit",
                "time_in_force": "gtc", "limit_price": "300.00"}),
        "after-restart",
    )
    .await;
    assert_eq!(o["status"], "filled", "it trades again: {o}");
    ledger_balances(&data).await;
    drop(platform);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_a_key_that_works_and_its_market_makers_trade() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let gateway = format!("tcp://127.0.0.1:{}", free_port());
    let feed = format!("tcp://127.0.0.1:{}", free_port());
    let platform = AllInOne::start(&data, &gateway, &feed, &["--demo"]);
    let curl = platform
        .lines
        .iter()
        .find(|l| l.trim_start().starts_with("curl "))
        .unwrap_or_else(|| panic!("no curl in {:#?}", platform.lines))
        .clone();
    let key_id = platform.printed("demo API key");
    let secret = curl
        .split("APCA-API-SECRET-KEY: ")
        .nth(1)
        .unwrap()
        .trim_end_matches('\'')
        .to_string();
    // One address for everything: the curl's, and the SDKs' base URL.
    let front = platform.printed("everything");
    assert!(
        curl.contains(&format!("{front}/v2/account")),
        "the curl names the front address: {curl}"
    );
    let rest = Client::new(&front).with_key(&key_id, &secret);
    let r = rest.get("/v2/account").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["cash"], "100000.00");

    // The market makers make a market: trades happen, and the demo user can buy.
    let stock =
        Client::new(format!("http://{}", platform.addr("stock"))).with_key(&key_id, &secret);
    let t0 = Instant::now();
    while stock
        .get("/v2/stocks/ACME/trades/latest")
        .await
        .unwrap()
        .status
        != 200
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "no trade in ACME");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = rest
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "3", "side": "buy", "type": "market",
                    "time_in_force": "day"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "filled", "{}", r.text);
    // The demo's instruments carry their companies' names.
    let r = rest.get("/v2/assets/ACME").await.unwrap();
    assert_eq!(r.json["name"], "Acme Corporation", "{}", r.text);
    let r = rest
        .post(
            "/v2/watchlists",
            &json!({"name": "mine", "symbols": ["ACME"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["assets"][0]["name"], "Acme Corporation",
        "{}",
        r.text
    );
    let r = rest.get("/openapi/stock.json").await.unwrap();
    assert_eq!(r.json["info"]["title"], "Bourse stock service");
    let r = rest.get("/nowhere").await.unwrap();
    assert_eq!(r.status, 404, "{}", r.text);
    // The streams, through the same address.
    let ws_base = front.replacen("http://", "ws://", 1);
    let demo = common::scenario::User {
        id: 0,
        token: String::new(),
        key_id: key_id.clone(),
        secret: secret.clone(),
        rest: rest.clone(),
    };
    let mut updates = common::scenario::trade_updates(&ws_base, &demo).await;
    drop(updates.close(None).await);
    drop(platform);

    // Started again (on new ports, as above), the demo keeps its accounts and key.
    let gateway = format!("tcp://127.0.0.1:{}", free_port());
    let feed = format!("tcp://127.0.0.1:{}", free_port());
    let again = AllInOne::start(&data, &gateway, &feed, &["--demo"]);
    assert_eq!(again.printed("demo API key"), key_id);
    drop(again.proc);
}
