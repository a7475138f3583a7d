//! # bourse-journal
//!
//! Durability for the engine: a write-ahead journal of commands with group commit, whole
//! state snapshots, and recovery (newest valid snapshot + the journal after it).
//!
//! **Architecture invariant:** a command is acknowledged only after the batch holding it
//! has been written and `fdatasync`ed ([`Journal::commit`]); recovery never reads a torn
//! or corrupt record as a command — it stops at the first bad record of the newest
//! segment and cuts the file there.
//!
//! Files in a journal directory:
//! - `wal-<first seq, 20 digits>.log`: segments of records, each starting at a sequence
//!   number; a new segment is started after each snapshot, and, with preallocated
//!   segments ([`JournalOptions`]), when one is full. The newest may end in zeros: the
//!   preallocated rest not yet written.
//! - `spare-segment.tmp` (`.partial` while being filled): the next preallocated
//!   segment, zero-filled and synced ahead of need.
//! - `snap-<last command seq, 20 digits>.bin`: a snapshot of the state after that command.
//! - `durable.seq`: the last durable command, for readers in other processes
//!   ([`DurableReader`]).

pub mod codec;
mod durable;
mod record;
mod recovery;
mod snapshot_file;
mod snapshotter;
mod spare;
mod writer;

pub use durable::{DURABLE_FILE, DurableReader};
pub use record::{Entry, RECORD_HEADER, RecordError, Records, frame, unwritten};
pub use recovery::{Recovered, recover, recover_with, state_at};
pub use snapshot_file::{read_snapshot, write_snapshot};
pub use snapshotter::Snapshotter;
pub use writer::{Journal, JournalOptions, now_ns};

use std::path::{Path, PathBuf};

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file system said no.
    #[error("journal I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A record in the middle of the journal (not its tail) is damaged: acknowledged
    /// history would be lost by skipping it, so recovery refuses.
    #[error("corrupt record in {path} at byte {offset}: {reason}")]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        reason: RecordError,
    },
    /// Segments do not follow each other (a gap in sequence numbers).
    #[error("journal gap: expected seq {expected}, segment {path} starts at {found}")]
    Gap {
        /// The segment.
        path: PathBuf,
        /// The next sequence number recovery needed.
        expected: u64,
        /// The first one it found.
        found: u64,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("wal-{first_seq:020}.log")
}

pub(crate) fn snapshot_name(seq: u64) -> String {
    format!("snap-{seq:020}.bin")
}

/// Files in `dir` named `prefix<20 digits>suffix`, with their numbers, ascending.
pub(crate) fn numbered_files(
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(num) = name
            .strip_prefix(prefix)
            .and_then(|n| n.strip_suffix(suffix))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push((num, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The lowest position any reader of `dir` has recorded (`reader-<name>.seq` files,
/// each starting with the last command sequence number that reader has finished);
/// `u64::MAX` without readers. An unreadable file counts as 0: keep everything.
pub(crate) fn reader_floor(dir: &Path) -> Result<u64, JournalError> {
    let mut floor = u64::MAX;
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(READER_PREFIX) && name.ends_with(READER_SUFFIX) {
            let seq = std::fs::read_to_string(entry.path())
                .ok()
                .and_then(|t| t.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            floor = floor.min(seq);
        }
    }
    Ok(floor)
}

/// Readers' position files are named `reader-<name>.seq`.
pub const READER_PREFIX: &str = "reader-";
/// See [`READER_PREFIX`].
pub const READER_SUFFIX: &str = ".seq";

/// The first command sequence number of a segment, from its file name.
pub fn segment_first_seq(path: &Path) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// The segment files of a journal directory, oldest first.
pub fn segments(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    Ok(numbered_files(dir, "wal-", ".log")?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

/// `fsync`s a directory so that file creations and renames in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}
