//! Schema migrations: SQL files in `migrations/`, applied in order on start, each once,
//! recorded in `schema_migrations`, under an advisory lock so that two instances
//! starting together do not race.

use tokio_postgres::Client;

use crate::OrderError;

/// The migrations, in order: (version, SQL).
pub const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/0001_settlement.sql")),
    (2, include_str!("../migrations/0002_cash_is_usd.sql")),
];

/// Applies the migrations not yet applied; returns how many were.
pub async fn migrate(client: &mut Client) -> Result<usize, OrderError> {
    let tx = client.transaction().await?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7340001);
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );",
    )
    .await?;
    let done: Vec<i32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut applied = 0;
    for (version, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}
