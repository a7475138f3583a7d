//! Every reader of the journal, fed from a position far into a large multi-segment
//! journal (snapshots in the middle of segments, segments of megabytes): `state_at`
//! (what the bridge and the background snapshotter start from), `recover_with` (the
//! gateway's restart) and the `Snapshotter` each give exactly the engine's state and
//! commands at that position.

use bourse_core::{Command, Engine};
use bourse_journal::{Journal, Snapshotter, recover_with, state_at, write_snapshot};
use bourse_workload::{Rng, WorkloadConfig, generate};

const COMMANDS: usize = 120_000;

struct Written {
    commands: Vec<Command>,
    /// State hash after each command (index 0: before any).
    hashes: Vec<u64>,
    config: bourse_core::EngineConfig,
}

/// Segments rotated every 45,000 commands; snapshots at `snapshots` (not at rotations).
fn write(dir: &std::path::Path, snapshots: &[u64]) -> Written {
    let w = generate(WorkloadConfig::single_symbol(COMMANDS));
    let config = w.config.engine_config();
    let mut engine = Engine::new(config);
    let mut journal = Journal::open(dir, 1).unwrap();
    let commands: Vec<Command> = w.setup.iter().chain(&w.commands).copied().collect();
    let mut hashes = vec![engine.state().hash()];
    let mut sink = Vec::new();
    for cmd in &commands {
        let seq = journal.append(cmd);
        engine.execute(cmd, &mut sink);
        sink.clear();
        if seq.is_multiple_of(300) {
            journal.commit().unwrap();
        }
        // Hashing the whole state is costly: only where a test looks.
        hashes.push(if seq.is_multiple_of(97) || snapshots.contains(&seq) {
            engine.state().hash()
        } else {
            0
        });
        if snapshots.contains(&seq) {
            journal.commit().unwrap();
            write_snapshot(dir, seq, &engine.state()).unwrap();
        }
        if seq.is_multiple_of(45_000) {
            journal.rotate().unwrap();
        }
    }
    journal.commit().unwrap();
    *hashes.last_mut().unwrap() = engine.state().hash();
    Written {
        commands,
        hashes,
        config,
    }
}

#[test]
fn state_at_and_the_snapshotter_rebuild_any_position_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), &[10_001, 60_013, 100_003]);
    let last = w.commands.len() as u64;
    assert!(bourse_journal::segments(dir.path()).unwrap().len() >= 3);
    let mut rng = Rng::new(7);
    let mut points: Vec<u64> = (0..12).map(|_| (rng.below(last / 97) + 1) * 97).collect();
    points.extend([10_001, 60_013, 100_003, last]);
    for seq in points {
        let engine = state_at(dir.path(), seq, w.config).unwrap();
        assert_eq!(
            engine.state().hash(),
            w.hashes[seq as usize],
            "state at {seq}"
        );
    }
    // The snapshotter starts from the newest snapshot before its position, mid-segment.
    let mut s = Snapshotter::new(dir.path(), w.config);
    assert!(s.start(97 * 1_100));
    assert_eq!(s.wait().unwrap().unwrap(), 97 * 1_100);
    let engine = state_at(dir.path(), 97 * 1_100, w.config).unwrap();
    assert_eq!(engine.state().hash(), w.hashes[97 * 1_100]);
    // Past the end is an error, not a silent shorter state.
    assert!(state_at(dir.path(), last + 1, w.config).is_err());
}

#[test]
fn recovery_from_a_snapshot_in_the_middle_of_a_segment_replays_exactly_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), &[70_007]);
    let last = w.commands.len() as u64;
    let mut replayed = Vec::new();
    let rec = recover_with(dir.path(), w.config, |seq, _| replayed.push(seq)).unwrap();
    assert_eq!(rec.snapshot_seq, Some(70_007));
    assert_eq!(rec.last_seq, last);
    assert_eq!(replayed, (70_008..=last).collect::<Vec<_>>());
    assert_eq!(rec.engine.state().hash(), w.hashes[last as usize]);
}

#[test]
fn recovery_removes_a_snapshot_a_crash_left_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), 1).unwrap();
    journal.append(&Command::AddUser {
        user: bourse_core::UserId(1),
    });
    journal.commit().unwrap();
    drop(journal);
    let left = dir.path().join(format!("snap-{:020}.tmp", 1));
    std::fs::write(&left, b"half a snapshot").unwrap();
    let r = bourse_journal::recover(dir.path(), bourse_core::EngineConfig::default()).unwrap();
    assert_eq!((r.last_seq, r.snapshot_seq), (1, None));
    assert!(!left.exists(), "the leftover is gone");
}
