//! The whole platform end to end, every role its own `bourse serve …` process, two
//! instances of each stateless service behind a real nginx running the repository's
//! `nginx/nginx.conf`, against the real PostgreSQL and RabbitMQ.
//!
//! Two users register through nginx, make API keys and are funded by an admin; one
//! rests a limit sell over REST, a market maker quotes over the binary gateway, the
//! other buys with a market order. Both hear the fill on `trade_updates`, their portfolio
//! sockets show the new holdings and cash, the market maker gets its execution report,
//! and the settlement ledger balances. Then one instance of each stateless service is
//! killed mid-traffic (requests keep succeeding through the others), and the engine is
//! killed with SIGKILL (every acknowledged order survives, the services resume).
//!
//! nginx must be installed (`scripts/test.sh` installs Debian's package when missing;
//! `BOURSE_NGINX` names the binary).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bourse_shell::client::Client;
use bourse_testkit::ws::next_json;
use common::scenario::{Traded, place, place_acknowledged, portfolio, trade};
use common::{Proc, free_port, start};
use serde_json::{Value, json};

const PG: &str = "host=127.0.0.1 user=postgres dbname=test";
const SERVICE_SECRET: &str = "e2e-service-secret-32-characters";
const JWT: &str = "e2e token secret";
const ADMIN: &str = "root:root-password";

/// One stateless role's instances (processes and their addresses).
struct Instances {
    procs: Vec<Option<Proc>>,
    addrs: Vec<String>,
}

impl Instances {
    /// Kills instance `i` with SIGKILL.
    fn kill(&mut self, i: usize) {
        self.procs[i] = None;
    }
}

/// Every role, each its own process, and nginx in front.
struct Cluster {
    _dir: tempfile::TempDir,
    schema: String,
    rabbit: bourse_bus::rabbit::RabbitConfig,
    engine_args: Vec<String>,
    engine: Option<Proc>,
    _bridge: Proc,
    _order: Proc,
    roles: HashMap<&'static str, Instances>,
    _nginx: common::nginx::Nginx,
    /// nginx's base URL.
    base: String,
    /// The binary gateway.
    gateway: String,
}

impl Cluster {
    async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let tag = common::unique_tag();
        let schema = format!("e2e_{tag}");
        let exchange = format!("test.e2e.{tag}");
        let bus_args: Vec<String> = [
            "--exchange".to_string(),
            exchange.clone(),
            "--queue".into(),
            format!("{exchange}.settlement"),
            "--market-queue".into(),
            format!("{exchange}.market"),
        ]
        .into();
        let rabbit = bourse_bus::rabbit::RabbitConfig {
            exchange: exchange.clone(),
            queues: vec![
                bourse_bus::rabbit::QueueSpec::settlement(&format!("{exchange}.settlement")),
                bourse_bus::rabbit::QueueSpec::market(&format!("{exchange}.market")),
                // Declared by the auto service; listed here to be deleted with the rest.
                bourse_bus::rabbit::QueueSpec::auto(&format!("{exchange}.auto")),
                // Declared by the notification service, likewise.
                bourse_bus::rabbit::QueueSpec::notification(&format!("{exchange}.notification")),
            ],
            ..Default::default()
        };
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            dir.path().join("bootstrap.jsonl"),
            "{\"op\":\"add_instrument\",\"symbol\":\"ACME\"}\n",
        )
        .unwrap();
        let gateway = format!("tcp://127.0.0.1:{}", free_port());
        let feed = format!("tcp://127.0.0.1:{}", free_port());
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let engine_args: Vec<String> = [
            "serve",
            "engine",
            "--data-dir",
            &s(&data),
            "--bind",
            &gateway,
            "--feed",
            &feed,
            // The services' key, from the secret they log in with (no key file).
            "--service-secret",
            SERVICE_SECRET,
            "--keys-db",
            PG,
            "--keys-db-schema",
            &schema,
            "--bootstrap",
            &s(&dir.path().join("bootstrap.jsonl")),
            "--throttle",
            "0",
        ]
        .map(String::from)
        .into();
        let engine = run(&engine_args, "listening on").0;

        let mut bridge = vec!["serve".to_string(), "bridge".into(), "--data-dir".into()];
        bridge.push(s(&data));
        bridge.extend(bus_args.iter().cloned());
        let bridge = run(&bridge, "bourse bridge").0;
        let mut order: Vec<String> = ["serve", "order", "--database-url", PG, "--schema"]
            .map(String::from)
            .into();
        order.push(schema.clone());
        order.extend(bus_args.iter().cloned());
        let order = run(&order, "bourse order: settling").0;

        // The HTTP roles, two instances each; every one shares the database schema, the
        // token secret, the gateway's service key and the bus.
        let shell: Vec<String> = [
            "--database-url",
            PG,
            "--schema",
            &schema,
            "--jwt-secret",
            JWT,
            "--data-dir",
            &s(&data),
        ]
        .map(String::from)
        .into();
        let gateway_args: Vec<String> = ["--gateway", &gateway, "--service-secret", SERVICE_SECRET]
            .map(String::from)
            .into();
        let mut roles = HashMap::new();
        // Two auto instances: one consumes the trade queue, the other stands by; both
        // serve price alerts.
        for role in [
            "user",
            "trader",
            "stock",
            "portfolio",
            "notification",
            "auto",
        ] {
            let mut instances = Instances {
                procs: Vec::new(),
                addrs: Vec::new(),
            };
            for i in 0..2 {
                let mut args: Vec<String> = ["serve", role, "--listen", "127.0.0.1:0"]
                    .map(String::from)
                    .into();
                args.extend(shell.iter().cloned());
                if !matches!(role, "portfolio" | "notification") {
                    args.extend(gateway_args.iter().cloned());
                }
                if role == "notification" {
                    args.extend([
                        "--notification-queue".to_string(),
                        format!("{exchange}.notification"),
                    ]);
                }
                if role == "auto" {
                    args.extend(["--auto-queue".to_string(), format!("{exchange}.auto")]);
                }
                if role != "user" {
                    args.extend(bus_args.iter().cloned());
                }
                if matches!(role, "stock" | "portfolio") {
                    args.extend(["--feed".to_string(), feed.clone()]);
                }
                if role == "user" && i == 0 {
                    args.extend(["--admin".to_string(), ADMIN.to_string()]);
                }
                let (proc, line) = run(&args, &format!("{role} service on"));
                let base = line.rsplit(' ').next().unwrap().to_string();
                wait_ready(&base).await;
                instances
                    .addrs
                    .push(base.trim_start_matches("http://").to_string());
                instances.procs.push(Some(proc));
            }
            roles.insert(role, instances);
        }

        // nginx, with the repository's configuration: only the listen port and the
        // instances' addresses differ.
        let port = free_port();
        let conf = common::nginx::render(port, |role, i| roles[role].addrs[i].clone());
        let (nginx, base) = common::nginx::start(dir.path(), port, conf).await;
        Cluster {
            _dir: dir,
            schema,
            rabbit,
            engine_args,
            engine: Some(engine),
            _bridge: bridge,
            _order: order,
            roles,
            _nginx: nginx,
            base,
            gateway,
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.base)
    }

    async fn cleanup(self) {
        drop(self.roles);
        bourse_bus::rabbit::delete_topology(&self.rabbit)
            .await
            .unwrap();
        let pool = bourse_shell::db::pool(PG, None, 1).await.unwrap();
        pool.get()
            .await
            .unwrap()
            .batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", self.schema))
            .await
            .unwrap();
    }
}

fn run(args: &[String], ready: &str) -> (Proc, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    start(&args, ready)
}

async fn wait_ready(base: &str) {
    let c = Client::new(base);
    let t0 = Instant::now();
    loop {
        if let Ok(r) = c.get("/readyz").await
            && r.status == 200
        {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{base} never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_trades_end_to_end_behind_nginx_and_survives_kills() {
    let mut cluster = Cluster::start().await;
    let proxy = cluster.client();

    let Traded {
        seller,
        buyer,
        maker,
        ..
    } = trade(&proxy, &cluster.gateway).await;

    // The web page through nginx (from the user service), and a browser's way into the
    // portfolio socket: the token as a subprotocol, which nginx passes through.
    let page = proxy.get("/").await.unwrap();
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("/app/app.js"), "{}", page.text);
    let script = proxy.get("/app/app.js").await.unwrap();
    assert_eq!(script.status, 200);
    assert!(script.text.contains("/v1/auth/login"));
    {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let ws_base = proxy.base().replacen("http://", "ws://", 1);
        let mut req = format!("{ws_base}/portfolio?userID={}", buyer.id)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            format!("bourse, bearer.{}", buyer.token).parse().unwrap(),
        );
        let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        assert_eq!(resp.headers()["sec-websocket-protocol"], "bourse");
        let first: Value = next_json(&mut ws).await;
        assert_eq!(first["user"], json!(buyer.id), "{first}");
    }

    // The ledger: every entry balances, and the money and shares are what was funded.
    let pool = bourse_shell::db::pool(PG, Some(&cluster.schema), 1)
        .await
        .unwrap();
    let db = pool.get().await.unwrap();
    let unbalanced: i64 = db
        .query_one(
            "SELECT count(*) FROM (SELECT seq, asset FROM ledger GROUP BY seq, asset
             HAVING sum(amount) <> 0) x",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unbalanced, 0, "every ledger entry balances");
    let held: Vec<(String, i64)> = db
        .query(
            "SELECT asset, sum(amount)::BIGINT FROM balances WHERE user_id = ANY($1)
             GROUP BY asset ORDER BY asset",
            &[&[seller.id as i64, buyer.id as i64, maker.id as i64].to_vec()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        held,
        vec![("ACME".to_string(), 1_100), ("USD".to_string(), 11_000_000)],
        "cash and shares are conserved across the three users"
    );

    // Mid-traffic, one instance of each stateless service dies: every request keeps
    // succeeding through the other (reads are retried by nginx; orders by the client
    // with the same client_order_id, never twice).
    let traffic = {
        let (buyer_rest, buyer_token) = (buyer.rest.clone(), buyer.token.clone());
        let users = proxy.clone().with_token(&buyer_token);
        tokio::spawn(async move {
            let mut placed = Vec::new();
            let t0 = Instant::now();
            let mut n = 0;
            while t0.elapsed() < Duration::from_secs(4) {
                n += 1;
                for (client, path) in [
                    (&buyer_rest, "/v2/account"),
                    (&buyer_rest, "/v2/positions"),
                    (&buyer_rest, "/v2/assets/ACME"),
                    (&buyer_rest, "/v2/watchlists"),
                    (&users, "/v1/users/me"),
                ] {
                    let r = client.get(path).await.unwrap();
                    assert_eq!(r.status, 200, "GET {path} during the kill: {}", r.text);
                }
                let o = place_acknowledged(
                    &buyer_rest,
                    &json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit",
                            "time_in_force": "gtc", "limit_price": "1.00"}),
                    &format!("t-{n}"),
                )
                .await;
                placed.push(o["id"].as_str().unwrap().to_string());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            placed
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    for role in ["user", "trader", "stock", "portfolio"] {
        cluster.roles.get_mut(role).unwrap().kill(1);
    }
    let placed = traffic.await.unwrap();
    assert!(placed.len() > 10, "traffic ran: {} orders", placed.len());
    let ws_base = proxy.base().replacen("http://", "ws://", 1);
    let mut again = portfolio(&ws_base, &buyer).await;
    let m: Value = next_json(&mut again).await;
    assert_eq!(m["type"], "snapshot", "a socket opens on the survivor: {m}");

    // The engine dies with SIGKILL right after acknowledging orders; restarted on the
    // same data directory, every acknowledged order is there, and the services resume.
    let mut acked = Vec::new();
    for n in 0..20 {
        let r = place(
            &seller.rest,
            &json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
                    "time_in_force": "gtc", "limit_price": format!("{}.00", 200 + n),
                    "client_order_id": format!("k-{n}")}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        acked.push(r.json["id"].as_str().unwrap().to_string());
    }
    cluster.engine = None;
    let r = seller
        .rest
        .post(
            "/v2/orders",
            &json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
                    "time_in_force": "gtc", "limit_price": "300.00"}),
        )
        .await
        .unwrap();
    assert!(
        r.status.is_server_error(),
        "no engine, no acknowledgement: {} {}",
        r.status,
        r.text
    );
    cluster.engine = Some(run(&cluster.engine_args, "listening on").0);
    let o = place_acknowledged(
        &seller.rest,
        &json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
                "time_in_force": "gtc", "limit_price": "250.00"}),
        "after",
    )
    .await;
    acked.push(o["id"].as_str().unwrap().to_string());
    let t0 = Instant::now();
    for id in acked.iter().chain(&placed) {
        loop {
            let r = seller.rest.get(&format!("/v2/orders/{id}")).await.unwrap();
            let r = if r.status == 404 {
                buyer.rest.get(&format!("/v2/orders/{id}")).await.unwrap()
            } else {
                r
            };
            assert_eq!(r.status, 200, "order {id}: {}", r.text);
            if r.json["status"] == "new" {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "order {id} never settled as open: {}",
                r.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let open: i64 = db
        .query_one(
            "SELECT count(*) FROM orders WHERE status = 'open' AND user_id = $1",
            &[&(seller.id as i64)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        open as usize,
        acked.len(),
        "settlement holds every acknowledged order"
    );

    drop(again);
    drop(db);
    cluster.cleanup().await;
}
