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
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bourse_core::{FixedStr, OrderType, Price, Qty, Side, TimeInForce, UserId};
use bourse_gateway::keys::KeyStore;
use bourse_gateway::protocol::{
    ClientMsg, EnterOrder, Liquidity, ServerMsg, decode_server, encode_client,
};
use bourse_shell::client::{Client, Reply};
use bourse_testkit::ws::{Ws, next_json};
use common::{Proc, start};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PG: &str = "host=127.0.0.1 user=postgres dbname=test";
const SERVICE_SECRET: &str = "e2e-service-secret-32-characters";
const JWT: &str = "e2e token secret";
const ADMIN: &str = "root:root-password";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The nginx binary: `BOURSE_NGINX`, else `nginx` on the path, else Debian's place.
fn nginx_binary() -> PathBuf {
    if let Ok(p) = std::env::var("BOURSE_NGINX") {
        return PathBuf::from(p);
    }
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("nginx is not installed: run scripts/test.sh, which installs it, or set BOURSE_NGINX")
}

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

/// nginx's master process, stopped with SIGTERM when dropped: it takes its workers
/// down with it (SIGKILL would leave them running, holding the port).
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
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
    _nginx: Nginx,
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
            ],
            ..Default::default()
        };
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut secret = [0u8; 32];
        secret.copy_from_slice(SERVICE_SECRET.as_bytes());
        let keys = KeyStore::line(&FixedStr::new("service").unwrap(), UserId(0), &secret);
        std::fs::write(dir.path().join("keys.txt"), format!("{keys} service\n")).unwrap();
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
            "--keys",
            &s(&dir.path().join("keys.txt")),
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
        for role in ["user", "trader", "stock", "portfolio"] {
            let mut instances = Instances {
                procs: Vec::new(),
                addrs: Vec::new(),
            };
            for i in 0..2 {
                let mut args: Vec<String> = ["serve", role, "--listen", "127.0.0.1:0"]
                    .map(String::from)
                    .into();
                args.extend(shell.iter().cloned());
                if role != "portfolio" {
                    args.extend(gateway_args.iter().cloned());
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
        let conf = render_nginx_conf(port, &roles);
        let prefix = dir.path().join("nginx");
        for sub in ["logs", "temp"] {
            std::fs::create_dir_all(prefix.join(sub)).unwrap();
        }
        // Its workers may run as another user (nginx started as root): they must reach
        // the prefix.
        use std::os::unix::fs::PermissionsExt;
        for p in [
            dir.path().to_path_buf(),
            prefix.clone(),
            prefix.join("temp"),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let nginx = Nginx(
            Command::new(nginx_binary())
                .arg("-p")
                .arg(&prefix)
                .arg("-c")
                .arg(&conf_path)
                .args(["-g", "daemon off;"])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start nginx"),
        );
        let base = format!("http://127.0.0.1:{port}");
        let proxy = Client::new(&base);
        let t0 = Instant::now();
        while !matches!(proxy.get("/nginx/healthz").await, Ok(r) if r.status == 200) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nginx never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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

    fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
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

/// `nginx/nginx.conf` with its listen port and upstream addresses replaced; fails if
/// any of them is no longer in the file (the test would no longer run what ships).
fn render_nginx_conf(port: u16, roles: &HashMap<&'static str, Instances>) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("nginx/nginx.conf");
    let mut conf = std::fs::read_to_string(path).unwrap();
    let mut replace = |from: &str, to: &str| {
        assert_eq!(conf.matches(from).count(), 1, "{from:?} once in nginx.conf");
        conf = conf.replace(from, to);
    };
    replace("listen 8080;", &format!("listen 127.0.0.1:{port};"));
    for (role, ports) in [
        ("user", ["8081", "8091"]),
        ("trader", ["8082", "8092"]),
        ("stock", ["8083", "8093"]),
        ("portfolio", ["8084", "8094"]),
    ] {
        for (i, p) in ports.iter().enumerate() {
            replace(
                &format!("server 127.0.0.1:{p} "),
                &format!("server {} ", roles[role].addrs[i]),
            );
        }
    }
    conf
}

/// A market maker on the binary gateway.
struct Maker {
    socket: zmq::Socket,
    _ctx: zmq::Context,
}

impl Maker {
    fn login(endpoint: &str, key_id: &str, secret: &str) -> Maker {
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

    fn send(&self, m: &ClientMsg) {
        let mut b = Vec::new();
        encode_client(m, &mut b);
        self.socket.send(&b[..], 0).unwrap();
    }

    fn recv(&self, ms: i64) -> Option<ServerMsg> {
        if self.socket.poll(zmq::POLLIN, ms).unwrap() == 0 {
            return None;
        }
        decode_server(&self.socket.recv_bytes(0).unwrap()).ok()
    }

    /// Enters a GTC limit order and waits for its acknowledgement.
    fn quote(&self, token: &str, side: Side, cents: i64, qty: i64) {
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
struct User {
    id: u64,
    token: String,
    key_id: String,
    secret: String,
    rest: Client,
}

async fn register(proxy: &Client, name: &str) -> User {
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

async fn fund(admin: &Client, user: u64, asset: &str, amount: &str) {
    let r = admin
        .post(
            &format!("/v1/admin/users/{user}/deposit"),
            &json!({"asset": asset, "amount": amount}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn say(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// A `trade_updates` socket through nginx, authenticated and listening.
async fn trade_updates(cluster: &Cluster, user: &User) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(cluster.ws_url("/stream"))
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
async fn portfolio(cluster: &Cluster, user: &User) -> Ws {
    let url = cluster.ws_url(&format!("/portfolio?userID={}", user.id));
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", user.token).parse().unwrap(),
    );
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// Reads `ws` until a message satisfies `done` (within 20 s).
async fn until(ws: &mut Ws, what: &str, done: impl Fn(&Value) -> bool) -> Value {
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
async fn place(rest: &Client, order: &Value) -> Reply {
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
async fn place_acknowledged(rest: &Client, order: &Value, client_id: &str) -> Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_trades_end_to_end_behind_nginx_and_survives_kills() {
    let mut cluster = Cluster::start().await;
    let proxy = cluster.client();

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
    let seller = register(&proxy, "seller").await;
    let buyer = register(&proxy, "buyer").await;
    let maker = register(&proxy, "maker").await;
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

    let mut seller_updates = trade_updates(&cluster, &seller).await;
    let mut buyer_updates = trade_updates(&cluster, &buyer).await;
    let mut seller_folio = portfolio(&cluster, &seller).await;
    let mut buyer_folio = portfolio(&cluster, &buyer).await;
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
    let mm = Maker::login(&cluster.gateway, &maker.key_id, &maker.secret);
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
    let mut again = portfolio(&cluster, &buyer).await;
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

    drop((
        seller_updates,
        buyer_updates,
        seller_folio,
        buyer_folio,
        again,
    ));
    drop(db);
    cluster.cleanup().await;
}
