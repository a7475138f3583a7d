//! [`MarketStore`] on PostgreSQL (`migrations/`).

use bourse_shell::ApiError;
use bourse_shell::health::{Check, Database};
use deadpool_postgres::Pool;
use tokio_postgres::Row;

use super::{BarRow, Created, Instrument, MarketStore, PageQuery, Saved, TradeRow, Watchlist};
use crate::bars::{Trade, aggregate};
use crate::ingest::{Fact, IngestError};

/// The stock tables in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgMarket {
    pool: Pool,
}

impl PgMarket {
    /// The store over `pool`.
    pub fn new(pool: Pool) -> Self {
        PgMarket { pool }
    }
}

fn instrument(r: &Row) -> Instrument {
    Instrument {
        symbol: r.get(0),
        tick: r.get(1),
        lot: r.get(2),
        name: r.get(3),
        status: r.get(4),
    }
}

fn trade(r: &Row) -> TradeRow {
    TradeRow {
        symbol: r.get("symbol"),
        seq: r.get("seq"),
        price: r.get("price"),
        qty: r.get("qty"),
        time_ns: r.get("time_ns"),
    }
}

fn bar(r: &Row) -> BarRow {
    BarRow {
        symbol: r.get("symbol"),
        timeframe: r.get("timeframe"),
        start_ns: r.get("start_ns"),
        open: r.get("open"),
        high: r.get("high"),
        low: r.get("low"),
        close: r.get("close"),
        volume: r.get("volume"),
        trades: r.get("trades"),
        vwap: r.get("vwap"),
    }
}

const INSTRUMENT: &str = "SELECT symbol, tick, lot, name, status FROM instruments";

impl PgMarket {
    /// One page of `select`'s rows (see [`PageQuery`]): `time` bounds it, `key` orders
    /// it within a symbol, `filter` adds conditions over `$7`.
    async fn page(
        &self,
        q: &PageQuery,
        select: &str,
        time: &str,
        key: &str,
        filter: &str,
        extra: Option<&str>,
    ) -> Result<Vec<Row>, ApiError> {
        let order = if q.desc { "DESC" } else { "ASC" };
        let (tok_symbol, tok_key) = q.after.clone().unwrap_or_default();
        let after = if q.after.is_some() {
            let cmp = if q.desc { "<" } else { ">" };
            format!("AND (symbol > $4 OR (symbol = $4 AND {key} {cmp} $5))")
        } else {
            "AND $4::text IS NOT NULL AND $5::bigint IS NOT NULL".into()
        };
        let sql = format!(
            "{select} WHERE symbol = ANY($1) AND {time} BETWEEN $2 AND $3 {after} {filter}
             ORDER BY symbol ASC, {key} {order} LIMIT $6"
        );
        let client = self.pool.get().await?;
        Ok(client
            .query(
                &client.prepare_cached(&sql).await?,
                &[
                    &q.symbols,
                    &q.start,
                    &q.end,
                    &tok_symbol,
                    &tok_key,
                    &(q.limit + 1),
                    &extra,
                ],
            )
            .await?)
    }
}

#[async_trait::async_trait]
impl MarketStore for PgMarket {
    async fn prepare(&self) -> Result<(), ApiError> {
        let mut client = self.pool.get().await?;
        crate::MIGRATIONS.run(&mut client).await?;
        Ok(())
    }

    async fn instruments(&self, status: Option<&str>) -> Result<Vec<Instrument>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{INSTRUMENT} WHERE $1::text IS NULL OR status = $1 ORDER BY symbol"
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&status])
            .await?
            .iter()
            .map(instrument)
            .collect())
    }

    async fn instrument(&self, symbol: &str) -> Result<Option<Instrument>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!("{INSTRUMENT} WHERE symbol = $1"))
            .await?;
        Ok(client
            .query_opt(&stmt, &[&symbol])
            .await?
            .as_ref()
            .map(instrument))
    }

    async fn listed(
        &self,
        symbol: &str,
        tick: i64,
        lot: i64,
        name: &str,
        seq: i64,
    ) -> Result<(), ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO instruments (symbol, tick, lot, name, listed_seq)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (symbol) DO UPDATE SET name = EXCLUDED.name",
            )
            .await?;
        client
            .execute(&stmt, &[&symbol, &tick, &lot, &name, &seq])
            .await?;
        Ok(())
    }

    async fn change(
        &self,
        symbol: &str,
        status: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE instruments SET status = COALESCE($2, status), name = COALESCE($3, name),
                     updated_at = now() WHERE symbol = $1",
            )
            .await?;
        client.execute(&stmt, &[&symbol, &status, &name]).await?;
        Ok(())
    }

    async fn suspended(&self) -> Result<Vec<String>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT symbol FROM instruments WHERE status = 'inactive'")
            .await?;
        Ok(client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn apply(&self, facts: &[Fact]) -> Result<usize, IngestError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        for f in facts {
            if let Fact::Listing(l) = f {
                tx.execute(
                    "INSERT INTO instruments (symbol, tick, lot, listed_seq) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (symbol) DO NOTHING",
                    &[&l.symbol, &l.tick, &l.lot, &l.seq],
                )
                .await?;
            }
        }
        let (mut seqs, mut symbols, mut prices, mut qtys, mut sides, mut times) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for f in facts {
            if let Fact::Trade(t, side) = f {
                seqs.push(t.seq);
                symbols.push(t.symbol.as_str());
                prices.push(t.price);
                qtys.push(t.qty);
                sides.push(side.as_str());
                times.push(t.time_ns);
            }
        }
        let mut new = 0;
        if !seqs.is_empty() {
            let rows = tx
                .query(
                    "INSERT INTO market_trades (seq, symbol, price, qty, taker_side, time_ns)
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[],
                                          $5::text[], $6::bigint[])
                     ON CONFLICT (seq) DO NOTHING RETURNING seq",
                    &[&seqs, &symbols, &prices, &qtys, &sides, &times],
                )
                .await?;
            let fresh: std::collections::HashSet<i64> = rows.iter().map(|r| r.get(0)).collect();
            let trades: Vec<Trade> = crate::ingest::fresh_trades(facts, &fresh);
            new = trades.len();
            upsert_bars(&tx, &trades).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    async fn listed_among(&self, symbols: &[String]) -> Result<Vec<String>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT symbol FROM instruments WHERE symbol = ANY($1) ORDER BY symbol")
            .await?;
        Ok(client
            .query(&stmt, &[&symbols])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn latest_trades(&self, symbols: &[String]) -> Result<Vec<TradeRow>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT DISTINCT ON (symbol) symbol, seq, price, qty, time_ns FROM market_trades
                 WHERE symbol = ANY($1) ORDER BY symbol, seq DESC",
            )
            .await?;
        Ok(client
            .query(&stmt, &[&symbols])
            .await?
            .iter()
            .map(trade)
            .collect())
    }

    async fn trades(&self, q: &PageQuery) -> Result<Vec<TradeRow>, ApiError> {
        let rows = self
            .page(
                q,
                "SELECT symbol, seq, price, qty, time_ns FROM market_trades",
                "time_ns",
                "seq",
                "AND $7::text IS NULL",
                None,
            )
            .await?;
        Ok(rows.iter().map(trade).collect())
    }

    async fn bars(&self, q: &PageQuery, timeframe: &str) -> Result<Vec<BarRow>, ApiError> {
        let rows = self
            .page(
                q,
                "SELECT symbol, timeframe, start_ns, open, high, low, close, volume, trades,
                        (notional / volume)::float8 AS vwap FROM bars",
                "start_ns",
                "start_ns",
                "AND timeframe = $7",
                Some(timeframe),
            )
            .await?;
        Ok(rows.iter().map(bar).collect())
    }

    async fn snapshot_bars(&self, symbols: &[String]) -> Result<Vec<(BarRow, i64)>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT * FROM (
                     SELECT symbol, timeframe, start_ns, open, high, low, close, volume, trades,
                            (notional / volume)::float8 AS vwap,
                            row_number() OVER (PARTITION BY symbol, timeframe
                                               ORDER BY start_ns DESC) AS n
                     FROM bars WHERE symbol = ANY($1) AND timeframe IN ('1Min', '1Day')) b
                 WHERE (timeframe = '1Min' AND n = 1) OR (timeframe = '1Day' AND n <= 2)",
            )
            .await?;
        Ok(client
            .query(&stmt, &[&symbols])
            .await?
            .iter()
            .map(|r| (bar(r), r.get::<_, i64>("n")))
            .collect())
    }

    async fn watchlists(&self, user: u64) -> Result<Vec<Watchlist>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{WATCHLIST} WHERE user_id = $1 ORDER BY created_at, id"
            ))
            .await?;
        client
            .query(&stmt, &[&(user as i64)])
            .await?
            .iter()
            .map(watchlist)
            .collect()
    }

    async fn watchlist(&self, user: u64, id: &str) -> Result<Option<Watchlist>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!("{WATCHLIST} WHERE id = $1 AND user_id = $2"))
            .await?;
        client
            .query_opt(&stmt, &[&id, &(user as i64)])
            .await?
            .as_ref()
            .map(watchlist)
            .transpose()
    }

    async fn create_watchlist(
        &self,
        user: u64,
        id: &str,
        name: &str,
        symbols: &[String],
        max: i64,
    ) -> Result<Created, ApiError> {
        let client = self.pool.get().await?;
        let symbols = serde_json::to_string(symbols).map_err(ApiError::internal)?;
        let user = user as i64;
        let stmt = client
            .prepare_cached(&format!(
                "WITH made AS (
                     INSERT INTO watchlists (id, user_id, name, symbols)
                     SELECT $1, $2, $3, $4
                     WHERE (SELECT count(*) FROM watchlists WHERE user_id = $2) < $5
                     ON CONFLICT (user_id, name) DO NOTHING
                     RETURNING *)
                 {WATCHLIST_OF} FROM made"
            ))
            .await?;
        if let Some(row) = client
            .query_opt(&stmt, &[&id, &user, &name, &symbols, &max])
            .await?
        {
            return Ok(Created::Done(watchlist(&row)?));
        }
        let stmt = client
            .prepare_cached("SELECT 1 FROM watchlists WHERE user_id = $1 AND name = $2")
            .await?;
        Ok(match client.query_opt(&stmt, &[&user, &name]).await? {
            Some(_) => Created::NameTaken,
            None => Created::TooMany,
        })
    }

    async fn save_watchlist(
        &self,
        user: u64,
        id: &str,
        version: i64,
        name: &str,
        symbols: &[String],
    ) -> Result<Saved, ApiError> {
        let client = self.pool.get().await?;
        let symbols = serde_json::to_string(symbols).map_err(ApiError::internal)?;
        let stmt = client
            .prepare_cached(&format!(
                "WITH saved AS (
                     UPDATE watchlists SET name = $4, symbols = $5, version = version + 1,
                         updated_at = clock_timestamp()
                     WHERE id = $1 AND user_id = $2 AND version = $3
                     RETURNING *)
                 {WATCHLIST_OF} FROM saved"
            ))
            .await?;
        match client
            .query_opt(&stmt, &[&id, &(user as i64), &version, &name, &symbols])
            .await
        {
            Ok(Some(row)) => Ok(Saved::Done(watchlist(&row)?)),
            Ok(None) => Ok(Saved::Stale),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                Ok(Saved::NameTaken)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_watchlist(&self, user: u64, id: &str) -> Result<bool, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("DELETE FROM watchlists WHERE id = $1 AND user_id = $2")
            .await?;
        Ok(client.execute(&stmt, &[&id, &(user as i64)]).await? > 0)
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(Database(self.pool.clone()))
    }
}

/// A watchlist's columns, as [`watchlist`] reads them (times as the API shows them).
macro_rules! watchlist_columns {
    () => {
        "SELECT id, name, symbols, version,
            to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS created_at,
            to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS updated_at"
    };
}
/// A watchlist's columns, to be followed by the rows they come from.
const WATCHLIST_OF: &str = watchlist_columns!();
/// A watchlist's columns from the table.
const WATCHLIST: &str = concat!(watchlist_columns!(), " FROM watchlists");

fn watchlist(r: &Row) -> Result<Watchlist, ApiError> {
    Ok(Watchlist {
        id: r.get("id"),
        name: r.get("name"),
        symbols: serde_json::from_str(r.get("symbols")).map_err(ApiError::internal)?,
        version: r.get("version"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    })
}

async fn upsert_bars(
    tx: &tokio_postgres::Transaction<'_>,
    trades: &[Trade],
) -> Result<(), tokio_postgres::Error> {
    let bars = aggregate(trades);
    if bars.is_empty() {
        return Ok(());
    }
    let col = |f: &dyn Fn(&crate::bars::Bar) -> i64| bars.iter().map(f).collect::<Vec<i64>>();
    let symbols: Vec<&str> = bars.iter().map(|b| b.symbol.as_str()).collect();
    let frames: Vec<&str> = bars.iter().map(|b| b.timeframe.as_str()).collect();
    let notional: Vec<String> = bars.iter().map(|b| b.notional.to_string()).collect();
    tx.execute(
        "INSERT INTO bars (symbol, timeframe, start_ns, open, open_seq, high, low, close,
                           close_seq, volume, trades, notional)
         SELECT s, f, st, o, os, h, l, c, cs, v, n, nt::numeric
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
                     $11::bigint[], $12::text[]) AS x(s, f, st, o, os, h, l, c, cs, v, n, nt)
         ON CONFLICT (symbol, timeframe, start_ns) DO UPDATE SET
             open = CASE WHEN EXCLUDED.open_seq < bars.open_seq THEN EXCLUDED.open ELSE bars.open END,
             open_seq = LEAST(bars.open_seq, EXCLUDED.open_seq),
             close = CASE WHEN EXCLUDED.close_seq > bars.close_seq THEN EXCLUDED.close ELSE bars.close END,
             close_seq = GREATEST(bars.close_seq, EXCLUDED.close_seq),
             high = GREATEST(bars.high, EXCLUDED.high),
             low = LEAST(bars.low, EXCLUDED.low),
             volume = bars.volume + EXCLUDED.volume,
             trades = bars.trades + EXCLUDED.trades,
             notional = bars.notional + EXCLUDED.notional",
        &[
            &symbols,
            &frames,
            &col(&|b| b.start_ns),
            &col(&|b| b.open.0),
            &col(&|b| b.open.1),
            &col(&|b| b.high),
            &col(&|b| b.low),
            &col(&|b| b.close.0),
            &col(&|b| b.close.1),
            &col(&|b| b.volume),
            &col(&|b| b.trades),
            &notional,
        ],
    )
    .await?;
    Ok(())
}
