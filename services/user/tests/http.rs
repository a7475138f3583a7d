//! The user service over real HTTP on 127.0.0.1: every endpoint's success and error
//! paths, token rotation and reuse detection, API keys as Alpaca headers, isolation
//! between users, rate limits, health, readiness and metrics. Every test runs on both
//! stores: real PostgreSQL (a schema of its own per test) and the embedded SQLite file
//! (a fresh one per test) — the store's contract, seen from the API.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use bourse_gateway_client::GatewayClient;
use bourse_shell::auth::{Auth, RateLimit, TokenKeys};
use bourse_shell::client::{Client, Reply};
use bourse_user::keys::Keys;
use bourse_user::session::Credentials;
use bourse_user::store::UserStore;
use bourse_user::store::lite::LiteUserStore;
use bourse_user::store::pg::PgUserStore;
use bourse_user::{UserState, app};
use serde_json::{Value, json};

const PG: &str = "host=127.0.0.1 user=postgres dbname=test";

/// Where a test's service keeps its data.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Postgres,
    Sqlite,
}

/// What a test's store leaves behind: a schema to drop, or a directory.
enum Place {
    Schema(deadpool_postgres::Pool, String),
    Dir(#[allow(dead_code)] tempfile::TempDir),
}

struct Service {
    base: String,
    store: Arc<dyn UserStore>,
    place: Place,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Service {
    /// Starts the service on a fresh store; `burst` requests per principal before 429.
    async fn start(backend: Backend, burst: u32) -> Service {
        Service::start_with(backend, burst, None).await
    }

    /// As `start`, with the engine behind a gateway.
    async fn start_with(backend: Backend, burst: u32, engine: Option<GatewayClient>) -> Service {
        let (store, place): (Arc<dyn UserStore>, Place) = match backend {
            Backend::Postgres => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                let schema = format!("users_{}_{}", std::process::id(), nanos % 1_000_000_000_000);
                let pool = bourse_shell::db::pool(PG, Some(&schema), 4).await.unwrap();
                (
                    Arc::new(PgUserStore::new(pool.clone())),
                    Place::Schema(pool, schema),
                )
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let lite = bourse_shell::lite::Lite::open(dir.path().join("bourse.db")).unwrap();
                (Arc::new(LiteUserStore::new(lite)), Place::Dir(dir))
            }
        };
        store.prepare().await.expect("the store is ready");
        let state = UserState {
            store: store.clone(),
            auth: Arc::new(Auth {
                tokens: TokenKeys::new(b"test secret", Duration::from_secs(900)),
                keys: Arc::new(Keys::new(store.clone())),
                limit: RateLimit::new(
                    NonZeroU32::new(burst).unwrap(),
                    NonZeroU32::new(burst).unwrap(),
                ),
            }),
            refresh_ttl: Duration::from_secs(3600),
            engine,
            signup_cash: 0,
        };
        if state.engine.is_some() {
            let admin = Credentials {
                username: "root".into(),
                password: "root-password".into(),
            };
            bourse_user::session::ensure_admin(&state, &admin)
                .await
                .unwrap();
        }
        let (listener, addr) = bourse_shell::server::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(bourse_shell::server::serve(listener, app(state), async {
            let _ = rx.await;
        }));
        Service {
            base: format!("http://{addr}"),
            store,
            place,
            stop: Some(tx),
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.base)
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Place::Schema(pool, schema) = &self.place {
            let c = pool.get().await.unwrap();
            c.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await
                .unwrap();
        }
    }
}

/// Asserts the shell's error shape and status.
fn assert_error(r: &Reply, status: StatusCode) {
    r.assert_error(status);
}

async fn register_and_login(c: &Client, name: &str) -> (u64, String, String) {
    let r = c
        .post(
            "/v1/users",
            &json!({"username": name, "password": "pass-word-1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json["id"].as_u64().unwrap();
    let r = c
        .post(
            "/v1/auth/login",
            &json!({"username": name, "password": "pass-word-1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["user"]["id"], id);
    assert_eq!(r.json["token_type"], "Bearer");
    (
        id,
        r.json["access_token"].as_str().unwrap().to_string(),
        r.json["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn register_login_refresh_and_logout(backend: Backend) {
    let s = Service::start(backend, 1_000).await;
    let c = s.client();

    // Registration: validation, then a user, then the name is taken.
    let bad = [
        (
            json!({"username": "ab", "password": "long enough"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"username": "has space", "password": "long enough"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"username": "alice", "password": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"username": "alice"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"username": 7, "password": "long enough"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, status) in bad {
        let r = c.post("/v1/users", &body).await.unwrap();
        assert_error(&r, status);
    }
    let r = c
        .send(axum::http::Method::POST, "/v1/users", None)
        .await
        .unwrap();
    assert_error(&r, StatusCode::BAD_REQUEST);
    let (alice, access, refresh) = register_and_login(&c, "alice").await;
    let r = c
        .post(
            "/v1/users",
            &json!({"username": "alice", "password": "another-pass"}),
        )
        .await
        .unwrap();
    assert_error(&r, StatusCode::CONFLICT);

    // Wrong passwords and unknown users look the same.
    for body in [
        json!({"username": "alice", "password": "wrong-password"}),
        json!({"username": "nobody", "password": "wrong-password"}),
    ] {
        let r = c.post("/v1/auth/login", &body).await.unwrap();
        assert_error(&r, StatusCode::UNAUTHORIZED);
        assert_eq!(r.json["message"], "wrong username or password");
    }

    // Who am I: with the token; without credentials or with a forged one, 401.
    let me = c
        .clone()
        .with_token(&access)
        .get("/v1/users/me")
        .await
        .unwrap();
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(
        me.json,
        json!({"id": alice, "username": "alice", "role": "user"})
    );
    assert_error(
        &c.get("/v1/users/me").await.unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    let forged = c.clone().with_token("eyJhbGciOiJIUzI1NiJ9.e30.x");
    assert_error(
        &forged.get("/v1/users/me").await.unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    let basic = c.clone().with_header("authorization", "Basic YTpi");
    assert_error(
        &basic.get("/v1/users/me").await.unwrap(),
        StatusCode::UNAUTHORIZED,
    );

    // Refresh rotates: the new token works once; the old one again revokes the login.
    let r = c
        .post("/v1/auth/refresh", &json!({"refresh_token": refresh}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rotated = r.json["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, refresh);
    let again = c
        .post("/v1/auth/refresh", &json!({"refresh_token": refresh}))
        .await
        .unwrap();
    assert_error(&again, StatusCode::UNAUTHORIZED);
    assert!(
        again.json["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    let r = c
        .post("/v1/auth/refresh", &json!({"refresh_token": rotated}))
        .await
        .unwrap();
    assert_error(&r, StatusCode::UNAUTHORIZED);

    // Logout revokes the login's refresh tokens.
    let (_, _, refresh) = register_and_login(&c, "bob").await;
    let r = c
        .post("/v1/auth/logout", &json!({"refresh_token": refresh}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = c
        .post("/v1/auth/refresh", &json!({"refresh_token": refresh}))
        .await
        .unwrap();
    assert_error(&r, StatusCode::UNAUTHORIZED);
    let r = c
        .post("/v1/auth/logout", &json!({"refresh_token": "unknown"}))
        .await
        .unwrap();
    assert_error(&r, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

async fn api_keys_work_as_alpaca_headers_and_stay_their_owners(backend: Backend) {
    let s = Service::start(backend, 1_000).await;
    let c = s.client();
    let (alice, alice_token, _) = register_and_login(&c, "alice").await;
    let (_, bob_token, _) = register_and_login(&c, "bob").await;
    let alice_c = c.clone().with_token(&alice_token);
    let bob_c = c.clone().with_token(&bob_token);

    let r = alice_c
        .post("/v1/keys", &json!({"label": "market maker"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let key_id = r.json["key_id"].as_str().unwrap().to_string();
    let secret = r.json["secret"].as_str().unwrap().to_string();
    assert_eq!(key_id.len(), 16, "fits the gateway's alpha16");
    assert!(key_id.starts_with("BK"));
    assert_eq!(secret.len(), 32, "the gateway Login's 32 bytes");
    assert!(secret.chars().all(|ch| ch.is_ascii_alphanumeric()));
    // No body at all is fine too.
    let r = alice_c
        .send(axum::http::Method::POST, "/v1/keys", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let second = r.json["key_id"].as_str().unwrap().to_string();

    // The pair authenticates as Alpaca's headers.
    let keyed = c.clone().with_key(&key_id, &secret);
    let me = keyed.get("/v1/users/me").await.unwrap();
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json["id"], alice);
    let wrong = c.clone().with_key(&key_id, &"x".repeat(32));
    assert_error(
        &wrong.get("/v1/users/me").await.unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    let half = c.clone().with_header("apca-api-key-id", &key_id);
    assert_error(
        &half.get("/v1/users/me").await.unwrap(),
        StatusCode::UNAUTHORIZED,
    );

    // Listing shows the caller's keys only, never a secret.
    let list = alice_c.get("/v1/keys").await.unwrap();
    assert_eq!(list.status, StatusCode::OK);
    let ids: Vec<&str> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&key_id.as_str()) && ids.contains(&second.as_str()));
    assert!(!list.text.contains(&secret));
    assert_eq!(bob_c.get("/v1/keys").await.unwrap().json, json!([]));

    // Bob cannot revoke Alice's key: 404, as for a key that does not exist.
    assert_error(
        &bob_c.delete(&format!("/v1/keys/{key_id}")).await.unwrap(),
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &alice_c.delete("/v1/keys/BKNOSUCHKEY00000").await.unwrap(),
        StatusCode::NOT_FOUND,
    );
    let r = alice_c.delete(&format!("/v1/keys/{key_id}")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // Revoked: refused once the verifier's cache has expired.
    tokio::time::sleep(Keys::TTL + Duration::from_millis(100)).await;
    assert_error(
        &keyed.get("/v1/users/me").await.unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    let live = s.store.live_keys().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].0, second);
    assert_eq!(live[0].1, alice);
    s.stop().await;
}

async fn rate_limits_health_readiness_metrics_and_unknown_routes(backend: Backend) {
    let s = Service::start(backend, 5).await;
    let c = s.client();
    let (_, token, _) = register_and_login(&c, "carol").await;
    let authed = c.clone().with_token(&token);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(authed.get("/v1/users/me").await.unwrap());
    }
    let limited = statuses
        .iter()
        .find(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .expect("the burst of 5 runs out within 8 requests");
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    assert_eq!(statuses[0].status, StatusCode::OK);

    let health = c.get("/healthz").await.unwrap();
    assert_eq!(
        (health.status, health.json.clone()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let ready = c.get("/readyz").await.unwrap();
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_error(
        &c.get("/no/such/route").await.unwrap(),
        StatusCode::NOT_FOUND,
    );
    let with_id = c.clone().with_header("x-request-id", "req-42");
    let r = with_id.get("/healthz").await.unwrap();
    assert_eq!(
        r.headers["x-request-id"], "req-42",
        "the request id comes back"
    );
    let r = c.get("/healthz").await.unwrap();
    assert!(
        !r.headers["x-request-id"].is_empty(),
        "one is made if none came"
    );

    let metrics = c.get("/metrics").await.unwrap();
    assert_eq!(metrics.status, StatusCode::OK);
    let line = metrics
        .text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total")
                && l.contains("route=\"/v1/users/me\"")
                && l.contains("status=\"429\"")
        })
        .unwrap_or_else(|| panic!("no 429 series in\n{}", metrics.text));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0);
    let _: Value = ready.json;
    s.stop().await;
}

/// A gateway in this process with a service key, and a client of it.
fn gateway(dir: &std::path::Path) -> (GatewayClient, bourse_gateway::server::Running) {
    use bourse_core::{Command, FixedStr, Price, Qty, UserId};
    let secret = [7u8; 32];
    let mut keys = bourse_gateway::keys::KeyStore::default();
    keys.insert_service(FixedStr::new("users").unwrap(), UserId(0), &secret);
    let mut config = bourse_gateway::server::GatewayConfig::new(dir, keys);
    config.bind = "tcp://127.0.0.1:*".into();
    config.ring_size = 1024;
    config.bootstrap = vec![Command::AddInstrument {
        symbol: FixedStr::new("ACME").unwrap(),
        tick: Price(1),
        lot: Qty(1),
    }];
    let running = bourse_gateway::server::spawn(config).unwrap();
    let client = GatewayClient::connect(
        &running.ready.endpoint,
        "users",
        secret,
        Duration::from_secs(5),
    )
    .unwrap();
    (client, running)
}

async fn registering_opens_the_engine_account_and_admins_fund_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (engine, gateway) = gateway(dir.path());
    let s = Service::start_with(backend, 1_000, Some(engine)).await;
    let c = s.client();
    let (alice, alice_token, _) = register_and_login(&c, "alice").await;
    let r = c
        .post(
            "/v1/auth/login",
            &json!({"username": "root", "password": "root-password"}),
        )
        .await
        .unwrap();
    assert_eq!(r.json["user"]["role"], "admin", "{}", r.text);
    let admin = c
        .clone()
        .with_token(r.json["access_token"].as_str().unwrap());
    let user = c.clone().with_token(&alice_token);
    let deposit = |who: &Client, id: u64, asset: &str, amount: &str| {
        let (who, body) = (who.clone(), json!({"asset": asset, "amount": amount}));
        async move {
            who.post(&format!("/v1/admin/users/{id}/deposit"), &body)
                .await
                .unwrap()
        }
    };
    // The engine knows alice (her account was opened at registration): funded.
    let r = deposit(&admin, alice, "USD", "1000.50").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json["seq"].as_u64().unwrap() > 0);
    let r = deposit(&admin, alice, "ACME", "25").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Exactly what was deposited can be withdrawn, and not a cent more.
    let withdraw = |amount: &str| {
        let (admin, body) = (admin.clone(), json!({"asset": "USD", "amount": amount}));
        async move {
            admin
                .post(&format!("/v1/admin/users/{alice}/withdraw"), &body)
                .await
                .unwrap()
        }
    };
    assert_error(&withdraw("1000.51").await, StatusCode::FORBIDDEN);
    let r = withdraw("1000.50").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_error(&withdraw("0.01").await, StatusCode::FORBIDDEN);
    // Refusals, each with its status.
    assert_error(
        &deposit(&user, alice, "USD", "5").await,
        StatusCode::FORBIDDEN,
    );
    assert_error(
        &deposit(&admin, 999_999, "USD", "5").await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &deposit(&admin, alice, "USD", "1.001").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &deposit(&admin, alice, "ACME", "1.5").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &deposit(&admin, alice, "NOPE", "1").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &deposit(&admin, alice, "USD", "0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &admin
            .post(
                &format!("/v1/admin/users/{alice}/deposit"),
                &json!({"asset": "USD"}),
            )
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    s.stop().await;
    drop(gateway);
}

async fn without_a_gateway_funding_is_unavailable_not_an_error_of_ours(backend: Backend) {
    let s = Service::start(backend, 1_000).await;
    let c = s.client();
    register_and_login(&c, "dave").await;
    // Make dave an admin directly in the database.
    s.store.make_admin("dave").await.unwrap();
    let r = c
        .post(
            "/v1/auth/login",
            &json!({"username": "dave", "password": "pass-word-1"}),
        )
        .await
        .unwrap();
    let admin = c
        .clone()
        .with_token(r.json["access_token"].as_str().unwrap());
    let r = admin
        .post(
            "/v1/admin/users/1/deposit",
            &json!({"asset": "USD", "amount": "5"}),
        )
        .await
        .unwrap();
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE);
    s.stop().await;
}

/// Each test, once on each store.
macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$test(super::Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test(super::Backend::Sqlite).await
            }
        }
    )*};
}

on_both_stores!(
    register_login_refresh_and_logout,
    api_keys_work_as_alpaca_headers_and_stay_their_owners,
    rate_limits_health_readiness_metrics_and_unknown_routes,
    registering_opens_the_engine_account_and_admins_fund_it,
    without_a_gateway_funding_is_unavailable_not_an_error_of_ours,
);
