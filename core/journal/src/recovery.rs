//! Recovery: the newest valid snapshot, then every journal record after it.
//!
//! Snapshots are tried newest first; a damaged one is passed over. Segments are read in
//! order and their records replayed through the engine exactly as the live pipeline ran
//! them. A bad record at the tail of the **newest** segment is a torn write from a crash:
//! the file is cut there (it was never acknowledged). A bad record anywhere else is real
//! corruption of acknowledged history, and recovery refuses with an error.
//!
//! A preallocated segment ends where its zero-filled rest begins (a header of zeros);
//! the newest one is cut back to its records, and anything but zeros after them — a
//! write torn by a crash — counts as a torn tail.

use std::fs::OpenOptions;
use std::path::Path;

use bourse_core::{Engine, EngineConfig, Event};

use crate::record::Records;
use crate::snapshot_file::read_snapshot;
use crate::{JournalError, io_err, numbered_files};

/// What recovery rebuilt.
#[derive(Debug)]
pub struct Recovered {
    /// The engine, in the state after command `last_seq`.
    pub engine: Engine,
    /// The last command applied (0 for an empty journal).
    pub last_seq: u64,
    /// The snapshot it started from, if any.
    pub snapshot_seq: Option<u64>,
    /// Journal records replayed after the snapshot.
    pub replayed: u64,
    /// The journal time of the last record replayed (0 if none was): a writer reopened
    /// after recovery holds its clock at or after it ([`crate::Journal::hold_time_at`]).
    pub last_time_ns: u64,
    /// Bytes of torn tail cut from the newest segment.
    pub truncated_bytes: u64,
    /// Snapshot files passed over because they were damaged (newer than the one used).
    pub damaged_snapshots: Vec<std::path::PathBuf>,
}

/// Rebuilds the engine from `dir` (created if missing), cutting a torn tail.
pub fn recover(dir: &Path, config: EngineConfig) -> Result<Recovered, JournalError> {
    recover_with(dir, config, |_, _| {})
}

/// As [`recover`], calling `on_command(seq, events)` for every replayed command with the
/// events it produced.
pub fn recover_with(
    dir: &Path,
    config: EngineConfig,
    on_command: impl FnMut(u64, &[Event]),
) -> Result<Recovered, JournalError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    rebuild(dir, config, None, on_command)
}

/// Rebuilds the state after command `seq` exactly, reading only: the newest snapshot at
/// or before `seq`, then the journal up to `seq`. Nothing is repaired, and a damaged
/// record before `seq`, or a journal that ends before it, is an error. Records after
/// `seq` are never read, so the segment being appended to can be read safely.
pub fn state_at(dir: &Path, seq: u64, config: EngineConfig) -> Result<Engine, JournalError> {
    let r = rebuild(dir, config, Some(seq), |_, _| {})?;
    if r.last_seq != seq {
        return Err(JournalError::Gap {
            path: dir.to_path_buf(),
            expected: r.last_seq + 1,
            found: seq,
        });
    }
    Ok(r.engine)
}

/// Snapshot plus journal; with `upto`, read-only and stopping after that command,
/// otherwise to the end, cutting a torn tail of the newest segment.
fn rebuild(
    dir: &Path,
    config: EngineConfig,
    upto: Option<u64>,
    mut on_command: impl FnMut(u64, &[Event]),
) -> Result<Recovered, JournalError> {
    let limit = upto.unwrap_or(u64::MAX);
    let mut engine = None;
    let mut base = 0;
    let mut damaged_snapshots = Vec::new();
    for (seq, path) in numbered_files(dir, "snap-", ".bin")?.iter().rev() {
        if *seq > limit {
            continue;
        }
        match read_snapshot(path)? {
            Some((seq, state)) => {
                engine = Some(Engine::from_state(&state, config));
                base = seq;
                break;
            }
            None => damaged_snapshots.push(path.clone()),
        }
    }
    let snapshot_seq = engine.as_ref().map(|_| base);
    if upto.is_none() {
        // A snapshot being written when the writer died: never renamed into place,
        // never read; nothing else would ever remove it.
        for (_, tmp) in numbered_files(dir, "snap-", ".tmp")? {
            std::fs::remove_file(&tmp).map_err(io_err(&tmp))?;
        }
    }
    let mut engine = engine.unwrap_or_else(|| Engine::new(config));
    let segments = numbered_files(dir, "wal-", ".log")?;
    let mut expected = base + 1;
    let mut replayed = 0;
    let mut last_time_ns = 0;
    let mut truncated_bytes = 0;
    let mut events = Vec::new();
    for (i, (first, path)) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if expected > limit {
            break;
        }
        if !last && segments[i + 1].0 <= expected {
            continue; // every record of this segment is in the snapshot
        }
        if *first > expected {
            return Err(JournalError::Gap {
                path: path.clone(),
                expected,
                found: *first,
            });
        }
        let bytes = std::fs::read(path).map_err(io_err(path))?;
        let mut records = Records::new(&bytes, *first);
        while let Some((seq, cmd)) = records.next() {
            if seq < expected {
                continue;
            }
            events.clear();
            engine.execute(&cmd, &mut events);
            on_command(seq, &events);
            expected = seq + 1;
            replayed += 1;
            last_time_ns = records.time_ns();
            if seq == limit {
                break;
            }
        }
        if expected > limit {
            break;
        }
        if let Some(reason) = records.error {
            if !last || upto.is_some() {
                return Err(JournalError::Corrupt {
                    path: path.clone(),
                    offset: records.valid_len() as u64,
                    reason,
                });
            }
            let keep = records.valid_len();
            truncated_bytes = (bytes.len() - keep) as u64;
            cut(path, keep)?;
        } else if last && upto.is_none() && records.at_zero_tail() {
            let keep = records.valid_len();
            if bytes[keep..].iter().any(|&b| b != 0) {
                truncated_bytes = (bytes.len() - keep) as u64;
            }
            cut(path, keep)?;
        }
    }
    if upto.is_none()
        && let Some((_, newest)) = segments.last()
    {
        // A writer killed between a batch's write and its fdatasync left records that
        // are readable (in the page cache) but perhaps not on disk; they were just
        // replayed, and the writer goes on from them: make them durable first.
        std::fs::File::open(newest)
            .and_then(|f| f.sync_data())
            .map_err(io_err(newest))?;
    }
    Ok(Recovered {
        engine,
        last_seq: expected - 1,
        snapshot_seq,
        replayed,
        last_time_ns,
        truncated_bytes,
        damaged_snapshots,
    })
}

/// Cuts the segment at `path` to its first `keep` bytes, durably.
fn cut(path: &Path, keep: usize) -> Result<(), JournalError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    f.set_len(keep as u64).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}
