//! [`MarketStore`] on the embedded SQLite store (`migrations/lite/`).

use bourse_shell::ApiError;
use bourse_shell::health::Check;
use bourse_shell::lite::rusqlite::OptionalExtension;
use bourse_shell::lite::rusqlite::{self, params};
use bourse_shell::lite::{Lite, LiteCheck, LiteMigrations, now_micros, rfc3339_micros};

use super::{BarRow, Created, Instrument, MarketStore, PageQuery, Saved, TradeRow, Watchlist};
use crate::bars::aggregate;
use crate::ingest::{Fact, IngestError};

/// The stock tables' SQLite migrations.
pub const MIGRATIONS: LiteMigrations = LiteMigrations {
    table: "stock_schema_migrations",
    steps: &[
        (1, include_str!("../../migrations/lite/0001_market.sql")),
        (2, include_str!("../../migrations/lite/0002_watchlists.sql")),
    ],
};

/// The stock tables in the embedded store.
#[derive(Clone, Debug)]
pub struct LiteMarket {
    lite: Lite,
}

impl LiteMarket {
    /// The store over `lite`.
    pub fn new(lite: Lite) -> Self {
        LiteMarket { lite }
    }
}

fn instrument(r: &rusqlite::Row<'_>) -> rusqlite::Result<Instrument> {
    Ok(Instrument {
        symbol: r.get(0)?,
        tick: r.get(1)?,
        lot: r.get(2)?,
        name: r.get(3)?,
        status: r.get(4)?,
    })
}

fn trade(r: &rusqlite::Row<'_>) -> rusqlite::Result<TradeRow> {
    Ok(TradeRow {
        symbol: r.get(0)?,
        seq: r.get(1)?,
        price: r.get(2)?,
        qty: r.get(3)?,
        time_ns: r.get(4)?,
    })
}

const BAR: &str = "SELECT symbol, timeframe, start_ns, open, high, low, close, volume, trades,
        CAST(notional AS REAL) / volume AS vwap FROM bars";

fn bar(r: &rusqlite::Row<'_>) -> rusqlite::Result<BarRow> {
    Ok(BarRow {
        symbol: r.get(0)?,
        timeframe: r.get(1)?,
        start_ns: r.get(2)?,
        open: r.get(3)?,
        high: r.get(4)?,
        low: r.get(5)?,
        close: r.get(6)?,
        volume: r.get(7)?,
        trades: r.get(8)?,
        vwap: r.get(9)?,
    })
}

fn json_list(symbols: &[String]) -> Result<String, ApiError> {
    serde_json::to_string(symbols).map_err(ApiError::internal)
}

/// The keyset and range conditions of a page, over `?1` (symbols as JSON), `?2`/`?3`
/// (the range), `?4`/`?5` (the token).
fn page_sql(select: &str, time: &str, key: &str, filter: &str, q: &PageQuery) -> String {
    let order = if q.desc { "DESC" } else { "ASC" };
    let after = if q.after.is_some() {
        let cmp = if q.desc { "<" } else { ">" };
        format!("AND (symbol > ?4 OR (symbol = ?4 AND {key} {cmp} ?5))")
    } else {
        "AND ?4 IS NOT NULL AND ?5 IS NOT NULL".into()
    };
    format!(
        "{select} WHERE symbol IN (SELECT value FROM json_each(?1)) AND {time} BETWEEN ?2 AND ?3
         {after} {filter} ORDER BY symbol ASC, {key} {order} LIMIT ?6"
    )
}

#[async_trait::async_trait]
impl MarketStore for LiteMarket {
    async fn prepare(&self) -> Result<(), ApiError> {
        self.lite.migrate(MIGRATIONS).await?;
        Ok(())
    }

    async fn instruments(&self, status: Option<&str>) -> Result<Vec<Instrument>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT symbol, tick, lot, name, status FROM instruments
                 WHERE ?1 IS NULL OR status = ?1 ORDER BY symbol",
                (status.map(str::to_string),),
                instrument,
            )
            .await?)
    }

    async fn instrument(&self, symbol: &str) -> Result<Option<Instrument>, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT symbol, tick, lot, name, status FROM instruments WHERE symbol = ?1",
                (symbol.to_string(),),
                instrument,
            )
            .await?)
    }

    async fn listed(
        &self,
        symbol: &str,
        tick: i64,
        lot: i64,
        name: &str,
        seq: i64,
    ) -> Result<(), ApiError> {
        self.lite
            .execute(
                "INSERT INTO instruments (symbol, tick, lot, name, listed_seq, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (symbol) DO UPDATE SET name = excluded.name",
                (
                    symbol.to_string(),
                    tick,
                    lot,
                    name.to_string(),
                    seq,
                    now_micros(),
                ),
            )
            .await?;
        Ok(())
    }

    async fn change(
        &self,
        symbol: &str,
        status: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), ApiError> {
        self.lite
            .execute(
                "UPDATE instruments SET status = COALESCE(?2, status),
                     name = COALESCE(?3, name), updated_at = ?4 WHERE symbol = ?1",
                (
                    symbol.to_string(),
                    status.map(str::to_string),
                    name.map(str::to_string),
                    now_micros(),
                ),
            )
            .await?;
        Ok(())
    }

    async fn suspended(&self) -> Result<Vec<String>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT symbol FROM instruments WHERE status = 'inactive'",
                (),
                |r| r.get(0),
            )
            .await?)
    }

    async fn apply(&self, facts: &[Fact]) -> Result<usize, IngestError> {
        let facts = facts.to_vec();
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let mut fresh = std::collections::HashSet::new();
                {
                    let mut listing = tx.prepare_cached(
                        "INSERT INTO instruments (symbol, tick, lot, listed_seq, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (symbol) DO NOTHING",
                    )?;
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO market_trades (seq, symbol, price, qty, taker_side, time_ns)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (seq) DO NOTHING",
                    )?;
                    for f in &facts {
                        match f {
                            Fact::Listing(l) => {
                                listing.execute(params![
                                    l.symbol,
                                    l.tick,
                                    l.lot,
                                    l.seq,
                                    now_micros()
                                ])?;
                            }
                            Fact::Trade(t, side) => {
                                if insert.execute(params![
                                    t.seq, t.symbol, t.price, t.qty, side, t.time_ns
                                ])? > 0
                                {
                                    fresh.insert(t.seq);
                                }
                            }
                        }
                    }
                    let trades = crate::ingest::fresh_trades(&facts, &fresh);
                    let mut upsert = tx.prepare_cached(
                        "INSERT INTO bars (symbol, timeframe, start_ns, open, open_seq, high, low,
                             close, close_seq, volume, trades, notional)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                         ON CONFLICT (symbol, timeframe, start_ns) DO UPDATE SET
                             open = CASE WHEN excluded.open_seq < bars.open_seq
                                         THEN excluded.open ELSE bars.open END,
                             open_seq = min(bars.open_seq, excluded.open_seq),
                             close = CASE WHEN excluded.close_seq > bars.close_seq
                                          THEN excluded.close ELSE bars.close END,
                             close_seq = max(bars.close_seq, excluded.close_seq),
                             high = max(bars.high, excluded.high),
                             low = min(bars.low, excluded.low),
                             volume = bars.volume + excluded.volume,
                             trades = bars.trades + excluded.trades,
                             notional = bars.notional + excluded.notional",
                    )?;
                    for b in aggregate(&trades) {
                        let notional = i64::try_from(b.notional).unwrap_or(i64::MAX);
                        upsert.execute(params![
                            b.symbol,
                            b.timeframe.as_str(),
                            b.start_ns,
                            b.open.0,
                            b.open.1,
                            b.high,
                            b.low,
                            b.close.0,
                            b.close.1,
                            b.volume,
                            b.trades,
                            notional
                        ])?;
                    }
                }
                tx.commit()?;
                Ok(fresh.len())
            })
            .await?)
    }

    async fn listed_among(&self, symbols: &[String]) -> Result<Vec<String>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT symbol FROM instruments
                 WHERE symbol IN (SELECT value FROM json_each(?1)) ORDER BY symbol",
                (json_list(symbols)?,),
                |r| r.get(0),
            )
            .await?)
    }

    async fn latest_trades(&self, symbols: &[String]) -> Result<Vec<TradeRow>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT symbol, seq, price, qty, time_ns FROM market_trades m
                 WHERE symbol IN (SELECT value FROM json_each(?1))
                   AND seq = (SELECT max(seq) FROM market_trades WHERE symbol = m.symbol)
                 ORDER BY symbol",
                (json_list(symbols)?,),
                trade,
            )
            .await?)
    }

    async fn trades(&self, q: &PageQuery) -> Result<Vec<TradeRow>, ApiError> {
        let sql = page_sql(
            "SELECT symbol, seq, price, qty, time_ns FROM market_trades",
            "time_ns",
            "seq",
            "",
            q,
        );
        let (list, q) = (json_list(&q.symbols)?, q.clone());
        Ok(self
            .lite
            .read(move |c| {
                let (tok_symbol, tok_key) = q.after.clone().unwrap_or_default();
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map(
                    params![list, q.start, q.end, tok_symbol, tok_key, q.limit + 1],
                    trade,
                )?;
                rows.collect()
            })
            .await?)
    }

    async fn bars(&self, q: &PageQuery, timeframe: &str) -> Result<Vec<BarRow>, ApiError> {
        let sql = page_sql(BAR, "start_ns", "start_ns", "AND timeframe = ?7", q);
        let (list, q, tf) = (json_list(&q.symbols)?, q.clone(), timeframe.to_string());
        Ok(self
            .lite
            .read(move |c| {
                let (tok_symbol, tok_key) = q.after.clone().unwrap_or_default();
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map(
                    params![list, q.start, q.end, tok_symbol, tok_key, q.limit + 1, tf],
                    bar,
                )?;
                rows.collect()
            })
            .await?)
    }

    async fn snapshot_bars(&self, symbols: &[String]) -> Result<Vec<(BarRow, i64)>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT * FROM (
                         SELECT symbol, timeframe, start_ns, open, high, low, close, volume, trades,
                                CAST(notional AS REAL) / volume AS vwap,
                                row_number() OVER (PARTITION BY symbol, timeframe
                                                   ORDER BY start_ns DESC) AS n
                         FROM bars WHERE symbol IN (SELECT value FROM json_each(?1))
                           AND timeframe IN ('1Min', '1Day')) b
                     WHERE (timeframe = '1Min' AND n = 1) OR (timeframe = '1Day' AND n <= 2)",
                (json_list(symbols)?,),
                |r| Ok((bar(r)?, r.get::<_, i64>(10)?)),
            )
            .await?)
    }

    async fn watchlists(&self, user: u64) -> Result<Vec<Watchlist>, ApiError> {
        Ok(self
            .lite
            .rows(
                concat!(
                    watchlist_rows!(),
                    " WHERE user_id = ?1 ORDER BY created_at, id"
                ),
                (user as i64,),
                watchlist,
            )
            .await?)
    }

    async fn watchlist(&self, user: u64, id: &str) -> Result<Option<Watchlist>, ApiError> {
        Ok(self
            .lite
            .row(WATCHLIST_BY_ID, (id.to_string(), user as i64), watchlist)
            .await?)
    }

    async fn create_watchlist(
        &self,
        user: u64,
        id: &str,
        name: &str,
        symbols: &[String],
        max: i64,
    ) -> Result<Created, ApiError> {
        let (id, name, symbols) = (id.to_string(), name.to_string(), json_list(symbols)?);
        let user = user as i64;
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let held: i64 = tx.query_row(
                    "SELECT count(*) FROM watchlists WHERE user_id = ?1",
                    (user,),
                    |r| r.get(0),
                )?;
                if held >= max {
                    return Ok(Created::TooMany);
                }
                if name_taken(&tx, user, &name, None)? {
                    return Ok(Created::NameTaken);
                }
                let now = now_micros();
                tx.execute(
                    "INSERT INTO watchlists (id, user_id, name, symbols, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![id, user, name, symbols, now],
                )?;
                let made = tx.query_row(WATCHLIST_BY_ID, (&id, user), watchlist)?;
                tx.commit()?;
                Ok(Created::Done(made))
            })
            .await?)
    }

    async fn save_watchlist(
        &self,
        user: u64,
        id: &str,
        version: i64,
        name: &str,
        symbols: &[String],
    ) -> Result<Saved, ApiError> {
        let (id, name, symbols) = (id.to_string(), name.to_string(), json_list(symbols)?);
        let user = user as i64;
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                if name_taken(&tx, user, &name, Some(&id))? {
                    return Ok(Saved::NameTaken);
                }
                let changed = tx.execute(
                    "UPDATE watchlists SET name = ?4, symbols = ?5, version = version + 1,
                         updated_at = ?6
                     WHERE id = ?1 AND user_id = ?2 AND version = ?3",
                    params![id, user, version, name, symbols, now_micros()],
                )?;
                if changed == 0 {
                    return Ok(Saved::Stale);
                }
                let saved = tx.query_row(WATCHLIST_BY_ID, (&id, user), watchlist)?;
                tx.commit()?;
                Ok(Saved::Done(saved))
            })
            .await?)
    }

    async fn delete_watchlist(&self, user: u64, id: &str) -> Result<bool, ApiError> {
        Ok(self
            .lite
            .execute(
                "DELETE FROM watchlists WHERE id = ?1 AND user_id = ?2",
                (id.to_string(), user as i64),
            )
            .await?
            > 0)
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(LiteCheck(self.lite.clone()))
    }
}

/// A watchlist's columns as [`watchlist`] reads them, from the table.
macro_rules! watchlist_rows {
    () => {
        "SELECT id, name, symbols, version, created_at, updated_at FROM watchlists"
    };
}
use watchlist_rows;

const WATCHLIST_BY_ID: &str = concat!(watchlist_rows!(), " WHERE id = ?1 AND user_id = ?2");

fn watchlist(r: &rusqlite::Row<'_>) -> rusqlite::Result<Watchlist> {
    let symbols: String = r.get(2)?;
    Ok(Watchlist {
        id: r.get(0)?,
        name: r.get(1)?,
        symbols: serde_json::from_str(&symbols).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        version: r.get(3)?,
        created_at: rfc3339_micros(r.get(4)?),
        updated_at: rfc3339_micros(r.get(5)?),
    })
}

/// Whether `user` has a watchlist named `name` (other than `except`).
fn name_taken(
    tx: &rusqlite::Transaction<'_>,
    user: i64,
    name: &str,
    except: Option<&str>,
) -> rusqlite::Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM watchlists WHERE user_id = ?1 AND name = ?2
               AND (?3 IS NULL OR id <> ?3)",
            (user, name, except),
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}
