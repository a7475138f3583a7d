//! Who is asking: the [`Principal`] extractor, and per-principal rate limits.
//!
//! Two kinds of credentials are accepted on every route that takes a `Principal`:
//! - `Authorization: Bearer <access token>`: a short-lived JWT (HS256) that the user
//!   service issues at login ([`TokenKeys`]); checked here without any I/O.
//! - Alpaca's headers `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY`: an API key pair,
//!   checked by the service's [`KeyVerifier`] (the user service's table, cached briefly
//!   so that a revoked key stops working within a second).
//!
//!
//! A browser cannot set headers on a WebSocket, so a WebSocket upgrade may carry the
//! access token as a subprotocol instead: `Sec-WebSocket-Protocol: bourse,
//! bearer.<access token>` (the JavaScript `new WebSocket(url, ["bourse",
//! "bearer." + token])`). The socket then answers with [`WS_PROTOCOL`], which every
//! socket route selects ([`websocket_protocols`]).
//!
//! No credentials, or wrong ones: 401. Over the principal's rate: 429 with
//! `Retry-After`. Both answers come before any handler runs.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Trades for their own account.
    User,
    /// Also lists instruments and funds accounts.
    Admin,
}

impl Role {
    /// The name stored in the database and carried in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// The role a stored name stands for (anything unknown has no privileges).
    pub fn parse(s: &str) -> Role {
        if s == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user (also the engine account).
    pub user: u64,
    /// Their role.
    pub role: Role,
    /// The API key used, if it was a key (not a token).
    pub key_id: Option<String>,
}

impl Principal {
    /// 403 unless an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::User => Err(ApiError::forbidden("admin only")),
        }
    }
}

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id, as a string (JWT's convention).
    pub sub: String,
    /// The user's role.
    pub role: Role,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch).
    pub exp: u64,
}

/// Signs and checks access tokens (HS256 with a secret every service shares).
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// How long an access token lives.
    pub ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenKeys {
    /// Keys from the shared secret; tokens live `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A fresh access token for `user`.
    pub fn issue(&self, user: u64, role: Role) -> Result<String, ApiError> {
        let iat = now_secs();
        let claims = Claims {
            sub: user.to_string(),
            role,
            iat,
            exp: iat + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// The principal a token stands for; 401 if it is forged, expired or unreadable.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::unauthorized(format!("invalid access token: {e}")))?;
        let user = data
            .claims
            .sub
            .parse()
            .map_err(|_| ApiError::unauthorized("invalid access token: subject"))?;
        Ok(Principal {
            user,
            role: data.claims.role,
            key_id: None,
        })
    }
}

/// A boxed future, for [`KeyVerifier`] to be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Checks an API key pair.
pub trait KeyVerifier: Send + Sync {
    /// The principal of a live key whose secret matches; `None` for an unknown or
    /// revoked key or a wrong secret. `Err` only when the check itself failed (the
    /// database is down).
    fn verify<'a>(
        &'a self,
        key_id: &'a str,
        secret: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, ApiError>>;
}

/// The SHA-256 of an API key secret, as stored. Secrets are 32 random bytes, so a fast
/// hash is the right tool (a slow password hash protects guessable secrets).
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `n` random bytes from the operating system's generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the OS random number generator");
    bytes
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// Requests per second per principal.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").finish_non_exhaustive()
    }
}

impl RateLimit {
    /// `per_second` sustained, bursts of `burst`.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        RateLimit {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
        }
    }

    /// 429 with the wait if `who` is over its rate.
    pub fn check(&self, who: &str) -> Result<(), ApiError> {
        match self.limiter.check_key(&who.to_string()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(ApiError::too_many_requests(wait.as_secs_f64().ceil() as u64))
            }
        }
    }
}

/// What the [`Principal`] extractor needs from a service's state.
#[derive(Clone)]
pub struct Auth {
    /// Access tokens.
    pub tokens: TokenKeys,
    /// API keys.
    pub keys: Arc<dyn KeyVerifier>,
    /// Per-principal request rate.
    pub limit: RateLimit,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// The WebSocket subprotocol a socket route answers a browser with.
pub const WS_PROTOCOL: &str = "bourse";

/// What precedes the access token in a subprotocol that carries it.
const WS_BEARER_PREFIX: &str = "bearer.";

/// The subprotocols a socket route selects from (the client's offer must include one
/// for a browser to accept the socket): axum's `WebSocketUpgrade::protocols`.
pub fn websocket_protocols() -> [&'static str; 1] {
    [WS_PROTOCOL]
}

/// The access token a WebSocket upgrade offers as the subprotocol `bearer.<token>`.
fn subprotocol_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(WS_BEARER_PREFIX))
        .filter(|t| !t.is_empty())
}

/// The Alpaca key id header.
pub const KEY_ID_HEADER: &str = "apca-api-key-id";
/// The Alpaca secret header.
pub const SECRET_HEADER: &str = "apca-api-secret-key";

impl Auth {
    /// Authenticates a request's headers (and counts it against the principal's rate).
    pub async fn authenticate(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<Principal, ApiError> {
        let text = |name: &str| -> Result<Option<&str>, ApiError> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str()
                        .map_err(|_| ApiError::unauthorized(format!("unreadable {name}")))
                })
                .transpose()
        };
        if let Some(auth) = text("authorization")? {
            let token = auth
                .strip_prefix("Bearer ")
                .ok_or_else(|| ApiError::unauthorized("Authorization must be a Bearer token"))?;
            return self.token(token.trim());
        }
        match (text(KEY_ID_HEADER)?, text(SECRET_HEADER)?) {
            (Some(id), Some(secret)) => self.key(id, secret).await,
            (None, None) if let Some(token) = subprotocol_token(headers) => self.token(token),
            (None, None) => Err(ApiError::unauthorized(
                "credentials required: a Bearer token or the APCA-API-KEY-ID and APCA-API-SECRET-KEY headers",
            )),
            _ => Err(ApiError::unauthorized(
                "both APCA-API-KEY-ID and APCA-API-SECRET-KEY are required",
            )),
        }
    }

    /// An access token's principal, counted against its rate (for credentials that
    /// come in a message rather than headers: the WebSocket streams).
    pub fn token(&self, token: &str) -> Result<Principal, ApiError> {
        self.count(self.tokens.verify(token)?)
    }

    /// An API key pair's principal, counted against its rate.
    pub async fn key(&self, key_id: &str, secret: &str) -> Result<Principal, ApiError> {
        let principal = self
            .keys
            .verify(key_id, secret)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid API key or secret"))?;
        self.count(principal)
    }

    fn count(&self, principal: Principal) -> Result<Principal, ApiError> {
        let who = match &principal.key_id {
            Some(k) => format!("key:{k}"),
            None => format!("user:{}", principal.user),
        };
        self.limit.check(&who)?;
        Ok(principal)
    }
}

impl<S> FromRequestParts<S> for Principal
where
    Arc<Auth>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Arc::<Auth>::from_ref(state)
            .authenticate(&parts.headers)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_forgeries_and_expiry_are_refused() {
        let keys = TokenKeys::new(b"secret one", Duration::from_secs(60));
        let t = keys.issue(42, Role::Admin).unwrap();
        assert_eq!(
            keys.verify(&t).unwrap(),
            Principal {
                user: 42,
                role: Role::Admin,
                key_id: None
            }
        );
        let other = TokenKeys::new(b"secret two", Duration::from_secs(60));
        assert_eq!(
            other.verify(&t).unwrap_err().status,
            axum::http::StatusCode::UNAUTHORIZED
        );
        let expired = TokenKeys::new(b"secret one", Duration::ZERO);
        let claims = Claims {
            sub: "1".into(),
            role: Role::User,
            iat: 1,
            exp: 2,
        };
        let old = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &expired.encoding)
            .unwrap();
        assert!(keys.verify(&old).is_err(), "expired in 1970");
        assert!(keys.verify("not.a.token").is_err());
    }

    #[test]
    fn a_websocket_upgrade_carries_its_token_as_a_subprotocol() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(subprotocol_token(&h), None);
        h.insert(
            "sec-websocket-protocol",
            "bourse, bearer.abc.def".parse().unwrap(),
        );
        assert_eq!(subprotocol_token(&h), Some("abc.def"));
        h.insert("sec-websocket-protocol", "bourse,bearer.".parse().unwrap());
        assert_eq!(subprotocol_token(&h), None, "an empty token is none");
        h.insert("sec-websocket-protocol", "bourse".parse().unwrap());
        h.append("sec-websocket-protocol", "bearer.xyz".parse().unwrap());
        assert_eq!(
            subprotocol_token(&h),
            Some("xyz"),
            "in a second header line"
        );
    }

    #[test]
    fn the_rate_limit_refuses_past_the_burst_with_a_wait() {
        let limit = RateLimit::new(NonZeroU32::new(1).unwrap(), NonZeroU32::new(3).unwrap());
        for _ in 0..3 {
            limit.check("a").unwrap();
        }
        let err = limit.check("a").unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.retry_after, Some(1));
        limit
            .check("b")
            .expect("another principal has its own budget");
    }

    #[test]
    fn secrets_compare_in_constant_time_and_random_hex_is_random() {
        assert!(constant_time_eq(&secret_hash("x"), &secret_hash("x")));
        assert!(!constant_time_eq(&secret_hash("x"), &secret_hash("y")));
        assert!(!constant_time_eq(b"ab", b"abc"));
        let (a, b) = (random_hex(32), random_hex(32));
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
