//! [`TraderStore`] on PostgreSQL (`migrations/`): the order path's statements batched
//! with `unnest`, the verdict's transaction pipelined on one connection.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bourse_core::CASH;
use bourse_order::token::by_token;
use bourse_shell::ApiError;
use bourse_shell::health::{Check, Database};
use deadpool_postgres::Pool;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{
    AccountRow, Condition, HELD_REPLACEMENT_COLUMNS, HeldReplace, ListFilter, OPEN, OrderKey,
    OrderRecord, Replacement, Settled, TokenStatus, TraderStore, Versions, Which,
};
use crate::writes::{Pending, Verdict};

/// Times as the API shows them.
const TIME: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

/// The columns [`record`] reads, with `settled` standing for settlement's view of the
/// order (five columns: status, filled, updated_seq, reason, fill value).
fn columns(settled: &str) -> String {
    format!(
        "t.id, t.client_order_id, t.symbol, t.side, t.type, t.time_in_force,
            t.qty, t.limit_price, t.status, t.filled_qty, t.filled_value, t.known_seq,
            to_char(t.created_at AT TIME ZONE 'UTC', {TIME}),
            to_char(t.updated_at AT TIME ZONE 'UTC', {TIME}),
            {settled},
            t.replaces, t.replaced_by, t.token,
            t.stop_price, t.trail_price, t.trail_ppm, t.hwm, t.order_class, t.oco_with,
            t.parent_id"
    )
}

/// The columns every read selects: the row, and settlement's view of its token (the
/// fill value: what a replaced order carried over, and settlement's value of the fills
/// of the order's own row).
fn select() -> String {
    format!(
        "SELECT {} FROM trader_orders t LEFT JOIN orders o ON {}",
        columns(
            "o.status, o.filled, o.updated_seq, o.reason,
             t.carried_value + COALESCE(o.filled_value, 0)"
        ),
        by_token("o", "t")
    )
}

/// A row and settlement's view of it, as one row (`t.*` and `o_status`, `o_filled`,
/// `o_updated_seq`, `o_reason`, `o_filled_value`): what a list filters, sorts and cuts
/// to a page before [`listed`] renders the page.
const JOINED: &str = "t.*, o.status AS o_status, o.filled AS o_filled,
    o.updated_seq AS o_updated_seq, o.reason AS o_reason, o.filled_value AS o_filled_value";

/// The columns of a page of [`JOINED`] rows (aliased `t`), as [`record`] reads them.
fn listed() -> String {
    columns(
        "t.o_status, t.o_filled, t.o_updated_seq, t.o_reason,
         t.carried_value + COALESCE(t.o_filled_value, 0)",
    )
}

/// The verdicts of a batch of orders, returning the rows as [`record`] reads them
/// (settlement's view left out). Run after [`VERDICT_BEGIN`].
fn verdict_update() -> String {
    format!(
        "UPDATE trader_orders t SET status = x.st, filled_qty = x.f, filled_value = x.v,
             order_seq = x.os, known_seq = x.ks, reject_reason = x.rr,
             updated_at = clock_timestamp()
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::bigint[], $7::text[]) AS x(id, st, f, v, os, ks, rr)
         WHERE t.id = x.id
         RETURNING {}",
        columns("NULL::text, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint")
    )
}

/// The transaction [`verdict_update`] runs in: committed without waiting for its WAL
/// flush, planned once, and only as a primary-key probe per row (see `finish`).
const VERDICT_BEGIN: &str = "BEGIN; SET LOCAL synchronous_commit = off;
    SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;
    SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan";

fn record(r: &Row) -> OrderRecord {
    let settled = match (
        r.get::<_, Option<String>>(14),
        r.get::<_, Option<i64>>(15),
        r.get::<_, Option<i64>>(16),
    ) {
        (Some(status), Some(filled), Some(updated_seq)) => Some(Settled {
            status,
            filled,
            updated_seq,
            reason: r.get(17),
            value: r.get::<_, Option<i64>>(18).unwrap_or(0),
        }),
        _ => None,
    };
    OrderRecord {
        id: r.get(0),
        client_order_id: r.get(1),
        symbol: r.get(2),
        side: r.get(3),
        order_type: r.get(4),
        time_in_force: r.get(5),
        qty: r.get(6),
        limit_price: r.get(7),
        status: r.get(8),
        filled_qty: r.get(9),
        filled_value: r.get(10),
        known_seq: r.get(11),
        created_at: r.get(12),
        updated_at: r.get(13),
        settled,
        replaces: r.get(19),
        replaced_by: r.get(20),
        token: r.get(21),
        condition: Condition {
            stop_price: r.get(22),
            trail_price: r.get(23),
            trail_ppm: r.get(24),
        },
        hwm: r.get(25),
        order_class: r.get(26),
        oco_with: r.get(27),
        parent_id: r.get(28),
    }
}

/// One field of each row's condition (`None` for rows without one).
fn condition(rows: &[Pending], field: fn(&Condition) -> Option<i64>) -> Vec<Option<i64>> {
    rows.iter()
        .map(|r| r.condition.as_ref().and_then(field))
        .collect()
}

/// The trader tables (and settlement's, and the user service's accounts) in a
/// PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgTrader {
    pool: Pool,
}

impl PgTrader {
    /// The store over `pool`.
    pub fn new(pool: Pool) -> Self {
        PgTrader { pool }
    }
}

#[async_trait::async_trait]
impl TraderStore for PgTrader {
    async fn prepare(&self) -> Result<(), ApiError> {
        let mut client = self.pool.get().await?;
        crate::MIGRATIONS.run(&mut client).await?;
        Ok(())
    }

    async fn insert_pending(&self, rows: Vec<Pending>) -> Result<Vec<bool>, ApiError> {
        let client = self.pool.get().await?;
        let col = |f: fn(&Pending) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
        let stmt = client
            .prepare_cached(
                "INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
                     time_in_force, qty, limit_price, status, stop_price, trail_price, trail_ppm,
                     order_class, oco_with, parent_id)
                 SELECT id, u, c, tk, s, sd, ty, tif, q, lp, st, sp, tp, tpp, oc, ow, pa
                 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[],
                             $11::text[], $12::bigint[], $13::bigint[], $14::bigint[],
                             $15::text[], $16::text[], $17::text[])
                      AS x(id, u, c, tk, s, sd, ty, tif, q, lp, st, sp, tp, tpp, oc, ow, pa)
                 ON CONFLICT (user_id, client_order_id) DO NOTHING RETURNING id",
            )
            .await?;
        let inserted = client
            .query(
                &stmt,
                &[
                    &col(|r| &r.id),
                    &rows.iter().map(|r| r.user).collect::<Vec<i64>>(),
                    &col(|r| &r.client_order_id),
                    &col(|r| &r.token),
                    &col(|r| &r.symbol),
                    &col(|r| r.side),
                    &col(|r| r.order_type),
                    &col(|r| &r.time_in_force),
                    &rows.iter().map(|r| r.qty).collect::<Vec<i64>>(),
                    &rows
                        .iter()
                        .map(|r| r.limit_price)
                        .collect::<Vec<Option<i64>>>(),
                    &col(|r| r.status()),
                    &condition(&rows, |c| c.stop_price),
                    &condition(&rows, |c| c.trail_price),
                    &condition(&rows, |c| c.trail_ppm),
                    &col(|r| r.order_class),
                    &rows
                        .iter()
                        .map(|r| r.oco_with.as_deref())
                        .collect::<Vec<Option<&str>>>(),
                    &rows
                        .iter()
                        .map(|r| r.parent_id.as_deref())
                        .collect::<Vec<Option<&str>>>(),
                ],
            )
            .await?;
        let ids: HashSet<String> = inserted.iter().map(|r| r.get(0)).collect();
        Ok(rows.iter().map(|r| ids.contains(&r.id)).collect())
    }

    async fn finish(&self, rows: Vec<Verdict>) -> Result<Vec<Option<OrderRecord>>, ApiError> {
        let client = self.pool.get().await?;
        // One statement for the batch, returning the rows as the API shows them: no
        // read-back (a join with settlement's tables, planned for every batch). Its
        // plan is made once and kept (`force_generic_plan`), and it can only be a
        // primary-key probe per row (no hash or merge join, no sequential scan): left to
        // the planner, a generic plan made while the table was small joined the batch
        // to a scan of the whole table for ever after, and planning every batch instead
        // cost ~0.6 ms of PostgreSQL's time a batch — most of an order's cost at
        // everyday rates (PERF.md). Settlement's view is not read: the verdict is the
        // engine's answer to this very request, as new as what settlement knows of it.
        let update = client.prepare_cached(&verdict_update()).await?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let statuses: Vec<&str> = rows.iter().map(|r| r.status).collect();
        let filled: Vec<i64> = rows.iter().map(|r| r.filled).collect();
        let values: Vec<i64> = rows.iter().map(|r| r.value).collect();
        let order_seqs: Vec<Option<i64>> = rows.iter().map(|r| r.order_seq).collect();
        let known: Vec<i64> = rows.iter().map(|r| r.known_seq).collect();
        let reasons: Vec<Option<&str>> = rows.iter().map(|r| r.reject_reason).collect();
        let params: [&(dyn ToSql + Sync); 7] = [
            &ids,
            &statuses,
            &filled,
            &values,
            &order_seqs,
            &known,
            &reasons,
        ];
        // Pipelined on the one connection: every statement is sent without waiting for
        // the one before, and PostgreSQL runs them in order.
        // The verdict commits without waiting for its WAL flush: it is a cache of what
        // the journal already holds durably. Lost in a database crash, the row reads as
        // `pending_new` with `known_seq` 0, and reads take settlement's view of the order.
        let (_, updated, _) = tokio::try_join!(
            client.batch_execute(VERDICT_BEGIN),
            client.query(&update, &params),
            client.batch_execute("COMMIT"),
        )?;
        let mut found: HashMap<String, OrderRecord> = updated
            .iter()
            .map(|r| (r.get::<_, String>(0), record(r)))
            .collect();
        Ok(rows.iter().map(|r| found.remove(&r.id)).collect())
    }

    async fn order(&self, user: u64, key: OrderKey<'_>) -> Result<Option<OrderRecord>, ApiError> {
        let (column, value) = match key {
            OrderKey::Id(v) => ("id", v),
            OrderKey::ClientOrderId(v) => ("client_order_id", v),
            OrderKey::Token(v) => ("token", v),
        };
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{} WHERE t.user_id = $1 AND t.{column} = $2",
                select()
            ))
            .await?;
        Ok(client
            .query_opt(&stmt, &[&(user as i64), &value])
            .await?
            .as_ref()
            .map(record))
    }

    async fn legs(&self, user: u64, parent: &str) -> Result<Vec<OrderRecord>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{} WHERE t.user_id = $1 AND t.parent_id = $2 ORDER BY t.stop_price NULLS FIRST",
                select()
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&(user as i64), &parent])
            .await?
            .iter()
            .map(record)
            .collect())
    }

    async fn token(&self, user: u64, id: &str) -> Result<Option<TokenStatus>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT token, status, oco_with, order_class FROM trader_orders
                 WHERE id = $1 AND user_id = $2",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&id, &(user as i64)])
            .await?
            .map(|r| TokenStatus {
                token: r.get(0),
                status: r.get(1),
                oco_with: r.get(2),
                order_class: r.get(3),
            }))
    }

    async fn cancel_held(&self, id: &str) -> Result<bool, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE trader_orders SET status = 'canceled', updated_at = clock_timestamp()
                 WHERE id = $1 AND status = 'held'",
            )
            .await?;
        Ok(client.execute(&stmt, &[&id]).await? > 0)
    }

    async fn list(&self, f: &ListFilter) -> Result<Vec<OrderRecord>, ApiError> {
        let status = match f.which {
            Which::Open => "open",
            Which::Closed => "closed",
            Which::All => "all",
        };
        let direction = if f.ascending { "ASC" } else { "DESC" };
        let open_list: Vec<&str> = OPEN.to_vec();
        // Open orders are found through indexes, not by walking the user's history: the
        // candidates are settlement's open orders (a partial index) with their rows,
        // and the rows whose verdict is newer than settlement's position (the account
        // stream is settled in order, so every other row's settled state is current) or
        // that have no verdict yet, each with settlement's view; the filter below then
        // decides each as the merged status does. Any other list walks the user's rows
        // newest (or oldest) first and stops at a full page.
        let by_token = by_token("o", "t");
        let rows = if f.which == Which::Open {
            format!(
                "SELECT {JOINED} FROM orders o
                   JOIN trader_orders t ON t.user_id = o.user_id AND t.token = o.client_id
                  WHERE o.user_id = $1 AND o.status = 'open'
                 UNION ALL
                 SELECT {JOINED} FROM trader_orders t
                   LEFT JOIN orders o ON {by_token}
                  WHERE t.user_id = $1 AND o.status IS DISTINCT FROM 'open'
                    AND (t.known_seq = 0
                         OR t.known_seq > (SELECT seq FROM settlement_position WHERE id = 1))"
            )
        } else {
            format!(
                "SELECT {JOINED} FROM trader_orders t
                   LEFT JOIN orders o ON {by_token}
                  WHERE t.user_id = $1"
            )
        };
        // One pass: the rows are filtered, sorted and cut to the page with settlement's
        // view beside them, and only the page is rendered (times as text). A page of ids
        // read again by primary key cost three times as much (an `= ANY(array)` probe
        // per candidate, then the joins again; PERF.md).
        let sql = format!(
            "SELECT {} FROM (
               SELECT * FROM ({rows}) t
                WHERE (cardinality($2::TEXT[]) = 0 OR t.symbol = ANY($2))
                  AND ($3::TEXT IS NULL OR t.created_at > $3::TIMESTAMPTZ)
                  AND ($4::TEXT IS NULL OR t.created_at < $4::TIMESTAMPTZ)
                  AND ($5::TEXT = 'all' OR (CASE WHEN t.o_updated_seq >= t.known_seq
                                                 THEN t.o_status = 'open'
                                                 ELSE t.status = ANY($6) END) = ($5::TEXT = 'open'))
                ORDER BY t.created_at {direction}, t.id LIMIT $7) t
             ORDER BY t.created_at {direction}, t.id",
            listed()
        );
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &client.prepare_cached(&sql).await?,
                &[
                    &(f.user as i64),
                    &f.symbols,
                    &f.after,
                    &f.until,
                    &status,
                    &open_list,
                    &f.limit,
                ],
            )
            .await
            .map_err(|e| match e.code() {
                Some(c) if c.code().starts_with("22") => {
                    ApiError::unprocessable("after/until: an RFC 3339 time")
                }
                _ => ApiError::from(e),
            })?;
        Ok(rows.iter().map(record).collect())
    }

    async fn versions(&self, user: u64) -> Result<Option<Versions>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT COALESCE((SELECT version FROM trader_order_versions WHERE user_id = $1), 0),
                        COALESCE((SELECT version FROM order_versions WHERE user_id = $1), 0)",
            )
            .await?;
        let row = client.query_one(&stmt, &[&(user as i64)]).await?;
        Ok(Some(Versions {
            trader: row.get(0),
            settled: row.get(1),
        }))
    }

    async fn canceled(&self, id: &str, seq: i64) -> Result<(), ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE trader_orders SET status = 'canceled', known_seq = GREATEST(known_seq, $2),
                     updated_at = clock_timestamp() WHERE id = $1",
            )
            .await?;
        client.execute(&stmt, &[&id, &seq]).await?;
        Ok(())
    }

    async fn insert_replacement(&self, r: &Replacement) -> Result<bool, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
                     time_in_force, qty, limit_price, status, filled_qty, filled_value,
                     carried_value, replaces)
                 VALUES ($1, $2, $3, $4, $5, $6, 'limit', $7, $8, $9, 'pending_replace', $10, $11,
                     $11, $12)
                 ON CONFLICT (user_id, client_order_id) DO NOTHING",
            )
            .await?;
        let n = client
            .execute(
                &stmt,
                &[
                    &r.id,
                    &(r.user as i64),
                    &r.client_order_id,
                    &r.token,
                    &r.symbol,
                    &r.side,
                    &r.time_in_force,
                    &r.qty,
                    &r.limit_price,
                    &r.filled,
                    &r.value,
                    &r.replaces,
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn delete(&self, id: &str) -> Result<(), ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("DELETE FROM trader_orders WHERE id = $1")
            .await?;
        client.execute(&stmt, &[&id]).await?;
        Ok(())
    }

    async fn replace_held(&self, old: &str, new: &Pending) -> Result<HeldReplace, ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let taken = tx
            .execute(
                "UPDATE trader_orders SET status = 'replaced', replaced_by = $2,
                     updated_at = clock_timestamp()
                 WHERE id = $1 AND status = 'held'",
                &[&old, &new.id],
            )
            .await?;
        if taken == 0 {
            return Ok(HeldReplace::NotHeld);
        }
        let c = new.condition.unwrap_or_default();
        let inserted = tx
            .execute(
                &format!(
                    "INSERT INTO trader_orders ({HELD_REPLACEMENT_COLUMNS})
                     SELECT $2, user_id, $3, $4, symbol, side, type, time_in_force, $5, $6,
                            'held', $7, $8, $9, order_class, hwm, id
                     FROM trader_orders WHERE id = $1
                     ON CONFLICT (user_id, client_order_id) DO NOTHING"
                ),
                &[
                    &old,
                    &new.id,
                    &new.client_order_id,
                    &new.token,
                    &new.qty,
                    &new.limit_price,
                    &c.stop_price,
                    &c.trail_price,
                    &c.trail_ppm,
                ],
            )
            .await?;
        if inserted == 0 {
            return Ok(HeldReplace::ClientIdTaken);
        }
        tx.commit().await?;
        Ok(HeldReplace::Done)
    }

    async fn replaced(&self, old: &str, v: &Verdict) -> Result<(), ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE trader_orders SET status = 'replaced', replaced_by = $2,
                 known_seq = GREATEST(known_seq, $3), updated_at = clock_timestamp()
             WHERE id = $1",
            &[&old, &v.id, &v.known_seq],
        )
        .await?;
        tx.execute(
            "UPDATE trader_orders SET status = $2, filled_qty = $3, filled_value = $4,
                 order_seq = $5, known_seq = $6, updated_at = clock_timestamp()
             WHERE id = $1",
            &[
                &v.id,
                &v.status,
                &v.filled,
                &v.value,
                &v.order_seq,
                &v.known_seq,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account(&self, user: u64) -> Result<AccountRow, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT
                     (SELECT amount FROM balances WHERE user_id = $1 AND asset = $2),
                     (SELECT sum(price * (qty - filled))::BIGINT FROM orders
                       WHERE user_id = $1 AND status = 'open' AND side = 'buy' AND price IS NOT NULL),
                     (SELECT to_char(created_at AT TIME ZONE 'UTC', {TIME})
                        FROM accounts WHERE id = $1)"
            ))
            .await?;
        let row = client.query_one(&stmt, &[&(user as i64), &CASH]).await?;
        Ok(AccountRow {
            cash: row.get::<_, Option<i64>>(0).unwrap_or(0),
            reserved: row.get::<_, Option<i64>>(1).unwrap_or(0),
            created_at: row.get(2),
        })
    }

    async fn settled_upto(&self) -> Result<u64, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT seq FROM settlement_position WHERE id = 1")
            .await?;
        Ok(client.query_one(&stmt, &[]).await?.get::<_, i64>(0) as u64)
    }

    async fn unresolved(&self, grace: Duration) -> Result<Vec<String>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT t.id FROM trader_orders t
                 WHERE t.status = 'pending_new' AND t.known_seq = 0
                   AND t.updated_at < clock_timestamp() - make_interval(secs => $1)
                   AND NOT EXISTS (SELECT 1 FROM orders o WHERE {})
                 ORDER BY t.updated_at LIMIT 1000",
                by_token("o", "t")
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&grace.as_secs_f64()])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn reject_unknown(
        &self,
        ids: &[String],
        probe: i64,
        reason: &str,
    ) -> Result<u64, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                &format!(
                    "UPDATE trader_orders t
                     SET status = 'rejected', reject_reason = $3, known_seq = $2,
                         updated_at = clock_timestamp()
                     WHERE t.id = ANY($1) AND t.status = 'pending_new' AND t.known_seq = 0
                       AND NOT EXISTS (SELECT 1 FROM orders o WHERE {})",
                    by_token("o", "t")
                ),
                &[&ids, &probe, &reason],
            )
            .await?)
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(Database(self.pool.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdict's plan is made once, possibly while the table is empty, and kept for
    /// ever: it must be a probe of the primary key per row, never a scan of the table.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_verdicts_plan_probes_the_primary_key_even_made_on_an_empty_table() {
        let schema = format!("trader_plan_{}", std::process::id());
        let pool = bourse_shell::db::pool(bourse_testkit::PG, Some(&schema), 1)
            .await
            .expect("pool");
        PgTrader::new(pool.clone())
            .prepare()
            .await
            .expect("migrations");
        let client = pool.get().await.expect("connection");
        client.batch_execute(VERDICT_BEGIN).await.expect("begin");
        client
            .batch_execute(&format!("PREPARE verdict AS {}", verdict_update()))
            .await
            .expect("prepare");
        let plan: Vec<String> = client
            .query(
                "EXPLAIN EXECUTE verdict('{a}', '{new}', '{0}', '{0}', '{1}', '{1}', '{NULL}')",
                &[],
            )
            .await
            .expect("explain")
            .iter()
            .map(|r| r.get(0))
            .collect();
        client.batch_execute("ROLLBACK").await.expect("rollback");
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .expect("drop schema");
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index Scan using trader_orders_pkey") && !plan.contains("Seq Scan"),
            "{plan}"
        );
    }
}
