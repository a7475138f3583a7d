//! What every service is configured with, from flags and the environment (flags win),
//! logged at start-up (secrets never).

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{Auth, KeyVerifier, RateLimit, TokenKeys, random_hex};

/// Writes `text` to `path` (creating its directory) so that only its owner can read it.
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut f, text.as_bytes())
}

/// The secret kept at `path`: read if it is there, else `bytes` random bytes in hex,
/// made and written there for the next start ([`write_private`]: anyone who can read it
/// could use it).
pub fn kept_secret(path: &std::path::Path, bytes: usize) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            let made = random_hex(bytes);
            write_private(path, &made)?;
            Ok(made)
        }
    }
}

/// The shell's configuration, shared by every service (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone)]
pub struct ShellArgs {
    /// PostgreSQL (`postgres://user@host:port/db` or `host=... user=... dbname=...`).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "host=127.0.0.1 user=postgres dbname=postgres"
    )]
    pub database_url: String,
    /// Work in this PostgreSQL schema (created if missing) instead of `public`.
    #[arg(long, env = "BOURSE_DB_SCHEMA")]
    pub schema: Option<String>,
    /// Connections in this instance's pool.
    #[arg(long, env = "BOURSE_DB_POOL", default_value_t = 16)]
    pub db_pool: usize,
    /// The secret that signs access tokens; every service must share it. Without it,
    /// one is made and kept in `<data dir>/jwt.secret` (fine on one machine).
    #[arg(long, env = "BOURSE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Where the made secret is kept.
    #[arg(long, env = "BOURSE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Seconds an access token lives.
    #[arg(long, env = "BOURSE_ACCESS_TTL", default_value_t = 900)]
    pub access_ttl: u64,
    /// Requests per second per key or user, sustained.
    #[arg(long, env = "BOURSE_RATE", default_value_t = 200)]
    pub rate: u32,
    /// Requests per key or user in a burst.
    #[arg(long, env = "BOURSE_BURST", default_value_t = 400)]
    pub burst: u32,
    /// Log one JSON object a line (for log collectors).
    #[arg(long, env = "BOURSE_LOG_JSON")]
    pub log_json: bool,
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or writing the made secret failed.
    #[error("JWT secret file {path}: {source}")]
    Secret {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A limit of zero.
    #[error("--rate and --burst must be at least 1")]
    ZeroRate,
}

impl ShellArgs {
    /// The token-signing secret: the configured one, or the one kept in the data
    /// directory (made on first use).
    pub fn secret(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(s) = &self.jwt_secret {
            return Ok(s.as_bytes().to_vec());
        }
        let path = self.data_dir.join("jwt.secret");
        let made = std::fs::read_to_string(&path).map_or(true, |s| s.trim().is_empty());
        let secret = kept_secret(&path, 32).map_err(|source| ConfigError::Secret {
            path: path.clone(),
            source,
        })?;
        if made {
            tracing::warn!(path = %path.display(), "no BOURSE_JWT_SECRET: made one; services on other machines need the same");
        }
        Ok(secret.into_bytes())
    }

    /// The authentication every route of a service uses, with `keys` for API keys.
    pub fn auth(&self, keys: Arc<dyn KeyVerifier>) -> Result<Arc<Auth>, ConfigError> {
        let rate = NonZeroU32::new(self.rate).ok_or(ConfigError::ZeroRate)?;
        let burst = NonZeroU32::new(self.burst).ok_or(ConfigError::ZeroRate)?;
        Ok(Arc::new(Auth {
            tokens: TokenKeys::new(&self.secret()?, Duration::from_secs(self.access_ttl)),
            keys,
            limit: RateLimit::new(rate, burst),
        }))
    }

    /// The database pool.
    pub async fn pool(&self) -> Result<deadpool_postgres::Pool, crate::db::DbError> {
        crate::db::pool(&self.database_url, self.schema.as_deref(), self.db_pool).await
    }
}
