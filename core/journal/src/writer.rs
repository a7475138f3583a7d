//! The appending side: buffer records, then write and `fdatasync` a whole batch at once.
//!
//! # Group commit
//! [`Journal::append`] only frames the command into an in-memory buffer (no syscall);
//! [`Journal::commit`] writes the buffer with one `write` and makes it durable with one
//! `fdatasync`. The pipeline appends every command of a ring batch, commits once, and
//! only then lets the batch be acknowledged, so the cost of the sync is shared by the
//! whole batch.
//!
//! # Preallocated segments
//! Opened with [`JournalOptions::segment_bytes`], the journal writes into segments that
//! were zero-filled and synced before it needed them (by a background thread:
//! `spare.rs`), so a commit's `fdatasync` flushes data and no file size. A batch that
//! would not fit in what is left of the segment starts the next one (named by its first
//! record's sequence number, as every segment is) — if a spare is ready; if not, it is
//! written past the end of the current segment, which then grows as an ordinary file
//! does, and the next batch tries again. Readers end a segment cleanly at its zero-filled
//! rest ([`Records::at_zero_tail`](crate::Records::at_zero_tail)).
//!
//! # Time
//! Every record carries the journal's time. The clock is read once per batch (when the
//! first command of a batch is appended) and held back to the last time written, so
//! times never go backwards across batches, segments or restarts of the writer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bourse_core::Command;

use crate::durable::DurableMark;
use crate::record::{RECORD_HEADER, frame};
use crate::spare::Spares;
use crate::{JournalError, io_err, numbered_files, segment_name, snapshot_name, sync_dir};

/// How a [`Journal`] lays out its segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalOptions {
    /// Preallocate each segment to this many bytes, zero-filled and synced before the
    /// journal writes into it, so that group commits sync data only; a new segment is
    /// started when one is full. 0 (the default): segments grow with every write.
    pub segment_bytes: u64,
}

/// An open journal, appending to its newest segment.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    next_seq: u64,
    durable_seq: u64,
    time_ns: u64,
    mark: DurableMark,
    /// Bytes written to the current segment.
    written: u64,
    /// Bytes a batch may fill in the current segment without growing it (0: it was not
    /// preallocated). A header's worth of zeros always stays at the end, so that a
    /// reader knows the written part ended.
    room: u64,
    spares: Option<Spares>,
}

/// Now, in nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Journal {
    /// Starts a new segment in `dir` whose first record will carry `next_seq` (one past
    /// what [`recover`](crate::recover) returned), growing with every write. Records
    /// before it stay where they are.
    pub fn open(dir: &Path, next_seq: u64) -> Result<Journal, JournalError> {
        Journal::open_with(dir, next_seq, JournalOptions::default())
    }

    /// As [`open`](Self::open), with segments laid out as `options` says.
    pub fn open_with(
        dir: &Path,
        next_seq: u64,
        options: JournalOptions,
    ) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let spares = match options.segment_bytes {
            0 => None,
            bytes => Some(Spares::start(dir, bytes)?),
        };
        let path = dir.join(segment_name(next_seq));
        let (file, room) = match spare_segment(&path, spares.as_ref())? {
            Some(spare) => spare,
            None => growing_segment(&path)?,
        };
        if let Some(spares) = &spares
            && room > 0
        {
            spares.refill();
        }
        let mark = DurableMark::open(dir)?;
        sync_dir(dir)?;
        // Everything before `next_seq` is durable (recovered, or committed before a
        // rotation).
        mark.set(next_seq - 1)
            .map_err(io_err(&dir.join(crate::DURABLE_FILE)))?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            path,
            file,
            buf: Vec::with_capacity(1 << 20),
            next_seq,
            durable_seq: next_seq - 1,
            time_ns: 0,
            mark,
            written: 0,
            room,
            spares,
        })
    }

    /// Frames `cmd` into the pending batch and returns its sequence number. Not durable
    /// until [`commit`](Self::commit) returns.
    #[inline]
    pub fn append(&mut self, cmd: &Command) -> u64 {
        if self.buf.is_empty() {
            self.time_ns = self.time_ns.max(now_ns());
        }
        let seq = self.next_seq;
        frame(seq, self.time_ns, cmd, &mut self.buf);
        self.next_seq += 1;
        seq
    }

    /// Writes the pending batch and syncs it; returns the last durable sequence number.
    pub fn commit(&mut self) -> Result<u64, JournalError> {
        if !self.buf.is_empty() {
            if self.spares.is_some() && self.written + self.buf.len() as u64 > self.room {
                self.next_segment(false)?;
            }
            self.file.write_all(&self.buf).map_err(io_err(&self.path))?;
            self.file.sync_data().map_err(io_err(&self.path))?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
            self.durable_seq = self.next_seq - 1;
            self.mark
                .set(self.durable_seq)
                .map_err(io_err(&self.dir.join(crate::DURABLE_FILE)))?;
        }
        Ok(self.durable_seq)
    }

    /// The time the last appended command was stamped with (nanoseconds since the Unix
    /// epoch; 0 before the first).
    pub fn time_ns(&self) -> u64 {
        self.time_ns
    }

    /// Holds the journal's clock at or after `time_ns` (the last time a recovered
    /// journal wrote), so that a writer restarted on a machine whose clock stepped back
    /// still writes times that never go backwards.
    pub fn hold_time_at(&mut self, time_ns: u64) {
        self.time_ns = self.time_ns.max(time_ns);
    }

    /// Whether the last commit was written into the preallocated zeros of its segment
    /// (its sync flushed data only), rather than growing the file.
    pub fn preallocated(&self) -> bool {
        self.room > 0 && self.written <= self.room
    }

    /// Whether a preallocated segment is ready to be started.
    #[cfg(test)]
    fn spare_ready(&self) -> bool {
        self.spares.as_ref().is_some_and(Spares::ready)
    }

    /// The last sequence number that is durable.
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq
    }

    /// The sequence number the next appended command will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Commits, then starts a new segment: call right after the command a snapshot will
    /// cover, so that [`prune`](Self::prune) can later drop whole old segments.
    pub fn rotate(&mut self) -> Result<(), JournalError> {
        self.commit()?;
        if self.written == 0 {
            return Ok(()); // the current segment starts at the next command already
        }
        self.next_segment(true)
    }

    /// Starts the segment whose first record is the next to be committed: in a ready
    /// spare, or, with `always`, in a new growing file when none is ready (without,
    /// nothing changes). A finished preallocated segment is cut back to what was written,
    /// in the background.
    fn next_segment(&mut self, always: bool) -> Result<(), JournalError> {
        let path = self.dir.join(segment_name(self.durable_seq + 1));
        let (file, room) = match spare_segment(&path, self.spares.as_ref())? {
            Some(spare) => spare,
            None if always => growing_segment(&path)?,
            None => return Ok(()),
        };
        // The new name must be durable before anything acknowledged is written there.
        sync_dir(&self.dir)?;
        let old = std::mem::replace(&mut self.file, file);
        if let Some(spares) = &self.spares {
            if self.room > 0 {
                spares.trim(old, self.written);
            }
            if room > 0 {
                spares.refill();
            }
        }
        self.path = path;
        self.written = 0;
        self.room = room;
        Ok(())
    }

    /// Deletes what a durable snapshot at `snapshot_seq` makes unnecessary: older
    /// snapshots but one, and segments whose records are all at or below the older kept
    /// snapshot.
    ///
    /// Readers of the journal (the broker bridge) hold it back: a file
    /// `reader-<name>.seq` whose first number is the last command a reader has
    /// finished keeps every snapshot and segment it still needs to resume.
    pub fn prune(&self, snapshot_seq: u64) -> Result<(), JournalError> {
        let snapshot_seq = snapshot_seq.min(crate::reader_floor(&self.dir)?);
        let snaps = numbered_files(&self.dir, "snap-", ".bin")?;
        let kept: Vec<u64> = snaps
            .iter()
            .map(|(s, _)| *s)
            .filter(|&s| s <= snapshot_seq)
            .rev()
            .take(2)
            .collect();
        let Some(&oldest_kept) = kept.last() else {
            return Ok(());
        };
        for (s, path) in &snaps {
            if *s < oldest_kept {
                std::fs::remove_file(path).map_err(io_err(path))?;
            }
        }
        let segs = numbered_files(&self.dir, "wal-", ".log")?;
        for pair in segs.windows(2) {
            // A segment ends where the next begins.
            if pair[1].0 <= oldest_kept + 1 {
                std::fs::remove_file(&pair[0].1).map_err(io_err(&pair[0].1))?;
            }
        }
        debug_assert!(self.dir.join(snapshot_name(oldest_kept)).exists());
        sync_dir(&self.dir)
    }
}

/// The ready spare moved to `path`, open for writing, and the room it has; `None` when
/// there are no spares or none is ready.
fn spare_segment(
    path: &Path,
    spares: Option<&Spares>,
) -> Result<Option<(File, u64)>, JournalError> {
    let Some(spares) = spares else {
        return Ok(None);
    };
    if !spares.take(path)? {
        return Ok(None);
    }
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    Ok(Some((file, spares.bytes() - RECORD_HEADER as u64)))
}

/// A new empty segment file at `path` (replacing one there), which grows as written.
fn growing_segment(path: &Path) -> Result<(File, u64), JournalError> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(io_err(path))?;
    Ok((file, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Records;
    use bourse_core::UserId;

    fn times(dir: &Path) -> Vec<u64> {
        let mut out = Vec::new();
        for path in crate::segments(dir).unwrap() {
            let bytes = std::fs::read(path).unwrap();
            let mut records = Records::from_start(&bytes);
            while records.next().is_some() {
                out.push(records.time_ns());
            }
            assert_eq!(records.error, None);
        }
        out
    }

    fn wait_for_spare(j: &Journal) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !j.spare_ready() {
            assert!(
                std::time::Instant::now() < deadline,
                "no spare segment made"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn preallocated_segments_are_filled_in_turn_and_cut_back_when_left() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            segment_bytes: 4096,
        };
        let mut j = Journal::open_with(dir.path(), 1, options).unwrap();
        let mut n = 0;
        while crate::segments(dir.path()).unwrap().len() < 4 {
            wait_for_spare(&j);
            for _ in 0..7 {
                n += 1;
                j.append(&Command::AddUser { user: UserId(n) });
            }
            j.commit().unwrap();
            assert!(j.preallocated(), "batch {n} grew its segment");
        }
        let segments = crate::segments(dir.path()).unwrap();
        // The newest: the spare's full size, its records, then zeros.
        let newest = std::fs::read(segments.last().unwrap()).unwrap();
        assert_eq!(newest.len(), 4096);
        let mut records = Records::from_start(&newest);
        assert!(records.by_ref().count() > 0);
        assert!(records.at_zero_tail() && records.error.is_none());
        assert!(newest[records.valid_len()..].iter().all(|&b| b == 0));
        drop(j); // waits for the background work
        // Each segment left behind was cut to exactly its records, and they follow on.
        let mut expected = 1;
        for path in &segments[..segments.len() - 1] {
            let bytes = std::fs::read(path).unwrap();
            assert_eq!(crate::segment_first_seq(path), Some(expected));
            let mut records = Records::new(&bytes, expected);
            expected += records.by_ref().count() as u64;
            assert_eq!(records.error, None);
            assert!(!records.at_zero_tail(), "{} not cut back", path.display());
            assert!(bytes.len() <= 4096 - RECORD_HEADER);
        }
        assert_eq!(
            crate::segment_first_seq(segments.last().unwrap()),
            Some(expected)
        );
        let rec = crate::recover(dir.path(), Default::default()).unwrap();
        assert_eq!((rec.last_seq, rec.truncated_bytes), (n, 0));
        assert_eq!(
            std::fs::metadata(segments.last().unwrap()).unwrap().len(),
            records.valid_len() as u64,
            "recovery cuts the zeros off the newest segment"
        );
    }

    #[test]
    fn a_spare_left_by_the_last_process_is_used_at_once_and_a_half_made_one_removed() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            segment_bytes: 8192,
        };
        let mut j = Journal::open_with(dir.path(), 1, options).unwrap();
        wait_for_spare(&j);
        j.append(&Command::EndOfDay);
        j.commit().unwrap();
        drop(j); // its next spare is made (or stopped half-way) and left behind
        let spare = dir.path().join(crate::spare::SPARE_FILE);
        let partial = dir.path().join("spare-segment.partial");
        std::fs::write(&partial, b"a fill a crash cut short").unwrap();
        if !spare.exists() {
            std::fs::write(&spare, vec![0u8; 8192]).unwrap();
        }
        let mut j = Journal::open_with(dir.path(), 2, options).unwrap();
        // Gone, or a new fill of zeros under way: never the old half-made one.
        assert!(std::fs::read(&partial).map_or(true, |b| b.iter().all(|&x| x == 0)));
        j.append(&Command::EndOfDay);
        j.commit().unwrap();
        assert!(
            j.preallocated(),
            "the left spare is the first segment, no wait"
        );
        let segment = dir.path().join(segment_name(2));
        assert_eq!(std::fs::metadata(&segment).unwrap().len(), 8192);
        drop(j);
        let rec = crate::recover(dir.path(), Default::default()).unwrap();
        assert_eq!((rec.last_seq, rec.truncated_bytes), (2, 0));
    }

    #[test]
    fn every_record_carries_the_time_of_its_batch_and_time_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let before = now_ns();
        let mut j = Journal::open(dir.path(), 1).unwrap();
        for u in 1..=3 {
            j.append(&Command::AddUser { user: UserId(u) });
        }
        j.commit().unwrap();
        assert!(!j.preallocated(), "a growing segment");
        std::thread::sleep(std::time::Duration::from_millis(2));
        j.append(&Command::EndOfDay);
        j.rotate().unwrap();
        // A clock that stepped back (here: a recovered journal from the future).
        let future = now_ns() + 3_600_000_000_000;
        j.hold_time_at(future);
        j.append(&Command::EndOfDay);
        j.commit().unwrap();
        let after = now_ns();
        let t = times(dir.path());
        assert_eq!(t.len(), 5);
        assert!(
            t[0] >= before && t[3] <= after,
            "{t:?} outside {before}..{after}"
        );
        assert_eq!(t[0], t[1], "one batch, one time");
        assert_eq!(t[1], t[2]);
        assert!(
            t[3] >= t[2] + 2_000_000,
            "a later batch, a later time: {t:?}"
        );
        assert_eq!(t[4], future, "held at the recovered time");
        assert_eq!(
            crate::recover(dir.path(), Default::default())
                .unwrap()
                .last_time_ns,
            future
        );
    }
}
