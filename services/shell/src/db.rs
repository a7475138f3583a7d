//! The PostgreSQL connection pool every service uses.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// Why a pool could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is unreadable, or creating the schema failed.
    #[error("postgres: {}", describe(.0))]
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
        // Appended: options the URL carries (`-c synchronous_commit=...`) are kept.
        let options = match config.get_options() {
            Some(given) if !given.is_empty() => format!("{given} -c search_path={schema}"),
            _ => format!("-c search_path={schema}"),
        };
        config.options(options);
        let (client, conn) = config.connect(NoTls).await?;
        let task = tokio::spawn(conn);
        // `IF NOT EXISTS` alone is not safe against a concurrent creator (the loser
        // fails on pg_namespace's unique index), so instances starting together
        // take turns under a lock.
        client
            .batch_execute(&format!(
                "BEGIN;
                 SELECT pg_advisory_xact_lock({SCHEMA_LOCK});
                 CREATE SCHEMA IF NOT EXISTS \"{schema}\";
                 COMMIT;"
            ))
            .await?;
        drop(client);
        let _ = task.await;
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // A connection that closed is dropped; an open one is not probed with a
            // query on every checkout (that was a round trip per request).
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager).max_size(size).build()?)
}

/// The advisory lock under which schemas are created.
const SCHEMA_LOCK: i64 = 0x626f_7572_7365_5f73; // "bourse_s"

/// A PostgreSQL error with the server's message (`db error` alone says nothing).
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// SQL for a `timestamptz` column (or expression) as the API shows times: RFC 3339 in
/// UTC with microseconds (`2026-12-01T15:30:00.125000Z`), as
/// [`crate::lite::rfc3339_micros`] renders the embedded store's.
pub fn rfc3339_sql(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

/// SQL for a `timestamptz` column (or expression) as microseconds since the Unix epoch.
pub fn micros_sql(column: &str) -> String {
    format!("(extract(epoch FROM {column}) * 1000000)::BIGINT")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machine's PostgreSQL (the README's test command runs against it).
    const PG: &str = "host=127.0.0.1 user=postgres dbname=test";

    #[tokio::test]
    async fn a_schema_keeps_the_options_the_url_gives() {
        let schema = format!("shell_db_{}", std::process::id());
        let url = format!("{PG} options='-c synchronous_commit=off -c statement_timeout=12345'");
        let pool = pool(&url, Some(&schema), 2).await.unwrap();
        let client = pool.get().await.unwrap();
        let show = |name: &'static str| {
            let client = &client;
            async move {
                let row = client
                    .query_one(&format!("SHOW {name}"), &[])
                    .await
                    .unwrap();
                row.get::<_, String>(0)
            }
        };
        assert_eq!(show("synchronous_commit").await, "off");
        assert_eq!(show("statement_timeout").await, "12345ms");
        assert_eq!(show("search_path").await, schema);
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn instances_starting_together_all_get_their_schema() {
        let schema = format!("shell_race_{}", std::process::id());
        let mut starts = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let schema = schema.clone();
            starts.spawn(async move { pool(PG, Some(&schema), 1).await.map(drop) });
        }
        while let Some(made) = starts.join_next().await {
            made.unwrap().unwrap();
        }
        let client = pool(PG, None, 1).await.unwrap().get().await.unwrap();
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_schema_name_outside_the_safe_alphabet_is_refused() {
        let err = pool(PG, Some("x; DROP TABLE y"), 1).await.unwrap_err();
        assert!(matches!(err, DbError::BadSchema(_)), "{err}");
    }
}
