//! Schema migrations: SQL files in `migrations/`, applied in order on start, each once,
//! recorded in `schema_migrations`, under an advisory lock so that two instances
//! starting together do not race (the shell's runner, [`bourse_shell::migrate`]).

use bourse_shell::migrate::Migrations;
use tokio_postgres::Client;

use crate::OrderError;

/// The settlement schema's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    table: "schema_migrations",
    lock: 7_340_001,
    steps: &[
        (1, include_str!("../migrations/0001_settlement.sql")),
        (2, include_str!("../migrations/0002_cash_is_usd.sql")),
        (3, include_str!("../migrations/0003_trade_lookups.sql")),
        (4, include_str!("../migrations/0004_open_orders.sql")),
        (
            5,
            include_str!("../migrations/0005_trade_legs_from_trades.sql"),
        ),
        (
            6,
            include_str!("../migrations/0006_order_history_from_orders_and_trades.sql"),
        ),
        (7, include_str!("../migrations/0007_own_trades.sql")),
        (8, include_str!("../migrations/0008_order_fill_value.sql")),
        (9, include_str!("../migrations/0009_cost_on_balances.sql")),
        (10, include_str!("../migrations/0010_last_trades.sql")),
        (11, include_str!("../migrations/0011_orders_by_token.sql")),
        (12, include_str!("../migrations/0012_order_versions.sql")),
    ],
};

/// Applies the migrations not yet applied; returns how many were.
pub async fn migrate(client: &mut Client) -> Result<usize, OrderError> {
    Ok(MIGRATIONS.run(client).await?)
}
