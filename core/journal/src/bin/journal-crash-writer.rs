//! A journal writer for the kill -9 test (`tests/kill9.rs`), not for production use.
//!
//! Recovers from DIR, then appends the rest of the commands stored in INPUT (a file of
//! journal records, seq 1..n) in random-sized group commits, printing `ack <seq>` only
//! after each batch is durable, and every SNAPSHOT_EVERY commands rotating the journal and
//! snapshotting in the background (pruning once the snapshot is durable). Commands count
//! from the newest snapshot on disk, not from this process's start, so a writer killed
//! again and again still snapshots, and a snapshot a kill interrupted is started again.
//!
//! With SEGMENT_BYTES, segments are preallocated to that size (`JournalOptions`).
//!
//! Usage: `journal-crash-writer DIR INPUT SNAPSHOT_EVERY [SEGMENT_BYTES]`

use std::io::Write;
use std::path::PathBuf;

use bourse_core::EngineConfig;
use bourse_journal::{Journal, JournalOptions, Records, Snapshotter, recover};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=5).contains(&args.len()) {
        return Err("usage: journal-crash-writer DIR INPUT SNAPSHOT_EVERY [SEGMENT_BYTES]".into());
    }
    let options = JournalOptions {
        segment_bytes: args.get(4).map_or(Ok(0), |b| b.parse())?,
    };
    let dir = PathBuf::from(&args[1]);
    let input = std::fs::read(&args[2])?;
    let snapshot_every: u64 = args[3].parse()?;
    let mut records = Records::new(&input, 1);
    let all: Vec<_> = records.by_ref().map(|(_, c)| c).collect();
    if let Some(e) = records.error {
        return Err(format!("bad input file: {e}").into());
    }

    let rec = recover(&dir, EngineConfig::default())?;
    let mut engine = rec.engine;
    let mut journal = Journal::open_with(&dir, rec.last_seq + 1, options)?;
    // Batch sizes from a small LCG seeded by where we start: deterministic per restart.
    let mut state = rec
        .last_seq
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = rec.last_seq as usize;
    let mut events = Vec::new();
    let mut last_snapshot = rec.snapshot_seq.unwrap_or(0);
    let mut snapshots = Snapshotter::new(&dir, EngineConfig::default());
    let mut out = std::io::stdout().lock();
    if rec.last_seq - last_snapshot >= snapshot_every {
        // Owed since before the last kill. The segment just opened starts after it, so
        // no rotation is needed for pruning to drop what it covers.
        snapshots.start(rec.last_seq);
        last_snapshot = rec.last_seq;
    }
    while next < all.len() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let batch = (1 + (state >> 58) as usize).min(all.len() - next);
        for cmd in &all[next..next + batch] {
            journal.append(cmd);
        }
        let durable = journal.commit()?;
        for cmd in &all[next..next + batch] {
            events.clear();
            engine.execute(cmd, &mut events);
        }
        next += batch;
        writeln!(out, "ack {durable}")?;
        out.flush()?;
        // Snapshots are written in the background; old segments are pruned only once
        // the snapshot covering them is durable.
        if let Some(done) = snapshots.finished() {
            journal.prune(done?)?;
        }
        if durable - last_snapshot >= snapshot_every && !snapshots.busy() {
            journal.rotate()?;
            snapshots.start(durable);
            last_snapshot = durable;
        }
    }
    if let Some(done) = snapshots.wait() {
        journal.prune(done?)?;
    }
    writeln!(out, "done {}", journal.durable_seq())?;
    Ok(())
}
