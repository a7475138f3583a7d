//! # bourse-user
//!
//! The user service: who may trade. Accounts with argon2id passwords
//! ([`password`]); login with short-lived JWT access tokens and rotating refresh tokens,
//! logout that revokes ([`session`]); API key pairs whose secret is shown once and
//! stored hashed ([`keys`]), accepted as Alpaca's headers by every HTTP service
//! ([`keys::Keys`]) and — 16-character id, 32-character secret — by the binary
//! gateway's Login.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/users` | register `{username, password}` → 201 the user |
//! | `GET /v1/users/me` | the caller |
//! | `POST /v1/auth/login` | `{username, password}` → tokens |
//! | `POST /v1/auth/refresh` | `{refresh_token}` → new tokens (the old one is used up) |
//! | `POST /v1/auth/logout` | `{refresh_token}` → 204, every token of that login revoked |
//! | `POST /v1/keys` | `{label?}` → 201 `{key_id, secret, ...}` (the secret only here) |
//! | `GET /v1/keys` | the caller's live keys |
//! | `DELETE /v1/keys/{key_id}` | revoke → 204 (another user's key: 404) |
//! | `POST /v1/admin/users/{id}/deposit` | admin: `{asset, amount}` credited in the engine |
//! | `POST /v1/admin/users/{id}/withdraw` | admin: `{asset, amount}` debited (free only) |
//!
//! Registering opens the user's engine account (a journaled `add_user` through the
//! gateway) in the same step: the user row is committed only once the engine said
//! done, so every user who can log in can trade.
//!
//! Storage is behind [`store::UserStore`]: PostgreSQL in the distributed mode, the
//! embedded SQLite file in the all-in-one process.
//!
//! **Architecture invariant:** no secret — password, refresh token, API secret — is
//! stored or logged; only hashes are kept.

pub mod admin;
pub mod keys;
pub mod password;
pub mod session;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use bourse_gateway_client::GatewayClient;
use bourse_shell::auth::Auth;
use bourse_shell::migrate::Migrations;
use deadpool_postgres::Pool;

/// The user schema's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    table: "user_schema_migrations",
    lock: 7_340_002,
    steps: &[(1, include_str!("../migrations/0001_accounts.sql"))],
};

/// The service's state.
#[derive(Clone)]
pub struct UserState {
    /// Where users, tokens and keys are kept.
    pub store: Arc<dyn store::UserStore>,
    /// Token keys, the key verifier and the rate limit.
    pub auth: Arc<Auth>,
    /// How long a refresh token lives.
    pub refresh_ttl: Duration,
    /// The engine, through a service session on the gateway (`None`: registration
    /// opens no engine account and funding answers 503).
    pub engine: Option<GatewayClient>,
    /// Cash, in cents, deposited into each account a user signs up for (0: none). For
    /// paper trading and the demo, where a newcomer should be able to trade at once.
    pub signup_cash: i64,
}

impl FromRef<UserState> for Arc<Auth> {
    fn from_ref(s: &UserState) -> Arc<Auth> {
        s.auth.clone()
    }
}

/// Applies the PostgreSQL migrations (other services that read keys call it too).
pub async fn prepare(pool: &Pool) -> Result<(), bourse_shell::ApiError> {
    use store::UserStore;
    store::pg::PgUserStore::new(pool.clone()).prepare().await
}

/// The whole service: its routes in the shell, ready when its database answers.
pub fn app(state: UserState) -> Router {
    let checks = std::sync::Arc::new(vec![state.store.check()]);
    let (routes, api) = router(state);
    // The web page is served beside sign-up and login (NGINX sends `/` and `/app/`
    // here).
    let routes = routes.merge(bourse_web::router());
    bourse_shell::openapi::app("user", (routes, api), PUBLIC, checks)
}

/// Routes reachable without credentials.
pub const PUBLIC: bourse_shell::openapi::Public<'static> = &[
    ("post", "/v1/users"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
];

/// The service's routes (wrapped by [`app`]) and their OpenAPI document (finished by
/// the shell).
pub fn router(state: UserState) -> (Router, utoipa::openapi::OpenApi) {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(session::register))
        .routes(routes!(session::me))
        .routes(routes!(session::login))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(admin::deposit))
        .routes(routes!(admin::withdraw))
        .with_state(state)
        .split_for_parts()
}
