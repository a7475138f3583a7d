//! Accounts and sessions: register, log in, refresh, log out, who am I.
//!
//! Login answers an access token (a JWT, minutes) and a refresh token (random, days).
//! A refresh token is used once: refreshing marks it used and issues a new one in the
//! same family. A used token presented again means someone else has it: the whole
//! family is revoked and both parties must log in again. Logout revokes the family.

use axum::extract::State;
use axum::http::StatusCode;
use bourse_shell::ApiError;
use bourse_shell::auth::{BoxFuture, Principal, Role, random_hex, secret_hash};
use bourse_shell::extract::Json;
use serde::{Deserialize, Serialize};

use bourse_core::{CASH, FixedStr, UserId};
use bourse_gateway::protocol::ServiceMsg;

use crate::store::Refreshed;
use crate::{UserState, password};

/// A user, as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UserView {
    /// The user id (also the engine account).
    pub id: u64,
    /// The login name.
    pub username: String,
    /// `user` or `admin`.
    pub role: Role,
}

/// `POST /v1/users` and `POST /v1/auth/login` bodies.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    /// 3 to 64 characters: letters, digits, `_ . - @`.
    #[schema(min_length = 3, max_length = 64, pattern = "^[A-Za-z0-9_.@-]+$")]
    pub username: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// What login and refresh answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// Exchange it at `/v1/auth/refresh` for new tokens (once).
    pub refresh_token: String,
    /// Who logged in.
    pub user: UserView,
}

/// `POST /v1/auth/refresh` and `/v1/auth/logout` bodies.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Refresh {
    /// The refresh token from login or the last refresh.
    pub refresh_token: String,
}

fn check_credentials(c: &Credentials) -> Result<(), ApiError> {
    let name_ok = (3..=64).contains(&c.username.len())
        && c.username
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-@".contains(ch));
    if !name_ok {
        return Err(ApiError::unprocessable(
            "username: 3 to 64 characters, letters, digits and _ . - @",
        ));
    }
    if !(8..=128).contains(&c.password.chars().count()) {
        return Err(ApiError::unprocessable("password: 8 to 128 characters"));
    }
    Ok(())
}

async fn hash_blocking(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

async fn verify_blocking(password: String, phc: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || password::verify(&password, &phc))
        .await
        .map_err(ApiError::internal)
}

/// Creates a user with `role`; 409 if the name is taken.
pub async fn create_user(
    state: &UserState,
    credentials: &Credentials,
    role: Role,
) -> Result<UserView, ApiError> {
    check_credentials(credentials)?;
    let phc = hash_blocking(credentials.password.clone()).await?;
    // The engine account first, the row after: a user who can log in can trade. If
    // the engine's answer is lost the row is rolled back; the id is never reused, so
    // an account the engine did open stays empty and harmless.
    let open = |id: u64| -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async move {
            if let Some(engine) = &state.engine {
                crate::admin::execute(
                    engine,
                    ServiceMsg::AddUser {
                        request: 0,
                        user: UserId(id),
                    },
                )
                .await?;
                if role == Role::User && state.signup_cash > 0 {
                    crate::admin::execute(
                        engine,
                        ServiceMsg::Deposit {
                            request: 0,
                            user: UserId(id),
                            asset: FixedStr::new(CASH).map_err(ApiError::internal)?,
                            amount: state.signup_cash,
                        },
                    )
                    .await?;
                }
            }
            Ok(())
        })
    };
    let id = state
        .store
        .create_account(&credentials.username, &phc, role, &open)
        .await?
        .ok_or_else(|| ApiError::conflict("username taken"))?;
    Ok(UserView {
        id,
        username: credentials.username.clone(),
        role,
    })
}

/// Makes sure an admin called `username` exists (created with `password` if missing;
/// an existing user of that name is made admin, its password left as it is).
pub async fn ensure_admin(state: &UserState, credentials: &Credentials) -> Result<(), ApiError> {
    match create_user(state, credentials, Role::Admin).await {
        Err(e) if e.status == StatusCode::CONFLICT => {
            state.store.make_admin(&credentials.username).await
        }
        other => other.map(|_| ()),
    }
}

/// `POST /v1/users`: register.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = Credentials, responses((status = 201, body = UserView), (status = 409, body = bourse_shell::openapi::ErrorBody, description = "The name is taken")))]
pub async fn register(
    State(state): State<UserState>,
    Json(credentials): Json<Credentials>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = create_user(&state, &credentials, Role::User).await?;
    tracing::info!(user = user.id, "registered");
    Ok((StatusCode::CREATED, Json(user)))
}

/// `GET /v1/users/me`.
#[utoipa::path(get, path = "/v1/users/me", tag = "users", responses((status = 200, body = UserView)))]
pub async fn me(
    State(state): State<UserState>,
    principal: Principal,
) -> Result<Json<UserView>, ApiError> {
    let (username, role) = state
        .store
        .account(principal.user)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(Json(UserView {
        id: principal.user,
        username,
        role,
    }))
}

/// A hash of a random password, verified for unknown users so that a login's timing
/// does not tell whether the name exists.
fn no_user() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash(&random_hex(16)).unwrap_or_default())
}

/// `POST /v1/auth/login`.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = Credentials, responses((status = 200, body = Tokens)))]
pub async fn login(
    State(state): State<UserState>,
    Json(credentials): Json<Credentials>,
) -> Result<Json<Tokens>, ApiError> {
    let row = state.store.login(&credentials.username).await?;
    let phc = row
        .as_ref()
        .map_or_else(|| no_user().to_string(), |r| r.password_hash.clone());
    let ok = verify_blocking(credentials.password.clone(), phc).await?;
    let Some(row) = row.filter(|_| ok) else {
        return Err(ApiError::unauthorized("wrong username or password"));
    };
    let user = UserView {
        id: row.id,
        username: credentials.username,
        role: row.role,
    };
    let refresh_token = random_hex(32);
    state
        .store
        .add_refresh(
            secret_hash(&refresh_token),
            user.id,
            &random_hex(16),
            state.refresh_ttl,
        )
        .await?;
    tracing::info!(user = user.id, "logged in");
    tokens(&state, user, refresh_token).map(Json)
}

fn tokens(state: &UserState, user: UserView, refresh_token: String) -> Result<Tokens, ApiError> {
    Ok(Tokens {
        access_token: state.auth.tokens.issue(user.id, user.role)?,
        token_type: "Bearer",
        expires_in: state.auth.tokens.ttl.as_secs(),
        refresh_token,
        user,
    })
}

/// `POST /v1/auth/refresh`: a new pair for a live refresh token, which is used up.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = Refresh, responses((status = 200, body = Tokens)))]
pub async fn refresh(
    State(state): State<UserState>,
    Json(body): Json<Refresh>,
) -> Result<Json<Tokens>, ApiError> {
    let next = random_hex(32);
    let outcome = state
        .store
        .rotate_refresh(
            secret_hash(&body.refresh_token),
            secret_hash(&next),
            state.refresh_ttl,
        )
        .await?;
    match outcome {
        Refreshed::Rotated {
            user,
            username,
            role,
        } => {
            let user = UserView {
                id: user,
                username,
                role,
            };
            tokens(&state, user, next).map(Json)
        }
        Refreshed::Reused => {
            // Presented twice: it was copied. Every session of this login ended.
            tracing::warn!("refresh token reused: login revoked");
            Err(ApiError::unauthorized(
                "refresh token already used: this login was revoked, log in again",
            ))
        }
        Refreshed::Dead => Err(ApiError::unauthorized(
            "refresh token expired or revoked: log in again",
        )),
        Refreshed::Unknown => Err(ApiError::unauthorized("unknown refresh token")),
    }
}

/// `POST /v1/auth/logout`: revokes every refresh token of the login.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = Refresh, responses((status = 204, description = "Logged out: the refresh token and its successors are revoked")))]
pub async fn logout(
    State(state): State<UserState>,
    Json(body): Json<Refresh>,
) -> Result<StatusCode, ApiError> {
    if !state
        .store
        .revoke_login(secret_hash(&body.refresh_token))
        .await?
    {
        return Err(ApiError::unauthorized(
            "unknown or already revoked refresh token",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
