//! Pruning after snapshots, and readers holding it back.

use bourse_core::{Command, Engine, EngineConfig, UserId};
use bourse_journal::{Journal, segments, state_at, write_snapshot};

/// Three segments of 100 commands with a snapshot at each rotation (100, 200, 300).
fn journal_with_snapshots(dir: &std::path::Path) -> Journal {
    let mut engine = Engine::new(EngineConfig::default());
    let mut journal = Journal::open(dir, 1).unwrap();
    let mut sink = Vec::new();
    for round in 0..3u64 {
        for i in 0..100u64 {
            let cmd = Command::AddUser {
                user: UserId(round * 100 + i + 1),
            };
            journal.append(&cmd);
            engine.execute(&cmd, &mut sink);
        }
        let seq = journal.commit().unwrap();
        journal.rotate().unwrap();
        write_snapshot(dir, seq, &engine.state()).unwrap();
    }
    journal
}

#[test]
fn pruning_keeps_what_the_slowest_reader_needs() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_with_snapshots(dir.path());
    let before = segments(dir.path()).unwrap().len();
    assert_eq!(before, 4, "three full segments and the open one");

    // A reader that has finished command 50 needs the journal from the start.
    std::fs::write(dir.path().join("reader-bridge.seq"), "50 123\n").unwrap();
    journal.prune(300).unwrap();
    assert_eq!(segments(dir.path()).unwrap().len(), before);
    assert!(state_at(dir.path(), 50, EngineConfig::default()).is_ok());

    // Once it has finished 250, the snapshot at 200 and what follows it suffice.
    std::fs::write(dir.path().join("reader-bridge.seq"), "250 999\n").unwrap();
    journal.prune(300).unwrap();
    let left = segments(dir.path()).unwrap();
    assert!(left.len() < before, "old segments went: {left:?}");
    let engine = state_at(dir.path(), 250, EngineConfig::default()).unwrap();
    assert_eq!(engine.seq().0, 250, "one event per add_user");

    // Without readers, the newest snapshot decides.
    std::fs::remove_file(dir.path().join("reader-bridge.seq")).unwrap();
    journal.prune(300).unwrap();
    assert!(segments(dir.path()).unwrap().len() <= left.len());
    assert!(state_at(dir.path(), 300, EngineConfig::default()).is_ok());
}
