//! The order path's database writes, in batches (`bourse_shell::batch`): the row an
//! order is entered under, and the engine's verdict with the answer read back. Orders
//! that arrive together share one statement and one commit each way, which is what
//! lets the service keep up when many clients send at once.

use std::collections::{HashMap, HashSet};

use bourse_shell::ApiError;
use bourse_shell::batch::Batcher;
use deadpool_postgres::Pool;
use serde_json::Value;

/// Most orders in one statement.
const BATCH: usize = 256;
/// Batches in flight at once.
const WORKERS: usize = 4;

/// A new order's row, before the engine sees it.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Alpaca's order id.
    pub id: String,
    /// The owner.
    pub user: i64,
    /// The client's id (unique per user: a repeat inserts nothing).
    pub client_order_id: String,
    /// The engine's client order id.
    pub token: String,
    /// Ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: &'static str,
    /// `market` or `limit`.
    pub order_type: &'static str,
    /// Time in force.
    pub time_in_force: String,
    /// Shares.
    pub qty: i64,
    /// Cents.
    pub limit_price: Option<i64>,
}

/// The engine's verdict on an order.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Alpaca's order id.
    pub id: String,
    /// Alpaca's status.
    pub status: &'static str,
    /// Shares filled.
    pub filled: i64,
    /// Sum of price × quantity of the fills.
    pub value: i64,
    /// The engine's accepted event.
    pub order_seq: Option<i64>,
    /// The last engine event reflected.
    pub known_seq: i64,
    /// Why it was refused.
    pub reject_reason: Option<&'static str>,
}

/// The two batchers.
#[derive(Clone, Debug)]
pub struct Writes {
    insert: Batcher<Pending, bool>,
    finish: Batcher<Verdict, Option<Value>>,
}

impl Writes {
    /// Starts the batch workers on the current tokio runtime.
    pub fn spawn(pool: Pool) -> Self {
        let p = pool.clone();
        let insert = Batcher::spawn(WORKERS, BATCH, move |rows: Vec<Pending>| {
            let pool = p.clone();
            async move { insert(&pool, rows).await }
        });
        let finish = Batcher::spawn(WORKERS, BATCH, move |rows: Vec<Verdict>| {
            let pool = pool.clone();
            async move { finish(&pool, rows).await }
        });
        Writes { insert, finish }
    }

    /// Inserts the row (`pending_new`); false if the user has an order with that
    /// client id already (nothing is inserted then). Durable when it returns.
    pub async fn insert(&self, row: Pending) -> Result<bool, ApiError> {
        self.insert.call(row).await
    }

    /// Records the verdict and reads the order back as the API shows it.
    pub async fn finish(&self, verdict: Verdict) -> Result<Option<Value>, ApiError> {
        self.finish.call(verdict).await
    }
}

async fn insert(pool: &Pool, rows: Vec<Pending>) -> Result<Vec<bool>, ApiError> {
    let client = pool.get().await?;
    let col = |f: fn(&Pending) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let stmt = client
        .prepare_cached(
            "INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
                 time_in_force, qty, limit_price, status)
             SELECT id, u, c, tk, s, sd, ty, tif, q, lp, 'pending_new'
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[])
                  AS x(id, u, c, tk, s, sd, ty, tif, q, lp)
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
            ],
        )
        .await?;
    let ids: HashSet<String> = inserted.iter().map(|r| r.get(0)).collect();
    Ok(rows.iter().map(|r| ids.contains(&r.id)).collect())
}

async fn finish(pool: &Pool, rows: Vec<Verdict>) -> Result<Vec<Option<Value>>, ApiError> {
    let client = pool.get().await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let update = client
        .prepare_cached(
            "UPDATE trader_orders t SET status = x.st, filled_qty = x.f, filled_value = x.v,
                 order_seq = x.os, known_seq = x.ks, reject_reason = x.rr,
                 updated_at = clock_timestamp()
             FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                         $6::bigint[], $7::text[]) AS x(id, st, f, v, os, ks, rr)
             WHERE t.id = x.id",
        )
        .await?;
    let read = client
        .prepare_cached(&format!("{} WHERE t.id = ANY($1)", crate::orders::SELECT))
        .await?;
    let statuses: Vec<&str> = rows.iter().map(|r| r.status).collect();
    let filled: Vec<i64> = rows.iter().map(|r| r.filled).collect();
    let values: Vec<i64> = rows.iter().map(|r| r.value).collect();
    let order_seqs: Vec<Option<i64>> = rows.iter().map(|r| r.order_seq).collect();
    let known: Vec<i64> = rows.iter().map(|r| r.known_seq).collect();
    let reasons: Vec<Option<&str>> = rows.iter().map(|r| r.reject_reason).collect();
    // Pipelined on the one connection: the read is sent behind the update without
    // waiting for it, and PostgreSQL runs them in order, so it sees the update.
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
        &ids,
        &statuses,
        &filled,
        &values,
        &order_seqs,
        &known,
        &reasons,
    ];
    let read_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&ids];
    // Planned for each batch: a generic plan cached while the table was small joins the
    // batch to a scan of the whole table, for ever after (measured: the update's cost
    // grew with the table until the service fell behind).
    // The verdict commits without waiting for its WAL flush: it is a cache of what the
    // journal already holds durably. Lost in a database crash, the row reads as
    // `pending_new` with `known_seq` 0, and reads take settlement's view of the order.
    let (_, _, read, _) = tokio::try_join!(
        client.batch_execute(
            "BEGIN; SET LOCAL synchronous_commit = off; SET LOCAL plan_cache_mode = force_custom_plan"
        ),
        client.execute(&update, &params),
        client.query(&read, &read_params),
        client.batch_execute("COMMIT"),
    )?;
    let mut found: HashMap<String, Value> = read
        .iter()
        .map(|r| (r.get::<_, String>(0), crate::orders::order_json(r)))
        .collect();
    Ok(rows.iter().map(|r| found.remove(&r.id)).collect())
}
