//! [`AutoStore`] on the embedded SQLite store (`migrations/lite/`): the same
//! statements as PostgreSQL's where SQLite reads them; times are microseconds.

use bourse_shell::ApiError;
use bourse_shell::health::Check;
use bourse_shell::lite::rusqlite::{self, params};
use bourse_shell::lite::{Lite, LiteCheck, LiteMigrations, now_micros};
use bourse_trader::store::Condition;

use super::recurring::{self, PLAN_COLUMNS, Plan, RUN_COLUMNS, RecurringStore, Run, RunOutcome};
use super::{ActiveAlert, Alert, AutoStore, Fired, Held, NewAlert};
use bourse_shell::lite::rfc3339_micros;
use bourse_shell::lite::rusqlite::OptionalExtension;

/// The auto service's SQLite migrations.
pub const MIGRATIONS: LiteMigrations = LiteMigrations {
    table: "auto_schema_migrations",
    steps: &[
        (
            1,
            include_str!("../../migrations/lite/0001_auto_position.sql"),
        ),
        (2, include_str!("../../migrations/lite/0002_alerts.sql")),
        (3, include_str!("../../migrations/lite/0003_recurring.sql")),
        (4, include_str!("../../migrations/lite/0004_end_of_day.sql")),
    ],
};

/// The auto service's tables in the embedded store.
#[derive(Clone, Debug)]
pub struct LiteAuto {
    lite: Lite,
}

impl LiteAuto {
    /// The store over `lite`.
    pub fn new(lite: Lite) -> Self {
        LiteAuto { lite }
    }
}

#[async_trait::async_trait]
impl AutoStore for LiteAuto {
    async fn prepare(&self) -> Result<(), ApiError> {
        self.lite.migrate(MIGRATIONS).await?;
        Ok(())
    }

    async fn held(&self, since: Option<i64>) -> Result<Vec<Held>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT t.id, t.symbol, t.side, t.stop_price, t.trail_price, t.trail_ppm, t.hwm,
                        coalesce(t.activated_at, t.created_at), o.user_id, o.token
                 FROM trader_orders t
                 LEFT JOIN trader_orders o ON o.id = t.oco_with
                 WHERE t.status = 'held' AND (t.parent_id IS NULL OR t.activated_at IS NOT NULL)
                   AND (?1 IS NULL OR t.created_at >= ?1 OR t.activated_at >= ?1)
                 ORDER BY t.created_at",
                (since,),
                |r| {
                    Ok(Held {
                        id: r.get(0)?,
                        symbol: r.get(1)?,
                        side: r.get(2)?,
                        condition: Condition {
                            stop_price: r.get(3)?,
                            trail_price: r.get(4)?,
                            trail_ppm: r.get(5)?,
                        },
                        hwm: r.get(6)?,
                        created: r.get(7)?,
                        oco: r
                            .get::<_, Option<i64>>(8)?
                            .map(|u| u as u64)
                            .zip(r.get::<_, Option<String>>(9)?),
                    })
                },
            )
            .await?)
    }

    async fn left_held(&self, since: i64) -> Result<Vec<(String, i64)>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT id, updated_at FROM trader_orders
                 WHERE type IN ('stop', 'stop_limit', 'trailing_stop') AND status <> 'held'
                   AND updated_at >= ?1",
                (since,),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .await?)
    }

    async fn fire(&self, orders: &[(String, Option<i64>)]) -> Result<Vec<Fired>, ApiError> {
        let orders = orders.to_vec();
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let mut out = Vec::with_capacity(orders.len());
                {
                    let mut fire = tx.prepare_cached(
                        "UPDATE trader_orders
                         SET status = 'pending_new', known_seq = 0, hwm = coalesce(?2, hwm),
                             triggered_at = ?3, updated_at = ?3
                         WHERE id = ?1 AND status = 'held'
                         RETURNING id, user_id, token, symbol, side, type, time_in_force, qty,
                                   limit_price, oco_with",
                    )?;
                    let mut other =
                        tx.prepare_cached("SELECT token FROM trader_orders WHERE id = ?1")?;
                    let now = now_micros();
                    for (id, mark) in &orders {
                        let mut rows = fire.query(params![id, mark, now])?;
                        if let Some(r) = rows.next()? {
                            let mut f = fired(r)?;
                            let with: Option<String> = r.get(9)?;
                            if let Some(w) = with {
                                let token: Option<String> =
                                    other.query_row([&w], |r| r.get(0)).optional()?;
                                f.oco = token.map(|t| (w, t));
                            }
                            out.push(f);
                        }
                    }
                }
                tx.commit()?;
                Ok(out)
            })
            .await?)
    }

    async fn save(&self, position: u64, marks: &[(String, i64)]) -> Result<(), ApiError> {
        let marks = marks.to_vec();
        self.lite
            .write(move |c| {
                let tx = c.transaction()?;
                {
                    let mut mark = tx.prepare_cached(
                        "UPDATE trader_orders SET hwm = ?2 WHERE id = ?1 AND status = 'held'",
                    )?;
                    for (id, m) in &marks {
                        mark.execute(params![id, m])?;
                    }
                }
                tx.execute(
                    "UPDATE auto_position SET seq = max(seq, ?1) WHERE id = 1",
                    [position as i64],
                )?;
                tx.commit()
            })
            .await?;
        Ok(())
    }

    async fn position(&self) -> Result<u64, ApiError> {
        Ok(self
            .lite
            .row("SELECT seq FROM auto_position WHERE id = 1", (), |r| {
                r.get::<_, i64>(0)
            })
            .await?
            .unwrap_or(0) as u64)
    }

    async fn now(&self) -> Result<i64, ApiError> {
        Ok(now_micros())
    }

    async fn activate_brackets(&self) -> Result<Vec<Fired>, ApiError> {
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let ready: Vec<(String, String)> = tx
                    .prepare_cached(
                        "SELECT t.id, t.parent_id FROM trader_orders t
                         JOIN trader_orders p ON p.id = t.parent_id
                         JOIN orders o ON o.user_id = p.user_id AND o.client_id = p.token
                         WHERE t.parent_id IS NOT NULL AND t.activated_at IS NULL
                           AND t.status = 'held' AND t.type = 'limit' AND o.status = 'filled'",
                    )?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let now = now_micros();
                let mut out = Vec::with_capacity(ready.len());
                for (id, parent) in ready {
                    let fired_tp = tx
                        .prepare_cached(
                            "UPDATE trader_orders
                             SET status = 'pending_new', known_seq = 0, activated_at = ?2,
                                 updated_at = ?2
                             WHERE id = ?1 AND status = 'held'
                             RETURNING id, user_id, token, symbol, side, type, time_in_force,
                                       qty, limit_price",
                        )?
                        .query_row(params![id, now], fired)
                        .optional()?;
                    if let Some(f) = fired_tp {
                        tx.execute(
                            "UPDATE trader_orders SET activated_at = ?3, updated_at = ?3
                             WHERE parent_id = ?1 AND id <> ?2 AND status = 'held'",
                            params![parent, id, now],
                        )?;
                        out.push(f);
                    }
                }
                // An oto's stop-loss: no take-profit beside it, armed on its own.
                tx.prepare_cached(
                    "UPDATE trader_orders SET activated_at = ?1, updated_at = ?1
                     WHERE id IN (
                         SELECT t.id FROM trader_orders t
                         JOIN trader_orders p ON p.id = t.parent_id
                         JOIN orders o ON o.user_id = p.user_id AND o.client_id = p.token
                         WHERE t.parent_id IS NOT NULL AND t.activated_at IS NULL
                           AND t.status = 'held' AND t.oco_with IS NULL
                           AND t.type <> 'limit' AND o.status = 'filled')",
                )?
                .execute(params![now])?;
                tx.commit()?;
                Ok(out)
            })
            .await?)
    }

    async fn cancel_orphan_legs(&self) -> Result<u64, ApiError> {
        Ok(self
            .lite
            .execute(
                "UPDATE trader_orders SET status = 'canceled', updated_at = ?1
                 WHERE parent_id IS NOT NULL AND activated_at IS NULL AND status = 'held'
                   AND parent_id IN (
                       SELECT p.id FROM trader_orders p
                       LEFT JOIN orders o ON o.user_id = p.user_id AND o.client_id = p.token
                       WHERE p.status IN ('rejected', 'canceled', 'expired')
                          OR o.status IN ('canceled', 'replaced'))",
                (now_micros(),),
            )
            .await? as u64)
    }

    async fn expire_held_day(&self, close: i64) -> Result<u64, ApiError> {
        Ok(self
            .lite
            .execute(
                "UPDATE trader_orders SET status = 'expired', updated_at = ?2
                 WHERE status = 'held' AND time_in_force = 'day' AND created_at < ?1",
                (close, now_micros()),
            )
            .await? as u64)
    }

    async fn claim_end_of_day(&self, close: i64) -> Result<bool, ApiError> {
        Ok(self
            .lite
            .execute(
                "INSERT INTO auto_end_of_day (close_at, claimed_at) VALUES (?1, ?2)
                 ON CONFLICT (close_at) DO NOTHING",
                (close, now_micros()),
            )
            .await?
            == 1)
    }

    async fn end_of_day_done(&self, close: i64) -> Result<(), ApiError> {
        self.lite
            .execute(
                "UPDATE auto_end_of_day SET done_at = ?2 WHERE close_at = ?1",
                (close, now_micros()),
            )
            .await?;
        Ok(())
    }

    async fn create_alert(&self, a: &NewAlert, max_active: u32) -> Result<Option<Alert>, ApiError> {
        let a = a.clone();
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let active: i64 = tx.query_row(
                    "SELECT count(*) FROM auto_alerts WHERE user_id = ?1 AND status = 'active'",
                    [a.user as i64],
                    |r| r.get(0),
                )?;
                if active >= i64::from(max_active) {
                    return Ok(None);
                }
                let now = now_micros();
                let made = tx.query_row(
                    &format!(
                        "INSERT INTO auto_alerts
                             (id, user_id, symbol, condition, price, note, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING {ALERT_COLUMNS}"
                    ),
                    params![
                        a.id,
                        a.user as i64,
                        a.symbol,
                        a.condition,
                        a.price,
                        a.note,
                        now
                    ],
                    alert,
                )?;
                tx.commit()?;
                Ok(Some(made))
            })
            .await?)
    }

    async fn alerts(
        &self,
        user: u64,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Alert>, ApiError> {
        let status = status.map(str::to_string);
        Ok(self
            .lite
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {ALERT_COLUMNS} FROM auto_alerts
                     WHERE user_id = ?1 AND (?2 IS NULL OR status = ?2)
                     ORDER BY created_at DESC, id LIMIT ?3"
                ))?
                .query_map(params![user as i64, status, limit], alert)?
                .collect()
            })
            .await?)
    }

    async fn alert(&self, user: u64, id: &str) -> Result<Option<Alert>, ApiError> {
        let id = id.to_string();
        Ok(self
            .lite
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {ALERT_COLUMNS} FROM auto_alerts WHERE user_id = ?1 AND id = ?2"
                ))?
                .query_row(params![user as i64, id], alert)
                .optional()
            })
            .await?)
    }

    async fn cancel_alert(&self, user: u64, id: &str) -> Result<Option<Alert>, ApiError> {
        let id = id.to_string();
        Ok(self
            .lite
            .write(move |c| {
                c.execute(
                    "UPDATE auto_alerts SET status = 'canceled', updated_at = ?3
                     WHERE user_id = ?1 AND id = ?2 AND status = 'active'",
                    params![user as i64, id, now_micros()],
                )?;
                c.query_row(
                    &format!(
                        "SELECT {ALERT_COLUMNS} FROM auto_alerts WHERE user_id = ?1 AND id = ?2"
                    ),
                    params![user as i64, id],
                    alert,
                )
                .optional()
            })
            .await?)
    }

    async fn active_alerts(&self, since: Option<i64>) -> Result<Vec<ActiveAlert>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT id, symbol, condition, price, created_at FROM auto_alerts
                 WHERE status = 'active' AND (?1 IS NULL OR created_at >= ?1)
                 ORDER BY created_at",
                (since,),
                |r| {
                    Ok(ActiveAlert {
                        id: r.get(0)?,
                        symbol: r.get(1)?,
                        above: r.get::<_, String>(2)? == "at_or_above",
                        price: r.get(3)?,
                        created: r.get(4)?,
                    })
                },
            )
            .await?)
    }

    async fn left_alerts(&self, since: i64) -> Result<Vec<(String, i64)>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT id, updated_at FROM auto_alerts
                 WHERE status <> 'active' AND updated_at >= ?1",
                (since,),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .await?)
    }

    async fn fire_alerts(&self, alerts: &[(String, i64, u64)]) -> Result<usize, ApiError> {
        let alerts = alerts.to_vec();
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let mut n = 0;
                {
                    let mut fire = tx.prepare_cached(
                        "UPDATE auto_alerts
                         SET status = 'triggered', triggered_price = ?2, triggered_seq = ?3,
                             triggered_at = ?4, updated_at = ?4
                         WHERE id = ?1 AND status = 'active'",
                    )?;
                    let now = now_micros();
                    for (id, price, seq) in &alerts {
                        n += fire.execute(params![id, price, *seq as i64, now])?;
                    }
                }
                tx.commit()?;
                Ok(n)
            })
            .await?)
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(LiteCheck(self.lite.clone()))
    }
}

/// The columns [`alert`] reads.
const ALERT_COLUMNS: &str = "id, user_id, symbol, condition, price, note, status, triggered_price,
     triggered_seq, created_at, triggered_at";

fn alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let price: Option<i64> = r.get(7)?;
    let seq: Option<i64> = r.get(8)?;
    let triggered_at: Option<i64> = r.get(10)?;
    Ok(Alert {
        id: r.get(0)?,
        user: r.get::<_, i64>(1)? as u64,
        symbol: r.get(2)?,
        condition: r.get(3)?,
        price: r.get(4)?,
        note: r.get(5)?,
        status: r.get(6)?,
        triggered: price.zip(seq),
        created_at: rfc3339_micros(r.get(9)?),
        triggered_at: triggered_at.map(rfc3339_micros),
    })
}

fn fired(r: &rusqlite::Row<'_>) -> rusqlite::Result<Fired> {
    Ok(Fired {
        id: r.get(0)?,
        user: r.get::<_, i64>(1)? as u64,
        token: r.get(2)?,
        symbol: r.get(3)?,
        side: r.get(4)?,
        order_type: r.get(5)?,
        time_in_force: r.get(6)?,
        qty: r.get(7)?,
        limit_price: r.get(8)?,
        oco: None,
    })
}

/// A statement of [`super::recurring::sql`] in SQLite's placeholders.
fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

fn plan(r: &rusqlite::Row<'_>) -> rusqlite::Result<Plan> {
    plan_at(r, 0)
}

fn plan_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Plan> {
    Ok(Plan {
        id: r.get(i)?,
        user: r.get::<_, i64>(i + 1)? as u64,
        symbol: r.get(i + 2)?,
        side: r.get(i + 3)?,
        qty: r.get(i + 4)?,
        notional: r.get(i + 5)?,
        frequency: r.get(i + 6)?,
        weekdays: r.get(i + 7)?,
        day_of_month: r.get(i + 8)?,
        at_time: r.get(i + 9)?,
        status: r.get(i + 10)?,
        next_run_at: r.get(i + 11)?,
        created_at: r.get(i + 12)?,
    })
}

fn run_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Run> {
    Ok(Run {
        plan_id: r.get(i)?,
        scheduled_for: r.get(i + 1)?,
        status: r.get(i + 2)?,
        client_order_id: r.get(i + 3)?,
        order_id: r.get(i + 4)?,
        detail: r.get(i + 5)?,
        ran_at: r.get(i + 6)?,
    })
}

#[async_trait::async_trait]
impl RecurringStore for LiteAuto {
    async fn create_plan(&self, p: &Plan, max: u32) -> Result<bool, ApiError> {
        let p = p.clone();
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let n: i64 =
                    tx.query_row(&q(recurring::sql::COUNT_ACTIVE), [p.user as i64], |r| {
                        r.get(0)
                    })?;
                if n >= i64::from(max) {
                    return Ok(false);
                }
                tx.execute(
                    &q(recurring::sql::INSERT),
                    params![
                        p.id,
                        p.user as i64,
                        p.symbol,
                        p.side,
                        p.qty,
                        p.notional,
                        p.frequency,
                        p.weekdays,
                        p.day_of_month,
                        p.at_time,
                        p.next_run_at,
                        p.created_at
                    ],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await?)
    }

    async fn plans(&self, user: u64) -> Result<Vec<Plan>, ApiError> {
        Ok(self
            .lite
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {PLAN_COLUMNS} FROM auto_recurring
                     WHERE user_id = ?1 AND status <> 'deleted' ORDER BY created_at DESC, id"
                ))?
                .query_map([user as i64], plan)?
                .collect()
            })
            .await?)
    }

    async fn plan(&self, user: u64, id: &str) -> Result<Option<Plan>, ApiError> {
        let id = id.to_string();
        Ok(self
            .lite
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {PLAN_COLUMNS} FROM auto_recurring
                     WHERE user_id = ?1 AND id = ?2 AND status <> 'deleted'"
                ))?
                .query_row(params![user as i64, id], plan)
                .optional()
            })
            .await?)
    }

    async fn set_plan_status(
        &self,
        user: u64,
        id: &str,
        status: &str,
        next_run_at: Option<i64>,
    ) -> Result<bool, ApiError> {
        let (id, status) = (id.to_string(), status.to_string());
        Ok(self
            .lite
            .write(move |c| {
                c.execute(
                    &q(recurring::sql::SET_STATUS),
                    params![user as i64, id, status, next_run_at, now_micros()],
                )
            })
            .await?
            > 0)
    }

    async fn runs(&self, plan_id: &str, limit: u32) -> Result<Vec<Run>, ApiError> {
        let plan_id = plan_id.to_string();
        Ok(self
            .lite
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {RUN_COLUMNS} FROM auto_recurring_runs WHERE plan_id = ?1
                     ORDER BY scheduled_for DESC LIMIT ?2"
                ))?
                .query_map(params![plan_id, limit], |r| run_at(r, 0))?
                .collect()
            })
            .await?)
    }

    async fn due_plans(&self, now: i64) -> Result<Vec<Plan>, ApiError> {
        Ok(self
            .lite
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {PLAN_COLUMNS} FROM auto_recurring
                     WHERE status = 'active' AND next_run_at <= ?1 ORDER BY next_run_at LIMIT 1000"
                ))?
                .query_map([now], plan)?
                .collect()
            })
            .await?)
    }

    async fn claim_run(
        &self,
        plan_id: &str,
        scheduled: i64,
        next: Option<i64>,
        client_order_id: &str,
    ) -> Result<bool, ApiError> {
        let (plan_id, client_order_id) = (plan_id.to_string(), client_order_id.to_string());
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let moved = tx.execute(
                    &q(recurring::sql::CLAIM),
                    params![plan_id, scheduled, next, now_micros()],
                )?;
                if moved == 0 {
                    return Ok(false);
                }
                tx.execute(
                    &q(recurring::sql::INSERT_RUN),
                    params![plan_id, scheduled, client_order_id],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await?)
    }

    async fn pending_runs(&self) -> Result<Vec<(Plan, Run)>, ApiError> {
        Ok(self
            .lite
            .read(move |c| {
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
                c.prepare_cached(&format!(
                    "SELECT {cols}, {runs} FROM auto_recurring_runs r
                     JOIN auto_recurring p ON p.id = r.plan_id
                     WHERE r.status = 'pending' ORDER BY r.scheduled_for LIMIT 1000"
                ))?
                .query_map([], |r| Ok((plan_at(r, 0)?, run_at(r, 13)?)))?
                .collect()
            })
            .await?)
    }

    async fn finish_run(
        &self,
        plan_id: &str,
        scheduled: i64,
        o: &RunOutcome,
    ) -> Result<(), ApiError> {
        let (plan_id, o) = (plan_id.to_string(), o.clone());
        self.lite
            .write(move |c| {
                c.execute(
                    &q(recurring::sql::FINISH_RUN),
                    params![
                        plan_id,
                        scheduled,
                        o.status,
                        o.order_id,
                        o.detail,
                        now_micros()
                    ],
                )
            })
            .await?;
        Ok(())
    }
}
