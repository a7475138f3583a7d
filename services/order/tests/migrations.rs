//! Migrations applied to a database that already holds settled rows: migration 0005
//! stops storing trades' ledger legs and derives them in the `ledger` view, and the
//! view must give exactly the rows the table held before.

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

#[tokio::test]
async fn trade_legs_derived_by_the_view_equal_the_legs_stored_before() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "migrate_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    );
    let pool = bourse_order::db::pool(PG, Some(&schema), 1)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let mut client = pool.get().await.unwrap();
    // The schema before 0005, with what settlement wrote then: a deposit's two legs and
    // two trades' four legs each.
    let before = Migrations {
        steps: &MIGRATIONS.steps[..4],
        ..MIGRATIONS
    };
    assert_eq!(before.run(&mut client).await.unwrap(), 4);
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
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}
