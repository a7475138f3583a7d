//! [`SettlementStore`] on the embedded SQLite store (`migrations/lite/`): one
//! transaction per batch with prepared statements (SQLite has no `COPY`; a prepared
//! insert in a transaction costs a few microseconds a row).

use bourse_shell::lite::rusqlite::{OptionalExtension, params};
use bourse_shell::lite::{Lite, LiteMigrations, now_micros};

use super::{Loaded, SettlementStore};
use crate::OrderError;
use crate::settle::{OrderRow, Plan};

/// Settlement's SQLite migrations.
pub const MIGRATIONS: LiteMigrations = LiteMigrations {
    table: "schema_migrations",
    steps: &[
        (1, include_str!("../../migrations/lite/0001_settlement.sql")),
        (
            2,
            include_str!("../../migrations/lite/0002_trade_legs_from_trades.sql"),
        ),
        (
            3,
            include_str!("../../migrations/lite/0003_order_history_from_orders_and_trades.sql"),
        ),
        (4, include_str!("../../migrations/lite/0004_own_trades.sql")),
        (
            5,
            include_str!("../../migrations/lite/0005_order_fill_value.sql"),
        ),
        (
            6,
            include_str!("../../migrations/lite/0006_cost_on_balances.sql"),
        ),
        (
            7,
            include_str!("../../migrations/lite/0007_last_trades.sql"),
        ),
        (
            8,
            include_str!("../../migrations/lite/0008_order_versions.sql"),
        ),
    ],
};

/// Settlement's tables in the embedded store.
#[derive(Clone, Debug)]
pub struct LiteSettlement {
    lite: Lite,
}

impl LiteSettlement {
    /// The store over `lite`.
    pub fn new(lite: Lite) -> Self {
        LiteSettlement { lite }
    }
}

/// `$n` placeholders and casts as SQLite reads them.
fn sqlite(sql: &str) -> String {
    sql.replace("$3::TEXT", "?3").replace('$', "?")
}

#[async_trait::async_trait]
impl crate::holdings::HoldingsReader for LiteSettlement {
    async fn holdings(
        &self,
        user: u64,
        symbol: Option<&str>,
    ) -> Result<crate::holdings::Holdings, OrderError> {
        use crate::holdings::{BALANCES, Cost, HeldRows, Holdings, held};
        let symbol = symbol.map(str::to_string);
        Ok(self
            .lite
            .read(move |c| {
                let user = user as i64;
                let mut balances = c.prepare_cached(&sqlite(BALANCES))?;
                let rows: Vec<HeldRows> = balances
                    .query_map(params![user, bourse_core::CASH, symbol], |r| {
                        Ok(HeldRows {
                            symbol: r.get(0)?,
                            qty: r.get(1)?,
                            traded: Cost {
                                traded: r.get(2)?,
                                cost: r.get(3)?,
                            },
                            last_price: r.get(4)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
                let mut out = Holdings::default();
                for row in rows {
                    if row.symbol == bourse_core::CASH {
                        out.cash = row.qty;
                    } else {
                        out.positions.push(held(row));
                    }
                }
                Ok(out)
            })
            .await?)
    }

    async fn last_trade(&self, symbol: &str) -> Result<Option<(i64, u64)>, OrderError> {
        let symbol = symbol.to_string();
        Ok(self
            .lite
            .read(move |c| {
                c.prepare_cached(&sqlite(crate::holdings::LAST_TRADE))?
                    .query_row([symbol], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64))
                    })
                    .optional()
            })
            .await?)
    }

    fn check(&self) -> Box<dyn bourse_shell::health::Check> {
        Box::new(bourse_shell::lite::LiteCheck(self.lite.clone()))
    }
}

/// The rows of a plan, owned, for the blocking writer.
struct Rows {
    users: Vec<(i64, i64)>,
    /// [`Plan::trader_users`].
    versions: Vec<i64>,
    new: Vec<OrderRow>,
    changed: Vec<OrderRow>,
    trades: Vec<crate::settle::TradeRow>,
    ledger: Vec<crate::settle::Leg>,
    balances: Vec<((i64, String), i64, crate::holdings::Cost)>,
    last_trades: Vec<(String, (i64, i64))>,
}

#[async_trait::async_trait]
impl SettlementStore for LiteSettlement {
    async fn prepare(&self) -> Result<(), OrderError> {
        self.lite.migrate(MIGRATIONS).await?;
        Ok(())
    }

    async fn load(&self) -> Result<Loaded, OrderError> {
        Ok(self
            .lite
            .read(|c| {
                let (seq, events): (i64, i64) = c
                    .query_row(
                        "SELECT seq, events FROM settlement_position WHERE id = 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?
                    .unwrap_or((0, 0));
                let mut stmt = c.prepare(
                    "SELECT order_seq, user_id, client_id, symbol, side, price, qty, filled,
                            updated_seq, opened_filled, filled_value
                     FROM orders WHERE status = 'open'",
                )?;
                let open = stmt
                    .query_map([], |r| {
                        Ok(OrderRow {
                            order_seq: r.get(0)?,
                            user_id: r.get(1)?,
                            client_id: r.get(2)?,
                            symbol: r.get(3)?,
                            side: r.get(4)?,
                            price: r.get(5)?,
                            qty: r.get(6)?,
                            filled: r.get(7)?,
                            filled_value: r.get(10)?,
                            opened_filled: r.get(9)?,
                            status: "open".into(),
                            reason: None,
                            updated_seq: r.get(8)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut stmt = c.prepare(crate::holdings::COSTS)?;
                let costs = stmt
                    .query_map([], |r| {
                        Ok((
                            (r.get(0)?, r.get(1)?),
                            crate::holdings::Cost {
                                traded: r.get(2)?,
                                cost: r.get(3)?,
                            },
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Loaded {
                    seq: seq as u64,
                    events: events as u64,
                    open,
                    costs,
                })
            })
            .await?)
    }

    async fn commit(&self, plan: &Plan, seq: u64, events: u64) -> Result<(), OrderError> {
        let rows = Rows {
            users: plan.users.clone(),
            versions: plan.trader_users(),
            new: plan.new_orders().cloned().collect(),
            changed: plan.changed_orders().cloned().collect(),
            trades: plan.trades.clone(),
            ledger: plan.ledger.clone(),
            balances: plan
                .balance_rows()
                .map(|(k, amount, cost)| (k.clone(), amount, cost))
                .collect(),
            last_trades: plan
                .last_trades
                .iter()
                .map(|(s, t)| (s.clone(), *t))
                .collect(),
        };
        self.lite
            .write(move |c| {
                let tx = c.transaction()?;
                {
                    let mut users = tx.prepare_cached(
                        "INSERT INTO users (user_id, created_seq) VALUES (?1, ?2)
                         ON CONFLICT DO NOTHING",
                    )?;
                    for (u, s) in &rows.users {
                        users.execute(params![u, s])?;
                    }
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO orders (order_seq, user_id, client_id, symbol, side, price,
                             qty, filled, status, reason, updated_seq, opened_filled, filled_value)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    )?;
                    for o in &rows.new {
                        insert.execute(params![
                            o.order_seq,
                            o.user_id,
                            o.client_id,
                            o.symbol,
                            o.side,
                            o.price,
                            o.qty,
                            o.filled,
                            o.status,
                            o.reason,
                            o.updated_seq,
                            o.opened_filled,
                            o.filled_value
                        ])?;
                    }
                    let mut update = tx.prepare_cached(
                        "UPDATE orders SET filled = ?2, status = ?3, reason = ?4, updated_seq = ?5,
                             filled_value = ?6
                         WHERE order_seq = ?1",
                    )?;
                    for o in &rows.changed {
                        update.execute(params![
                            o.order_seq,
                            o.filled,
                            o.status,
                            o.reason,
                            o.updated_seq,
                            o.filled_value
                        ])?;
                    }
                    let mut versions = tx.prepare_cached(
                        "INSERT INTO order_versions (user_id, version) VALUES (?1, 1)
                         ON CONFLICT (user_id) DO UPDATE SET version = version + 1",
                    )?;
                    for user in &rows.versions {
                        versions.execute([user])?;
                    }
                    let mut trades = tx.prepare_cached(
                        "INSERT INTO trades (seq, cmd_seq, symbol, price, qty, buyer, seller,
                             buy_order_seq, sell_order_seq, taker_side, buy_leaves, sell_leaves)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    )?;
                    for t in &rows.trades {
                        trades.execute(params![
                            t.seq,
                            t.cmd_seq,
                            t.symbol,
                            t.price,
                            t.qty,
                            t.buyer,
                            t.seller,
                            t.buy_order_seq,
                            t.sell_order_seq,
                            t.taker_side,
                            t.buy_leaves,
                            t.sell_leaves
                        ])?;
                    }
                    let mut ledger = tx.prepare_cached(
                        "INSERT INTO ledger_transfers (seq, leg, user_id, asset, amount, kind)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                    for l in &rows.ledger {
                        ledger.execute(params![l.seq, l.leg, l.user_id, l.asset, l.amount, l.kind])?;
                    }
                    let mut balances = tx.prepare_cached(
                        "INSERT INTO balances (user_id, asset, amount, traded, cost)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (user_id, asset) DO UPDATE SET amount = amount + excluded.amount,
                             traded = excluded.traded, cost = excluded.cost",
                    )?;
                    for ((user, asset), amount, c) in &rows.balances {
                        balances.execute(params![user, asset, amount, c.traded, c.cost])?;
                    }
                    let mut last = tx.prepare_cached(
                        "INSERT INTO last_trades (symbol, price, seq) VALUES (?1, ?2, ?3)
                         ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, seq = excluded.seq
                         WHERE last_trades.seq < excluded.seq",
                    )?;
                    for (symbol, (price, seq)) in &rows.last_trades {
                        last.execute(params![symbol, price, seq])?;
                    }
                    tx.execute(
                        "UPDATE settlement_position SET seq = ?1, events = ?2, updated_at = ?3
                         WHERE id = 1",
                        params![seq as i64, events as i64, now_micros()],
                    )?;
                }
                tx.commit()
            })
            .await?;
        Ok(())
    }
}
