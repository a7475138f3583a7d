//! [`TraderStore`] on the embedded SQLite store (`migrations/lite/`). The same
//! statements as PostgreSQL's where SQLite reads them; lists of values go in as JSON
//! arrays (`json_each`), times as microseconds.

use std::time::Duration;

use bourse_core::CASH;
use bourse_shell::ApiError;
use bourse_shell::health::Check;
use bourse_shell::lite::rusqlite::{self, OptionalExtension, params};
use bourse_shell::lite::{Lite, LiteCheck, LiteMigrations, now_micros, rfc3339_micros};

use super::{
    AccountRow, Condition, HELD_REPLACEMENT_COLUMNS, HeldReplace, ListFilter, OPEN, OrderKey,
    OrderRecord, Replacement, Settled, TokenStatus, TraderStore, Versions, Which,
};
use crate::writes::{Pending, Verdict};

/// The trader table's SQLite migrations.
pub const MIGRATIONS: LiteMigrations = LiteMigrations {
    table: "trader_schema_migrations",
    steps: &[
        (
            1,
            include_str!("../../migrations/lite/0001_trader_orders.sql"),
        ),
        (
            2,
            include_str!("../../migrations/lite/0002_held_orders.sql"),
        ),
        (3, include_str!("../../migrations/lite/0003_oco.sql")),
        (4, include_str!("../../migrations/lite/0004_bracket.sql")),
        (
            5,
            include_str!("../../migrations/lite/0005_order_versions.sql"),
        ),
    ],
};

/// The columns every read selects (as PostgreSQL's store: the row and settlement's view).
const SELECT: &str = "SELECT t.id, t.client_order_id, t.symbol, t.side, t.type, t.time_in_force,
        t.qty, t.limit_price, t.status, t.filled_qty, t.filled_value, t.known_seq,
        t.created_at, t.updated_at,
        o.status, o.filled, o.updated_seq, o.reason,
        t.carried_value + COALESCE(o.filled_value, 0),
        t.replaces, t.replaced_by, t.token,
        t.stop_price, t.trail_price, t.trail_ppm, t.hwm, t.order_class, t.oco_with,
        t.parent_id
     FROM trader_orders t
     LEFT JOIN orders o ON o.user_id = t.user_id AND o.client_id = t.token";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<OrderRecord> {
    let settled = match (
        r.get::<_, Option<String>>(14)?,
        r.get::<_, Option<i64>>(15)?,
        r.get::<_, Option<i64>>(16)?,
    ) {
        (Some(status), Some(filled), Some(updated_seq)) => Some(Settled {
            status,
            filled,
            updated_seq,
            reason: r.get(17)?,
            value: r.get::<_, Option<i64>>(18)?.unwrap_or(0),
        }),
        _ => None,
    };
    Ok(OrderRecord {
        id: r.get(0)?,
        client_order_id: r.get(1)?,
        symbol: r.get(2)?,
        side: r.get(3)?,
        order_type: r.get(4)?,
        time_in_force: r.get(5)?,
        qty: r.get(6)?,
        limit_price: r.get(7)?,
        status: r.get(8)?,
        filled_qty: r.get(9)?,
        filled_value: r.get(10)?,
        known_seq: r.get(11)?,
        created_at: rfc3339_micros(r.get(12)?),
        updated_at: rfc3339_micros(r.get(13)?),
        settled,
        replaces: r.get(19)?,
        replaced_by: r.get(20)?,
        token: r.get(21)?,
        condition: Condition {
            stop_price: r.get(22)?,
            trail_price: r.get(23)?,
            trail_ppm: r.get(24)?,
        },
        hwm: r.get(25)?,
        order_class: r.get(26)?,
        oco_with: r.get(27)?,
        parent_id: r.get(28)?,
    })
}

/// An RFC 3339 time or a date (midnight UTC) as microseconds; 422 otherwise.
fn micros_of(field: &str, text: &Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(t) = text else { return Ok(None) };
    let parsed = if t.len() == 10 {
        t.parse::<jiff::civil::Date>()
            .ok()
            .and_then(|d| {
                d.to_datetime(jiff::civil::Time::midnight())
                    .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                    .ok()
            })
            .map(|z| z.timestamp())
    } else {
        t.replacen(' ', "T", 1).parse::<jiff::Timestamp>().ok()
    };
    parsed
        .map(|ts| Some(ts.as_microsecond()))
        .ok_or_else(|| ApiError::unprocessable(format!("{field}: an RFC 3339 time")))
}

/// The trader table (and settlement's, and the user service's accounts) in the
/// embedded store.
#[derive(Clone, Debug)]
pub struct LiteTrader {
    lite: Lite,
}

impl LiteTrader {
    /// The store over `lite`.
    pub fn new(lite: Lite) -> Self {
        LiteTrader { lite }
    }
}

fn by(
    c: &rusqlite::Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> rusqlite::Result<Option<OrderRecord>> {
    c.prepare_cached(sql)?.query_row(p, record).optional()
}

#[async_trait::async_trait]
impl TraderStore for LiteTrader {
    async fn prepare(&self) -> Result<(), ApiError> {
        self.lite.migrate(MIGRATIONS).await?;
        Ok(())
    }

    async fn insert_pending(&self, rows: Vec<Pending>) -> Result<Vec<bool>, ApiError> {
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let mut out = Vec::with_capacity(rows.len());
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol,
                             side, type, time_in_force, qty, limit_price, status, created_at,
                             updated_at, stop_price, trail_price, trail_ppm, order_class, oco_with,
                             parent_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13,
                             ?14, ?15, ?16, ?17, ?18)
                         ON CONFLICT (user_id, client_order_id) DO NOTHING",
                    )?;
                    for r in &rows {
                        let n = insert.execute(params![
                            r.id,
                            r.user,
                            r.client_order_id,
                            r.token,
                            r.symbol,
                            r.side,
                            r.order_type,
                            r.time_in_force,
                            r.qty,
                            r.limit_price,
                            r.status(),
                            now_micros(),
                            r.condition.and_then(|c| c.stop_price),
                            r.condition.and_then(|c| c.trail_price),
                            r.condition.and_then(|c| c.trail_ppm),
                            r.order_class,
                            r.oco_with,
                            r.parent_id,
                        ])?;
                        out.push(n > 0);
                    }
                }
                tx.commit()?;
                Ok(out)
            })
            .await?)
    }

    async fn finish(&self, rows: Vec<Verdict>) -> Result<Vec<Option<OrderRecord>>, ApiError> {
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let mut out = Vec::with_capacity(rows.len());
                {
                    let mut update = tx.prepare_cached(
                        "UPDATE trader_orders SET status = ?2, filled_qty = ?3, filled_value = ?4,
                             order_seq = ?5, known_seq = ?6, reject_reason = ?7, updated_at = ?8
                         WHERE id = ?1",
                    )?;
                    for v in &rows {
                        update.execute(params![
                            v.id,
                            v.status,
                            v.filled,
                            v.value,
                            v.order_seq,
                            v.known_seq,
                            v.reject_reason,
                            now_micros()
                        ])?;
                    }
                    for v in &rows {
                        out.push(by(&tx, &format!("{SELECT} WHERE t.id = ?1"), [&v.id])?);
                    }
                }
                tx.commit()?;
                Ok(out)
            })
            .await?)
    }

    async fn order(&self, user: u64, key: OrderKey<'_>) -> Result<Option<OrderRecord>, ApiError> {
        let (column, value) = match key {
            OrderKey::Id(v) => ("id", v.to_string()),
            OrderKey::ClientOrderId(v) => ("client_order_id", v.to_string()),
            OrderKey::Token(v) => ("token", v.to_string()),
        };
        let sql = format!("{SELECT} WHERE t.user_id = ?1 AND t.{column} = ?2");
        Ok(self
            .lite
            .read(move |c| by(c, &sql, params![user as i64, value]))
            .await?)
    }

    async fn legs(&self, user: u64, parent: &str) -> Result<Vec<OrderRecord>, ApiError> {
        let (sql, parent) = (
            format!(
                "{SELECT} WHERE t.user_id = ?1 AND t.parent_id = ?2 ORDER BY t.stop_price NULLS FIRST"
            ),
            parent.to_string(),
        );
        Ok(self
            .lite
            .read(move |c| {
                c.prepare_cached(&sql)?
                    .query_map(params![user as i64, parent], record)?
                    .collect()
            })
            .await?)
    }

    async fn token(&self, user: u64, id: &str) -> Result<Option<TokenStatus>, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT token, status, oco_with, order_class FROM trader_orders
                 WHERE id = ?1 AND user_id = ?2",
                (id.to_string(), user as i64),
                |r| {
                    Ok(TokenStatus {
                        token: r.get(0)?,
                        status: r.get(1)?,
                        oco_with: r.get(2)?,
                        order_class: r.get(3)?,
                    })
                },
            )
            .await?)
    }

    async fn cancel_held(&self, id: &str) -> Result<bool, ApiError> {
        Ok(self
            .lite
            .execute(
                "UPDATE trader_orders SET status = 'canceled', updated_at = ?2
                 WHERE id = ?1 AND status = 'held'",
                (id.to_string(), now_micros()),
            )
            .await?
            > 0)
    }

    async fn list(&self, f: &ListFilter) -> Result<Vec<OrderRecord>, ApiError> {
        let (after, until) = (micros_of("after", &f.after)?, micros_of("until", &f.until)?);
        let status = match f.which {
            Which::Open => "open",
            Which::Closed => "closed",
            Which::All => "all",
        };
        let direction = if f.ascending { "ASC" } else { "DESC" };
        let candidates = if f.which == Which::Open {
            "AND t.id IN (
               SELECT t2.id FROM orders o2
                 JOIN trader_orders t2 ON t2.user_id = o2.user_id AND t2.token = o2.client_id
                WHERE o2.user_id = ?1 AND o2.status = 'open'
               UNION
               SELECT id FROM trader_orders WHERE user_id = ?1
                  AND known_seq > (SELECT seq FROM settlement_position WHERE id = 1)
               UNION
               SELECT id FROM trader_orders WHERE user_id = ?1 AND known_seq = 0)"
        } else {
            ""
        };
        let sql = format!(
            "{SELECT}
             WHERE t.user_id = ?1 {candidates}
               AND (json_array_length(?2) = 0 OR t.symbol IN (SELECT value FROM json_each(?2)))
               AND (?3 IS NULL OR t.created_at > ?3)
               AND (?4 IS NULL OR t.created_at < ?4)
               AND (?5 = 'all' OR (CASE WHEN o.updated_seq >= t.known_seq
                                        THEN o.status = 'open'
                                        ELSE t.status IN (SELECT value FROM json_each(?6)) END)
                                  = (?5 = 'open'))
             ORDER BY t.created_at {direction}, t.id LIMIT ?7"
        );
        let symbols = serde_json::to_string(&f.symbols).map_err(ApiError::internal)?;
        let open = serde_json::to_string(&OPEN).map_err(ApiError::internal)?;
        let (user, limit) = (f.user as i64, f.limit);
        Ok(self
            .lite
            .read(move |c| {
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map(
                    params![user, symbols, after, until, status, open, limit],
                    record,
                )?;
                rows.collect()
            })
            .await?)
    }

    async fn canceled(&self, id: &str, seq: i64) -> Result<(), ApiError> {
        self.lite
            .execute(
                "UPDATE trader_orders SET status = 'canceled', known_seq = max(known_seq, ?2),
                     updated_at = ?3 WHERE id = ?1",
                (id.to_string(), seq, now_micros()),
            )
            .await?;
        Ok(())
    }

    async fn insert_replacement(&self, r: &Replacement) -> Result<bool, ApiError> {
        let r = r.clone();
        Ok(self
            .lite
            .write(move |c| {
                c.execute(
                    "INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side,
                         type, time_in_force, qty, limit_price, status, filled_qty, filled_value,
                         carried_value, replaces, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'limit', ?7, ?8, ?9, 'pending_replace', ?10,
                         ?11, ?11, ?12, ?13, ?13)
                     ON CONFLICT (user_id, client_order_id) DO NOTHING",
                    params![
                        r.id,
                        r.user as i64,
                        r.client_order_id,
                        r.token,
                        r.symbol,
                        r.side,
                        r.time_in_force,
                        r.qty,
                        r.limit_price,
                        r.filled,
                        r.value,
                        r.replaces,
                        now_micros()
                    ],
                )
            })
            .await?
            > 0)
    }

    async fn delete(&self, id: &str) -> Result<(), ApiError> {
        self.lite
            .execute("DELETE FROM trader_orders WHERE id = ?1", (id.to_string(),))
            .await?;
        Ok(())
    }

    async fn replace_held(&self, old: &str, new: &Pending) -> Result<HeldReplace, ApiError> {
        let (old, new) = (old.to_string(), new.clone());
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let now = now_micros();
                let taken = tx.execute(
                    "UPDATE trader_orders SET status = 'replaced', replaced_by = ?2,
                         updated_at = ?3
                     WHERE id = ?1 AND status = 'held'",
                    params![old, new.id, now],
                )?;
                if taken == 0 {
                    return Ok(HeldReplace::NotHeld);
                }
                let cond = new.condition.unwrap_or_default();
                let inserted = tx.execute(
                    &format!(
                        "INSERT INTO trader_orders ({HELD_REPLACEMENT_COLUMNS}, created_at,
                             updated_at)
                         SELECT ?2, user_id, ?3, ?4, symbol, side, type, time_in_force, ?5, ?6,
                                'held', ?7, ?8, ?9, order_class, hwm, id, ?10, ?10
                         FROM trader_orders WHERE id = ?1
                         ON CONFLICT (user_id, client_order_id) DO NOTHING"
                    ),
                    params![
                        old,
                        new.id,
                        new.client_order_id,
                        new.token,
                        new.qty,
                        new.limit_price,
                        cond.stop_price,
                        cond.trail_price,
                        cond.trail_ppm,
                        now,
                    ],
                )?;
                if inserted == 0 {
                    return Ok(HeldReplace::ClientIdTaken);
                }
                tx.commit()?;
                Ok(HeldReplace::Done)
            })
            .await?)
    }

    async fn replaced(&self, old: &str, v: &Verdict) -> Result<(), ApiError> {
        let (old, v) = (old.to_string(), v.clone());
        self.lite
            .write(move |c| {
                let tx = c.transaction()?;
                let now = now_micros();
                tx.execute(
                    "UPDATE trader_orders SET status = 'replaced', replaced_by = ?2,
                         known_seq = max(known_seq, ?3), updated_at = ?4
                     WHERE id = ?1",
                    params![old, v.id, v.known_seq, now],
                )?;
                tx.execute(
                    "UPDATE trader_orders SET status = ?2, filled_qty = ?3, filled_value = ?4,
                         order_seq = ?5, known_seq = ?6, updated_at = ?7
                     WHERE id = ?1",
                    params![
                        v.id,
                        v.status,
                        v.filled,
                        v.value,
                        v.order_seq,
                        v.known_seq,
                        now
                    ],
                )?;
                tx.commit()
            })
            .await?;
        Ok(())
    }

    async fn account(&self, user: u64) -> Result<AccountRow, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT
                     (SELECT amount FROM balances WHERE user_id = ?1 AND asset = ?2),
                     (SELECT sum(price * (qty - filled)) FROM orders
                       WHERE user_id = ?1 AND status = 'open' AND side = 'buy'
                         AND price IS NOT NULL),
                     (SELECT created_at FROM accounts WHERE id = ?1)",
                (user as i64, CASH),
                |r| {
                    Ok(AccountRow {
                        cash: r.get::<_, Option<i64>>(0)?.unwrap_or(0),
                        reserved: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                        created_at: r.get::<_, Option<i64>>(2)?.map(rfc3339_micros),
                    })
                },
            )
            .await?
            .unwrap_or_default())
    }

    async fn versions(&self, user: u64) -> Result<Option<Versions>, ApiError> {
        let read = self
            .lite
            .row(
                "SELECT COALESCE((SELECT version FROM trader_order_versions WHERE user_id = ?1), 0),
                        COALESCE((SELECT version FROM order_versions WHERE user_id = ?1), 0)",
                [user as i64],
                |r| {
                    Ok(Versions {
                        trader: r.get(0)?,
                        settled: r.get(1)?,
                    })
                },
            )
            .await?;
        Ok(read)
    }

    async fn settled_upto(&self) -> Result<u64, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT seq FROM settlement_position WHERE id = 1",
                (),
                |r| r.get::<_, i64>(0),
            )
            .await?
            .unwrap_or(0) as u64)
    }

    async fn unresolved(&self, grace: Duration) -> Result<Vec<String>, ApiError> {
        let before = now_micros() - i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
        Ok(self
            .lite
            .rows(
                "SELECT t.id FROM trader_orders t
                 WHERE t.status = 'pending_new' AND t.known_seq = 0 AND t.updated_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM orders o
                                   WHERE o.user_id = t.user_id AND o.client_id = t.token)
                 ORDER BY t.updated_at LIMIT 1000",
                (before,),
                |r| r.get(0),
            )
            .await?)
    }

    async fn reject_unknown(
        &self,
        ids: &[String],
        probe: i64,
        reason: &str,
    ) -> Result<u64, ApiError> {
        let ids = serde_json::to_string(ids).map_err(ApiError::internal)?;
        Ok(self
            .lite
            .execute(
                "UPDATE trader_orders
                 SET status = 'rejected', reject_reason = ?3, known_seq = ?2, updated_at = ?4
                 WHERE id IN (SELECT value FROM json_each(?1))
                   AND status = 'pending_new' AND known_seq = 0
                   AND NOT EXISTS (SELECT 1 FROM orders o
                                   WHERE o.user_id = trader_orders.user_id
                                     AND o.client_id = trader_orders.token)",
                (ids, probe, reason.to_string(), now_micros()),
            )
            .await? as u64)
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(LiteCheck(self.lite.clone()))
    }
}
