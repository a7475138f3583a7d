//! The durable mark: the last command sequence number the writer has made durable,
//! kept in the file `durable.seq` beside the segments (8 bytes, little-endian) so that
//! a reader in another process (the broker bridge) reads only what is durable. A
//! record is in the segment's file, and visible to readers, from the writer's `write`
//! on; it is durable only once the `fdatasync` after it returned, and a machine crash
//! in between would lose it after a reader had published it.
//!
//! The writer updates the mark after every commit with one `pwrite` (no sync: a mark
//! lost in a crash reads lower than the truth, never higher, and the writer's restart
//! writes it again). The file is created, and its creation made durable, when the
//! writer opens a segment.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::{JournalError, io_err};

/// The mark's file name in a journal directory.
pub const DURABLE_FILE: &str = "durable.seq";

/// The writer's side of the mark.
#[derive(Debug)]
pub(crate) struct DurableMark {
    file: File,
}

impl DurableMark {
    /// Opens (or creates) the mark of `dir`; the caller syncs the directory.
    pub(crate) fn open(dir: &Path) -> Result<DurableMark, JournalError> {
        let path = dir.join(DURABLE_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(DurableMark { file })
    }

    /// Records that every command up to `seq` is durable.
    pub(crate) fn set(&self, seq: u64) -> std::io::Result<()> {
        self.file.write_all_at(&seq.to_le_bytes(), 0)
    }
}

/// A reader's side of the mark.
#[derive(Debug, Default)]
pub struct DurableReader {
    file: Option<File>,
}

impl DurableReader {
    /// The last durable command of the journal in `dir`: `None` when the directory
    /// has no mark (a journal from a writer that kept none: every record written counts
    /// as durable), 0 while the mark is empty.
    pub fn read(&mut self, dir: &Path) -> Option<u64> {
        if self.file.is_none() {
            self.file = File::open(dir.join(DURABLE_FILE)).ok();
        }
        let file = self.file.as_ref()?;
        let mut bytes = [0u8; 8];
        match file.read_exact_at(&mut bytes, 0) {
            Ok(()) => Some(u64::from_le_bytes(bytes)),
            Err(_) => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Journal;
    use bourse_core::{Command, UserId};

    #[test]
    fn the_mark_follows_each_commit_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut reader = DurableReader::default();
        assert_eq!(reader.read(dir.path()), None, "no journal, no mark");
        let mut j = Journal::open(dir.path(), 1).unwrap();
        assert_eq!(reader.read(dir.path()), Some(0));
        j.append(&Command::AddUser { user: UserId(1) });
        j.append(&Command::AddUser { user: UserId(2) });
        assert_eq!(reader.read(dir.path()), Some(0), "appended is not durable");
        j.commit().unwrap();
        assert_eq!(reader.read(dir.path()), Some(2));
        j.append(&Command::AddUser { user: UserId(3) });
        j.rotate().unwrap();
        assert_eq!(reader.read(dir.path()), Some(3));
        drop(j);
        let j = Journal::open(dir.path(), 4).unwrap();
        assert_eq!(j.durable_seq(), 3);
        assert_eq!(DurableReader::default().read(dir.path()), Some(3));
    }
}
