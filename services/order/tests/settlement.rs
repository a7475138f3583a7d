//! The whole path against the real servers: a journal written as the gateway writes
//! it → the bridge → RabbitMQ (127.0.0.1:5672) → the order service → PostgreSQL
//! (127.0.0.1:5432, database `test`). Afterwards every user's cash and holdings in
//! PostgreSQL equal the engine's, the trade count matches, the ledger balances, and the
//! open orders are the engine's resting orders — also after the broker, the database,
//! the bridge and the order service were each stopped and restarted mid-stream.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bourse_bridge::messages::event_messages;
use bourse_bridge::{BridgeConfig, run as run_bridge};
use bourse_bus::rabbit::{QueueSpec, RabbitConfig, RabbitConsumer};
use bourse_bus::{BusError, Consumer, Delivery, topic};
use bourse_core::{Command, Engine, Event, EventKind, State};
use bourse_journal::Journal;
use bourse_order::service::{ServiceConfig, prepare, run as run_service};
use bourse_workload::{WorkloadConfig, generate};
use deadpool_postgres::Pool;

const PG: &str = "host=127.0.0.1 user=postgres dbname=test";

/// The broker and database are shared: tests that restart them run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A name unique to this run.
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{what}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// What the engine did: its final state, its events, and the commands behind them.
struct Run {
    state: State,
    events: Vec<(u64, Command, Event, Vec<bourse_bus::Message>)>,
}

/// Writes the workload into `dir` in batches with a commit each (as the gateway does),
/// pausing `pause` between batches, and every `rotate_every` batches a new segment, a
/// snapshot and pruning, as the gateway does (the bridge's checkpoint holds pruning
/// back); returns what the engine did.
fn write_journal_rotating(
    dir: PathBuf,
    config: WorkloadConfig,
    pause: Duration,
    rotate_every: usize,
) -> Run {
    let w = generate(config);
    let mut engine = Engine::new(w.config.engine_config());
    let mut journal = Journal::open(&dir, 1).unwrap();
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut account_seq = Some(0);
    let all: Vec<Command> = w.setup.iter().chain(&w.commands).copied().collect();
    for (i, chunk) in all.chunks(256).enumerate() {
        for cmd in chunk {
            let seq = journal.append(cmd);
            events.clear();
            engine.execute(cmd, &mut events);
            for e in &events {
                let mut msgs = Vec::new();
                let entry = bourse_journal::Entry {
                    seq,
                    time_ns: journal.time_ns(),
                    cmd: *cmd,
                };
                event_messages(e, &entry, &engine, &mut account_seq, &mut msgs);
                out.push((seq, *cmd, *e, msgs));
            }
        }
        let seq = journal.commit().unwrap();
        if i % rotate_every == rotate_every - 1 {
            journal.rotate().unwrap();
            bourse_journal::write_snapshot(&dir, seq, &engine.state()).unwrap();
            journal.prune(seq).unwrap();
        }
        std::thread::sleep(pause);
    }
    Run {
        state: engine.state(),
        events: out,
    }
}

/// [`write_journal_rotating`] on a blocking thread.
fn writing(
    dir: &Path,
    workload: WorkloadConfig,
    pause: Duration,
    rotate_every: usize,
) -> tokio::task::JoinHandle<Run> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || write_journal_rotating(dir, workload, pause, rotate_every))
}

/// The event sequence numbers the settlement queue receives.
fn settlement_seqs(run: &Run, queue: &QueueSpec) -> usize {
    run.events
        .iter()
        .filter(|(_, _, _, msgs)| {
            msgs.iter().any(|m| {
                queue
                    .patterns
                    .iter()
                    .any(|p| topic::matches(p, &m.routing_key))
            })
        })
        .count()
}

/// A consumer whose process dies on its `crash_on`-th acknowledgement: the batch it
/// acknowledges is committed, the acknowledgement never reaches the broker.
struct CrashBeforeAck {
    inner: RabbitConsumer,
    acks: Arc<AtomicUsize>,
    crash_on: Option<usize>,
}

impl CrashBeforeAck {
    fn acknowledging(&self) {
        let n = self.acks.fetch_add(1, Ordering::Relaxed) + 1;
        if self.crash_on == Some(n) {
            panic!("the order service dies after commit {n}, before acknowledging it (simulated)");
        }
    }
}

impl Consumer for CrashBeforeAck {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        self.inner.next().await
    }

    async fn next_within(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError> {
        self.inner.next_within(wait).await
    }

    async fn ack(&mut self, tag: u64) -> Result<(), BusError> {
        self.acknowledging();
        self.inner.ack(tag).await
    }

    async fn ack_upto(&mut self, tag: u64) -> Result<(), BusError> {
        self.acknowledging();
        self.inner.ack_upto(tag).await
    }
}

struct Pipeline {
    dir: PathBuf,
    rabbit: RabbitConfig,
    queue: QueueSpec,
    pool: Pool,
    schema: String,
    engine: bourse_core::EngineConfig,
}

impl Pipeline {
    async fn new(dir: &Path, engine: bourse_core::EngineConfig) -> Pipeline {
        let exchange = unique("test.settle");
        let queue = QueueSpec::settlement(&format!("{exchange}.settlement"));
        let rabbit = RabbitConfig {
            exchange,
            queues: vec![queue.clone()],
            ..RabbitConfig::default()
        };
        let schema = unique("settle");
        let pool = bourse_order::db::pool(PG, Some(&schema), 4).await.unwrap();
        prepare(&pool).await.expect("PostgreSQL on 127.0.0.1:5432");
        Pipeline {
            dir: dir.to_path_buf(),
            rabbit,
            queue,
            pool,
            schema,
            engine,
        }
    }

    fn bridge(&self) -> (tokio::task::JoinHandle<()>, Arc<AtomicBool>) {
        let stop = Arc::new(AtomicBool::new(false));
        let config = BridgeConfig::new(&self.dir, self.engine);
        let rabbit = self.rabbit.clone();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            run_bridge(config, rabbit.publishers(), flag, |_| {})
                .await
                .unwrap();
        });
        (task, stop)
    }

    fn service(&self) -> (tokio::task::JoinHandle<()>, Arc<AtomicBool>) {
        self.service_with(None, Arc::default())
    }

    /// The order service; with `crash_on`, it dies on its `crash_on`-th acknowledgement
    /// (after that batch's commit, before its acknowledgement reaches the broker).
    /// `duplicates` counts the deliveries it dropped as already settled.
    fn service_with(
        &self,
        crash_on: Option<usize>,
        duplicates: Arc<AtomicU64>,
    ) -> (tokio::task::JoinHandle<()>, Arc<AtomicBool>) {
        let stop = Arc::new(AtomicBool::new(false));
        let (rabbit, queue, pool, flag) = (
            self.rabbit.clone(),
            self.queue.clone(),
            self.pool.clone(),
            stop.clone(),
        );
        let acks = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            let consumer = || {
                let (rabbit, queue, acks) = (rabbit.clone(), queue.clone(), acks.clone());
                async move {
                    let inner =
                        RabbitConsumer::connect(&rabbit, &queue, bourse_order::service::PREFETCH)
                            .await?;
                    Ok(CrashBeforeAck {
                        inner,
                        acks,
                        crash_on,
                    })
                }
            };
            let publisher = rabbit.publishers();
            run_service(
                std::sync::Arc::new(bourse_order::store::pg::PgSettlement::new(pool)),
                ServiceConfig::default(),
                consumer,
                publisher,
                flag,
                |p| duplicates.store(p.duplicates, Ordering::Relaxed),
            )
            .await
            .unwrap();
        });
        (task, stop)
    }

    /// Waits until `expected` events are settled (or fails after `limit`).
    async fn wait_settled(&self, expected: usize, limit: Duration) {
        let start = Instant::now();
        let mut last = 0;
        loop {
            let n = match self.pool.get().await {
                Ok(c) => match c
                    .query_one("SELECT events FROM settlement_position", &[])
                    .await
                {
                    Ok(r) => r.get::<_, i64>(0) as usize,
                    Err(_) => last,
                },
                Err(_) => last,
            };
            last = n;
            if n >= expected {
                assert_eq!(n, expected, "more events settled than the engine made");
                return;
            }
            assert!(
                start.elapsed() < limit,
                "settled {n} of {expected} after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every event of `run` on settlement's stream is settled (or fails after
    /// `limit`), then compares PostgreSQL with the engine.
    async fn settled_and_exact(&self, run: &Run, limit: Duration) {
        self.wait_settled(settlement_seqs(run, &self.queue), limit)
            .await;
        self.check(run).await;
    }

    /// Compares PostgreSQL with the engine.
    async fn check(&self, run: &Run) {
        let c = self.pool.get().await.unwrap();
        let mut balances: BTreeMap<(i64, String), i64> = BTreeMap::new();
        for r in c
            .query("SELECT user_id, asset, amount FROM balances", &[])
            .await
            .unwrap()
        {
            balances.insert((r.get(0), r.get(1)), r.get(2));
        }
        let mut checked = 0;
        for a in &run.state.accounts {
            let user = a.user.0 as i64;
            let cash = balances
                .remove(&(user, bourse_core::CASH.into()))
                .unwrap_or(0);
            assert_eq!(cash, a.cash.total, "cash of user {user}");
            for (symbol, b) in &a.holdings {
                let held = balances
                    .remove(&(user, symbol.as_str().to_string()))
                    .unwrap_or(0);
                assert_eq!(held, b.total, "{symbol} held by user {user}");
            }
            checked += 1;
        }
        assert!(checked > 0);
        // What is left in PostgreSQL must be zero (an account emptied by trading).
        assert!(
            balances.values().all(|&v| v == 0),
            "balances the engine does not have: {balances:?}"
        );
        let trades = run
            .events
            .iter()
            .filter(|(_, _, e, _)| matches!(e.kind, EventKind::Trade { .. }))
            .count() as i64;
        let n: i64 = c
            .query_one("SELECT count(*) FROM trades", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, trades, "trade count");
        assert!(trades > 100, "the workload traded");
        let unbalanced: i64 = c
            .query_one(
                "SELECT count(*) FROM (SELECT seq, asset FROM ledger GROUP BY seq, asset
                 HAVING sum(amount) <> 0) x",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(unbalanced, 0, "every ledger entry balances");
        let mut open: Vec<(i64, String, i64)> = c
            .query(
                "SELECT user_id, client_id, qty - filled FROM orders WHERE status = 'open'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        open.sort();
        let mut resting: Vec<(i64, String, i64)> = run
            .state
            .books
            .iter()
            .flat_map(|b| b.bids.iter().chain(&b.asks))
            .map(|o| (o.user.0 as i64, o.id.as_str().to_string(), o.open.0))
            .collect();
        resting.sort();
        assert_eq!(
            open, resting,
            "open orders in PostgreSQL = the engine's book"
        );
    }

    /// Drops the schema, the queue and the exchange of this run.
    async fn tear_down(&self) {
        let c = self.pool.get().await.unwrap();
        c.batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", self.schema))
            .await
            .unwrap();
        bourse_bus::rabbit::delete_topology(&self.rabbit)
            .await
            .unwrap();
    }
}

/// Stops the bridge and the service cleanly: each must return without an error.
async fn stop(tasks: [(tokio::task::JoinHandle<()>, Arc<AtomicBool>); 2]) {
    for (_, flag) in &tasks {
        flag.store(true, Ordering::Relaxed);
    }
    for (task, _) in tasks {
        task.await.unwrap();
    }
}

/// Kills the bridge and the service, as `kill -9` would: no clean-up.
async fn kill(tasks: [tokio::task::JoinHandle<()>; 2]) {
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
}

fn control(program: &str, args: &[&str]) {
    let status = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_state_in_postgres_equals_the_engine() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let workload = WorkloadConfig::single_symbol(20_000);
    let engine = workload.engine_config();
    let p = Pipeline::new(dir.path(), engine).await;
    let (bridge, bridge_stop) = p.bridge();
    let (service, service_stop) = p.service();
    let run = writing(dir.path(), workload, Duration::ZERO, usize::MAX)
        .await
        .unwrap();
    p.settled_and_exact(&run, Duration::from_secs(120)).await;
    stop([(bridge, bridge_stop), (service, service_stop)]).await;
    p.tear_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_of_broker_database_bridge_and_service_lose_and_double_nothing() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let workload = WorkloadConfig::single_symbol(30_000);
    let engine = workload.engine_config();
    let p = Pipeline::new(dir.path(), engine).await;
    let (mut bridge, _) = p.bridge();
    let (mut service, _) = p.service();
    // About 8 s of writing (120 batches of 256, 60 ms apart).
    let writer = writing(dir.path(), workload, Duration::from_millis(60), usize::MAX);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    // The bridge dies (as with kill -9: no clean-up) and comes back.
    bridge.abort();
    let _ = bridge.await;
    (bridge, _) = p.bridge();
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The broker goes away for two seconds.
    control("rabbitmqctl", &["stop_app"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    control("rabbitmqctl", &["start_app"]);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // The order service dies mid-batch and comes back.
    service.abort();
    let _ = service.await;
    (service, _) = p.service();
    tokio::time::sleep(Duration::from_millis(800)).await;
    // PostgreSQL restarts.
    control("pg_ctlcluster", &["15", "main", "restart"]);
    let run = writer.await.unwrap();
    p.settled_and_exact(&run, Duration::from_secs(180)).await;
    kill([bridge, service]).await;
    p.tear_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_and_service_killed_at_random_moments_on_a_large_journal() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // 100,000 commands in segments of ~38,000 (each several read windows long), with a
    // snapshot and pruning at every rotation, written over ~5 s.
    let workload = WorkloadConfig::single_symbol(100_000);
    let engine = workload.engine_config();
    let p = Pipeline::new(dir.path(), engine).await;
    let writer = writing(dir.path(), workload, Duration::from_millis(12), 150);
    let (mut bridge, _) = p.bridge();
    let (mut service, _) = p.service();
    // Kills (as kill -9: no clean-up) at random moments, each followed by a restart,
    // while the journal grows and after it stopped growing.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill schedule seed {seed}");
    let mut rng = bourse_workload::Rng::new(seed);
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(150 + rng.below(900))).await;
        if rng.below(2) == 0 {
            bridge.abort();
            let _ = bridge.await;
            (bridge, _) = p.bridge();
        } else {
            service.abort();
            let _ = service.await;
            (service, _) = p.service();
        }
    }
    let run = writer.await.unwrap();
    assert!(
        bourse_journal::segments(dir.path()).unwrap().len() >= 2,
        "several segments"
    );
    p.settled_and_exact(&run, Duration::from_secs(240)).await;
    kill([bridge, service]).await;
    p.tear_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_a_batch_again_or_overlapping_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let workload = WorkloadConfig::single_symbol(3_000);
    let schema = unique("idem");
    let pool = bourse_order::db::pool(PG, Some(&schema), 4).await.unwrap();
    prepare(&pool).await.unwrap();
    let run = writing(dir.path(), workload, Duration::ZERO, usize::MAX)
        .await
        .unwrap();
    let queue = QueueSpec::settlement("unused");
    let events: Vec<bourse_order::settle::Incoming> = run
        .events
        .iter()
        .filter_map(|(_, _, _, msgs)| {
            msgs.iter().find(|m| {
                queue
                    .patterns
                    .iter()
                    .any(|p| topic::matches(p, &m.routing_key))
            })
        })
        .map(|m| bourse_order::settle::Incoming {
            event: serde_json::from_slice(&m.body).unwrap(),
            prev_seq: m.prev_seq,
        })
        .collect();
    let client = bourse_order::store::pg::PgSettlement::new(pool.clone());
    let mut settler = bourse_order::settle::Settler::load(&client).await.unwrap();
    let half = events.len() / 2;
    let first = settler.settle(&client, &events[..half]).await.unwrap();
    assert_eq!(first.applied, half);
    // The same batch again, as after a lost acknowledgement: nothing.
    let again = settler.settle(&client, &events[..half]).await.unwrap();
    assert_eq!(again.applied, 0);
    // Events that overtook their predecessors (a dead bridge's late tail, or a dead
    // consumer's requeued deliveries): not applied, since that would skip what comes
    // before them; the caller holds them.
    let tail = settler
        .settle(&client, &events[half + 50..half + 150])
        .await
        .unwrap();
    assert_eq!(tail.applied, 0);
    assert_eq!(tail.early, (0..100).collect::<Vec<_>>());
    // With the predecessors come at last (after them in the batch, as held ones are
    // before new ones): all applied, in sequence order.
    let held_then_late: Vec<_> = events[half + 50..half + 150]
        .iter()
        .chain(&events[half..half + 50])
        .cloned()
        .collect();
    let joined = settler.settle(&client, &held_then_late).await.unwrap();
    assert_eq!((joined.applied, joined.early.len()), (150, 0));
    // A fresh settler (a restarted service) with an overlapping batch: only the new part.
    let mut restarted = bourse_order::settle::Settler::load(&client).await.unwrap();
    assert_eq!(restarted.position(), settler.position());
    let rest = restarted
        .settle(&client, &events[half / 2..])
        .await
        .unwrap();
    assert_eq!(rest.applied, events.len() - half - 150);
    let c = pool.get().await.unwrap();
    let total: i64 = c
        .query_one("SELECT events FROM settlement_position", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total as usize, events.len());
    // And the result is the engine's, exactly.
    let p = Pipeline {
        dir: dir.path().to_path_buf(),
        rabbit: RabbitConfig::default(),
        queue,
        pool: pool.clone(),
        schema: schema.clone(),
        engine: bourse_core::EngineConfig::default(),
    };
    p.check(&run).await;
    c.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_dies_after_commit_before_ack_settles_nothing_twice() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let workload = WorkloadConfig::single_symbol(20_000);
    let engine = workload.engine_config();
    let p = Pipeline::new(dir.path(), engine).await;
    // The whole journal first: the service then takes full batches.
    let run = writing(dir.path(), workload, Duration::ZERO, usize::MAX)
        .await
        .unwrap();
    let (bridge, bridge_stop) = p.bridge();
    // Dies on its second acknowledgement: two batches committed, one acknowledged.
    let (crashing, _) = p.service_with(Some(2), Arc::default());
    let died = crashing.await;
    assert!(
        died.as_ref().is_err_and(|e| e.is_panic()),
        "the service died before acknowledging: {died:?}"
    );
    // Its successor gets the unacknowledged deliveries again and drops the committed
    // ones by sequence number.
    let duplicates = Arc::new(AtomicU64::new(0));
    let (service, service_stop) = p.service_with(None, duplicates.clone());
    p.settled_and_exact(&run, Duration::from_secs(120)).await;
    assert!(
        duplicates.load(Ordering::Relaxed) > 0,
        "the committed, unacknowledged batch came back and was dropped"
    );
    stop([(bridge, bridge_stop), (service, service_stop)]).await;
    p.tear_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarted_while_the_bridge_publishes_large_batches() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let workload = WorkloadConfig::single_symbol(100_000);
    let engine = workload.engine_config();
    let p = Pipeline::new(dir.path(), engine).await;
    // A journal far ahead of the bridge: it catches up in its largest batches (2,048
    // commands, several envelopes each), and the broker stops under it.
    let run = writing(dir.path(), workload, Duration::ZERO, usize::MAX)
        .await
        .unwrap();
    let (bridge, _) = p.bridge();
    let (service, _) = p.service();
    let checkpoint = || bourse_bridge::Checkpoint::load(dir.path()).unwrap().cmd_seq;
    let start = Instant::now();
    while checkpoint() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the bridge published nothing"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at_stop = checkpoint();
    control("rabbitmqctl", &["stop_app"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    control("rabbitmqctl", &["start_app"]);
    assert!(
        at_stop < run.events.last().map_or(0, |e| e.0),
        "the broker stopped while the bridge was still publishing"
    );
    p.settled_and_exact(&run, Duration::from_secs(180)).await;
    kill([bridge, service]).await;
    p.tear_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_pruned_while_the_bridge_is_down_keeps_what_it_has_not_published() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let workload = WorkloadConfig::single_symbol(30_000);
    let engine = workload.engine_config();
    let p = Pipeline::new(dir.path(), engine).await;
    // ~7 s of writing, a new segment, a snapshot and pruning every 8 batches (2,048
    // commands).
    let writer = writing(dir.path(), workload, Duration::from_millis(50), 8);
    let (bridge, _) = p.bridge();
    let (service, service_stop) = p.service();
    // The bridge runs for a while, then is killed and stays down while the gateway
    // goes on rotating, snapshotting and pruning.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    bridge.abort();
    let _ = bridge.await;
    let run = writer.await.unwrap();
    let checkpoint = bourse_bridge::Checkpoint::load(dir.path()).unwrap().cmd_seq;
    let last = run.events.last().map_or(0, |e| e.0);
    assert!(
        checkpoint > 0 && checkpoint < last,
        "the bridge is behind: {checkpoint} of {last}"
    );
    let first_kept = bourse_journal::segments(dir.path())
        .unwrap()
        .iter()
        .filter_map(|s| bourse_journal::segment_first_seq(s))
        .min()
        .unwrap();
    assert!(first_kept > 1, "pruning ran while the bridge was down");
    assert!(
        first_kept <= checkpoint + 1,
        "the segment holding command {} was kept (the oldest starts at {first_kept})",
        checkpoint + 1
    );
    // Back up, it publishes the rest from the journal that was kept.
    let (bridge, bridge_stop) = p.bridge();
    p.settled_and_exact(&run, Duration::from_secs(120)).await;
    stop([(bridge, bridge_stop), (service, service_stop)]).await;
    p.tear_down().await;
}
