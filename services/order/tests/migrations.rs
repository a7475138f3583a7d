//! Migrations applied to a database that already holds settled rows: migration 0005
//! stops storing trades' ledger legs and derives them in the `ledger` view, 0006 does
//! the same for the order history (the `order_history` view), and each view must give
//! exactly the rows its table held before.

use bourse_order::migrate::MIGRATIONS;
use bourse_shell::migrate::Migrations;

const PG: &str = "host=127.0.0.1 user=postgres dbname=test";

/// (seq, leg, user, asset, amount, kind), in order.
type Legs = Vec<(i64, i16, i64, String, i64, String)>;

async fn legs(client: &tokio_postgres::Client) -> Legs {
    client
        .query(
            "SELECT seq, leg, user_id, asset, amount, kind FROM ledger ORDER BY seq, leg",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect()
}

/// The rows of `sql`, as pairs of their first two columns.
async fn pairs<A, B>(client: &tokio_postgres::Client, sql: &str) -> Vec<(A, B)>
where
    A: for<'a> tokio_postgres::types::FromSql<'a>,
    B: for<'a> tokio_postgres::types::FromSql<'a>,
{
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Drops a test's schema and everything in it.
async fn drop_schema(client: &tokio_postgres::Client, schema: &str) {
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

/// A schema of its own holding the migrations before `version` (the pool keeps it as
/// the search path).
async fn schema_before(version: usize) -> (String, deadpool_postgres::Object) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "migrate_{version}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    );
    let pool = bourse_order::db::pool(PG, Some(&schema), 1)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let mut client = pool.get().await.unwrap();
    let before = Migrations {
        steps: &MIGRATIONS.steps[..version - 1],
        ..MIGRATIONS
    };
    assert_eq!(before.run(&mut client).await.unwrap(), version - 1);
    (schema, client)
}

#[tokio::test]
async fn trade_legs_derived_by_the_view_equal_the_legs_stored_before() {
    // The schema before 0005, with what settlement wrote then: a deposit's two legs and
    // two trades' four legs each.
    let (schema, mut client) = schema_before(5).await;
    client
        .batch_execute(
            "INSERT INTO trades (seq, cmd_seq, symbol, price, qty, buyer, seller, taker_side)
                 VALUES (5, 4, 'ACME', 101, 4, 2, 1, 'buy'), (9, 8, 'ACME', 99, 3, 1, 2, 'sell');
             INSERT INTO ledger (seq, leg, user_id, asset, amount, kind) VALUES
                 (1, 0, 0, 'USD', -5000, 'deposit'), (1, 1, 2, 'USD', 5000, 'deposit'),
                 (5, 0, 2, 'USD', -404, 'trade'), (5, 1, 1, 'USD', 404, 'trade'),
                 (5, 2, 1, 'ACME', -4, 'trade'), (5, 3, 2, 'ACME', 4, 'trade'),
                 (9, 0, 1, 'USD', -297, 'trade'), (9, 1, 2, 'USD', 297, 'trade'),
                 (9, 2, 2, 'ACME', -3, 'trade'), (9, 3, 1, 'ACME', 3, 'trade');",
        )
        .await
        .unwrap();
    let stored = legs(&client).await;
    assert_eq!(
        MIGRATIONS.run(&mut client).await.unwrap(),
        MIGRATIONS.steps.len() - 4
    );
    assert_eq!(legs(&client).await, stored, "the view gives the same legs");
    let kept: i64 = client
        .query_one("SELECT count(*) FROM ledger_transfers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 2, "only the deposit's legs are still stored");
    drop_schema(&client, &schema).await;
}

/// (seq, order_seq, status, filled, reason), in order.
type History = Vec<(i64, i64, String, i64, Option<String>)>;

async fn history(client: &tokio_postgres::Client) -> History {
    client
        .query(
            "SELECT seq, order_seq, status, filled, reason FROM order_history
             ORDER BY seq, order_seq",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

/// What settlement wrote before 0006 for: a sell (3) partly filled by a buy (4) and then
/// canceled; a buy (7) partly filled by a sell (8), then replaced by 10, which carries
/// its 3 filled and is filled by a sell (11) that stays open; and a trade (13) between
/// orders settlement never saw.
const BEFORE_0006: &str = "
    INSERT INTO orders (order_seq, user_id, client_id, symbol, side, price, qty, filled,
                        status, reason, updated_seq) VALUES
        (3, 1, 's1', 'ACME', 'sell', 101, 10, 4, 'canceled', 'user', 6),
        (4, 2, 'b1', 'ACME', 'buy', 102, 4, 4, 'filled', NULL, 5),
        (7, 2, 'b2', 'ACME', 'buy', 100, 10, 3, 'replaced', NULL, 10),
        (8, 1, 's2', 'ACME', 'sell', 100, 3, 3, 'filled', NULL, 9),
        (10, 2, 'b3', 'ACME', 'buy', 99, 8, 8, 'filled', NULL, 12),
        (11, 1, 's3', 'ACME', 'sell', 99, 9, 5, 'open', NULL, 12);
    INSERT INTO trades (seq, cmd_seq, symbol, price, qty, buyer, seller, buy_order_seq,
                        sell_order_seq, taker_side) VALUES
        (5, 4, 'ACME', 101, 4, 2, 1, 4, 3, 'buy'),
        (9, 8, 'ACME', 100, 3, 2, 1, 7, 8, 'sell'),
        (12, 11, 'ACME', 99, 5, 2, 1, 10, 11, 'sell'),
        (13, 12, 'ACME', 99, 1, 2, 1, NULL, NULL, 'buy');
    INSERT INTO order_history (seq, order_seq, status, filled, reason) VALUES
        (3, 3, 'open', 0, NULL), (4, 4, 'open', 0, NULL),
        (5, 3, 'open', 4, NULL), (5, 4, 'filled', 4, NULL),
        (6, 3, 'canceled', 4, 'user'),
        (7, 7, 'open', 0, NULL), (8, 8, 'open', 0, NULL),
        (9, 7, 'open', 3, NULL), (9, 8, 'filled', 3, NULL),
        (10, 7, 'replaced', 3, NULL), (10, 10, 'open', 3, NULL),
        (11, 11, 'open', 0, NULL),
        (12, 10, 'filled', 8, NULL), (12, 11, 'open', 5, NULL);";

#[tokio::test]
async fn order_history_derived_by_the_view_equals_the_history_stored_before() {
    let (schema, mut client) = schema_before(6).await;
    client.batch_execute(BEFORE_0006).await.unwrap();
    let stored = history(&client).await;
    assert_eq!(stored.len(), 14);
    // 0006 and every migration after it.
    assert_eq!(
        MIGRATIONS.run(&mut client).await.unwrap(),
        MIGRATIONS.steps.len() - 5
    );
    assert_eq!(
        history(&client).await,
        stored,
        "the view gives the same rows"
    );
    // What the view derives from: the fills carried into a replacing order, and the
    // leaves each trade left its orders.
    let carried: Vec<(i64, i64)> = client
        .query(
            "SELECT order_seq, opened_filled FROM orders ORDER BY order_seq",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(carried, [(3, 0), (4, 0), (7, 0), (8, 0), (10, 3), (11, 0)]);
    let leaves: Vec<(i64, Option<i64>, Option<i64>)> = client
        .query(
            "SELECT seq, buy_leaves, sell_leaves FROM trades ORDER BY seq",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        leaves,
        [
            (5, Some(0), Some(6)),
            (9, Some(7), Some(0)),
            (12, Some(0), Some(4)),
            (13, None, None)
        ]
    );
    drop_schema(&client, &schema).await;
}

#[tokio::test]
async fn a_stored_history_the_view_cannot_give_stops_the_migration_and_keeps_the_table() {
    let (schema, mut client) = schema_before(6).await;
    client.batch_execute(BEFORE_0006).await.unwrap();
    // A row no order or trade accounts for.
    client
        .batch_execute("INSERT INTO order_history VALUES (99, 4, 'open', 1, NULL)")
        .await
        .unwrap();
    let stored = history(&client).await;
    let err = MIGRATIONS.run(&mut client).await.unwrap_err();
    assert!(
        format!("{err:?}").contains("derived rows differ"),
        "refused with the reason: {err:?}"
    );
    assert_eq!(
        history(&client).await,
        stored,
        "the stored history is intact"
    );
    let kind: String = client
        .query_one(
            "SELECT table_type FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name = 'order_history'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind, "BASE TABLE", "still the table");
    drop_schema(&client, &schema).await;
}

/// The same on the embedded store (`migrations/lite/0003`), which checks its view with
/// a `CHECK` instead of a `DO` block.
#[tokio::test]
async fn the_embedded_store_derives_the_same_history_or_refuses() {
    use bourse_order::store::lite::MIGRATIONS as LITE;
    use bourse_shell::lite::{Lite, LiteMigrations};
    let before = LiteMigrations {
        steps: &LITE.steps[..2],
        ..LITE
    };
    let read = |lite: Lite, sql: &'static str| async move {
        lite.read(move |c| {
            let mut stmt = c.prepare(sql)?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect::<Result<History, _>>()
        })
        .await
        .unwrap()
    };
    const ROWS: &str = "SELECT seq, order_seq, status, filled, reason FROM order_history
                        ORDER BY seq, order_seq";
    for consistent in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let lite = Lite::open(dir.path().join("bourse.db")).unwrap();
        assert_eq!(lite.migrate(before).await.unwrap(), 2);
        lite.write(move |c| {
            c.execute_batch(BEFORE_0006)?;
            if !consistent {
                c.execute_batch("INSERT INTO order_history VALUES (99, 4, 'open', 1, NULL)")?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let stored = read(lite.clone(), ROWS).await;
        let migrated = lite.migrate(LITE).await;
        assert_eq!(migrated.is_ok(), consistent, "{migrated:?}");
        assert_eq!(read(lite.clone(), ROWS).await, stored);
    }
}

/// What settlement wrote before 0009: user 1 buys 10 at 1.00 and 10 at 1.10, sells 5 at
/// 1.20 and buys 5 at 1.25 (20 at an average of 1.10); user 2 sells 30 (20 of them
/// deposited: the walk goes from zero and stays there); users 3 and 4 trade ZZZZ once;
/// user 5 holds only cash.
const BEFORE_0009: &str = "
    INSERT INTO trades (seq, cmd_seq, symbol, price, qty, buyer, seller, taker_side)
        VALUES (5, 4, 'ACME', 100, 10, 1, 2, 'buy'), (7, 6, 'ACME', 110, 10, 1, 2, 'buy'),
               (9, 8, 'ACME', 120, 5, 2, 1, 'sell'), (11, 10, 'ACME', 125, 5, 1, 2, 'buy'),
               (13, 12, 'ZZZZ', 333, 3, 3, 4, 'buy');
    INSERT INTO balances (user_id, asset, amount) VALUES
        (1, 'ACME', 20), (2, 'ACME', 0), (1, 'USD', -2125), (3, 'ZZZZ', 3),
        (4, 'ZZZZ', 0), (5, 'USD', 100);";

/// Every balance's cost walk, in key order.
const WALKS: &str = "SELECT user_id, asset, traded, cost FROM balances ORDER BY user_id, asset";

/// (user, asset, traded, cost).
type Walks = Vec<(i64, String, i64, i64)>;

/// Each symbol's last trade, in symbol order.
const LAST_TRADES: &str = "SELECT symbol, price, seq FROM last_trades ORDER BY symbol";

/// What [`LAST_TRADES`] reads after 0010 over [`BEFORE_0009`].
fn last_trades_after_0010() -> Vec<(String, i64, i64)> {
    vec![("ACME".into(), 125, 11), ("ZZZZ".into(), 333, 13)]
}

/// What [`WALKS`] reads after 0009 over [`BEFORE_0009`]: user 1's walk as the read
/// worked it out from the trades before.
fn walks_after_0009() -> Walks {
    let (held, cost) = bourse_order::holdings::average_cost(&[
        (100, 10, true),
        (110, 10, true),
        (120, 5, false),
        (125, 5, true),
    ]);
    assert_eq!((held, cost), (20, 2_200));
    let row = |u: i64, a: &str, t: i64, c: i64| (u, a.to_string(), t, c);
    vec![
        row(1, "ACME", held, cost),
        row(1, "USD", 0, 0),
        row(2, "ACME", 0, 0),
        row(3, "ZZZZ", 3, 999),
        row(4, "ZZZZ", 0, 0),
        row(5, "USD", 0, 0),
    ]
}

/// The same walk on the embedded store (`migrations/lite/0006`, a recursive walk).
#[tokio::test]
async fn the_embedded_store_works_out_the_same_cost_walks() {
    use bourse_order::store::lite::MIGRATIONS as LITE;
    use bourse_shell::lite::{Lite, LiteMigrations};
    let dir = tempfile::tempdir().unwrap();
    let lite = Lite::open(dir.path().join("bourse.db")).unwrap();
    let before = LiteMigrations {
        steps: &LITE.steps[..5],
        ..LITE
    };
    assert_eq!(lite.migrate(before).await.unwrap(), 5);
    lite.write(|c| c.execute_batch(BEFORE_0009)).await.unwrap();
    assert_eq!(lite.migrate(LITE).await.unwrap(), LITE.steps.len() - 5);
    let walks = lite
        .read(|c| {
            let mut stmt = c.prepare(WALKS)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<Walks, _>>()
        })
        .await
        .unwrap();
    assert_eq!(walks, walks_after_0009());
    let last = lite
        .read(|c| {
            let mut stmt = c.prepare(LAST_TRADES)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<Vec<(String, i64, i64)>, _>>()
        })
        .await
        .unwrap();
    assert_eq!(last, last_trades_after_0010());
}

/// 0009 keeps each holding's average-cost walk on its balance row: what settlement
/// wrote before it gets the walk over the user's own trades in the symbol, in sequence
/// (a sell of shares the walk does not hold takes none away), as the read worked it out
/// from the trades before; the indexes that read used go.
#[tokio::test]
async fn each_holdings_cost_walk_is_worked_out_from_its_own_trades() {
    let (schema, mut client) = schema_before(9).await;
    client.batch_execute(BEFORE_0009).await.unwrap();
    assert_eq!(
        MIGRATIONS.run(&mut client).await.unwrap(),
        MIGRATIONS.steps.len() - 8
    );
    let walks: Walks = client
        .query(WALKS, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(walks, walks_after_0009());
    // And 0010 keeps each symbol's last trade.
    let last: Vec<(String, i64, i64)> = client
        .query(LAST_TRADES, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(last, last_trades_after_0010());
    let indexes: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()
               AND indexname IN ('trades_by_buyer', 'trades_by_seller')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, 0, "the own-trades indexes are gone");
    drop_schema(&client, &schema).await;
}

/// 0008 keeps each order's fill value on its row: what settlement wrote before it gets
/// the sum of its own trades (a replacing order not what its predecessor filled), and a
/// trade between orders settlement never saw adds to none.
#[tokio::test]
async fn each_orders_fill_value_is_worked_out_from_its_own_trades() {
    let (schema, mut client) = schema_before(8).await;
    client
        .batch_execute(
            "INSERT INTO orders (order_seq, user_id, client_id, symbol, side, price, qty, filled,
                                 opened_filled, status, reason, updated_seq) VALUES
                 (3, 1, 's1', 'ACME', 'sell', 101, 10, 4, 0, 'canceled', 'user', 6),
                 (4, 2, 'b1', 'ACME', 'buy', 102, 4, 4, 0, 'filled', NULL, 5),
                 (7, 2, 'b2', 'ACME', 'buy', 100, 10, 3, 0, 'replaced', NULL, 10),
                 (8, 1, 's2', 'ACME', 'sell', 100, 3, 3, 0, 'filled', NULL, 9),
                 (10, 2, 'b3', 'ACME', 'buy', 99, 8, 8, 3, 'filled', NULL, 12),
                 (11, 1, 's3', 'ACME', 'sell', 99, 9, 5, 0, 'open', NULL, 12),
                 (14, 1, 's4', 'ACME', 'sell', 99, 9, 0, 0, 'open', NULL, 14);
             INSERT INTO trades (seq, cmd_seq, symbol, price, qty, buyer, seller, buy_order_seq,
                                 sell_order_seq, taker_side) VALUES
                 (5, 4, 'ACME', 101, 4, 2, 1, 4, 3, 'buy'),
                 (9, 8, 'ACME', 100, 3, 2, 1, 7, 8, 'sell'),
                 (12, 11, 'ACME', 99, 5, 2, 1, 10, 11, 'sell'),
                 (13, 12, 'ACME', 99, 1, 2, 1, NULL, NULL, 'buy');",
        )
        .await
        .unwrap();
    assert_eq!(
        MIGRATIONS.run(&mut client).await.unwrap(),
        MIGRATIONS.steps.len() - 7
    );
    let values: Vec<(i64, i64)> = pairs(
        &client,
        "SELECT order_seq, filled_value FROM orders ORDER BY order_seq",
    )
    .await;
    assert_eq!(
        values,
        [
            (3, 404),
            (4, 404),
            (7, 300),
            (8, 300),
            (10, 495),
            (11, 495),
            (14, 0)
        ]
    );
    drop_schema(&client, &schema).await;
}

#[tokio::test]
async fn the_traders_orders_are_found_by_token_through_the_index_of_trader_tokens() {
    let (schema, mut client) = schema_before(11).await;
    assert_eq!(
        MIGRATIONS.run(&mut client).await.unwrap(),
        MIGRATIONS.steps.len() - 10
    );
    client
        .batch_execute(
            "INSERT INTO orders (order_seq, user_id, client_id, symbol, side, price, qty, status,
                                 updated_seq)
             SELECT g, 1 + g % 7, CASE WHEN g % 2 = 0 THEN 'H' || g ELSE 'mm' || g END, 'ACME',
                    'buy', 100, 10, 'filled', g
             FROM generate_series(1, 2000) g;
             ANALYZE orders;
             SET enable_seqscan = off;",
        )
        .await
        .unwrap();
    let by_token = bourse_order::token::by_token("o", "t");
    let rows = |condition: String| {
        format!(
            "SELECT t.token, o.order_seq
             FROM (VALUES (6::BIGINT, 'H2000'), (5::BIGINT, 'H4'), (3::BIGINT, 'H4')) AS t(user_id, token)
             LEFT JOIN orders o ON {condition} ORDER BY t.token, t.user_id"
        )
    };
    // Every trader token is found, and only for its own user.
    let found: Vec<(String, Option<i64>)> = pairs(&client, &rows(by_token.clone())).await;
    assert_eq!(
        found,
        [
            ("H2000".to_string(), Some(2000)),
            ("H4".to_string(), None),
            ("H4".to_string(), Some(4))
        ]
    );
    // Through the index of trader tokens, which the gateway's orders are not in.
    let plan = |sql: String| {
        let client = &client;
        async move {
            client
                .query(&format!("EXPLAIN {sql}"), &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    let with = plan(rows(by_token)).await;
    assert!(with.contains("orders_by_token"), "{with}");
    // Without the index's predicate stated, PostgreSQL cannot use it: why the
    // condition states it.
    let without = plan(rows(
        "o.user_id = t.user_id AND o.client_id = t.token".into(),
    ))
    .await;
    assert!(!without.contains("orders_by_token"), "{without}");
    drop_schema(&client, &schema).await;
}
