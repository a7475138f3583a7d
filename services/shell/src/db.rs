//! The PostgreSQL connection pool every service uses.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// Why a pool could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is unreadable, or creating the schema failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The pool could not be built.
    #[error("database pool: {0}")]
    Build(#[from] deadpool_postgres::BuildError),
    /// A schema name other than lowercase letters, digits and `_`.
    #[error("schema name {0:?}: lowercase letters, digits and _ only")]
    BadSchema(String),
}

/// A pool of connections to `url` (`postgres://user@host:port/db` or
/// `host=... user=... dbname=...`); with `schema`, every connection works in it
/// (created if missing), so that several instances or tests can share a database.
/// Connections are made lazily: a database that is down fails requests (503) and
/// readiness, not the start.
pub async fn pool(url: &str, schema: Option<&str>, size: usize) -> Result<Pool, DbError> {
    let mut config: tokio_postgres::Config = url.parse()?;
    if let Some(schema) = schema {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(DbError::BadSchema(schema.to_string()));
        }
        config.options(format!("-c search_path={schema}"));
        let (client, conn) = config.connect(NoTls).await?;
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await?;
        drop(client);
        let _ = task.await;
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Ok(Pool::builder(manager).max_size(size).build()?)
}
