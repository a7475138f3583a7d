//! Schema migrations: each component's SQL files, applied in order on start, each
//! once, recorded in the component's own table, under an advisory lock so that two
//! instances starting together do not race. Components sharing one database keep
//! separate version histories.

use tokio_postgres::Client;

/// A component's migrations.
#[derive(Clone, Copy, Debug)]
pub struct Migrations {
    /// The table that records which versions were applied.
    pub table: &'static str,
    /// The advisory lock held while migrating (unique per component).
    pub lock: i64,
    /// `(version, SQL)`, in order.
    pub steps: &'static [(i32, &'static str)],
}

impl Migrations {
    /// Applies the steps not yet applied, in one transaction; returns how many.
    pub async fn run(&self, client: &mut Client) -> Result<usize, tokio_postgres::Error> {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&self.lock])
            .await?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} (
                 version    INT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
            self.table
        ))
        .await?;
        let done: Vec<i32> = tx
            .query(&format!("SELECT version FROM {}", self.table), &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut applied = 0;
        for (version, sql) in self.steps {
            if done.contains(version) {
                continue;
            }
            tx.batch_execute(sql).await?;
            tx.execute(
                &format!("INSERT INTO {} (version) VALUES ($1)", self.table),
                &[version],
            )
            .await?;
            applied += 1;
        }
        tx.commit().await?;
        Ok(applied)
    }
}
