//! Following the journal as the gateway appends to it.
//!
//! # Cursor
//! [`JournalTail`] keeps a cursor: the segment it reads, the byte offset of the next
//! record in it, and the sequence number that record must carry. Every read starts at
//! the cursor and moves it past whatever whole records it read, so resuming from a
//! checkpoint anywhere in any segment reads the skipped part once, in large windows,
//! and never again (the cursor and the records always agree on the sequence number).
//!
//! # What stops a read
//! - The end of what is written (the end of the file, or the zero-filled rest of a
//!   preallocated segment), or a record still being written: wait, read it later.
//! - The end of a segment that has a successor: go on to it if it starts exactly at the
//!   next command, else [`BridgeError::Gap`].
//! - A damaged record (bad checksum, length or payload) in a segment that has a
//!   successor, or a record with the wrong sequence number anywhere: acknowledged history
//!   is unreadable, [`JournalError::Corrupt`]. A damaged record at the tail of the newest
//!   segment is what a crashed writer leaves for its recovery to cut, so the tail waits
//!   there ([`JournalTail::damaged`] says so) — unless the file grows past it while it
//!   stays damaged, which only corruption does.
//! - The segment being gone (pruned) or no segment holding the next command: a gap.
//!
//! None of these is silent: an error ends the bridge, which exits non-zero.
//!
//! # Cost
//! One directory listing per [`JournalTail::read`] call plus one per segment change;
//! one `open`, `seek` and `read` per window. The buffer is reused.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bourse_journal::codec::MAX_COMMAND_LEN;
use bourse_journal::{Entry, JournalError, RECORD_HEADER, RecordError, Records, segment_first_seq};

use crate::BridgeError;

/// Bytes read at once while skipping to the resume point.
const SKIP_WINDOW: u64 = 1 << 20;

/// Bytes the head probe reads at once: hundreds of records, and small enough that a
/// probe past the end of what is written (a preallocated segment's zeros) reads little.
const PROBE_WINDOW: usize = 64 << 10;

/// Where the next record is.
#[derive(Clone, Debug)]
struct Cursor {
    path: PathBuf,
    /// The segment's first sequence number.
    first: u64,
    /// Byte offset of the next record in the segment.
    offset: u64,
    /// The sequence number the record at `offset` carries.
    seq: u64,
}

impl Cursor {
    fn at_start(first: u64, path: PathBuf) -> Cursor {
        Cursor {
            path,
            first,
            offset: 0,
            seq: first,
        }
    }
}

/// How reading a segment stopped.
enum Stop {
    /// `max` commands were read.
    Full,
    /// At the end of what is written; `torn`: a partial record follows.
    End { torn: bool },
    /// A damaged record at the cursor; the file's length then.
    Damaged { reason: RecordError, file_len: u64 },
    /// The file is gone.
    Missing,
}

/// A damaged record the tail is waiting at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damaged {
    /// The segment.
    pub path: PathBuf,
    /// Where the record starts.
    pub offset: u64,
    /// What is wrong with it.
    pub reason: RecordError,
    /// The file's length when it was first seen.
    file_len: u64,
}

/// Reads committed commands in sequence order from a journal directory that another
/// process is writing: whole, checksummed records only; a record still being written
/// is read on a later call.
#[derive(Debug)]
pub struct JournalTail {
    dir: PathBuf,
    next_seq: u64,
    cursor: Option<Cursor>,
    buf: Vec<u8>,
    damaged: Option<Damaged>,
    durable: bourse_journal::DurableReader,
}

impl JournalTail {
    /// A tail that will return commands from `next_seq` on.
    pub fn new(dir: &Path, next_seq: u64) -> Self {
        JournalTail {
            dir: dir.to_path_buf(),
            next_seq,
            cursor: None,
            buf: Vec::new(),
            damaged: None,
            durable: bourse_journal::DurableReader::default(),
        }
    }

    /// The sequence number of the next command to be returned.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The damaged record at the tail of the newest segment the tail is waiting at, if
    /// it is waiting at one.
    pub fn damaged(&self) -> Option<&Damaged> {
        self.damaged.as_ref()
    }

    /// Appends up to `max` new commands to `out`; returns how many (0: nothing new yet).
    /// Only commands the writer has made durable are read (the journal's durable mark),
    /// so nothing is published that a machine crash could still take back.
    pub fn read(&mut self, max: usize, out: &mut Vec<Entry>) -> Result<usize, BridgeError> {
        let max = match self.durable.read(&self.dir) {
            Some(durable) => {
                let allowed = durable.saturating_sub(self.next_seq.saturating_sub(1));
                max.min(usize::try_from(allowed).unwrap_or(usize::MAX))
            }
            None => max,
        };
        if max == 0 {
            return Ok(0);
        }
        let mut total = 0;
        loop {
            let segments = segments(&self.dir)?;
            let cursor = match self.cursor.take() {
                Some(c) => c,
                None => {
                    // The newest segment that starts at or before the next command.
                    match segments.iter().rev().find(|(f, _)| *f <= self.next_seq) {
                        Some((first, path)) => Cursor::at_start(*first, path.clone()),
                        None => match segments.first() {
                            None => return Ok(total), // nothing written yet
                            Some((found, _)) => {
                                return Err(BridgeError::Gap {
                                    expected: self.next_seq,
                                    found: *found,
                                });
                            }
                        },
                    }
                }
            };
            // Listed before reading: a successor means this segment was finished.
            let successor = segments.into_iter().find(|(f, _)| *f > cursor.first);
            let path = cursor.path.clone();
            self.cursor = Some(cursor);
            let (n, stop) = self.read_segment(max - total, out)?;
            total += n;
            if !matches!(stop, Stop::Damaged { .. }) {
                self.damaged = None;
            }
            match (stop, successor) {
                (Stop::Full, _) | (Stop::End { .. }, None) => return Ok(total),
                (Stop::End { torn: true }, Some(_)) => {
                    // Recovery cuts a torn tail before the writer starts a new segment.
                    return Err(corrupt(&path, self.offset(), RecordError::Truncated));
                }
                (Stop::End { torn: false }, Some((first, next))) => {
                    self.next_segment(first, next)?
                }
                (Stop::Missing, Some((first, next))) => self.next_segment(first, next)?,
                (Stop::Missing, None) => {
                    return Err(BridgeError::Io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "journal segment {} removed while command {} was still due",
                            path.display(),
                            self.next_seq
                        ),
                    )));
                }
                (Stop::Damaged { reason, .. }, Some(_)) => {
                    return Err(corrupt(&path, self.offset(), reason));
                }
                (Stop::Damaged { reason, file_len }, None) => {
                    let offset = self.offset();
                    if matches!(reason, RecordError::BadSeq { .. }) {
                        // Checksummed, so really written so: no recovery cuts it.
                        return Err(corrupt(&path, offset, reason));
                    }
                    match &self.damaged {
                        Some(d) if d.offset == offset && d.path == path => {
                            if file_len > d.file_len {
                                // The writer appends behind it: not a torn tail.
                                return Err(corrupt(&path, offset, reason));
                            }
                        }
                        _ => {
                            self.damaged = Some(Damaged {
                                path,
                                offset,
                                reason,
                                file_len,
                            })
                        }
                    }
                    return Ok(total);
                }
            }
        }
    }

    fn offset(&self) -> u64 {
        self.cursor.as_ref().map_or(0, |c| c.offset)
    }

    /// Moves to the segment after the current one, which must start at the next command.
    fn next_segment(&mut self, first: u64, path: PathBuf) -> Result<(), BridgeError> {
        if first != self.next_seq {
            return Err(BridgeError::Gap {
                expected: self.next_seq,
                found: first,
            });
        }
        self.cursor = Some(Cursor::at_start(first, path));
        Ok(())
    }

    /// Reads the cursor's segment from the cursor on, in windows, until `max` commands
    /// were returned or the written part ends; returns how many, and why it stopped.
    fn read_segment(
        &mut self,
        max: usize,
        out: &mut Vec<Entry>,
    ) -> Result<(usize, Stop), BridgeError> {
        let Some(cursor) = self.cursor.as_mut() else {
            return Ok((0, Stop::Missing));
        };
        let mut file = match std::fs::File::open(&cursor.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Stop::Missing)),
            Err(e) => return Err(BridgeError::Io(e)),
        };
        let mut n = 0;
        loop {
            // Skipping to the resume point: big windows. Reading for the caller: at
            // most what the rest of `max` can take, so a bridge far behind does not read
            // a whole large segment to use a batch of it.
            let window = if cursor.seq < self.next_seq {
                SKIP_WINDOW
            } else {
                ((max - n) * (RECORD_HEADER + MAX_COMMAND_LEN)) as u64
            };
            file.seek(SeekFrom::Start(cursor.offset))?;
            self.buf.clear();
            (&mut file).take(window).read_to_end(&mut self.buf)?;
            let full = self.buf.len() as u64 == window;
            let mut records = Records::new(&self.buf, cursor.seq);
            while let Some((seq, cmd)) = records.next() {
                if seq >= self.next_seq {
                    out.push(records.entry(seq, cmd));
                    self.next_seq = seq + 1;
                    n += 1;
                    if n == max {
                        break;
                    }
                }
            }
            cursor.offset += records.valid_len() as u64;
            cursor.seq = records.next_seq();
            let stop = match records.error {
                _ if n == max => Stop::Full,
                // The zero-filled rest of a preallocated segment: what is written ends.
                None if records.at_zero_tail() => Stop::End { torn: false },
                // A window boundary: carry on from the cursor.
                None | Some(RecordError::Truncated) if full => {
                    debug_assert!(records.valid_len() > 0, "a window holds a whole record");
                    continue;
                }
                None => Stop::End { torn: false },
                Some(RecordError::Truncated) => Stop::End { torn: true },
                Some(reason) => Stop::Damaged {
                    reason,
                    file_len: file.metadata()?.len(),
                },
            };
            return Ok((n, stop));
        }
    }
}

fn corrupt(path: &Path, offset: u64, reason: RecordError) -> BridgeError {
    BridgeError::Journal(JournalError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    })
}

/// Segments by first sequence number.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, BridgeError> {
    Ok(bourse_journal::segments(dir)?
        .into_iter()
        .filter_map(|p| Some((segment_first_seq(&p)?, p)))
        .collect())
}

/// Finds the journal's head — the last whole record written — by reading only record
/// headers, from where it looked last time: each byte of the journal is looked at once.
/// It tells how far behind a reader is. Its buffer is made once, with the probe: a
/// running probe allocates nothing.
pub struct HeadProbe {
    /// The newest segment, where its whole records end, and the last seq seen.
    at: Option<(PathBuf, u64, u64)>,
    buf: Box<[u8]>,
}

impl Default for HeadProbe {
    fn default() -> Self {
        HeadProbe {
            at: None,
            buf: vec![0; PROBE_WINDOW].into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for HeadProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadProbe").field("at", &self.at).finish()
    }
}

impl HeadProbe {
    /// The sequence number of the last whole record in the journal (0: none yet).
    pub fn head(&mut self, dir: &Path) -> Result<u64, BridgeError> {
        let Some((first, newest)) = segments(dir)?.pop() else {
            return Ok(0);
        };
        let (path, mut offset, mut last) = match self.at.take() {
            Some(at) if at.0 == newest => at,
            _ => (newest, 0, first - 1),
        };
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(last),
            Err(e) => return Err(BridgeError::Io(e)),
        };
        loop {
            file.seek(SeekFrom::Start(offset))?;
            let read = fill(&mut file, &mut self.buf)?;
            let buf = &self.buf[..read];
            let mut pos = 0;
            let mut zeros = false;
            while let Some(header) = buf.get(pos..pos + RECORD_HEADER) {
                let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
                let end = pos + RECORD_HEADER + len as usize;
                if len == 0 || len as usize > MAX_COMMAND_LEN || end > buf.len() {
                    zeros = bourse_journal::unwritten(header);
                    break;
                }
                let mut seq = [0u8; 8];
                seq.copy_from_slice(&header[8..16]);
                last = u64::from_le_bytes(seq);
                pos = end;
            }
            offset += pos as u64;
            if read < PROBE_WINDOW || pos == 0 || zeros {
                break;
            }
        }
        self.at = Some((path, offset, last));
        Ok(last)
    }
}

/// Reads into all of `buf` unless the file ends first; how much it read.
fn fill(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records `first..first + n` of `len`-byte commands, as the journal writes them.
    fn records(first: u64, n: u64, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in first..first + n {
            let mut header = [0u8; RECORD_HEADER];
            header[0..4].copy_from_slice(&(len as u32).to_le_bytes());
            header[8..16].copy_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&header);
            out.extend(std::iter::repeat_n(7u8, len));
        }
        out
    }

    #[test]
    fn the_probe_walks_many_windows_and_stops_at_the_zeros_of_a_preallocated_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("wal-{:020}.log", 1));
        // Several probe windows of records, a record straddling each window's end,
        // then a preallocated segment's zeros.
        let n = 3 * PROBE_WINDOW as u64 / 60 + 17;
        let mut bytes = records(1, n, 36);
        bytes.resize(bytes.len() + 3 * PROBE_WINDOW, 0);
        std::fs::write(&path, &bytes).unwrap();
        let mut probe = HeadProbe::default();
        assert_eq!(probe.head(dir.path()).unwrap(), n);
        // More records written over the zeros: found from where the probe stopped.
        let more = records(n + 1, 5, 36);
        let at = n as usize * 60;
        bytes[at..at + more.len()].copy_from_slice(&more);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(probe.head(dir.path()).unwrap(), n + 5);
    }
}
