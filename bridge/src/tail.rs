//! Following the journal as the gateway appends to it.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bourse_core::Command;
use bourse_journal::{Records, segment_first_seq, segments};

use crate::BridgeError;

/// Reads committed commands in sequence order from a journal directory that another
/// process is writing: whole, checksummed records only; a record still being written
/// is read on a later call.
#[derive(Debug)]
pub struct JournalTail {
    dir: PathBuf,
    next_seq: u64,
    /// The segment being read, its first sequence number, and how far it was read.
    segment: Option<(PathBuf, u64, u64)>,
    buf: Vec<u8>,
}

impl JournalTail {
    /// A tail that will return commands from `next_seq` on.
    pub fn new(dir: &Path, next_seq: u64) -> Self {
        JournalTail {
            dir: dir.to_path_buf(),
            next_seq,
            segment: None,
            buf: Vec::new(),
        }
    }

    /// The sequence number of the next command to be returned.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Segments by first sequence number.
    fn segments(&self) -> Result<Vec<(u64, PathBuf)>, BridgeError> {
        Ok(segments(&self.dir)?
            .into_iter()
            .filter_map(|p| Some((segment_first_seq(&p)?, p)))
            .collect())
    }

    /// Appends up to `max` new commands to `out`; returns how many (0: nothing new yet).
    pub fn read(
        &mut self,
        max: usize,
        out: &mut Vec<(u64, Command)>,
    ) -> Result<usize, BridgeError> {
        let mut total = 0;
        loop {
            if self.segment.is_none() {
                // The newest segment that starts at or before the next command.
                let Some((first, path)) = self
                    .segments()?
                    .into_iter()
                    .rev()
                    .find(|(first, _)| *first <= self.next_seq)
                else {
                    return Ok(total); // nothing written yet
                };
                self.segment = Some((path, first, 0));
            }
            let Some((path, first, offset)) = self.segment.clone() else {
                return Ok(total);
            };
            let got = self.read_segment(&path, first, offset, max - total, out)?;
            total += got;
            if total >= max {
                return Ok(total);
            }
            // At the end of what is written: move on if a later segment starts exactly
            // where this one stopped (a rotation); otherwise wait for more.
            let next = self.segments()?.into_iter().find(|(f, _)| *f > first);
            match next {
                Some((f, p)) if f == self.next_seq => self.segment = Some((p, f, 0)),
                Some((f, _)) if got == 0 && f < self.next_seq => {
                    // Our segment was cut short and a later one already passed us.
                    return Err(BridgeError::Gap {
                        expected: self.next_seq,
                        found: f,
                    });
                }
                _ => return Ok(total),
            }
        }
    }

    /// Reads new records of one segment from `offset`.
    fn read_segment(
        &mut self,
        path: &Path,
        first: u64,
        offset: u64,
        max: usize,
        out: &mut Vec<(u64, Command)>,
    ) -> Result<usize, BridgeError> {
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            // Pruned under us: only possible for a segment we already finished.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(BridgeError::Io(e)),
        };
        file.seek(SeekFrom::Start(offset))?;
        self.buf.clear();
        // At most what `max` records can take: a bridge far behind must not read the
        // rest of a large segment on every call to use a batch of it.
        let limit = max * (bourse_journal::RECORD_HEADER + bourse_journal::codec::MAX_COMMAND_LEN);
        file.take(limit as u64).read_to_end(&mut self.buf)?;
        // Records at this offset carry the sequence number after the last one read
        // here (or the segment's first, at offset 0).
        let expect = if offset == 0 { first } else { self.next_seq };
        let mut records = Records::new(&self.buf, expect);
        let mut n = 0;
        let mut consumed = 0usize;
        while let Some((seq, cmd)) = records.next() {
            if seq >= self.next_seq {
                out.push((seq, cmd));
                self.next_seq = seq + 1;
                n += 1;
            }
            consumed = records.valid_len();
            if n >= max {
                break;
            }
        }
        // Reading stops at the end, or at a record still being written (or one a
        // crashed writer left torn, which its recovery cuts): either way, read from
        // there next time. A later segment appearing meanwhile is noticed by `read`.
        if let Some(seg) = self.segment.as_mut() {
            seg.2 = offset + consumed as u64;
        }
        Ok(n)
    }
}
