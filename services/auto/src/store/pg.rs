//! [`AutoStore`] on PostgreSQL: `trader_orders` (the trader service's) and
//! `auto_position` (`migrations/`).

use bourse_shell::ApiError;
use bourse_shell::health::{Check, Database};
use bourse_shell::migrate::Migrations;
use bourse_trader::store::Condition;
use deadpool_postgres::Pool;

use super::{AutoStore, Fired, Held};

/// The auto service's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    table: "auto_schema_migrations",
    lock: 7_340_006,
    steps: &[(1, include_str!("../../migrations/0001_auto_position.sql"))],
};

/// Microseconds since the epoch of a `timestamptz` column, in SQL.
const MICROS: &str = "(extract(epoch FROM {}) * 1000000)::BIGINT";

fn micros(column: &str) -> String {
    MICROS.replace("{}", column)
}

/// The auto service's tables in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgAuto {
    pool: Pool,
}

impl PgAuto {
    /// The store over `pool`.
    pub fn new(pool: Pool) -> Self {
        PgAuto { pool }
    }
}

#[async_trait::async_trait]
impl AutoStore for PgAuto {
    async fn prepare(&self) -> Result<(), ApiError> {
        let mut client = self.pool.get().await?;
        MIGRATIONS.run(&mut client).await?;
        Ok(())
    }

    async fn held(&self, since: Option<i64>) -> Result<Vec<Held>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT id, symbol, side, stop_price, trail_price, trail_ppm, hwm, {}
                 FROM trader_orders
                 WHERE status = 'held'
                   AND ($1::BIGINT IS NULL OR created_at >= to_timestamp($1::BIGINT / 1e6))
                 ORDER BY created_at",
                micros("created_at")
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&since])
            .await?
            .iter()
            .map(|r| Held {
                id: r.get(0),
                symbol: r.get(1),
                side: r.get(2),
                condition: Condition {
                    stop_price: r.get(3),
                    trail_price: r.get(4),
                    trail_ppm: r.get(5),
                },
                hwm: r.get(6),
                created: r.get(7),
            })
            .collect())
    }

    async fn left_held(&self, since: i64) -> Result<Vec<(String, i64)>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                // The types as the partial index `trader_orders_conditional` names
                // them, so that the planner can use it (a parameter it cannot).
                "SELECT id, {} FROM trader_orders
                 WHERE type IN ('stop', 'stop_limit', 'trailing_stop') AND status <> 'held'
                   AND updated_at >= to_timestamp($1::BIGINT / 1e6)",
                micros("updated_at")
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&since])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    async fn fire(&self, orders: &[(String, Option<i64>)]) -> Result<Vec<Fired>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE trader_orders t
                 SET status = 'pending_new', known_seq = 0, hwm = COALESCE(x.h, t.hwm),
                     triggered_at = clock_timestamp(), updated_at = clock_timestamp()
                 FROM unnest($1::TEXT[], $2::BIGINT[]) AS x(id, h)
                 WHERE t.id = x.id AND t.status = 'held'
                 RETURNING t.id, t.user_id, t.token, t.symbol, t.side, t.type, t.time_in_force,
                           t.qty, t.limit_price",
            )
            .await?;
        let ids: Vec<&str> = orders.iter().map(|(id, _)| id.as_str()).collect();
        let marks: Vec<Option<i64>> = orders.iter().map(|(_, m)| *m).collect();
        Ok(client
            .query(&stmt, &[&ids, &marks])
            .await?
            .iter()
            .map(|r| Fired {
                id: r.get(0),
                user: r.get::<_, i64>(1) as u64,
                token: r.get(2),
                symbol: r.get(3),
                side: r.get(4),
                order_type: r.get(5),
                time_in_force: r.get(6),
                qty: r.get(7),
                limit_price: r.get(8),
            })
            .collect())
    }

    async fn save(&self, position: u64, marks: &[(String, i64)]) -> Result<(), ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if !marks.is_empty() {
            let ids: Vec<&str> = marks.iter().map(|(id, _)| id.as_str()).collect();
            let values: Vec<i64> = marks.iter().map(|(_, m)| *m).collect();
            tx.execute(
                "UPDATE trader_orders t SET hwm = x.h
                 FROM unnest($1::TEXT[], $2::BIGINT[]) AS x(id, h)
                 WHERE t.id = x.id AND t.status = 'held'",
                &[&ids, &values],
            )
            .await?;
        }
        tx.execute(
            "UPDATE auto_position SET seq = GREATEST(seq, $1) WHERE id = 1",
            &[&(position as i64)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn position(&self) -> Result<u64, ApiError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT seq FROM auto_position WHERE id = 1", &[])
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn now(&self) -> Result<i64, ApiError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(&format!("SELECT {}", micros("clock_timestamp()")), &[])
            .await?;
        Ok(row.get(0))
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(Database(self.pool.clone()))
    }
}
