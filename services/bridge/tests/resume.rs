//! Resuming from any checkpoint, anywhere in any segment, of a journal far larger than
//! any read window: the tail returns exactly the commands after the checkpoint, and a
//! restarted bridge publishes exactly the messages after it, byte for byte. Also: a
//! journal the bridge cannot read on from is an error, never a silent stall.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bourse_bridge::messages::event_messages;
use bourse_bridge::{BridgeConfig, BridgeError, Checkpoint, JournalTail, run};
use bourse_bus::memory::MemoryBus;
use bourse_bus::{Consumer, Message};
use bourse_core::{Command, Engine, EngineConfig};
use bourse_journal::{Journal, write_snapshot};
use bourse_workload::{Rng, WorkloadConfig, generate};

/// Commands after the workload's setup: every segment (rotated every 40,000 commands,
/// ~2.5 MB) is several times the largest read window.
const COMMANDS: usize = 100_000;
const ROTATE_EVERY: usize = 40_000;

/// A journal as the gateway writes it, and what the engine made of it.
struct Written {
    commands: Vec<Command>,
    /// `events_after[c]`: the last event seq after command `c` (index 0: before any).
    events_after: Vec<u64>,
    /// `account_after[c]`: the last account-stream event after command `c`.
    account_after: Vec<Option<u64>>,
    /// The messages of each event, in order.
    messages: Vec<Message>,
    /// `messages_before[c]`: how many messages commands `1..=c` made.
    messages_before: Vec<usize>,
    engine: EngineConfig,
    /// First sequence number of every segment.
    segment_starts: Vec<u64>,
}

fn write_journal(dir: &Path) -> Written {
    let w = generate(WorkloadConfig::single_symbol(COMMANDS));
    let engine_config = w.config.engine_config();
    let mut engine = Engine::new(engine_config);
    let mut journal = Journal::open(dir, 1).unwrap();
    let commands: Vec<Command> = w.setup.iter().chain(&w.commands).copied().collect();
    let mut written = Written {
        commands: commands.clone(),
        events_after: vec![0],
        account_after: vec![Some(0)],
        messages: Vec::new(),
        messages_before: vec![0],
        engine: engine_config,
        segment_starts: vec![1],
    };
    let mut events = Vec::new();
    let mut account_seq = Some(0);
    for (i, cmd) in commands.iter().enumerate() {
        let seq = journal.append(cmd);
        events.clear();
        engine.execute(cmd, &mut events);
        for e in &events {
            let entry = bourse_journal::Entry {
                seq,
                time_ns: journal.time_ns(),
                cmd: *cmd,
            };
            event_messages(e, &entry, &engine, &mut account_seq, &mut written.messages);
        }
        written.events_after.push(engine.seq().0);
        written.account_after.push(account_seq);
        written.messages_before.push(written.messages.len());
        if i % 256 == 255 {
            journal.commit().unwrap();
        }
        if (i + 1) % ROTATE_EVERY == 0 {
            journal.rotate().unwrap();
            write_snapshot(dir, seq, &engine.state()).unwrap();
            written.segment_starts.push(seq + 1);
        }
    }
    journal.commit().unwrap();
    written
}

/// Checkpoints to resume from: random ones, and the edges of every segment.
fn resume_points(w: &Written, random: usize) -> Vec<u64> {
    let last = w.commands.len() as u64;
    let mut rng = Rng::new(0x5eed);
    let mut points: Vec<u64> = (0..random).map(|_| rng.below(last + 1)).collect();
    for &s in &w.segment_starts {
        points.extend([s - 1, s, s + 1]);
    }
    points.extend([0, last - 1, last]);
    points.sort_unstable();
    points.dedup();
    points.retain(|&p| p <= last);
    points
}

#[test]
fn the_tail_resumes_anywhere_with_exactly_the_commands_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = write_journal(dir.path());
    assert!(w.segment_starts.len() >= 3, "a multi-segment journal");
    let last = w.commands.len() as u64;
    // The head probe (the bridge's lag) finds the last command, and follows growth.
    let mut probe = bourse_bridge::HeadProbe::default();
    assert_eq!(probe.head(dir.path()).unwrap(), last);
    assert_eq!(probe.head(dir.path()).unwrap(), last, "asked again");
    let mut out = Vec::new();
    for (i, checkpoint) in resume_points(&w, 24).into_iter().enumerate() {
        // Batches of several sizes: one command, an odd number, the bridge's default.
        let max = [1, 97, 2_048][i % 3];
        let mut tail = JournalTail::new(dir.path(), checkpoint + 1);
        let mut expect = checkpoint + 1;
        let mut reads = 0;
        loop {
            out.clear();
            let n = tail.read(max, &mut out).unwrap();
            assert_eq!(n, out.len());
            if n == 0 {
                break;
            }
            assert!(n <= max);
            for entry in &out {
                let seq = entry.seq;
                assert_eq!(seq, expect, "resumed after {checkpoint}");
                assert_eq!(entry.cmd, w.commands[seq as usize - 1], "command {seq}");
                expect += 1;
            }
            reads += 1;
            if max == 1 && reads == 3_000 {
                break; // one at a time: the start is what matters
            }
        }
        if !(max == 1 && reads == 3_000) {
            assert_eq!(expect, last + 1, "read to the end after {checkpoint}");
        }
        assert_eq!(tail.next_seq(), expect);
    }
}

/// Runs the bridge from `checkpoint` onto a fresh bus until it has published `want`
/// messages; returns them.
async fn publish_from(dir: &Path, w: &Written, checkpoint: u64, want: usize) -> Vec<Message> {
    Checkpoint {
        cmd_seq: checkpoint,
        event_seq: w.events_after[checkpoint as usize],
        account_seq: w.account_after[checkpoint as usize],
    }
    .save(dir)
    .unwrap();
    let bus = MemoryBus::new();
    let mut all = bus.consumer("all", &["#"]);
    let stop = Arc::new(AtomicBool::new(false));
    let task = {
        let (bus, stop) = (bus.clone(), stop.clone());
        let config = BridgeConfig::new(dir, w.engine);
        tokio::spawn(async move {
            let connect = || {
                let bus = bus.clone();
                async move { Ok(bus.publisher()) }
            };
            run(config, connect, stop, |_| {}).await
        })
    };
    let mut got = Vec::with_capacity(want);
    while got.len() < want {
        let d = all
            .next_within(Duration::from_secs(20))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("stalled after {checkpoint}: {} of {want}", got.len()));
        got.push(d.message);
    }
    stop.store(true, Ordering::Relaxed);
    task.await.unwrap().unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_bridge_publishes_exactly_what_follows_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let w = write_journal(dir.path());
    let total = w.messages.len();
    let points = resume_points(&w, 10);
    for (i, &checkpoint) in points.iter().enumerate() {
        let from = w.messages_before[checkpoint as usize];
        // The first restart reads to the very end; the others a few batches' worth.
        let want = if i == 0 {
            total - from
        } else {
            6_000.min(total - from)
        };
        let got = publish_from(dir.path(), &w, checkpoint, want).await;
        if let Some(first) = got.first() {
            assert_eq!(
                first.seq,
                w.events_after[checkpoint as usize] + 1,
                "the first event after checkpoint {checkpoint}"
            );
        }
        assert!(
            got == w.messages[from..from + want],
            "messages after checkpoint {checkpoint} differ from the engine's"
        );
    }
}

#[test]
fn a_gap_or_damage_in_finished_history_is_an_error_and_a_torn_tail_is_waited_at() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let user = |u| Command::AddUser {
        user: bourse_core::UserId(u),
    };
    let mut journal = Journal::open(dir.path(), 1).unwrap();
    for u in 1..=100 {
        journal.append(&user(u));
    }
    journal.rotate().unwrap();
    for u in 101..=150 {
        journal.append(&user(u));
    }
    journal.commit().unwrap();
    let segments = bourse_journal::segments(dir.path()).unwrap();
    let mut out = Vec::new();

    // A flipped byte in the finished first segment: an error naming the place.
    let original = std::fs::read(&segments[0]).unwrap();
    let mut damaged = original.clone();
    damaged[original.len() / 2] ^= 0x40;
    std::fs::write(&segments[0], &damaged).unwrap();
    let err = JournalTail::new(dir.path(), 1)
        .read(1_000, &mut out)
        .unwrap_err();
    assert!(
        matches!(
            err,
            BridgeError::Journal(bourse_journal::JournalError::Corrupt { .. })
        ),
        "{err}"
    );
    std::fs::write(&segments[0], &original).unwrap();

    // The newest segment's tail torn (a crashed writer): wait there, saying so.
    let newest = &segments[1];
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(newest)
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.write_all(&[0xff; 40]).unwrap();
    // With the durable mark, what lies past it is never read: the tail waits for the
    // mark, and the writer's recovery cuts the torn bytes before it moves.
    let mut tail = JournalTail::new(dir.path(), 120);
    out.clear();
    assert_eq!(tail.read(1_000, &mut out).unwrap(), 31);
    assert_eq!(tail.read(1_000, &mut out).unwrap(), 0);
    assert!(tail.damaged().is_none());
    // Without a mark (a journal an earlier writer left), the tail reads what is
    // written, and waits at the damage, saying so.
    std::fs::remove_file(dir.path().join(bourse_journal::DURABLE_FILE)).unwrap();
    let mut tail = JournalTail::new(dir.path(), 120);
    out.clear();
    assert_eq!(tail.read(1_000, &mut out).unwrap(), 31);
    let waiting = tail.damaged().expect("waiting at the torn tail").clone();
    assert_eq!(waiting.offset, len);
    assert_eq!(tail.read(1_000, &mut out).unwrap(), 0, "still waiting");
    // ... but bytes appended behind it while it stays damaged are corruption.
    f.write_all(&[0u8; 64]).unwrap();
    assert!(
        tail.read(1_000, &mut out).is_err(),
        "damage followed by writes"
    );
    // Recovery cuts it and the writer starts a new segment: read on.
    let rec = bourse_journal::recover(dir.path(), EngineConfig::default()).unwrap();
    assert_eq!(rec.last_seq, 150);
    let mut journal = Journal::open(dir.path(), 151).unwrap();
    journal.append(&user(151));
    journal.commit().unwrap();
    let mut tail = JournalTail::new(dir.path(), 120);
    out.clear();
    assert_eq!(tail.read(1_000, &mut out).unwrap(), 32);
    assert_eq!(out.last().unwrap().seq, 151);
    assert!(tail.damaged().is_none());

    // A segment pruned from under a reader that still needs it: a gap.
    std::fs::remove_file(&segments[0]).unwrap();
    let err = JournalTail::new(dir.path(), 5)
        .read(1_000, &mut out)
        .unwrap_err();
    assert!(
        matches!(
            err,
            BridgeError::Gap {
                expected: 5,
                found: 101
            }
        ),
        "{err}"
    );
}

#[test]
fn a_record_out_of_sequence_is_an_error_not_a_stall() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for seq in [1, 2, 3, 5] {
        bourse_journal::frame(
            seq,
            0,
            &Command::AddUser {
                user: bourse_core::UserId(seq),
            },
            &mut bytes,
        );
    }
    std::fs::write(dir.path().join(format!("wal-{:020}.log", 1)), &bytes).unwrap();
    let mut tail = JournalTail::new(dir.path(), 2);
    let mut out = Vec::new();
    let err = tail.read(10, &mut out).unwrap_err();
    assert_eq!(out.len(), 2, "the records before it are read");
    assert!(
        err.to_string().contains("sequence 5 where 4 was due"),
        "{err}"
    );
}

#[test]
fn the_head_probe_follows_a_growing_journal_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let mut probe = bourse_bridge::HeadProbe::default();
    assert_eq!(probe.head(dir.path()).unwrap(), 0, "no journal yet");
    let mut journal = Journal::open(dir.path(), 1).unwrap();
    let mut seq = 0;
    for round in 0..5 {
        for _ in 0..(round * 1_000 + 1) {
            seq = journal.append(&Command::EndOfDay);
        }
        journal.commit().unwrap();
        assert_eq!(probe.head(dir.path()).unwrap(), seq);
        if round % 2 == 1 {
            journal.rotate().unwrap();
            assert_eq!(probe.head(dir.path()).unwrap(), seq, "an empty new segment");
        }
    }
}

#[test]
fn the_tail_reads_only_what_the_writer_made_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), 1).unwrap();
    for u in 1..=5 {
        journal.append(&Command::AddUser {
            user: bourse_core::UserId(u),
        });
    }
    journal.commit().unwrap();
    drop(journal);
    // Records 4 and 5 written but (as far as the mark says) not yet synced: the
    // window between a batch's write and its fdatasync.
    let mark = dir.path().join(bourse_journal::DURABLE_FILE);
    std::fs::write(&mark, 3u64.to_le_bytes()).unwrap();
    let mut tail = JournalTail::new(dir.path(), 1);
    let mut out = Vec::new();
    assert_eq!(tail.read(10, &mut out).unwrap(), 3);
    assert_eq!(
        tail.read(10, &mut out).unwrap(),
        0,
        "nothing more is durable"
    );
    std::fs::write(&mark, 5u64.to_le_bytes()).unwrap();
    assert_eq!(tail.read(10, &mut out).unwrap(), 2);
    let seqs: Vec<u64> = out.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

#[test]
fn a_journal_without_a_durable_mark_is_read_as_written() {
    // A journal an earlier writer left, with no mark: every whole record counts.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for seq in 1..=3 {
        bourse_journal::frame(seq, 0, &Command::EndOfDay, &mut bytes);
    }
    std::fs::write(dir.path().join(format!("wal-{:020}.log", 1)), &bytes).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        JournalTail::new(dir.path(), 1).read(10, &mut out).unwrap(),
        3
    );
}

/// Preallocated segments end in zeros: the newest until it is written full, a finished
/// one until it is cut back. The tail and the head probe read through them, in windows
/// smaller than the zeros, from the start and from any resume point, with the durable
/// mark and without.
#[test]
fn the_tail_reads_on_through_the_zeros_of_preallocated_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), 1).unwrap();
    for u in 1..=100 {
        journal.append(&Command::AddUser {
            user: bourse_core::UserId(u),
        });
    }
    journal.rotate().unwrap();
    for u in 101..=150 {
        journal.append(&Command::AddUser {
            user: bourse_core::UserId(u),
        });
    }
    journal.commit().unwrap();
    drop(journal);
    for segment in bourse_journal::segments(dir.path()).unwrap() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap();
        let len = file.metadata().unwrap().len();
        file.set_len(len + (3 << 20)).unwrap(); // reads as zeros
    }
    let read_all = |from: u64| {
        let mut tail = JournalTail::new(dir.path(), from);
        let mut out = Vec::new();
        while tail.read(100, &mut out).unwrap() > 0 {}
        assert_eq!(tail.read(100, &mut out).unwrap(), 0);
        assert!(tail.damaged().is_none(), "zeros are not damage");
        out.iter().map(|e| e.seq).collect::<Vec<u64>>()
    };
    for with_mark in [true, false] {
        if !with_mark {
            std::fs::remove_file(dir.path().join(bourse_journal::DURABLE_FILE)).unwrap();
        }
        for from in [1, 50, 100, 101, 120, 150, 151] {
            assert_eq!(
                read_all(from),
                (from..=150).collect::<Vec<u64>>(),
                "from {from}, durable mark: {with_mark}"
            );
        }
    }
    assert_eq!(
        bourse_bridge::HeadProbe::default()
            .head(dir.path())
            .unwrap(),
        150
    );
}
