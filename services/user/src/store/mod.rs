//! Where the user service keeps accounts, refresh tokens and API keys: behind
//! [`UserStore`], on PostgreSQL ([`pg::PgUserStore`], the distributed mode) or on the
//! embedded SQLite file ([`lite::LiteUserStore`], the all-in-one process). Both pass
//! the same contract tests (`tests/store.rs`). Only hashes of secrets reach a store.

pub mod lite;
pub mod pg;

use std::time::Duration;

use bourse_shell::ApiError;
use bourse_shell::auth::{BoxFuture, Role};
use bourse_shell::health::Check;

/// Opens the engine account of a new user (its id given) before the account is
/// committed: an error rolls the account back.
pub type Opener<'a> = &'a (dyn Fn(u64) -> BoxFuture<'a, Result<(), ApiError>> + Send + Sync);

/// An account as a login reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The user.
    pub id: u64,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// The role.
    pub role: Role,
}

/// What presenting a refresh token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refreshed {
    /// It was live: used up, and its successor (same login) stored.
    Rotated {
        /// The user.
        user: u64,
        /// Their name.
        username: String,
        /// Their role.
        role: Role,
    },
    /// It had been used already (so it was copied): every token of its login is
    /// revoked now.
    Reused,
    /// Expired or revoked.
    Dead,
    /// No such token.
    Unknown,
}

/// An API key as its owner sees it (never the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    /// The key id.
    pub key_id: String,
    /// The owner's label.
    pub label: String,
    /// When it was made (RFC 3339, UTC, microseconds).
    pub created_at: String,
}

/// A live key as a verifier needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveKey {
    /// The owner.
    pub user: u64,
    /// The owner's role.
    pub role: Role,
    /// SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
}

/// The user service's storage. Every method is one transaction.
#[async_trait::async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    /// Makes the tables (idempotent; safe with several instances starting at once).
    async fn prepare(&self) -> Result<(), ApiError>;
    /// Creates an account and runs `open` with its id before committing it; `None`
    /// if the name is taken. Ids are never reused, even after a rollback.
    async fn create_account(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        open: Opener<'_>,
    ) -> Result<Option<u64>, ApiError>;
    /// Makes `username` an admin (nothing if there is no such user).
    async fn make_admin(&self, username: &str) -> Result<(), ApiError>;
    /// A user's name and role.
    async fn account(&self, id: u64) -> Result<Option<(String, Role)>, ApiError>;
    /// What a login checks, by name.
    async fn login(&self, username: &str) -> Result<Option<Login>, ApiError>;
    /// Stores a refresh token (its hash) of login `family`, living `ttl`.
    async fn add_refresh(
        &self,
        token_sha256: [u8; 32],
        user: u64,
        family: &str,
        ttl: Duration,
    ) -> Result<(), ApiError>;
    /// Presents a refresh token: if live, it is used up and `next` (same login,
    /// living `ttl`) stored in its place.
    async fn rotate_refresh(
        &self,
        token_sha256: [u8; 32],
        next_sha256: [u8; 32],
        ttl: Duration,
    ) -> Result<Refreshed, ApiError>;
    /// Revokes every live token of the login `token_sha256` belongs to; false if it
    /// is unknown or its login is revoked already.
    async fn revoke_login(&self, token_sha256: [u8; 32]) -> Result<bool, ApiError>;
    /// Adds an API key unless the user has `max_live` live keys already (`None`
    /// then); returns when it was made.
    async fn create_key(
        &self,
        user: u64,
        key_id: &str,
        secret_sha256: [u8; 32],
        label: &str,
        max_live: i64,
    ) -> Result<Option<String>, ApiError>;
    /// The user's live keys, newest first.
    async fn keys(&self, user: u64) -> Result<Vec<KeyRow>, ApiError>;
    /// Revokes one of the user's live keys; false if they have no such live key.
    async fn revoke_key(&self, user: u64, key_id: &str) -> Result<bool, ApiError>;
    /// A live key by id.
    async fn key(&self, key_id: &str) -> Result<Option<LiveKey>, ApiError>;
    /// Every live key: `(key_id, user, SHA-256 of the secret)`.
    async fn live_keys(&self) -> Result<Vec<(String, u64, [u8; 32])>, ApiError>;
    /// The readiness check of the store.
    fn check(&self) -> Box<dyn Check>;
}
