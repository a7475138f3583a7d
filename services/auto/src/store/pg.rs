//! [`AutoStore`] on PostgreSQL: `trader_orders` (the trader service's) and
//! `auto_position` (`migrations/`).

use bourse_order::token::by_token;
use bourse_shell::ApiError;
use bourse_shell::db::{micros_sql as micros, rfc3339_sql as time};
use bourse_shell::health::{Check, Database};
use bourse_shell::migrate::Migrations;
use bourse_trader::store::Condition;
use deadpool_postgres::Pool;
use deadpool_postgres::tokio_postgres::Row;

use super::recurring::{self, PLAN_COLUMNS, Plan, RUN_COLUMNS, RecurringStore, Run, RunOutcome};
use super::{ActiveAlert, Alert, AutoStore, Fired, Held, NewAlert};

/// The auto service's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    table: "auto_schema_migrations",
    lock: 7_340_006,
    steps: &[
        (1, include_str!("../../migrations/0001_auto_position.sql")),
        (2, include_str!("../../migrations/0002_alerts.sql")),
        (3, include_str!("../../migrations/0003_recurring.sql")),
        (4, include_str!("../../migrations/0004_end_of_day.sql")),
    ],
};

/// The columns [`alert`] reads.
fn alert_columns() -> String {
    format!(
        "id, user_id, symbol, condition, price, note, status, triggered_price, triggered_seq, {}, {}",
        time("created_at"),
        time("triggered_at")
    )
}

/// A fired order from the columns `id, user_id, token, symbol, side, type,
/// time_in_force, qty, limit_price` (its other leg, if any, set by the caller).
fn fired(r: &Row) -> Fired {
    Fired {
        id: r.get(0),
        user: r.get::<_, i64>(1) as u64,
        token: r.get(2),
        symbol: r.get(3),
        side: r.get(4),
        order_type: r.get(5),
        time_in_force: r.get(6),
        qty: r.get(7),
        limit_price: r.get(8),
        oco: None,
    }
}

fn alert(r: &Row) -> Alert {
    let price: Option<i64> = r.get(7);
    let seq: Option<i64> = r.get(8);
    Alert {
        id: r.get(0),
        user: r.get::<_, i64>(1) as u64,
        symbol: r.get(2),
        condition: r.get(3),
        price: r.get(4),
        note: r.get(5),
        status: r.get(6),
        triggered: price.zip(seq),
        created_at: r.get(9),
        triggered_at: r.get(10),
    }
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
                "SELECT t.id, t.symbol, t.side, t.stop_price, t.trail_price, t.trail_ppm, t.hwm,
                        {}, o.user_id, o.token
                 FROM trader_orders t
                 LEFT JOIN trader_orders o ON o.id = t.oco_with
                 WHERE t.status = 'held' AND (t.parent_id IS NULL OR t.activated_at IS NOT NULL)
                   AND ($1::BIGINT IS NULL OR t.created_at >= to_timestamp($1::BIGINT / 1e6)
                        OR t.activated_at >= to_timestamp($1::BIGINT / 1e6))
                 ORDER BY t.created_at",
                micros("COALESCE(t.activated_at, t.created_at)")
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
                oco: r
                    .get::<_, Option<i64>>(8)
                    .map(|u| u as u64)
                    .zip(r.get::<_, Option<String>>(9)),
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
                           t.qty, t.limit_price, t.oco_with,
                           (SELECT o.token FROM trader_orders o WHERE o.id = t.oco_with)",
            )
            .await?;
        let ids: Vec<&str> = orders.iter().map(|(id, _)| id.as_str()).collect();
        let marks: Vec<Option<i64>> = orders.iter().map(|(_, m)| *m).collect();
        Ok(client
            .query(&stmt, &[&ids, &marks])
            .await?
            .iter()
            .map(|r| Fired {
                oco: r
                    .get::<_, Option<String>>(9)
                    .zip(r.get::<_, Option<String>>(10)),
                ..fired(r)
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

    async fn activate_brackets(&self) -> Result<Vec<Fired>, ApiError> {
        let client = self.pool.get().await?;
        let by_token = by_token("o", "p");
        let stmt = client
            .prepare_cached(&format!(
                "WITH ready AS (
                     SELECT t.id, t.parent_id FROM trader_orders t
                     JOIN trader_orders p ON p.id = t.parent_id
                     JOIN orders o ON {by_token}
                     WHERE t.parent_id IS NOT NULL AND t.activated_at IS NULL
                       AND t.status = 'held' AND t.type = 'limit' AND o.status = 'filled'
                 ), tp AS (
                     UPDATE trader_orders t
                     SET status = 'pending_new', known_seq = 0,
                         activated_at = clock_timestamp(), updated_at = clock_timestamp()
                     FROM ready WHERE t.id = ready.id AND t.status = 'held'
                     RETURNING t.id, t.user_id, t.token, t.symbol, t.side, t.type,
                               t.time_in_force, t.qty, t.limit_price, t.parent_id
                 ), sl AS (
                     UPDATE trader_orders s
                     SET activated_at = clock_timestamp(), updated_at = clock_timestamp()
                     FROM tp WHERE s.parent_id = tp.parent_id AND s.id <> tp.id
                       AND s.status = 'held'
                 ), lone_stop AS (
                     -- An oto's stop-loss: no take-profit beside it, armed on its own.
                     UPDATE trader_orders s
                     SET activated_at = clock_timestamp(), updated_at = clock_timestamp()
                     FROM trader_orders p
                     JOIN orders o ON {by_token}
                     WHERE p.id = s.parent_id AND s.parent_id IS NOT NULL
                       AND s.activated_at IS NULL AND s.status = 'held'
                       AND s.oco_with IS NULL AND s.type <> 'limit' AND o.status = 'filled'
                 )
                 SELECT id, user_id, token, symbol, side, type, time_in_force, qty, limit_price
                 FROM tp",
            ))
            .await?;
        Ok(client.query(&stmt, &[]).await?.iter().map(fired).collect())
    }

    async fn cancel_orphan_legs(&self) -> Result<u64, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                &format!(
                    "UPDATE trader_orders t SET status = 'canceled', updated_at = clock_timestamp()
                     FROM trader_orders p
                     LEFT JOIN orders o ON {}
                     WHERE p.id = t.parent_id AND t.parent_id IS NOT NULL
                       AND t.activated_at IS NULL AND t.status = 'held'
                       AND (p.status IN ('rejected', 'canceled', 'expired')
                            OR o.status IN ('canceled', 'replaced'))",
                    by_token("o", "p")
                ),
                &[],
            )
            .await?)
    }

    async fn expire_held_day(&self, close: i64) -> Result<u64, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "UPDATE trader_orders SET status = 'expired', updated_at = clock_timestamp()
                 WHERE status = 'held' AND time_in_force = 'day'
                   AND created_at < to_timestamp($1::BIGINT / 1e6)",
                &[&close],
            )
            .await?)
    }

    async fn claim_end_of_day(&self, close: i64) -> Result<bool, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "INSERT INTO auto_end_of_day (close_at, claimed_at)
                 VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT)
                 ON CONFLICT (close_at) DO NOTHING",
                &[&close],
            )
            .await?
            == 1)
    }

    async fn end_of_day_done(&self, close: i64) -> Result<(), ApiError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE auto_end_of_day
                 SET done_at = (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT
                 WHERE close_at = $1",
                &[&close],
            )
            .await?;
        Ok(())
    }

    async fn create_alert(&self, a: &NewAlert, max_active: u32) -> Result<Option<Alert>, ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // One owner's alerts are counted and made one at a time.
        tx.execute(
            "SELECT pg_advisory_xact_lock(7340008, $1::INT)",
            &[&((a.user % i32::MAX as u64) as i32)],
        )
        .await?;
        let active: i64 = tx
            .query_one(
                "SELECT count(*) FROM auto_alerts WHERE user_id = $1 AND status = 'active'",
                &[&(a.user as i64)],
            )
            .await?
            .get(0);
        if active >= i64::from(max_active) {
            return Ok(None);
        }
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO auto_alerts (id, user_id, symbol, condition, price, note)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
                    alert_columns()
                ),
                &[
                    &a.id,
                    &(a.user as i64),
                    &a.symbol,
                    &a.condition,
                    &a.price,
                    &a.note,
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(Some(alert(&row)))
    }

    async fn alerts(
        &self,
        user: u64,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Alert>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {} FROM auto_alerts
                 WHERE user_id = $1 AND ($2::TEXT IS NULL OR status = $2)
                 ORDER BY created_at DESC, id LIMIT $3",
                alert_columns()
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&(user as i64), &status, &i64::from(limit)])
            .await?
            .iter()
            .map(alert)
            .collect())
    }

    async fn alert(&self, user: u64, id: &str) -> Result<Option<Alert>, ApiError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {} FROM auto_alerts WHERE user_id = $1 AND id = $2",
                    alert_columns()
                ),
                &[&(user as i64), &id],
            )
            .await?;
        Ok(row.as_ref().map(alert))
    }

    async fn cancel_alert(&self, user: u64, id: &str) -> Result<Option<Alert>, ApiError> {
        {
            let client = self.pool.get().await?;
            client
                .execute(
                    "UPDATE auto_alerts SET status = 'canceled', updated_at = clock_timestamp()
                     WHERE user_id = $1 AND id = $2 AND status = 'active'",
                    &[&(user as i64), &id],
                )
                .await?;
        }
        self.alert(user, id).await
    }

    async fn active_alerts(&self, since: Option<i64>) -> Result<Vec<ActiveAlert>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT id, symbol, condition, price, {} FROM auto_alerts
                 WHERE status = 'active'
                   AND ($1::BIGINT IS NULL OR created_at >= to_timestamp($1::BIGINT / 1e6))
                 ORDER BY created_at",
                micros("created_at")
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&since])
            .await?
            .iter()
            .map(|r| ActiveAlert {
                id: r.get(0),
                symbol: r.get(1),
                above: r.get::<_, &str>(2) == "at_or_above",
                price: r.get(3),
                created: r.get(4),
            })
            .collect())
    }

    async fn left_alerts(&self, since: i64) -> Result<Vec<(String, i64)>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT id, {} FROM auto_alerts
                 WHERE status <> 'active' AND updated_at >= to_timestamp($1::BIGINT / 1e6)",
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

    async fn fire_alerts(&self, alerts: &[(String, i64, u64)]) -> Result<usize, ApiError> {
        let client = self.pool.get().await?;
        let ids: Vec<&str> = alerts.iter().map(|(id, _, _)| id.as_str()).collect();
        let prices: Vec<i64> = alerts.iter().map(|(_, p, _)| *p).collect();
        let seqs: Vec<i64> = alerts.iter().map(|(_, _, s)| *s as i64).collect();
        Ok(client
            .execute(
                "UPDATE auto_alerts a
                 SET status = 'triggered', triggered_price = x.p, triggered_seq = x.s,
                     triggered_at = clock_timestamp(), updated_at = clock_timestamp()
                 FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) AS x(id, p, s)
                 WHERE a.id = x.id AND a.status = 'active'",
                &[&ids, &prices, &seqs],
            )
            .await? as usize)
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(Database(self.pool.clone()))
    }
}

fn plan(r: &Row) -> Plan {
    Plan {
        id: r.get(0),
        user: r.get::<_, i64>(1) as u64,
        symbol: r.get(2),
        side: r.get(3),
        qty: r.get(4),
        notional: r.get(5),
        frequency: r.get(6),
        weekdays: r.get(7),
        day_of_month: r.get(8),
        at_time: r.get(9),
        status: r.get(10),
        next_run_at: r.get(11),
        created_at: r.get(12),
    }
}

fn run(r: &Row) -> Run {
    Run {
        plan_id: r.get(0),
        scheduled_for: r.get(1),
        status: r.get(2),
        client_order_id: r.get(3),
        order_id: r.get(4),
        detail: r.get(5),
        ran_at: r.get(6),
    }
}

#[async_trait::async_trait]
impl RecurringStore for PgAuto {
    async fn create_plan(&self, p: &Plan, max: u32) -> Result<bool, ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(7340009, $1::INT)",
            &[&((p.user % i32::MAX as u64) as i32)],
        )
        .await?;
        let n: i64 = tx
            .query_one(recurring::sql::COUNT_ACTIVE, &[&(p.user as i64)])
            .await?
            .get(0);
        if n >= i64::from(max) {
            return Ok(false);
        }
        tx.execute(
            recurring::sql::INSERT,
            &[
                &p.id,
                &(p.user as i64),
                &p.symbol,
                &p.side,
                &p.qty,
                &p.notional,
                &p.frequency,
                &p.weekdays,
                &p.day_of_month,
                &p.at_time,
                &p.next_run_at,
                &p.created_at,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn plans(&self, user: u64) -> Result<Vec<Plan>, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .query(
                &format!(
                    "SELECT {PLAN_COLUMNS} FROM auto_recurring
                     WHERE user_id = $1 AND status <> 'deleted' ORDER BY created_at DESC, id"
                ),
                &[&(user as i64)],
            )
            .await?
            .iter()
            .map(plan)
            .collect())
    }

    async fn plan(&self, user: u64, id: &str) -> Result<Option<Plan>, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                &format!(
                    "SELECT {PLAN_COLUMNS} FROM auto_recurring
                     WHERE user_id = $1 AND id = $2 AND status <> 'deleted'"
                ),
                &[&(user as i64), &id],
            )
            .await?
            .as_ref()
            .map(plan))
    }

    async fn set_plan_status(
        &self,
        user: u64,
        id: &str,
        status: &str,
        next_run_at: Option<i64>,
    ) -> Result<bool, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                recurring::sql::SET_STATUS,
                &[
                    &(user as i64),
                    &id,
                    &status,
                    &next_run_at,
                    &bourse_shell::lite::now_micros(),
                ],
            )
            .await?
            > 0)
    }

    async fn runs(&self, plan_id: &str, limit: u32) -> Result<Vec<Run>, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM auto_recurring_runs WHERE plan_id = $1
                     ORDER BY scheduled_for DESC LIMIT $2"
                ),
                &[&plan_id, &i64::from(limit)],
            )
            .await?
            .iter()
            .map(run)
            .collect())
    }

    async fn due_plans(&self, now: i64) -> Result<Vec<Plan>, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .query(
                &format!(
                    "SELECT {PLAN_COLUMNS} FROM auto_recurring
                     WHERE status = 'active' AND next_run_at <= $1 ORDER BY next_run_at LIMIT 1000"
                ),
                &[&now],
            )
            .await?
            .iter()
            .map(plan)
            .collect())
    }

    async fn claim_run(
        &self,
        plan_id: &str,
        scheduled: i64,
        next: Option<i64>,
        client_order_id: &str,
    ) -> Result<bool, ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let moved = tx
            .execute(
                recurring::sql::CLAIM,
                &[
                    &plan_id,
                    &scheduled,
                    &next,
                    &bourse_shell::lite::now_micros(),
                ],
            )
            .await?;
        if moved == 0 {
            return Ok(false);
        }
        tx.execute(
            recurring::sql::INSERT_RUN,
            &[&plan_id, &scheduled, &client_order_id],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn pending_runs(&self) -> Result<Vec<(Plan, Run)>, ApiError> {
        let client = self.pool.get().await?;
        let cols: String = PLAN_COLUMNS
            .split(", ")
            .map(|c| format!("p.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let runs: String = RUN_COLUMNS
            .split(", ")
            .map(|c| format!("r.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(client
            .query(
                &format!(
                    "SELECT {cols}, {runs} FROM auto_recurring_runs r
                     JOIN auto_recurring p ON p.id = r.plan_id
                     WHERE r.status = 'pending' ORDER BY r.scheduled_for LIMIT 1000"
                ),
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                let p = plan(r);
                let run = Run {
                    plan_id: r.get(13),
                    scheduled_for: r.get(14),
                    status: r.get(15),
                    client_order_id: r.get(16),
                    order_id: r.get(17),
                    detail: r.get(18),
                    ran_at: r.get(19),
                };
                (p, run)
            })
            .collect())
    }

    async fn finish_run(
        &self,
        plan_id: &str,
        scheduled: i64,
        o: &RunOutcome,
    ) -> Result<(), ApiError> {
        let client = self.pool.get().await?;
        client
            .execute(
                recurring::sql::FINISH_RUN,
                &[
                    &plan_id,
                    &scheduled,
                    &o.status,
                    &o.order_id,
                    &o.detail,
                    &bourse_shell::lite::now_micros(),
                ],
            )
            .await?;
        Ok(())
    }
}
