//! The connection pool.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::OrderError;

/// A pool of connections to `url` (`postgres://user@host:port/db` or
/// `host=... user=... dbname=...`); with `schema`, every connection works in it
/// (created if missing), so that several instances or tests can share a database.
pub async fn pool(url: &str, schema: Option<&str>, size: usize) -> Result<Pool, OrderError> {
    let mut config: tokio_postgres::Config = url.parse()?;
    if let Some(schema) = schema {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(OrderError::BadSchema(schema.to_string()));
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
