//! Settlement on both stores: one workload's events (the engine's, as the bridge
//! publishes them) settled into PostgreSQL and into the embedded SQLite file, in the
//! same uneven batches with a redelivered batch and a restart in the middle, leave the
//! same rows in every table. PostgreSQL's rows are checked against the engine's state
//! in `tests/settlement.rs`; this holds the SQLite store to the same. The order
//! history, a view over orders and trades on both, is held to the rows settlement wrote
//! per change before it was derived (`history_per_change`).

use bourse_bus::rabbit::QueueSpec;
use bourse_bus::topic;
use bourse_core::Engine;
use bourse_order::settle::{Incoming, Settler};
use bourse_order::store::SettlementStore;
use bourse_order::store::lite::LiteSettlement;
use bourse_order::store::pg::PgSettlement;
use bourse_shell::lite::Lite;
use bourse_workload::{WorkloadConfig, generate};

const PG: &str = "host=127.0.0.1 user=postgres dbname=test";

/// The settlement queue's share of the engine's events for a workload.
fn events(commands: usize) -> Vec<Incoming> {
    let w = generate(WorkloadConfig::single_symbol(commands));
    let mut engine = Engine::new(w.config.engine_config());
    let queue = QueueSpec::settlement("unused");
    let (mut out, mut events, mut account_seq) = (Vec::new(), Vec::new(), Some(0));
    for (i, cmd) in w.setup.iter().chain(&w.commands).enumerate() {
        events.clear();
        engine.execute(cmd, &mut events);
        for e in &events {
            let mut msgs = Vec::new();
            let entry = bourse_journal::Entry {
                seq: i as u64 + 1,
                time_ns: 1_000 + i as u64,
                cmd: *cmd,
            };
            bourse_bridge::messages::event_messages(
                e,
                &entry,
                &engine,
                &mut account_seq,
                &mut msgs,
            );
            if let Some(m) = msgs.iter().find(|m| {
                queue
                    .patterns
                    .iter()
                    .any(|p| topic::matches(p, &m.routing_key))
            }) {
                out.push(Incoming {
                    event: serde_json::from_slice(&m.body).unwrap(),
                    prev_seq: m.prev_seq,
                });
            }
        }
    }
    out
}

/// Settles `events` in batches of 1, 7, 50, 500, ..., once a batch twice and once
/// after a restart (a fresh settler loaded from the store).
async fn settle(store: &dyn SettlementStore, events: &[Incoming]) {
    store.prepare().await.unwrap();
    store.prepare().await.unwrap();
    let mut settler = Settler::load(store).await.unwrap();
    let sizes = [1, 7, 50, 500, 333, 2_000];
    let (mut at, mut n) = (0, 0);
    while at < events.len() {
        let end = (at + sizes[n % sizes.len()]).min(events.len());
        let batch = &events[at..end];
        settler.settle(store, batch).await.unwrap();
        if n == 3 {
            assert_eq!(settler.settle(store, batch).await.unwrap().applied, 0);
            settler = Settler::load(store).await.unwrap();
        }
        at = end;
        n += 1;
    }
    assert_eq!(
        settler.position(),
        events.last().unwrap().event.seq(),
        "all settled"
    );
}

/// One side of a trade: price, quantity, bought.
type Leg = (i64, i64, bool);

/// Every row of settlement's tables, as text, in key order.
const TABLES: [(&str, &str); 8] = [
    (
        "settlement_position",
        "SELECT seq, events FROM settlement_position",
    ),
    (
        "users",
        "SELECT user_id, created_seq FROM users ORDER BY user_id",
    ),
    (
        "orders",
        "SELECT order_seq, user_id, client_id, symbol, side, price, qty, filled, opened_filled,
                status, reason, updated_seq, filled_value
         FROM orders ORDER BY order_seq",
    ),
    (
        "order_history",
        "SELECT seq, order_seq, status, filled, reason FROM order_history ORDER BY seq, order_seq",
    ),
    (
        "trades",
        "SELECT seq, cmd_seq, symbol, price, qty, buyer, seller, buy_order_seq, sell_order_seq,
                buy_leaves, sell_leaves, taker_side
         FROM trades ORDER BY seq",
    ),
    (
        "ledger",
        "SELECT seq, leg, user_id, asset, amount, kind FROM ledger ORDER BY seq, leg",
    ),
    (
        "balances",
        "SELECT user_id, asset, amount, traded, cost FROM balances ORDER BY user_id, asset",
    ),
    (
        "last_trades",
        "SELECT symbol, price, seq FROM last_trades ORDER BY symbol",
    ),
];

/// The order history as settlement wrote it, one row per change, before the history
/// became a view: an `open` row when an order opens (accepted, or the new order of a
/// replace, with the filled quantity it carries), a row per fill (`filled` once nothing
/// is left), and a `canceled` or `replaced` row when it closes otherwise. Rows as
/// `seq|order_seq|status|filled|reason`, in key order.
fn history_per_change(events: &[Incoming]) -> Vec<String> {
    use bourse_order::event::EngineEvent as E;
    use std::collections::HashMap;
    let mut open: HashMap<(u64, String), (u64, i64)> = HashMap::new();
    let mut rows: Vec<(u64, u64, String, i64, String)> = Vec::new();
    for e in events.iter().map(|e| &e.event) {
        match e {
            E::Accepted { seq, user, id, .. } => {
                open.insert((*user, id.clone()), (*seq, 0));
                rows.push((*seq, *seq, "open".into(), 0, "NULL".into()));
            }
            E::Trade {
                seq,
                qty,
                maker_user,
                maker_id,
                maker_leaves,
                taker_user,
                taker_id,
                taker_leaves,
                ..
            } => {
                for (user, id, leaves) in [
                    (maker_user, maker_id, maker_leaves),
                    (taker_user, taker_id, taker_leaves),
                ] {
                    let key = (*user, id.clone());
                    if let Some((order, filled)) = open.get_mut(&key) {
                        *filled += qty;
                        let (order, filled) = (*order, *filled);
                        let status = if *leaves == 0 {
                            open.remove(&key);
                            "filled"
                        } else {
                            "open"
                        };
                        rows.push((*seq, order, status.into(), filled, "NULL".into()));
                    }
                }
            }
            E::Canceled {
                seq,
                user,
                id,
                reason,
                ..
            } => {
                if let Some((order, filled)) = open.remove(&(*user, id.clone())) {
                    rows.push((*seq, order, "canceled".into(), filled, reason.clone()));
                }
            }
            E::Replaced {
                seq,
                user,
                id,
                new_id,
                ..
            } => {
                if let Some((order, filled)) = open.remove(&(*user, id.clone())) {
                    rows.push((*seq, order, "replaced".into(), filled, "NULL".into()));
                    open.insert((*user, new_id.clone()), (*seq, filled));
                    rows.push((*seq, *seq, "open".into(), filled, "NULL".into()));
                }
            }
            E::Rejected { .. } | E::Done { .. } => {}
        }
    }
    rows.sort_by_key(|r| (r.0, r.1));
    rows.iter()
        .map(|(s, o, st, f, r)| format!("{s}|{o}|{st}|{f}|{r}"))
        .collect()
}

async fn pg_rows(pool: &deadpool_postgres::Pool, sql: &str) -> Vec<String> {
    let c = pool.get().await.unwrap();
    let text = format!(
        "SELECT (SELECT string_agg(coalesce(v, 'NULL'), '|' ORDER BY n)
                 FROM json_each_text(row_to_json(x)) WITH ORDINALITY AS j(k, v, n))
         FROM ({sql}) x"
    );
    c.query(&text, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
        .collect()
}

async fn lite_rows(lite: &Lite, sql: &str) -> Vec<String> {
    let sql = sql.to_string();
    lite.read(move |c| {
        let mut stmt = c.prepare(&sql)?;
        let n = stmt.column_count();
        let rows = stmt.query_map([], |r| {
            let mut cols = Vec::with_capacity(n);
            for i in 0..n {
                use bourse_shell::lite::rusqlite::types::ValueRef;
                match r.get_ref(i)? {
                    ValueRef::Null => cols.push("NULL".to_string()),
                    ValueRef::Integer(v) => cols.push(v.to_string()),
                    ValueRef::Text(t) => cols.push(String::from_utf8_lossy(t).into_owned()),
                    other => cols.push(format!("{other:?}")),
                }
            }
            Ok(cols.join("|"))
        })?;
        rows.collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_settles_every_row_as_postgresql_does() {
    let events = events(6_000);
    assert!(events.len() > 5_000);

    let schema = format!(
        "settle_store_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let pool = bourse_order::db::pool(PG, Some(&schema), 2).await.unwrap();
    settle(&PgSettlement::new(pool.clone()), &events).await;

    let dir = tempfile::tempdir().unwrap();
    let lite = Lite::open(dir.path().join("bourse.db")).unwrap();
    settle(&LiteSettlement::new(lite.clone()), &events).await;

    let mut trades = 0;
    for (table, sql) in TABLES {
        let (pg, sqlite) = (pg_rows(&pool, sql).await, lite_rows(&lite, sql).await);
        assert!(!pg.is_empty(), "{table} has rows");
        assert_eq!(pg.len(), sqlite.len(), "{table}: row count");
        for (a, b) in pg.iter().zip(&sqlite) {
            assert_eq!(a, b, "{table}");
        }
        if table == "trades" {
            trades = pg.len();
        }
    }
    assert!(trades > 100, "the workload traded: {trades}");
    // The last trade settlement keeps per symbol is the newest of its trades.
    assert_eq!(
        pg_rows(&pool, TABLES[7].1).await,
        pg_rows(
            &pool,
            "SELECT DISTINCT ON (symbol) symbol, price, seq FROM trades ORDER BY symbol, seq DESC"
        )
        .await
    );
    // The fill value settlement keeps on each order is the value of its own trades.
    let values = pg_rows(
        &pool,
        "SELECT count(*) FILTER (WHERE filled_value > 0),
                count(*) FILTER (WHERE filled_value <> COALESCE(
                    (SELECT sum(t.price * t.qty) FROM trades t
                     WHERE t.buy_order_seq = o.order_seq OR t.sell_order_seq = o.order_seq), 0))
         FROM orders o",
    )
    .await;
    let (with_fills, wrong) = values[0].split_once('|').unwrap();
    assert!(with_fills.parse::<u64>().unwrap() > 100, "{with_fills}");
    assert_eq!(wrong, "0", "orders whose fill value is not their trades'");
    // The derived history is the history settlement wrote per change, row for row.
    let expected = history_per_change(&events);
    let derived = pg_rows(&pool, TABLES[3].1).await;
    assert_eq!(derived.len(), expected.len(), "order_history: row count");
    for (a, b) in derived.iter().zip(&expected) {
        assert_eq!(a, b, "order_history");
    }
    for status in ["|filled|", "|open|", "|canceled|", "|replaced|"] {
        assert!(
            expected.iter().any(|r| r.contains(status)),
            "the workload's history has {status} rows"
        );
    }
    assert!(
        expected
            .iter()
            .any(|r| r.contains("|open|") && !r.ends_with("|open|0|NULL")),
        "a replaced order carried its fills into the new one"
    );
    // Holdings read the same from both, for every user (cost basis included).
    use bourse_order::holdings::HoldingsReader;
    let (pg_read, lite_read) = (
        PgSettlement::new(pool.clone()),
        LiteSettlement::new(lite.clone()),
    );
    let users = pg_rows(
        &pool,
        "SELECT DISTINCT user_id FROM balances ORDER BY user_id",
    )
    .await;
    let mut positions = 0;
    for u in &users {
        let user: u64 = u.parse().unwrap();
        let (a, b) = (
            pg_read.holdings(user, None).await.unwrap(),
            lite_read.holdings(user, None).await.unwrap(),
        );
        assert_eq!(a, b, "user {user}");
        positions += a.positions.len();
        for h in &a.positions {
            assert_eq!(
                lite_read.holdings(user, Some(&h.symbol)).await.unwrap(),
                pg_read.holdings(user, Some(&h.symbol)).await.unwrap()
            );
        }
    }
    assert!(positions > 0, "someone holds shares");
    // The cost walk settlement kept on each balance row, batch by batch and across the
    // restart, is the walk over that user's trades in that symbol from the start (each
    // trade's seller side first, as its ledger legs).
    let legs = pg_rows(
        &pool,
        "SELECT user_id, symbol, price, qty, bought FROM (
             SELECT seq, buyer AS user_id, symbol, price, qty, 1 AS bought FROM trades
             UNION ALL
             SELECT seq, seller, symbol, price, qty, 0 FROM trades) l
         ORDER BY seq, bought",
    )
    .await;
    let mut walks: std::collections::BTreeMap<(String, String), Vec<Leg>> = Default::default();
    for l in &legs {
        let f: Vec<&str> = l.split('|').collect();
        walks
            .entry((f[0].to_string(), f[1].to_string()))
            .or_default()
            .push((f[2].parse().unwrap(), f[3].parse().unwrap(), f[4] == "1"));
    }
    let (mut checked, mut costed) = (0, 0);
    for row in pg_rows(
        &pool,
        "SELECT user_id, asset, traded, cost FROM balances WHERE asset <> 'USD'",
    )
    .await
    {
        let f: Vec<&str> = row.split('|').collect();
        let walk = walks
            .get(&(f[0].to_string(), f[1].to_string()))
            .map(|t| bourse_order::holdings::average_cost(t))
            .unwrap_or_default();
        assert_eq!(
            (f[2].parse::<i64>().unwrap(), f[3].parse::<i64>().unwrap()),
            walk,
            "{row}"
        );
        checked += 1;
        costed += usize::from(walk.1 > 0);
    }
    assert!(
        checked > 10 && costed > 0,
        "{checked} holdings, {costed} with a cost"
    );
    let symbol = &pg_rows(&pool, "SELECT symbol FROM trades LIMIT 1").await[0];
    assert_eq!(
        pg_read.last_trade(symbol).await.unwrap(),
        lite_read.last_trade(symbol).await.unwrap()
    );
    // Kept across a reopen of the file.
    drop(lite);
    let again = Lite::open(dir.path().join("bourse.db")).unwrap();
    let loaded = LiteSettlement::new(again).load().await.unwrap();
    assert_eq!(loaded.seq, events.last().unwrap().event.seq());

    pool.get()
        .await
        .unwrap()
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
