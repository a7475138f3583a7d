//! API key pairs: create (the secret is answered once, stored as its SHA-256), list,
//! revoke; and [`Keys`], the verifier every HTTP service uses for Alpaca's key
//! headers.
//!
//! A key id is `BK` and 14 characters of `A-Z0-9` (16 in all: the binary gateway's
//! `alpha16`); a secret is 32 characters of `A-Za-z0-9` (the gateway Login's 32 bytes,
//! about 190 bits). The same pair logs in on the gateway: its key store holds the same
//! SHA-256 of the same bytes ([`crate::store::UserStore::live_keys`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use bourse_shell::ApiError;
use bourse_shell::auth::{BoxFuture, KeyVerifier, Principal, Role, constant_time_eq, secret_hash};
use bourse_shell::extract::{Json, Path};
use deadpool_postgres::Pool;
use serde::{Deserialize, Serialize};

use crate::UserState;
use crate::store::UserStore;

/// Live keys one user may hold at once.
pub const MAX_KEYS: i64 = 20;

/// `POST /v1/keys` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    /// A name for the key (at most 64 characters).
    #[serde(default)]
    pub label: String,
}

/// A key as listed (never with its secret).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct KeyView {
    /// The key id (`APCA-API-KEY-ID`).
    pub key_id: String,
    /// Its label.
    pub label: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// A key just made: the only time its secret is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// The key.
    #[serde(flatten)]
    pub key: KeyView,
    /// The secret (`APCA-API-SECRET-KEY`): store it now, it cannot be shown again.
    pub secret: String,
}

fn random_chars(n: usize, alphabet: &[u8]) -> String {
    // 256 is not a multiple of 36 or 62: the slight bias is far below what matters
    // for 14 or 32 characters of identifier and secret.
    bourse_shell::auth::random_bytes(n)
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `POST /v1/keys`.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body(content = Option<NewKey>, description = "Optional: a label"), responses((status = 201, body = CreatedKey)))]
pub async fn create(
    State(state): State<UserState>,
    principal: Principal,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    // The body is optional: none, or `{"label": ...}`.
    let label = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        serde_json::from_slice::<NewKey>(&body)
            .map_err(|e| ApiError::unprocessable(format!("body: {e}")))?
            .label
    };
    if label.chars().count() > 64 {
        return Err(ApiError::unprocessable("label: at most 64 characters"));
    }
    let key_id = format!("BK{}", random_chars(14, UPPER_DIGITS));
    let secret = random_chars(32, ALNUM);
    let created_at = state
        .store
        .create_key(
            principal.user,
            &key_id,
            secret_hash(&secret),
            &label,
            MAX_KEYS,
        )
        .await?
        .ok_or_else(|| {
            ApiError::conflict(format!("at most {MAX_KEYS} live keys: revoke one first"))
        })?;
    tracing::info!(user = principal.user, key_id, "API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: KeyView {
                key_id,
                label,
                created_at,
            },
            secret,
        }),
    ))
}

/// `GET /v1/keys`: the caller's live keys, newest first.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = Vec<KeyView>)))]
pub async fn list(
    State(state): State<UserState>,
    principal: Principal,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    Ok(Json(
        state
            .store
            .keys(principal.user)
            .await?
            .into_iter()
            .map(|k| KeyView {
                key_id: k.key_id,
                label: k.label,
                created_at: k.created_at,
            })
            .collect(),
    ))
}

/// `DELETE /v1/keys/{key_id}`: revokes one of the caller's keys (anyone else's: 404).
#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "keys", params(("key_id" = String, Path, description = "The key id")), responses((status = 204, description = "Revoked: it stops working within a second, on the gateway too")))]
pub async fn revoke(
    State(state): State<UserState>,
    principal: Principal,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.store.revoke_key(principal.user, &key_id).await? {
        return Err(ApiError::not_found("no such key"));
    }
    tracing::info!(user = principal.user, key_id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// How often [`follow`] looks at the live keys.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// Keeps the gateway's `shared` key store equal to `base` (its key file) plus every
/// live key in `store`, looking every [`FOLLOW_EVERY`], until `stop` is set: a key made
/// over HTTP logs in on the gateway within a second, a revoked one is refused (and its
/// sessions logged out). While the database is down the last keys stay.
pub async fn follow(
    store: Arc<dyn UserStore>,
    base: bourse_gateway::keys::KeyStore,
    shared: bourse_gateway::keys::SharedKeys,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let mut failing = false;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match store.live_keys().await {
            Ok(rows) => {
                let mut store = base.clone();
                for (key_id, user, hash) in rows {
                    if let Ok(id) = bourse_core::FixedStr::new(&key_id) {
                        store.insert_hash(id, bourse_core::UserId(user), hash);
                    }
                }
                shared.replace(store);
                if failing {
                    tracing::info!("key database answers again");
                    failing = false;
                }
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e.message, "key database unavailable: keeping the keys the gateway has");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// A cached key: who it belongs to and its secret's hash (`None`: no such live key).
type Cached = Option<(u64, Role, [u8; 32])>;

/// Verifies Alpaca key headers against the user store's keys, caching each answer for
/// [`Keys::TTL`]: a new key works at once, a revoked one stops within the TTL.
pub struct Keys {
    store: Arc<dyn UserStore>,
    cache: Mutex<HashMap<String, (Instant, Cached)>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl Keys {
    /// How long an answer is reused.
    pub const TTL: Duration = Duration::from_secs(1);

    /// A verifier over `store`'s keys.
    pub fn new(store: Arc<dyn UserStore>) -> Self {
        Keys {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A verifier over the user tables in `pool` (the distributed mode).
    pub fn pg(pool: Pool) -> Self {
        Self::new(Arc::new(crate::store::pg::PgUserStore::new(pool)))
    }

    async fn lookup(&self, key_id: &str) -> Result<Cached, ApiError> {
        let now = Instant::now();
        if let Some((at, hit)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key_id)
            && now.duration_since(*at) < Self::TTL
        {
            return Ok(*hit);
        }
        let found = self
            .store
            .key(key_id)
            .await?
            .map(|k| (k.user, k.role, k.secret_sha256));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 100_000 {
            cache.retain(|_, (at, _)| now.duration_since(*at) < Self::TTL);
        }
        cache.insert(key_id.to_string(), (now, found));
        Ok(found)
    }
}

impl KeyVerifier for Keys {
    fn verify<'a>(
        &'a self,
        key_id: &'a str,
        secret: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, ApiError>> {
        Box::pin(async move {
            if key_id.len() > 64 {
                return Ok(None);
            }
            Ok(self.lookup(key_id).await?.and_then(|(user, role, hash)| {
                constant_time_eq(&hash, &secret_hash(secret)).then(|| Principal {
                    user,
                    role,
                    key_id: Some(key_id.to_string()),
                })
            }))
        })
    }
}
