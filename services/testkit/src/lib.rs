//! # bourse-testkit
//!
//! The platform in one process for the services' integration tests
//! ([`bourse_platform`], every service over real HTTP on free ports), with the clients
//! and helpers the tests share. A platform runs on real PostgreSQL (a fresh schema) or
//! on the embedded SQLite file ([`Store`]), in a fresh data directory, dropped by
//! [`Platform::stop`]; tests that go through the API run on both.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bourse_bus::memory::MemoryBus;
use bourse_core::{Command, FixedStr, Price, Qty};
use bourse_shell::auth::Auth;
use bourse_shell::client::{Client, Reply};
use serde_json::{Value, json};

/// The test database.
pub const PG: &str = "host=127.0.0.1 user=postgres dbname=test";
/// The token secret every service of a platform shares.
pub const TOKEN_SECRET: &[u8] = b"trader test";

/// A running platform.
pub struct Platform {
    /// The user service.
    pub users: Client,
    /// The trader service.
    pub trader: Client,
    /// The trader service's base URL.
    pub trader_base: String,
    /// The stock service.
    pub stock: Client,
    /// The stock service's base URL.
    pub stock_base: String,
    /// The gateway's order entry endpoint.
    pub endpoint: String,
    /// The gateway's market data feed.
    pub feed: String,
    /// The PostgreSQL pool, on that store ([`Platform::pool`]).
    pool: Option<deadpool_postgres::Pool>,
    /// The PostgreSQL schema, on that store.
    schema: Option<String>,
    /// Which store it runs on.
    pub store: Store,
    /// The stores.
    pub stores: bourse_platform::Stores,
    /// The platform itself.
    pub running: bourse_platform::Running,
    /// The stock service's live book.
    pub book: Arc<bourse_stock::LiveBook>,
    /// The portfolio service's base URL (`ws://` for its socket: see [`Platform::ws`]).
    pub portfolio_base: String,
    /// The portfolio service's hub.
    pub hub: Arc<bourse_portfolio::Hub>,
    /// The auth every service shares.
    pub auth: Arc<Auth>,
    /// The in-process bus.
    pub bus: MemoryBus,
    /// The clock recurring orders run by: set it to make runs due.
    pub clock: Arc<bourse_auto::recurring::ManualClock>,
    _dir: tempfile::TempDir,
}

/// Serves `app` on a free port; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let (listener, addr) = bourse_shell::server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    tokio::spawn(bourse_shell::server::serve(
        listener,
        app,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// Which store a test platform runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// The real PostgreSQL (a fresh schema).
    Postgres,
    /// The embedded SQLite file (a fresh one).
    Sqlite,
}

impl Platform {
    /// Starts it all on PostgreSQL.
    pub async fn start() -> Platform {
        Self::start_on(Store::Postgres).await
    }

    /// Starts it all on `store`.
    pub async fn start_on(store: Store) -> Platform {
        let dir = tempfile::tempdir().unwrap();
        let (stores, schema) = match store {
            Store::Postgres => {
                // One schema for every service's tables.
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                let schema = format!(
                    "trader_{}_{}",
                    std::process::id(),
                    nanos % 1_000_000_000_000
                );
                let pool = bourse_shell::db::pool(PG, Some(&schema), 8).await.unwrap();
                (bourse_platform::Stores::postgres(pool), Some(schema))
            }
            Store::Sqlite => {
                let lite = bourse_shell::lite::Lite::open(dir.path().join("bourse.db")).unwrap();
                (bourse_platform::Stores::sqlite(lite), None)
            }
        };
        // Recurring orders run by a clock the tests set (it starts at the real time).
        let clock = bourse_auto::recurring::ManualClock::new(jiff::Timestamp::now());
        let config = bourse_platform::PlatformConfig {
            data_dir: dir.path().to_path_buf(),
            gateway: "tcp://127.0.0.1:*".into(),
            feed: "tcp://127.0.0.1:*".into(),
            addresses: bourse_platform::Addresses::any(),
            front: None,
            bootstrap: vec![Command::AddInstrument {
                symbol: FixedStr::new("ACME").unwrap(),
                tick: Price(1),
                lot: Qty(1),
            }],
            token_secret: TOKEN_SECRET.to_vec(),
            access_ttl: Duration::from_secs(900),
            admin: Some(("root".into(), "root-password".into())),
            signup_cash: 0,
            rate: (10_000, 10_000),
            throttle: 0,
            // Second bars, so that tests see bars without waiting for a minute.
            bar_interval: "1s",
            small: true,
            // Webhooks on the test's own loopback receiver, retried within moments.
            webhooks: bourse_notification::webhook::WebhookConfig {
                base: Duration::from_millis(50),
                cap: Duration::from_millis(400),
                max_attempts: 5,
                timeout: Duration::from_secs(2),
                allow_private: true,
                batch: 100,
            },
            clock: clock.clone(),
        };
        let running = bourse_platform::start(config, stores.clone())
            .await
            .expect("the platform starts");
        Platform {
            users: Client::new(&running.user_base),
            trader: Client::new(&running.trader_base),
            trader_base: running.trader_base.clone(),
            stock: Client::new(&running.stock_base),
            stock_base: running.stock_base.clone(),
            endpoint: running.endpoint.clone(),
            feed: running.feed.clone(),
            book: running.book.clone(),
            portfolio_base: running.portfolio_base.clone(),
            hub: running.hub.clone(),
            auth: running.auth.clone(),
            bus: running.bus.clone(),
            pool: stores.pool.clone(),
            clock,
            schema,
            store,
            stores,
            running,
            _dir: dir,
        }
    }

    /// The PostgreSQL schema, on the PostgreSQL platform.
    pub fn schema(&self) -> &str {
        self.schema
            .as_deref()
            .expect("this test reads PostgreSQL directly: start the platform on Store::Postgres")
    }

    /// The PostgreSQL pool (in the platform's schema): for tests that read or write
    /// the tables directly, on the PostgreSQL platform only.
    pub fn pool(&self) -> &deadpool_postgres::Pool {
        self.pool
            .as_ref()
            .expect("this test reads PostgreSQL directly: start the platform on Store::Postgres")
    }

    /// Registers `name`, logs in; returns the user id and a trader client with its token.
    pub async fn user(&self, name: &str) -> (u64, Client) {
        let creds = json!({"username": name, "password": "pass-word-1"});
        let r = self.users.post("/v1/users", &creds).await.unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let id = r.json["id"].as_u64().unwrap();
        let r = self.users.post("/v1/auth/login", &creds).await.unwrap();
        let token = r.json["access_token"].as_str().unwrap();
        (id, self.trader.clone().with_token(token))
    }

    /// A user registered (as [`Platform::user`]) and funded with `amount` of `asset`:
    /// their trader client.
    pub async fn funded(&self, name: &str, asset: &str, amount: &str) -> Client {
        let (id, client) = self.user(name).await;
        self.fund(id, asset, amount).await;
        client
    }

    /// A fresh access token for `name` (registered by [`Platform::user`]).
    pub async fn token(&self, name: &str) -> String {
        let creds = json!({"username": name, "password": "pass-word-1"});
        let r = self.users.post("/v1/auth/login", &creds).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json["access_token"].as_str().unwrap().to_string()
    }

    /// The `ws://` URL of `path` on the portfolio service.
    pub fn ws(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.portfolio_base.replacen("http://", "ws://", 1)
        )
    }

    /// An API key pair made over HTTP for `name` (logged in as `user` made it).
    pub async fn key(&self, name: &str, label: &str) -> (String, String) {
        let creds = json!({"username": name, "password": "pass-word-1"});
        let r = self.users.post("/v1/auth/login", &creds).await.unwrap();
        let users = self
            .users
            .clone()
            .with_token(r.json["access_token"].as_str().unwrap());
        let r = users
            .post("/v1/keys", &json!({"label": label}))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        (
            r.json["key_id"].as_str().unwrap().to_string(),
            r.json["secret"].as_str().unwrap().to_string(),
        )
    }

    /// An admin's access token (the `root` user's).
    pub async fn admin_token(&self) -> String {
        let r = self
            .users
            .post(
                "/v1/auth/login",
                &json!({"username": "root", "password": "root-password"}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json["access_token"].as_str().unwrap().to_string()
    }

    /// Deposits `amount` of `asset` for `user`, as the admin.
    pub async fn fund(&self, user: u64, asset: &str, amount: &str) {
        let admin = self.users.clone().with_token(&self.admin_token().await);
        let r = admin
            .post(
                &format!("/v1/admin/users/{user}/deposit"),
                &json!({"asset": asset, "amount": amount}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }

    /// Stops everything and drops the schema.
    pub async fn stop(self) {
        self.running.stop().await.unwrap();
        if let (Some(pool), Some(schema)) = (&self.pool, &self.schema) {
            let c = pool.get().await.unwrap();
            c.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await
                .unwrap();
        }
    }
}

/// Runs each named test, an `async fn(Store)`, once on each store: as
/// `name::postgres` and `name::sqlite`.
#[macro_export]
macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$test($crate::Store::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test($crate::Store::Sqlite).await
            }
        }
    )*};
}

/// Asserts an error answer in the shell's shape.
pub fn assert_error(r: &Reply, status: StatusCode) {
    r.assert_error(status);
}

/// The JSON of the 2xx answer to `method path` with `body` (fails on any other answer,
/// showing it).
pub async fn ok(c: &Client, method: axum::http::Method, path: &str, body: Option<Value>) -> Value {
    let r = c.send(method, path, body.as_ref()).await.unwrap();
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.text);
    r.json
}

/// Waits until `done` holds, looking every 25 ms, for at most 20 s.
pub async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The answer to `POST /v2/orders` with `body` (fails unless 200).
pub async fn order(c: &Client, body: Value) -> Value {
    ok(c, axum::http::Method::POST, "/v2/orders", Some(body)).await
}

/// An order's status as `GET /v2/orders/{id}` shows it.
pub async fn order_status(c: &Client, id: &str) -> String {
    let o = ok(
        c,
        axum::http::Method::GET,
        &format!("/v2/orders/{id}"),
        None,
    )
    .await;
    o["status"].as_str().unwrap_or_default().to_string()
}

/// A trade of one share of ACME at `price`: `seller` rests a limit sell at it, `buyer`
/// takes it at market.
pub async fn trade(seller: &Client, buyer: &Client, price: &str) {
    let sell = json!({"symbol": "ACME", "qty": 1, "side": "sell", "type": "limit",
                      "time_in_force": "gtc", "limit_price": price});
    order(seller, sell).await;
    let buy = json!({"symbol": "ACME", "qty": 1, "side": "buy", "type": "market",
                     "time_in_force": "day"});
    let b = order(buyer, buy).await;
    assert_eq!(b["status"], "filled", "{b}");
}

/// Polls `GET path` until it answers 200 and `done` holds (settlement or market data
/// catching up), for at most 20 s. A 404 while waiting is "not there yet" (a latest
/// trade before the first one is stored); any other answer but 200 fails at once.
pub async fn eventually(c: &Client, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let r = c.get(path).await.unwrap();
        if r.status != StatusCode::NOT_FOUND {
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        if r.status == StatusCode::OK && done(&r.json) {
            return r.json;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{path} never got there: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Python of the virtual environment `scripts/test.sh` makes with the test clients
/// (alpaca-py): `BOURSE_PYTHON`.
pub fn sdk_python() -> String {
    std::env::var("BOURSE_PYTHON").unwrap_or_else(|_| {
        panic!(
            "BOURSE_PYTHON is not set: run the tests with scripts/test.sh, which makes a \
             virtual environment with alpaca-py and sets it"
        )
    })
}

/// Runs the Python SDK script `script` with `BASE_URL KEY_ID SECRET` in the test
/// environment's Python; fails unless it exits 0 having printed
/// `alpaca-py: all checks passed`.
pub async fn run_sdk_script(script: &str, base: &str, key_id: &str, secret: &str) {
    let python = sdk_python();
    let args = [script, base, key_id, secret].map(str::to_string);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(&args)
            .output()
            .expect("run the SDK script")
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "alpaca-py failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("alpaca-py: all checks passed"));
}

/// WebSocket clients for the streams' tests.
pub mod ws {
    use std::time::Duration;

    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    /// A client socket.
    pub type Ws = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    /// The next text message (pings and binary frames skipped), within 10 s.
    pub async fn next_text(ws: &mut Ws) -> String {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("a message within 10 s")
                .expect("the socket is open")
                .expect("a readable frame");
            if let Message::Text(t) = m {
                return t.to_string();
            }
        }
    }

    /// The next text message, as JSON.
    pub async fn next_json<T: serde::de::DeserializeOwned>(ws: &mut Ws) -> T {
        serde_json::from_str(&next_text(ws).await).expect("JSON")
    }
}
