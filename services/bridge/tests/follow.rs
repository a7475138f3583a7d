//! The bridge follows a journal that is being written (with rotations and snapshots),
//! publishes every event exactly as the engine produced it, and after being stopped
//! and started again carries on from its checkpoint with no event missing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bourse_bridge::{BridgeConfig, Checkpoint, run};
use bourse_bus::Consumer;
use bourse_bus::memory::MemoryBus;
use bourse_core::{Engine, Event};
use bourse_journal::{Journal, JournalOptions, write_snapshot};
use bourse_workload::{WorkloadConfig, generate};

/// Writes the workload into `dir` as a gateway would (batches, one commit each, a
/// rotation and snapshot every 3,000 commands, small preallocated segments: a new one
/// whenever one fills, each ending in zeros while it is the newest); returns the events
/// the engine made.
/// Halfway through it waits for a word on `halfway`, so that whoever follows the
/// journal can be stopped while there is certainly more to come.
fn write_journal(
    dir: std::path::PathBuf,
    config: WorkloadConfig,
    pause: Duration,
    halfway: std::sync::mpsc::Receiver<()>,
) -> Vec<Event> {
    let w = generate(config);
    let mut engine = Engine::new(w.config.engine_config());
    let options = JournalOptions {
        segment_bytes: 32 << 10,
    };
    let mut journal = Journal::open_with(&dir, 1, options).unwrap();
    let mut events = Vec::new();
    let all: Vec<_> = w.setup.iter().chain(&w.commands).collect();
    let chunks = all.len().div_ceil(97);
    for (i, chunk) in all.chunks(97).enumerate() {
        if i == chunks / 2 {
            halfway.recv().unwrap();
        }
        for cmd in chunk {
            journal.append(cmd);
            engine.execute(cmd, &mut events);
        }
        let seq = journal.commit().unwrap();
        if i % 31 == 30 {
            journal.rotate().unwrap();
            write_snapshot(&dir, seq, &engine.state()).unwrap();
            journal.prune(seq).unwrap();
        }
        std::thread::sleep(pause);
    }
    events
}

/// Runs the bridge onto `bus` in a task until the returned flag is set.
fn start_bridge(
    bus: &MemoryBus,
    config: &BridgeConfig,
) -> (
    tokio::task::JoinHandle<Result<(), bourse_bridge::BridgeError>>,
    Arc<AtomicBool>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let (bus, flag, config) = (bus.clone(), stop.clone(), config.clone());
    let task = tokio::spawn(async move {
        let connect = || {
            let bus = bus.clone();
            async move { Ok(bus.publisher()) }
        };
        run(config, connect, flag, |_| {}).await
    });
    (task, stop)
}

/// Events by sequence number, from message bodies.
fn collect_bodies(into: &mut BTreeMap<u64, serde_json::Value>, body: &[u8]) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let seq = v["seq"].as_u64().unwrap();
    if let Some(old) = into.insert(seq, v.clone()) {
        assert_eq!(old, v, "two messages with seq {seq} differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_published_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let workload = WorkloadConfig::single_symbol(12_000);
    let engine_config = workload.engine_config();
    let (go_on, halfway) = std::sync::mpsc::channel();
    let writer = {
        let dir = dir.path().to_path_buf();
        std::thread::spawn(move || write_journal(dir, workload, Duration::from_millis(5), halfway))
    };
    let bus = MemoryBus::new();
    let mut everything = bus.consumer("all", &["#"]);
    let mut settle = bus.consumer("settle", &["exec.*", "account.*"]);
    let config = BridgeConfig::new(dir.path(), engine_config);

    // First run: stop it part-way through, once it has published something (the
    // writer holds the second half back until then).
    let (first, stop) = start_bridge(&bus, &config);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while Checkpoint::load(dir.path()).unwrap().event_seq == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run published nothing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    first.await.unwrap().unwrap();
    let halfway = Checkpoint::load(dir.path()).unwrap();
    go_on.send(()).unwrap();

    // Second run, to the end.
    let events = tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    let last = events.last().unwrap().seq.0;
    assert!(halfway.event_seq < last, "the first run stopped part-way");
    let (second, stop) = start_bridge(&bus, &config);
    let mut by_seq = BTreeMap::new();
    while by_seq.len() < last as usize {
        let d = everything
            .next_within(Duration::from_secs(20))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("stalled at {} of {last} events", by_seq.len()));
        collect_bodies(&mut by_seq, &d.message.body);
    }
    stop.store(true, Ordering::Relaxed);
    second.await.unwrap().unwrap();
    let done = Checkpoint::load(dir.path()).unwrap();
    assert_eq!(done.event_seq, last);
    assert!(done.cmd_seq > halfway.cmd_seq);

    // Every event, once, as the engine produced it (compare kind and key fields).
    assert_eq!(
        by_seq.keys().copied().collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>()
    );
    for e in &events {
        let v = &by_seq[&e.seq.0];
        let kind = match e.kind {
            bourse_core::EventKind::Accepted { .. } => "accepted",
            bourse_core::EventKind::Rejected { .. } => "rejected",
            bourse_core::EventKind::Trade { .. } => "trade",
            bourse_core::EventKind::Canceled { .. } => "canceled",
            bourse_core::EventKind::Replaced { .. } => "replaced",
            bourse_core::EventKind::Done { .. } => "done",
        };
        assert_eq!(v["event"], kind, "event {}", e.seq.0);
        if let bourse_core::EventKind::Trade { price, qty, .. } = e.kind {
            assert_eq!(
                (v["price"].as_i64(), v["qty"].as_i64()),
                (Some(price.0), Some(qty.0))
            );
        }
    }

    // The settlement queue got each of its events in order (duplicates allowed, from
    // the batch published twice around the restart, or trades under two user keys).
    let mut last_seen = 0;
    while let Some(d) = settle
        .next_within(Duration::from_millis(200))
        .await
        .unwrap()
    {
        assert!(d.message.seq >= last_seen || d.message.seq <= halfway.event_seq + 1);
        last_seen = last_seen.max(d.message.seq);
    }
    assert!(last_seen > 0);
}
