//! # bourse-testkit
//!
//! The platform in one process for the services' integration tests, against real
//! PostgreSQL: the gateway (engine, journal, market data feed) with a service key; the
//! bridge onto the in-process bus; settlement, and the stock service's ingestion, off
//! it; the user, trader, stock and portfolio services over real HTTP on free ports. Each platform
//! works in a fresh PostgreSQL schema and a fresh data directory, dropped by
//! [`Platform::stop`].
#![allow(missing_docs)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bourse_bus::memory::MemoryBus;
use bourse_core::{Command, FixedStr, Price, Qty, UserId};
use bourse_gateway_client::GatewayClient;
use bourse_shell::auth::{Auth, RateLimit, TokenKeys};
use bourse_shell::client::{Client, Reply};
use bourse_trader::TraderState;
use bourse_user::UserState;
use bourse_user::keys::Keys;
use bourse_user::session::Credentials;
use bourse_user::store::UserStore;
use bourse_user::store::pg::PgUserStore;
use serde_json::{Value, json};

/// The test database.
pub const PG: &str = "host=127.0.0.1 user=postgres dbname=test";
/// The service key's secret (key id `services`).
pub const SECRET: [u8; 32] = [4; 32];

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
    /// The database, in the platform's schema.
    pub pool: deadpool_postgres::Pool,
    /// The schema.
    pub schema: String,
    /// Set to stop the background tasks.
    pub stop: Arc<AtomicBool>,
    /// The gateway.
    pub gateway: bourse_gateway::server::Running,
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

impl Platform {
    /// Starts it all.
    pub async fn start() -> Platform {
        let dir = tempfile::tempdir().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // The gateway, with a service key and one instrument.
        let mut keys = bourse_gateway::keys::KeyStore::default();
        keys.insert_service(FixedStr::new("services").unwrap(), UserId(0), &SECRET);
        let mut config = bourse_gateway::server::GatewayConfig::new(dir.path(), keys);
        config.bind = "tcp://127.0.0.1:*".into();
        config.feed = Some("tcp://127.0.0.1:*".into());
        config.ring_size = 1024;
        config.bootstrap = vec![Command::AddInstrument {
            symbol: FixedStr::new("ACME").unwrap(),
            tick: Price(1),
            lot: Qty(1),
        }];
        let engine_config = config.engine;
        let (base_keys, shared_keys) =
            (config.keys.current().as_ref().clone(), config.keys.clone());
        let gateway = bourse_gateway::server::spawn(config).expect("gateway runs");
        let endpoint = gateway.ready.endpoint.clone();
        let feed = gateway.ready.feed_endpoint.clone().expect("the feed runs");

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
        bourse_order::service::prepare(&pool).await.unwrap();
        bourse_user::prepare(&pool).await.unwrap();
        bourse_trader::prepare(&pool).await.unwrap();
        bourse_stock::prepare(&pool).await.unwrap();
        // The gateway follows the user service's keys, as `bourse serve --keys-db` does.
        let users_store: Arc<dyn UserStore> = Arc::new(PgUserStore::new(pool.clone()));
        tokio::spawn(bourse_user::keys::follow(
            users_store.clone(),
            base_keys,
            shared_keys,
            stop.clone(),
        ));

        // Journal → bridge → in-process bus → settlement.
        let bus = MemoryBus::new();
        let queue = bourse_bus::rabbit::QueueSpec::settlement("settlement");
        let patterns: Vec<&str> = queue.patterns.iter().map(String::as_str).collect();
        let mut consumer = Some(bus.consumer("settlement", &patterns));
        let market = bourse_bus::rabbit::QueueSpec::market("market");
        let patterns: Vec<&str> = market.patterns.iter().map(String::as_str).collect();
        let mut market_consumer = Some(bus.consumer("market", &patterns));
        let (bridge_bus, bridge_stop) = (bus.clone(), stop.clone());
        let bridge_config = bourse_bridge::BridgeConfig::new(dir.path(), engine_config);
        tokio::spawn(async move {
            let connect = || {
                let bus = bridge_bus.clone();
                async move { Ok(bus.publisher()) }
            };
            bourse_bridge::run(bridge_config, connect, bridge_stop, |_| {})
                .await
                .unwrap();
        });
        let (settle_pool, settle_bus, settle_stop) = (pool.clone(), bus.clone(), stop.clone());
        tokio::spawn(async move {
            let consumers = move || {
                let c = consumer.take();
                async move { c.ok_or(bourse_bus::BusError::Closed) }
            };
            let publishers = move || {
                let bus = settle_bus.clone();
                async move { Ok(bus.publisher()) }
            };
            bourse_order::service::run(
                Arc::new(bourse_order::store::pg::PgSettlement::new(settle_pool)),
                bourse_order::service::ServiceConfig::default(),
                consumers,
                publishers,
                settle_stop,
                |_| {},
            )
            .await
            .unwrap();
        });

        // The stock service's ingestion, and its live book on the feed.
        let (ingest_pool, ingest_stop) = (pool.clone(), stop.clone());
        tokio::spawn(async move {
            let consumers = move || {
                let c = market_consumer.take();
                async move { c.ok_or(bourse_bus::BusError::Closed) }
            };
            let up = Arc::new(AtomicBool::new(false));
            bourse_stock::ingest::run(ingest_pool, consumers, up, ingest_stop, |_| {}).await;
        });
        let book = bourse_stock::LiveBook::new();
        bourse_stock::book::follow(&zmq::Context::new(), &feed, book.clone(), stop.clone())
            .unwrap();

        // The user, trader and stock services, sharing the token secret and key table.
        let engine =
            GatewayClient::connect(&endpoint, "services", SECRET, Duration::from_secs(5)).unwrap();
        let auth = Arc::new(Auth {
            tokens: TokenKeys::new(TOKEN_SECRET, Duration::from_secs(900)),
            keys: Arc::new(Keys::new(users_store.clone())),
            limit: RateLimit::new(
                NonZeroU32::new(10_000).unwrap(),
                NonZeroU32::new(10_000).unwrap(),
            ),
        });
        let user_state = UserState {
            store: users_store.clone(),
            auth: auth.clone(),
            refresh_ttl: Duration::from_secs(3600),
            engine: Some(engine.clone()),
        };
        bourse_user::session::ensure_admin(
            &user_state,
            &Credentials {
                username: "root".into(),
                password: "root-password".into(),
            },
        )
        .await
        .unwrap();
        let users = Client::new(serve(bourse_user::app(user_state)).await);
        // The portfolio service: prices from the feed, hints from settlement.
        let (interest, subscriptions, catch_ups) = bourse_portfolio::prices::interest();
        let hub = bourse_portfolio::Hub::new(interest);
        bourse_portfolio::prices::follow(
            &zmq::Context::new(),
            &feed,
            Arc::downgrade(&hub),
            subscriptions,
            stop.clone(),
        )
        .unwrap();
        let holdings: Arc<dyn bourse_order::holdings::HoldingsReader> =
            Arc::new(bourse_order::store::pg::PgSettlement::new(pool.clone()));
        tokio::spawn(bourse_portfolio::prices::catch_up(
            holdings.clone(),
            Arc::downgrade(&hub),
            catch_ups,
            Duration::from_millis(500),
        ));
        let mut hints =
            Some(bus.consumer("portfolio-hints", &[bourse_portfolio::changes::PATTERN]));
        let (hints_pool, hints_hub, hints_stop) = (holdings.clone(), hub.clone(), stop.clone());
        tokio::spawn(async move {
            let consumers = move || {
                let c = hints.take();
                async move { c.ok_or(bourse_bus::BusError::Closed) }
            };
            let up = Arc::new(AtomicBool::new(false));
            bourse_portfolio::changes::run(hints_pool, hints_hub, consumers, up, hints_stop).await;
        });
        let portfolio_base = serve(bourse_portfolio::app(
            bourse_portfolio::PortfolioState {
                holdings: holdings.clone(),
                auth: auth.clone(),
                hub: hub.clone(),
                stream: bourse_portfolio::StreamConfig::default(),
            },
            None,
        ))
        .await;
        let trader_state = TraderState::new(pool.clone(), auth.clone(), Some(engine.clone()));
        // The trader's trade_updates follow the engine's exec.* events.
        let mut execs = Some(bus.consumer("trade-updates", &[bourse_trader::stream::PATTERN]));
        let (updates_pool, listeners, updates_stop) = (
            trader_state.stream_stores(),
            trader_state.listeners.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let consumers = move || {
                let c = execs.take();
                async move { c.ok_or(bourse_bus::BusError::Closed) }
            };
            bourse_trader::stream::run(updates_pool, listeners, consumers, updates_stop).await;
        });
        let trader_base = serve(bourse_trader::app(trader_state)).await;
        let stock_base = serve(bourse_stock::app(
            bourse_stock::StockState {
                pool: pool.clone(),
                auth: auth.clone(),
                engine: Some(engine),
                book: book.clone(),
                // Second bars, so that tests see bars without waiting for a minute.
                bar_interval: "1s",
            },
            None,
        ))
        .await;
        let trader = Client::new(&trader_base);
        Platform {
            users,
            trader,
            trader_base,
            stock: Client::new(&stock_base),
            stock_base,
            endpoint,
            feed,
            book,
            portfolio_base,
            hub,
            auth,
            bus,
            pool,
            schema,
            stop,
            gateway,
            _dir: dir,
        }
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
        self.stop.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::task::spawn_blocking(move || self.gateway.stop())
            .await
            .unwrap()
            .unwrap();
        let c = self.pool.get().await.unwrap();
        c.batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", self.schema))
            .await
            .unwrap();
    }
}

/// Asserts an error answer in the shell's shape.
pub fn assert_error(r: &Reply, status: StatusCode) {
    r.assert_error(status);
}

/// Polls `GET path` until `done` holds (settlement catching up), for at most 20 s.
pub async fn eventually(c: &Client, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let r = c.get(path).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if done(&r.json) {
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
