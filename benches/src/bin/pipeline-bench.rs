//! Engine events into RabbitMQ, and fills into PostgreSQL, each beside the raw rate of
//! the same client library doing the same I/O in the same run.
//!
//! ```text
//! cargo run --release -p bourse-benches --bin pipeline-bench -- --commands 200000
//! ```
//!
//! 1. A journal of the exchange-core workload is written to a temporary directory.
//! 2. **Bus**, into the queues `bourse bridge` declares (settlement and market). Raw
//!    lapin, two ways: one persistent message per event and routing key (the design
//!    before envelopes), and the bridge's envelopes as precomputed bytes (persistent,
//!    confirms awaited per 8 envelopes). Bridge: `bourse_bridge::run` from an empty
//!    checkpoint until it has confirmed the whole journal — reading the journal,
//!    replaying it through the replica engine, encoding JSON, packing, publishing,
//!    confirming, checkpointing. Raw envelopes again afterwards (the machine is noisy:
//!    two baselines). RabbitMQ's own CPU (`beam.smp`, from `/proc`) beside each.
//!    With `--streams`, RabbitMQ Streams beside them (`scripts/enable-streams.sh`
//!    enables the plugin): one message per event, and the same envelopes, published
//!    confirmed and consumed from the first offset.
//! 3. **Settlement lag** (unless `--no-lag`): the bridge and the order service together,
//!    the lag every 500 ms until it drains.
//! 4. **Settlement** (alone with `--settle-only`). The workload's settlement events
//!    beside raw tokio-postgres inserting the same trades; then a fill-heavy stream
//!    settled as the service does (each batch planned while the one before commits)
//!    and one batch at a time, beside raw binary `COPY` of exactly the rows settlement
//!    writes for it into tables made like settlement's. Then the same into SQLite.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;
use bourse_bridge::messages::event_messages;
use bourse_bridge::{BridgeConfig, Checkpoint};
use bourse_bus::Message;
use bourse_bus::envelope::{self, Envelope};
use bourse_bus::rabbit::{QueueSpec, RabbitConfig, RabbitPublisher, delete_topology};
use bourse_bus::topic;
use bourse_core::{Command, Engine, Event};
use bourse_journal::Journal;
use bourse_order::event::EngineEvent;
use bourse_order::settle::Incoming;
use bourse_workload::{WorkloadConfig, generate};
use clap::Parser;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::AMQPValue;

#[derive(Parser, Debug)]
struct Args {
    /// Workload commands (after its setup).
    #[arg(long, default_value_t = 200_000)]
    commands: usize,
    /// PostgreSQL.
    #[arg(long, default_value = "host=127.0.0.1 user=postgres dbname=test")]
    pg: String,
    /// RabbitMQ.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    /// Most commands per bridge batch (one wait for confirms per batch).
    #[arg(long, default_value_t = 4_096)]
    bridge_batch: usize,
    /// Events the one-message-per-event baseline publishes (it is slow; its rate is
    /// what counts).
    #[arg(long, default_value_t = 200_000)]
    per_event: usize,
    /// Measure the bus only (skip settlement).
    #[arg(long)]
    bus_only: bool,
    /// Events per settlement transaction (the order service's default batch).
    #[arg(long, default_value_t = bourse_order::service::ServiceConfig::default().batch)]
    settle_batch: usize,
    /// Skip the settlement-lag run (the bridge and the order service together).
    #[arg(long)]
    no_lag: bool,
    /// Also measure RabbitMQ Streams (runs `scripts/enable-streams.sh` first: the
    /// `rabbitmq_stream` plugin on 127.0.0.1:5552).
    #[arg(long)]
    streams: bool,
    /// Measure settlement only (skip the bus and the lag run).
    #[arg(long, conflicts_with = "bus_only")]
    settle_only: bool,
    /// The fill-heavy stream's orders are the trader's (HTTP orders, whose client ids
    /// settlement indexes) instead of the binary gateway's.
    #[arg(long)]
    trader_orders: bool,
}

/// CPU time (user + system) of every process named `comm`, in seconds, from `/proc`.
fn cpu_of(comm: &str) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| {
        let stat = std::fs::read_to_string(e.ok()?.path().join("stat")).ok()?;
        // pid (comm) state ppid ... utime(14) stime(15)
        let (head, tail) = stat.rsplit_once(") ")?;
        if head.split_once(" (")?.1 != comm {
            return None;
        }
        let fields: Vec<&str> = tail.split(' ').collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / tick)
    })
    .sum()
}

/// This process's own CPU time in seconds.
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some((_, tail)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    let fields: Vec<&str> = tail.split(' ').collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (get(11) + get(12)) / 100.0
}

/// A timed run with the CPU the broker, the database and this process used in it.
struct Timed {
    time: Duration,
    /// Cores' worth: CPU seconds over wall seconds.
    broker: f64,
    database: f64,
    own: f64,
}

async fn timed<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<Timed> {
    let (b0, d0, o0) = (cpu_of("beam.smp"), cpu_of("postgres"), own_cpu());
    let start = Instant::now();
    f.await?;
    let time = start.elapsed();
    let secs = time.as_secs_f64();
    Ok(Timed {
        time,
        broker: (cpu_of("beam.smp") - b0) / secs,
        database: (cpu_of("postgres") - d0) / secs,
        own: (own_cpu() - o0) / secs,
    })
}

/// The journal, and every message the bridge will publish for it.
fn prepare(dir: &std::path::Path, commands: usize) -> (Vec<Message>, u64) {
    let w = generate(WorkloadConfig::single_symbol(commands));
    let mut engine = Engine::new(w.config.engine_config());
    let mut journal = Journal::open(dir, 1).expect("journal");
    let mut events: Vec<Event> = Vec::new();
    let mut messages = Vec::new();
    let mut account_seq = Some(0);
    let all: Vec<Command> = w.setup.iter().chain(&w.commands).copied().collect();
    for chunk in all.chunks(4096) {
        for cmd in chunk {
            let seq = journal.append(cmd);
            events.clear();
            engine.execute(cmd, &mut events);
            for e in &events {
                let entry = bourse_journal::Entry {
                    seq,
                    time_ns: 0,
                    cmd: *cmd,
                };
                event_messages(e, &entry, &engine, &mut account_seq, &mut messages);
            }
        }
        journal.commit().expect("commit");
    }
    (messages, engine.seq().0)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// A connection and a channel with publisher confirms on (keep the connection).
async fn confirming_channel(
    config: &RabbitConfig,
) -> anyhow::Result<(lapin::Connection, lapin::Channel)> {
    let conn =
        lapin::Connection::connect(&config.uri, lapin::ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok((conn, channel))
}

/// lapin alone, one persistent message per event and routing key (the design before
/// envelopes), confirms per batch of 4,096.
async fn raw_publish(config: &RabbitConfig, messages: &[Message]) -> anyhow::Result<()> {
    let (_conn, channel) = confirming_channel(config).await?;
    for batch in messages.chunks(4096) {
        let sends = batch.iter().map(|m| {
            channel.basic_publish(
                config.exchange.as_str().into(),
                m.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &m.body,
                lapin::BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_message_id(m.seq.to_string().into()),
            )
        });
        let confirms = futures_util::future::try_join_all(sends).await?;
        for c in confirms {
            anyhow::ensure!(c.await?.is_ack(), "nack");
        }
    }
    Ok(())
}

/// How the raw baseline routes an envelope.
#[derive(Clone, Copy)]
enum Routing {
    /// Under its stream's name, as the bridge publishes it.
    Stream,
    /// Under every distinct routing key of its messages (the first as the routing key,
    /// the others in RabbitMQ's `BCC` header): what per-user and per-symbol queues
    /// would need.
    EveryKey,
}

/// The distinct routing keys of an envelope's messages, in order of appearance.
fn keys_of(e: &Envelope) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for entry in envelope::unpack(&e.body).expect("our own envelope") {
        if !keys.iter().any(|k| k == entry.routing_key) {
            keys.push(entry.routing_key.to_string());
        }
    }
    keys
}

/// lapin alone, the bridge's envelopes as precomputed bytes with the publisher's
/// properties, routed as `routing` says, confirms per 8 envelopes.
async fn raw_envelopes(
    config: &RabbitConfig,
    envelopes: &[Envelope],
    routing: Routing,
) -> anyhow::Result<()> {
    let (_conn, channel) = confirming_channel(config).await?;
    let routed: Vec<(String, lapin::BasicProperties)> = envelopes
        .iter()
        .map(|e| {
            let props = bourse_bus::rabbit::properties(e);
            match routing {
                Routing::Stream => (e.stream.clone(), props),
                Routing::EveryKey => {
                    let keys = keys_of(e);
                    let mut headers = props.headers().clone().unwrap_or_default();
                    let bcc: Vec<AMQPValue> = keys[1..]
                        .iter()
                        .map(|k| AMQPValue::LongString(k.as_str().into()))
                        .collect();
                    headers.insert("BCC".into(), AMQPValue::FieldArray(bcc.into()));
                    (keys[0].clone(), props.with_headers(headers))
                }
            }
        })
        .collect();
    for (batch, routes) in envelopes.chunks(8).zip(routed.chunks(8)) {
        let sends = batch.iter().zip(routes).map(|(e, (key, props))| {
            channel.basic_publish(
                config.exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                &e.body,
                props.clone(),
            )
        });
        let confirms = futures_util::future::try_join_all(sends).await?;
        for c in confirms {
            anyhow::ensure!(c.await?.is_ack(), "nack");
        }
    }
    Ok(())
}

async fn purge(config: &RabbitConfig) -> anyhow::Result<()> {
    let conn =
        lapin::Connection::connect(&config.uri, lapin::ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    for q in &config.queues {
        channel
            .queue_purge(
                q.name.as_str().into(),
                lapin::options::QueuePurgeOptions::default(),
            )
            .await?;
    }
    Ok(())
}

/// seq, symbol, price, qty, buyer, seller.
type TradeColumns = (
    Vec<i64>,
    Vec<String>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
);

/// tokio-postgres alone: the same trades, multi-row inserts, one transaction per batch.
async fn raw_insert(
    client: &mut tokio_postgres::Client,
    trades: &[&EngineEvent],
    table: &str,
) -> anyhow::Result<Duration> {
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (seq BIGINT PRIMARY KEY, symbol TEXT, price BIGINT, qty BIGINT,
                                   buyer BIGINT, seller BIGINT)"
        ))
        .await?;
    let start = Instant::now();
    for batch in trades.chunks(2_000) {
        let mut cols: TradeColumns = Default::default();
        for t in batch {
            if let EngineEvent::Trade {
                seq,
                symbol,
                price,
                qty,
                maker_user,
                taker_user,
                ..
            } = t
            {
                cols.0.push(*seq as i64);
                cols.1.push(symbol.clone());
                cols.2.push(*price);
                cols.3.push(*qty);
                cols.4.push(*maker_user as i64);
                cols.5.push(*taker_user as i64);
            }
        }
        let tx = client.transaction().await?;
        tx.execute(
            &format!(
                "INSERT INTO {table} SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[],
                 $4::bigint[], $5::bigint[], $6::bigint[])"
            ),
            &[&cols.0, &cols.1, &cols.2, &cols.3, &cols.4, &cols.5],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(start.elapsed())
}

/// tokio-postgres alone: binary `COPY` of exactly the rows settlement writes for
/// `events` (their orders in their final state, their trades; worked out before the
/// clock starts) into tables made like settlement's (same columns, constraints and
/// indexes), a transaction per `batch` events — settlement's floor on this database.
async fn raw_copy(
    client: &mut tokio_postgres::Client,
    events: &[Incoming],
    batch: usize,
    suffix: &str,
) -> anyhow::Result<Duration> {
    use bourse_order::store::pg::{copy_orders, copy_trades};
    let (orders, trades) = (
        format!("raw_orders_{suffix}"),
        format!("raw_trades_{suffix}"),
    );
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {orders}, {trades};
             CREATE TABLE {orders} (LIKE orders INCLUDING ALL);
             CREATE TABLE {trades} (LIKE trades INCLUDING ALL);"
        ))
        .await?;
    let mut plan = bourse_order::settle::Plan::new(Vec::new());
    for e in events {
        plan.apply(&e.event);
    }
    let batches: Vec<_> = events
        .chunks(batch)
        .map(|chunk| {
            let range = chunk[0].event.seq() as i64..=chunk[chunk.len() - 1].event.seq() as i64;
            let o: Vec<_> = plan
                .new_orders()
                .filter(|o| range.contains(&o.order_seq))
                .collect();
            let t: Vec<_> = plan
                .trades
                .iter()
                .filter(|t| range.contains(&t.seq))
                .cloned()
                .collect();
            (o, t)
        })
        .collect();
    let start = Instant::now();
    for (o, t) in &batches {
        let tx = client.transaction().await?;
        copy_orders(&tx, &orders, o.iter().copied()).await?;
        copy_trades(&tx, &trades, t).await?;
        tx.commit().await?;
    }
    Ok(start.elapsed())
}

/// The raw baseline for the embedded store: the same trades, one prepared insert per
/// row, a transaction per 2,000 (as settlement commits).
async fn raw_lite_insert(
    lite: &bourse_shell::lite::Lite,
    trades: &[&EngineEvent],
    table: &'static str,
) -> anyhow::Result<Duration> {
    lite.write(move |c| {
        c.execute_batch(&format!(
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (seq INTEGER PRIMARY KEY, symbol TEXT, price INTEGER,
                                   qty INTEGER, buyer INTEGER, seller INTEGER)"
        ))
    })
    .await?;
    let rows: Vec<(i64, String, i64, i64, i64, i64)> = trades
        .iter()
        .filter_map(|t| match t {
            EngineEvent::Trade {
                seq,
                symbol,
                price,
                qty,
                maker_user,
                taker_user,
                ..
            } => Some((
                *seq as i64,
                symbol.clone(),
                *price,
                *qty,
                *maker_user as i64,
                *taker_user as i64,
            )),
            _ => None,
        })
        .collect();
    let start = Instant::now();
    for batch in rows.chunks(2_000) {
        let batch = batch.to_vec();
        lite.write(move |c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT INTO {table} VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                ))?;
                for r in &batch {
                    insert.execute((r.0, &r.1, r.2, r.3, r.4, r.5))?;
                }
            }
            tx.commit()
        })
        .await?;
    }
    Ok(start.elapsed())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Runtime::new()?;
    let dir = tempfile::tempdir()?;
    eprintln!(
        "pipeline-bench: writing a journal of {} commands…",
        args.commands
    );
    let (messages, last_event) = prepare(dir.path(), args.commands);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let exchange = format!("bench.{nanos}");
    let queue = QueueSpec::settlement(&format!("{exchange}.settlement"));
    let rabbit = RabbitConfig {
        uri: args.amqp.clone(),
        queues: vec![
            queue.clone(),
            QueueSpec::market(&format!("{exchange}.market")),
        ],
        exchange,
    };
    let settlement: Vec<Incoming> = messages
        .iter()
        .filter(|m| {
            queue
                .patterns
                .iter()
                .any(|p| topic::matches(p, &m.routing_key))
        })
        .map(|m| {
            serde_json::from_slice(&m.body).map(|event| Incoming {
                event,
                prev_seq: m.prev_seq,
            })
        })
        .collect::<Result<_, _>>()?;
    let trades: Vec<&EngineEvent> = {
        let mut seen = std::collections::HashSet::new();
        settlement
            .iter()
            .map(|e| &e.event)
            .filter(|e| matches!(e, EngineEvent::Trade { .. }) && seen.insert(e.seq()))
            .collect()
    };
    rt.block_on(async {
        // --- Bus ---
        if !args.settle_only {
        drop(
            RabbitPublisher::connect(&rabbit)
                .await
                .context("RabbitMQ")?,
        );
        // The events the per-event baseline covers: a prefix of the journal's.
        let per_event: Vec<Message> = messages
            .iter()
            .take_while(|m| m.seq <= args.per_event as u64)
            .cloned()
            .collect();
        let per_event_events = per_event.last().map_or(0, |m| m.seq) as usize;
        let raw_single = timed(raw_publish(&rabbit, &per_event)).await?;
        purge(&rabbit).await?;
        let envelopes = envelope::pack(&messages)?;
        let keys_per_envelope = envelopes.iter().map(|e| keys_of(e).len()).sum::<usize>() as f64
            / envelopes.len() as f64;
        let bytes_per_envelope =
            envelopes.iter().map(|e| e.body.len()).sum::<usize>() as f64 / envelopes.len() as f64;
        let every_key = timed(raw_envelopes(&rabbit, &envelopes, Routing::EveryKey)).await?;
        purge(&rabbit).await?;
        let raw1 = timed(raw_envelopes(&rabbit, &envelopes, Routing::Stream)).await?;
        purge(&rabbit).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let config = BridgeConfig {
            batch: args.bridge_batch,
            ..BridgeConfig::new(dir.path(), generate_config(args.commands))
        };
        let connect = rabbit.publishers();
        let bridged = timed(async {
            let mut finished = false;
            bourse_bridge::run(config, connect, stop, |p| {
                if p.checkpoint.event_seq >= last_event {
                    finished = true;
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .await?;
            anyhow::ensure!(finished, "the bridge did not finish");
            Ok(())
        })
        .await?;
        anyhow::ensure!(Checkpoint::load(dir.path())?.event_seq == last_event);
        purge(&rabbit).await?;
        let raw2 = timed(raw_envelopes(&rabbit, &envelopes, Routing::Stream)).await?;
        delete_topology(&rabbit).await?;
        let streams = if args.streams {
            // One stream message per event (its first message's body), and the same
            // envelopes as above.
            let mut per_event: Vec<&[u8]> = Vec::with_capacity(last_event as usize);
            for m in &messages {
                if per_event.len() < m.seq as usize {
                    per_event.push(&m.body);
                }
            }
            let bodies: Vec<&[u8]> = envelopes.iter().map(|e| e.body.as_slice()).collect();
            Some((
                stream_round(&format!("{nanos}.events"), &per_event, 1_000, false).await?,
                stream_round(&format!("{nanos}.envelopes"), &bodies, 1, true).await?,
            ))
        } else {
            None
        };
        println!("### Engine events into RabbitMQ (persistent, publisher confirms)\n");
        println!(
            "{} commands → {} events → {} messages (one per event and routing key) → {} \
             envelopes (one stream each; {:.0} bytes and {:.0} distinct routing keys on \
             average), into two durable queues (settlement, market). CPU in cores: the \
             broker's `beam.smp`, and this process (journal reading, replica engine, JSON, \
             packing, the client).\n",
            args.commands,
            last_event,
            messages.len(),
            envelopes.len(),
            bytes_per_envelope,
            keys_per_envelope
        );
        println!(
            "| path | time | events/s | messages/s | broker CPU | own CPU |\n|---|---|---|---|---|---|"
        );
        let single_messages = per_event.len();
        for (name, t, events, msgs) in [
            (
                "raw lapin, one message per event and key (the first events only)",
                &raw_single,
                per_event_events,
                single_messages,
            ),
            (
                "raw lapin, the same envelopes routed under every key of their messages (BCC)",
                &every_key,
                last_event as usize,
                messages.len(),
            ),
            (
                "raw lapin, the same envelopes routed by stream, confirms per 8 (before)",
                &raw1,
                last_event as usize,
                messages.len(),
            ),
            (
                "**bridge**: journal → replica engine → JSON → envelopes → publish → confirm → checkpoint",
                &bridged,
                last_event as usize,
                messages.len(),
            ),
            (
                "raw lapin, envelopes (after)",
                &raw2,
                last_event as usize,
                messages.len(),
            ),
        ] {
            println!(
                "| {name} | {:.2} s | {:.0} | {:.0} | {:.2} | {:.2} |",
                t.time.as_secs_f64(),
                rate(events, t.time),
                rate(msgs, t.time),
                t.broker,
                t.own
            );
        }
        if let Some(((events_out, events_in), (env_out, env_in))) = &streams {
            println!(
                "\nRabbitMQ Streams (`rabbitmq-stream-client` 0.4.4, 127.0.0.1:5552), the same \
                 run: published to a fresh stream in client-side batches, every message \
                 confirmed; then read back from the first offset (envelopes unpacked).\n"
            );
            println!(
                "| path | time | events/s | broker CPU | own CPU |\n|---|---|---|---|---|"
            );
            for (name, t) in [
                ("stream, one message per event, batches of 1,000: publish", events_out),
                ("stream, one message per event: consume", events_in),
                ("stream, the envelopes: publish", env_out),
                ("stream, the envelopes: consume and unpack", env_in),
            ] {
                println!(
                    "| {name} | {:.2} s | {:.0} | {:.2} | {:.2} |",
                    t.time.as_secs_f64(),
                    rate(last_event as usize, t.time),
                    t.broker,
                    t.own
                );
            }
        }
        if !args.no_lag {
            // The last event settlement applies (later ones are not on its stream).
            let last_settled = messages
                .iter()
                .filter(|m| queue.patterns.iter().any(|p| topic::matches(p, &m.routing_key)))
                .map(|m| m.seq)
                .max()
                .unwrap_or(0);
            lag_drain(&args, dir.path(), (last_event, last_settled), nanos).await?;
        }
        if args.bus_only {
            return Ok(());
        }
        }

        // --- Settlement ---
        let schema = format!("bench_{nanos}");
        let pool = bourse_order::db::pool(&args.pg, Some(&schema), 2).await?;
        bourse_order::service::prepare(&pool).await?;
        let mut client = pool.get().await?;
        let raw_a = raw_insert(&mut client, &trades, "raw_trades_a").await?;
        let mut settled = 0;
        let store = bourse_order::store::pg::PgSettlement::new(pool.clone());
        let mut settler = bourse_order::settle::Settler::load(&store).await?;
        let ours_cpu = timed(async {
            settled = settle_all(&mut settler, &store, &settlement, args.settle_batch).await?;
            Ok(())
        })
        .await?;
        let ours = ours_cpu.time;
        anyhow::ensure!(
            settled == trades.len(),
            "settled {settled} of {} trades",
            trades.len()
        );
        let raw_b = raw_insert(&mut client, &trades, "raw_trades_b").await?;
        // A fill-heavy stream: each taker order meets a resting order and fills it.
        // Client ids as the gateway's clients choose them, or as the trader mints them.
        let prefix = if args.trader_orders {
            bourse_order::token::TOKEN_PREFIX
        } else {
            'g'
        };
        let heavy: Vec<Incoming> = fill_heavy(settler.position() + 1, 60_000, prefix)
            .into_iter()
            .map(Incoming::from)
            .collect();
        let heavy_fills: Vec<&EngineEvent> = heavy
            .iter()
            .map(|e| &e.event)
            .filter(|e| matches!(e, EngineEvent::Trade { .. }))
            .collect();
        let raw_c = raw_copy(&mut client, &heavy, args.settle_batch, "c").await?;
        // The same stream's shape again, settled one batch at a time (each planned only
        // after the one before committed), as the service did before batches were
        // pipelined.
        let sequential: Vec<Incoming> = fill_heavy(heavy.last().map_or(0, |e| e.event.seq()) + 1, 60_000, prefix)
            .into_iter()
            .map(Incoming::from)
            .collect();
        let mut heavy_settled = 0;
        let heavy_cpu = timed(async {
            heavy_settled = settle_all(&mut settler, &store, &heavy, args.settle_batch).await?;
            Ok(())
        })
        .await?;
        let heavy_time = heavy_cpu.time;
        anyhow::ensure!(heavy_settled == heavy_fills.len());
        let mut one_by_one = 0;
        let sequential_cpu = timed(async {
            for chunk in sequential.chunks(args.settle_batch) {
                one_by_one += settler.settle(&store, chunk).await?.trades;
            }
            Ok(())
        })
        .await?;
        anyhow::ensure!(one_by_one == heavy_fills.len());
        let raw_d = raw_copy(&mut client, &heavy, args.settle_batch, "d").await?;
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await?;
        println!("\n### Fills settled into PostgreSQL\n");
        println!(
            "{} settlement events ({} fills) in batches of {} events (the raw baselines: \
             a transaction per 2,000 trades).\n",
            settlement.len(),
            trades.len(),
            args.settle_batch
        );
        println!("| path | time | fills/s | events/s |\n|---|---|---|---|");
        for (name, d) in [
            (
                "raw tokio-postgres: the same trades, multi-row insert per batch (before)",
                raw_a,
            ),
            (
                "**settlement**: orders, history, trades, ledger, balances, idempotency",
                ours,
            ),
            ("raw tokio-postgres (after)", raw_b),
        ] {
            println!(
                "| {name} | {:.2} s | {:.0} | {:.0} |",
                d.as_secs_f64(),
                rate(trades.len(), d),
                rate(settlement.len(), d)
            );
        }
        println!(
            "\nFill-heavy stream: {} events, {} fills (maker accepted, taker accepted, trade; \
             every order filled), {}.\n",
            heavy.len(),
            heavy_fills.len(),
            if args.trader_orders {
                "every order the trader's (its client id indexed)"
            } else {
                "every order the gateway's"
            }
        );
        println!("| path | time | fills/s | events/s |\n|---|---|---|---|");
        for (name, d, events) in [
            (
                "raw tokio-postgres: COPY of the same orders and trades (before)",
                raw_c,
                heavy.len(),
            ),
            (
                "**settlement**: each batch planned while the one before commits",
                heavy_time,
                heavy.len(),
            ),
            (
                "settlement, one batch at a time (the next stream)",
                sequential_cpu.time,
                sequential.len(),
            ),
            ("raw tokio-postgres: COPY (after)", raw_d, heavy.len()),
        ] {
            println!(
                "| {name} | {:.2} s | {:.0} | {:.0} |",
                d.as_secs_f64(),
                rate(heavy_fills.len(), d),
                rate(events, d)
            );
        }

        println!(
            "\nCPU during settlement, in cores: PostgreSQL {:.2} and this process {:.2} \
             (workload); PostgreSQL {:.2} and this process {:.2} (fill-heavy, pipelined); \
             PostgreSQL {:.2} and this process {:.2} (fill-heavy, one batch at a time).",
            ours_cpu.database,
            ours_cpu.own,
            heavy_cpu.database,
            heavy_cpu.own,
            sequential_cpu.database,
            sequential_cpu.own
        );

        // --- The same settlement into the embedded SQLite store (the all-in-one mode) ---
        use bourse_order::store::SettlementStore;
        let lite_dir = tempfile::tempdir()?;
        let lite = bourse_shell::lite::Lite::open(lite_dir.path().join("bench.db"))?;
        let lite_store = bourse_order::store::lite::LiteSettlement::new(lite.clone());
        lite_store.prepare().await?;
        let raw_l1 = raw_lite_insert(&lite, &trades, "raw_trades_a").await?;
        let start = Instant::now();
        let mut lite_settler = bourse_order::settle::Settler::load(&lite_store).await?;
        let lite_settled =
            settle_all(&mut lite_settler, &lite_store, &settlement, args.settle_batch).await?;
        let lite_ours = start.elapsed();
        anyhow::ensure!(lite_settled == trades.len());
        let raw_l2 = raw_lite_insert(&lite, &trades, "raw_trades_b").await?;
        let raw_l3 = raw_lite_insert(&lite, &heavy_fills, "raw_trades_c").await?;
        let start = Instant::now();
        let lite_heavy = settle_all(&mut lite_settler, &lite_store, &heavy, args.settle_batch).await?;
        let lite_heavy_time = start.elapsed();
        anyhow::ensure!(lite_heavy == heavy_fills.len());
        println!(
            "\n### The same settlement into the embedded SQLite store (WAL, synchronous = FULL)\n"
        );
        println!("| path | time | fills/s | events/s |\n|---|---|---|---|");
        for (name, d, fills, events) in [
            (
                "raw rusqlite: the same trades, prepared insert, a transaction per 2,000 (before)",
                raw_l1,
                trades.len(),
                None,
            ),
            (
                "**settlement** (workload)",
                lite_ours,
                trades.len(),
                Some(settlement.len()),
            ),
            ("raw rusqlite (after)", raw_l2, trades.len(), None),
            (
                "raw rusqlite: the fill-heavy stream's trades",
                raw_l3,
                heavy_fills.len(),
                None,
            ),
            (
                "**settlement** (fill-heavy)",
                lite_heavy_time,
                heavy_fills.len(),
                Some(heavy.len()),
            ),
        ] {
            println!(
                "| {name} | {:.2} s | {:.0} | {} |",
                d.as_secs_f64(),
                rate(fills, d),
                events.map_or("—".to_string(), |e| format!("{:.0}", rate(e, d)))
            );
        }
        anyhow::Ok(())
    })
}

/// Settlement lag under a load above its capacity and after it: the bridge publishes
/// the whole journal into RabbitMQ (several times faster than settlement can apply
/// it) while the order service settles it into PostgreSQL; every 500 ms, how far each
/// has got. The lag (events published and not yet settled) must rise while the load
/// lasts and drain to zero after it.
async fn lag_drain(
    args: &Args,
    dir: &std::path::Path,
    (last_event, last_settled): (u64, u64),
    nanos: u128,
) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let exchange = format!("bench.lag.{nanos}");
    let queue = QueueSpec::settlement(&format!("{exchange}.settlement"));
    let rabbit = RabbitConfig {
        uri: args.amqp.clone(),
        queues: vec![queue.clone()],
        exchange,
    };
    let schema = format!("bench_lag_{nanos}");
    let pool = bourse_order::db::pool(&args.pg, Some(&schema), 3).await?;
    bourse_order::service::prepare(&pool).await?;
    // The bridge starts from the beginning of the journal.
    let _ = std::fs::remove_file(dir.join("reader-bridge.seq"));
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let bridge = {
        let (rabbit, stop, published) = (rabbit.clone(), stop.clone(), published.clone());
        let config = BridgeConfig {
            batch: args.bridge_batch,
            ..BridgeConfig::new(dir, generate_config(args.commands))
        };
        tokio::spawn(async move {
            bourse_bridge::run(config, rabbit.publishers(), stop, |p| {
                published.store(p.checkpoint.event_seq, Ordering::Relaxed)
            })
            .await
        })
    };
    let settled = Arc::new(AtomicU64::new(0));
    let service = {
        let (rabbit, queue, stop, settled) =
            (rabbit.clone(), queue.clone(), stop.clone(), settled.clone());
        let store = Arc::new(bourse_order::store::pg::PgSettlement::new(pool.clone()));
        let config = bourse_order::service::ServiceConfig {
            batch: args.settle_batch,
            ..Default::default()
        };
        tokio::spawn(async move {
            let consumer = rabbit.consumers(&queue, bourse_order::service::PREFETCH);
            bourse_order::service::run(store, config, consumer, rabbit.publishers(), stop, |p| {
                settled.store(p.last_seq, Ordering::Relaxed)
            })
            .await
        })
    };
    // Settlement's events published and not settled (published counts every event;
    // after `last_settled` none is settlement's).
    let lag = |p: u64, s: u64| p.min(last_settled).saturating_sub(s);
    let start = Instant::now();
    let mut samples: Vec<(f64, u64, u64)> = Vec::new();
    let mut peak = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (p, s) = (
            published.load(Ordering::Relaxed),
            settled.load(Ordering::Relaxed),
        );
        samples.push((start.elapsed().as_secs_f64(), p, s));
        peak = peak.max(lag(p, s));
        if s >= last_settled {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "settlement did not catch up in 10 minutes"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    bridge.await??;
    service.await??;
    anyhow::ensure!(
        published.load(Ordering::Relaxed) == last_event,
        "the bridge published everything"
    );
    let client = pool.get().await?;
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;
    delete_topology(&rabbit).await?;
    println!("\n### Settlement lag under a load above its capacity, and after it\n");
    println!(
        "The bridge publishes the whole journal ({last_event} events) as fast as it can \
         while the order service settles it (batches of {}). Lag: events published and \
         not yet settled.\n",
        args.settle_batch
    );
    println!("| t | published (event seq) | settled (event seq) | lag |\n|---|---|---|---|");
    for (t, p, s) in &samples {
        println!("| {t:.1} s | {p} | {s} | {} |", lag(*p, *s));
    }
    let (t, p, s) = samples.last().copied().unwrap_or_default();
    println!(
        "\nPeak lag {peak} events; drained at {t:.1} s (published {p}, settled {s}: the \
         journal's last event on settlement's stream is {last_settled})."
    );
    Ok(())
}

/// RabbitMQ Streams: `bodies` published to a fresh stream `name`, `batch` messages a
/// publish, every one confirmed; then consumed from the first offset (each body
/// unpacked as an envelope if `envelopes`). The publish and the consume, timed.
async fn stream_round(
    name: &str,
    bodies: &[&[u8]],
    batch: usize,
    envelopes: bool,
) -> anyhow::Result<(Timed, Timed)> {
    use futures_util::StreamExt;
    use rabbitmq_stream_client::Environment;
    use rabbitmq_stream_client::types::{Message as StreamMessage, OffsetSpecification};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let status = std::process::Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/enable-streams.sh"),
    )
    .status()?;
    anyhow::ensure!(status.success(), "RabbitMQ Streams could not be enabled");
    let env = Environment::builder()
        .host("127.0.0.1")
        .port(5552)
        .build()
        .await
        .map_err(|e| anyhow::anyhow!("RabbitMQ Streams: {e:?}"))?;
    let _ = env.delete_stream(name).await;
    env.stream_creator()
        .create(name)
        .await
        .map_err(|e| anyhow::anyhow!("creating stream {name}: {e:?}"))?;
    let producer = env
        .producer()
        .build(name)
        .await
        .map_err(|e| anyhow::anyhow!("producer: {e:?}"))?;
    let total = bodies.len();
    let confirmed = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(tokio::sync::Notify::new());
    let publish = timed(async {
        for chunk in bodies.chunks(batch) {
            let msgs = chunk
                .iter()
                .map(|b| StreamMessage::builder().body(b.to_vec()).build())
                .collect();
            let (c, r, n) = (confirmed.clone(), refused.clone(), all_in.clone());
            producer
                .batch_send(msgs, move |status| {
                    if !status.is_ok_and(|s| s.confirmed()) {
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                    if c.fetch_add(1, Ordering::AcqRel) + 1 == total {
                        n.notify_one();
                    }
                    async {}
                })
                .await
                .map_err(|e| anyhow::anyhow!("publishing: {e:?}"))?;
        }
        all_in.notified().await;
        Ok(())
    })
    .await?;
    anyhow::ensure!(
        refused.load(Ordering::Relaxed) == 0,
        "the broker refused messages"
    );
    let _ = producer.close().await;
    let mut consumer = env
        .consumer()
        .offset(OffsetSpecification::First)
        .build(name)
        .await
        .map_err(|e| anyhow::anyhow!("consumer: {e:?}"))?;
    let mut events = 0usize;
    let consume = timed(async {
        let mut read = 0;
        while read < total {
            let d = consumer
                .next()
                .await
                .context("the stream ended")?
                .map_err(|e| anyhow::anyhow!("consuming: {e:?}"))?;
            let body = d.message().data().unwrap_or_default();
            events += if envelopes {
                envelope::unpack(body)?.len()
            } else {
                1
            };
            read += 1;
        }
        Ok(())
    })
    .await?;
    let _ = consumer.handle().close().await;
    let _ = env.delete_stream(name).await;
    anyhow::ensure!(events > 0);
    Ok((publish, consume))
}

/// Settles `events` in batches of `batch` as the order service does: each batch
/// planned while the one before commits on a task of its own; returns the trades
/// recorded.
async fn settle_all<S: bourse_order::store::SettlementStore + Clone + 'static>(
    settler: &mut bourse_order::settle::Settler,
    store: &S,
    events: &[Incoming],
    batch: usize,
) -> anyhow::Result<usize> {
    let mut trades = 0;
    type Commit =
        tokio::task::JoinHandle<Result<bourse_order::settle::Outcome, bourse_order::OrderError>>;
    let mut committing: Option<Commit> = None;
    for chunk in events.chunks(batch) {
        let planned = settler.plan(chunk);
        if let Some(c) = committing.take() {
            trades += c.await??.trades;
        }
        let store = store.clone();
        committing = Some(tokio::spawn(async move { planned.commit(&store).await }));
    }
    if let Some(c) = committing {
        trades += c.await??.trades;
    }
    Ok(trades)
}

/// `fills` rounds of: a sell rests, a buy arrives and takes all of it; from `seq` on.
fn fill_heavy(mut seq: u64, fills: usize, prefix: char) -> Vec<EngineEvent> {
    let mut out = Vec::with_capacity(fills * 3);
    for i in 0..fills {
        let (maker, taker) = (1 + (i % 50) as u64, 51 + (i % 50) as u64);
        let (sell, buy) = (format!("{prefix}s{i}"), format!("{prefix}b{i}"));
        let price = 10_000 + (i % 20) as i64;
        out.push(EngineEvent::Accepted {
            seq,
            user: maker,
            id: sell.clone(),
            symbol: Some("HEAVY".into()),
            side: "sell".into(),
            price: Some(price),
            qty: 10,
        });
        out.push(EngineEvent::Accepted {
            seq: seq + 1,
            user: taker,
            id: buy.clone(),
            symbol: Some("HEAVY".into()),
            side: "buy".into(),
            price: Some(price),
            qty: 10,
        });
        out.push(EngineEvent::Trade {
            seq: seq + 2,
            cmd_seq: seq + 1,
            symbol: "HEAVY".into(),
            price,
            qty: 10,
            maker_user: maker,
            maker_id: sell,
            maker_leaves: 0,
            taker_user: taker,
            taker_id: buy,
            taker_leaves: 0,
            taker_side: "buy".into(),
        });
        seq += 3;
    }
    out
}

fn generate_config(commands: usize) -> bourse_core::EngineConfig {
    WorkloadConfig::single_symbol(commands).engine_config()
}
