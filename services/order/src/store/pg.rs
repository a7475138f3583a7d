//! [`SettlementStore`] on PostgreSQL (`migrations/`): new rows by binary `COPY`,
//! changed orders and balances by one multi-row statement each.

use deadpool_postgres::Pool;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{Loaded, SettlementStore};
use crate::OrderError;
use crate::settle::{OrderRow, Plan, TradeRow};

/// Settlement's tables in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgSettlement {
    pool: Pool,
}

impl PgSettlement {
    /// The store over `pool`.
    pub fn new(pool: Pool) -> Self {
        PgSettlement { pool }
    }
}

#[async_trait::async_trait]
impl SettlementStore for PgSettlement {
    async fn prepare(&self) -> Result<(), OrderError> {
        let mut client = self.pool.get().await?;
        crate::migrate::migrate(&mut client).await?;
        Ok(())
    }

    async fn load(&self) -> Result<Loaded, OrderError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT seq, events FROM settlement_position WHERE id = 1",
                &[],
            )
            .await?;
        let open = client
            .query(
                "SELECT order_seq, user_id, client_id, symbol, side, price, qty, filled, updated_seq,
                        opened_filled, filled_value
                 FROM orders WHERE status = 'open'",
                &[],
            )
            .await?
            .iter()
            .map(|r| OrderRow {
                order_seq: r.get(0),
                user_id: r.get(1),
                client_id: r.get(2),
                symbol: r.get(3),
                side: r.get(4),
                price: r.get(5),
                qty: r.get(6),
                filled: r.get(7),
                filled_value: r.get(10),
                opened_filled: r.get(9),
                status: "open".into(),
                reason: None,
                updated_seq: r.get(8),
            })
            .collect();
        let costs = client
            .query(crate::holdings::COSTS, &[])
            .await?
            .iter()
            .map(|r| {
                (
                    (r.get(0), r.get(1)),
                    crate::holdings::Cost {
                        traded: r.get(2),
                        cost: r.get(3),
                    },
                )
            })
            .collect();
        Ok(Loaded {
            seq: row.get::<_, i64>(0) as u64,
            events: row.get::<_, i64>(1) as u64,
            open,
            costs,
        })
    }

    async fn commit(&self, plan: &Plan, seq: u64, events: u64) -> Result<(), OrderError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        write(&tx, plan).await?;
        tx.execute(
            "UPDATE settlement_position SET seq = $1, events = $2, updated_at = now() WHERE id = 1",
            &[&(seq as i64), &(events as i64)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::holdings::HoldingsReader for PgSettlement {
    async fn holdings(
        &self,
        user: u64,
        symbol: Option<&str>,
    ) -> Result<crate::holdings::Holdings, OrderError> {
        let client = self.pool.get().await?;
        crate::holdings::load(&client, user, symbol).await
    }

    async fn last_trade(&self, symbol: &str) -> Result<Option<(i64, u64)>, OrderError> {
        let client = self.pool.get().await?;
        crate::holdings::last_trade(&client, symbol).await
    }

    fn check(&self) -> Box<dyn bourse_shell::health::Check> {
        Box::new(bourse_shell::health::Database(self.pool.clone()))
    }
}

/// Streams rows into `table` with binary `COPY`.
async fn copy_in<const N: usize>(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &str,
    types: [Type; N],
    rows: impl Iterator<Item = [&(dyn ToSql + Sync); N]>,
) -> Result<(), OrderError> {
    let sink = tx
        .copy_in(&format!("COPY {table} ({columns}) FROM STDIN BINARY"))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for row in rows {
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Copies `orders` (new ones, in their final state) into `table` (`orders`, or a table
/// made like it).
pub async fn copy_orders<'a>(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    orders: impl Iterator<Item = &'a OrderRow>,
) -> Result<(), OrderError> {
    use Type as T;
    copy_in(
        tx,
        table,
        "order_seq, user_id, client_id, symbol, side, price, qty, filled, opened_filled, status, \
         reason, updated_seq, filled_value",
        [
            T::INT8,
            T::INT8,
            T::TEXT,
            T::TEXT,
            T::TEXT,
            T::INT8,
            T::INT8,
            T::INT8,
            T::INT8,
            T::TEXT,
            T::TEXT,
            T::INT8,
            T::INT8,
        ],
        orders.map(|o| -> [&(dyn ToSql + Sync); 13] {
            [
                &o.order_seq,
                &o.user_id,
                &o.client_id,
                &o.symbol,
                &o.side,
                &o.price,
                &o.qty,
                &o.filled,
                &o.opened_filled,
                &o.status,
                &o.reason,
                &o.updated_seq,
                &o.filled_value,
            ]
        }),
    )
    .await
}

/// Copies `trades` into `table` (`trades`, or a table made like it).
pub async fn copy_trades(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    trades: &[TradeRow],
) -> Result<(), OrderError> {
    use Type as T;
    copy_in(
        tx,
        table,
        "seq, cmd_seq, symbol, price, qty, buyer, seller, buy_order_seq, sell_order_seq, \
         buy_leaves, sell_leaves, taker_side",
        [
            T::INT8,
            T::INT8,
            T::TEXT,
            T::INT8,
            T::INT8,
            T::INT8,
            T::INT8,
            T::INT8,
            T::INT8,
            T::INT8,
            T::INT8,
            T::TEXT,
        ],
        trades.iter().map(|t| -> [&(dyn ToSql + Sync); 12] {
            [
                &t.seq,
                &t.cmd_seq,
                &t.symbol,
                &t.price,
                &t.qty,
                &t.buyer,
                &t.seller,
                &t.buy_order_seq,
                &t.sell_order_seq,
                &t.buy_leaves,
                &t.sell_leaves,
                &t.taker_side,
            ]
        }),
    )
    .await
}

async fn write(tx: &tokio_postgres::Transaction<'_>, plan: &Plan) -> Result<(), OrderError> {
    use Type as T;
    if !plan.users.is_empty() {
        let (u, s): (Vec<i64>, Vec<i64>) = plan.users.iter().copied().unzip();
        tx.execute(
            "INSERT INTO users (user_id, created_seq) SELECT * FROM unnest($1::bigint[], $2::bigint[])
             ON CONFLICT DO NOTHING",
            &[&u, &s],
        )
        .await?;
    }
    // Orders opened in this batch: inserted (in their final state).
    copy_orders(tx, "orders", plan.new_orders()).await?;
    // Orders that were open before: updated.
    let changed: Vec<&OrderRow> = plan.changed_orders().collect();
    if !changed.is_empty() {
        tx.execute(
            "UPDATE orders o SET filled = c.filled, status = c.status, reason = c.reason,
                 updated_seq = c.updated_seq, filled_value = c.filled_value
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],
                         $6::bigint[])
                 AS c(order_seq, filled, status, reason, updated_seq, filled_value)
             WHERE o.order_seq = c.order_seq",
            &[
                &changed.iter().map(|o| o.order_seq).collect::<Vec<_>>(),
                &changed.iter().map(|o| o.filled).collect::<Vec<_>>(),
                &changed.iter().map(|o| o.status.clone()).collect::<Vec<_>>(),
                &changed.iter().map(|o| o.reason.clone()).collect::<Vec<_>>(),
                &changed.iter().map(|o| o.updated_seq).collect::<Vec<_>>(),
                &changed.iter().map(|o| o.filled_value).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    // The versions the trader's cached pages are tagged with (migration 0012).
    let versions = plan.trader_users();
    if !versions.is_empty() {
        tx.execute(
            "INSERT INTO order_versions AS v (user_id, version) SELECT unnest($1::bigint[]), 1
             ON CONFLICT (user_id) DO UPDATE SET version = v.version + 1",
            &[&versions],
        )
        .await?;
    }
    copy_trades(tx, "trades", &plan.trades).await?;
    copy_in(
        tx,
        "ledger_transfers",
        "seq, leg, user_id, asset, amount, kind",
        [T::INT8, T::INT2, T::INT8, T::TEXT, T::INT8, T::TEXT],
        plan.ledger.iter().map(|l| -> [&(dyn ToSql + Sync); 6] {
            [&l.seq, &l.leg, &l.user_id, &l.asset, &l.amount, &l.kind]
        }),
    )
    .await?;
    if !plan.last_trades.is_empty() {
        let t = &plan.last_trades;
        tx.execute(
            "INSERT INTO last_trades (symbol, price, seq)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
             ON CONFLICT (symbol) DO UPDATE SET price = EXCLUDED.price, seq = EXCLUDED.seq
             WHERE last_trades.seq < EXCLUDED.seq",
            &[
                &t.keys().collect::<Vec<_>>(),
                &t.values().map(|v| v.0).collect::<Vec<_>>(),
                &t.values().map(|v| v.1).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    if !plan.balances.is_empty() {
        // The amount moves by the batch's change; a holding's cost walk is written as
        // it stands after the batch.
        let b: Vec<_> = plan.balance_rows().collect();
        tx.execute(
            "INSERT INTO balances (user_id, asset, amount, traded, cost)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[],
                                  $5::bigint[])
             ON CONFLICT (user_id, asset) DO UPDATE SET amount = balances.amount + EXCLUDED.amount,
                 traded = EXCLUDED.traded, cost = EXCLUDED.cost",
            &[
                &b.iter().map(|r| r.0.0).collect::<Vec<_>>(),
                &b.iter().map(|r| &r.0.1).collect::<Vec<_>>(),
                &b.iter().map(|r| r.1).collect::<Vec<_>>(),
                &b.iter().map(|r| r.2.traded).collect::<Vec<_>>(),
                &b.iter().map(|r| r.2.cost).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    Ok(())
}
