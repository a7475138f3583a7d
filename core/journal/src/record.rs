//! Record framing: `len: u32 | crc32: u32 | seq: u64 | time: u64 | payload[len]`,
//! little-endian. `time` is when the journal took the command, in nanoseconds since the
//! Unix epoch: the exchange's clock for everything the command caused (trade times, bar
//! boundaries), read once per batch by the writer and never going backwards, so that a
//! replay sees the same times as the live run. The engine itself never reads it.
//!
//! The CRC covers `seq`, `time` and the payload, so a record whose length field survived a torn
//! write but whose body did not is caught. [`Records`] iterates a segment's bytes and
//! stops at the first record that is short, too long, fails its CRC, or does not carry
//! the next sequence number, reporting where and why.
//!
//! A header of zeros is not a record: it is where the written part of a
//! **preallocated** segment ends and its zero-filled rest begins (a record's length and
//! sequence number are never 0; a record whose length alone reads 0 is damaged).
//! [`Records`] ends there cleanly, as at the end of the bytes, and says so
//! ([`Records::at_zero_tail`]); [`unwritten`] tells it for any reader of raw bytes.

use bourse_core::Command;

use crate::codec::{self, MAX_COMMAND_LEN};

/// Bytes before a record's payload.
pub const RECORD_HEADER: usize = 24;

/// Why a record was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than the header or the length promise (a torn write).
    #[error("record truncated")]
    Truncated,
    /// A length no command can have.
    #[error("record length {0} out of range")]
    BadLength(u32),
    /// The checksum does not match.
    #[error("checksum mismatch")]
    BadChecksum,
    /// Not the sequence number that follows the previous record.
    #[error("sequence {found} where {expected} was due")]
    BadSeq {
        /// Due.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// The payload is not a command.
    #[error("payload: {0}")]
    BadPayload(codec::CodecError),
}

/// Whether `bytes` (read at a record's place) begin with a header of zeros: the
/// zero-filled, never written rest of a preallocated segment, not a record. Fewer bytes
/// than a header are not enough to tell.
pub fn unwritten(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0; RECORD_HEADER])
}

/// A command as the journal holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence number.
    pub seq: u64,
    /// When the journal took it, in nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// The command.
    pub cmd: Command,
}

/// Appends one framed record to `out`.
pub fn frame(seq: u64, time_ns: u64, cmd: &Command, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER]);
    codec::encode(cmd, out);
    let len = (out.len() - start - RECORD_HEADER) as u32;
    out[start + 8..start + 16].copy_from_slice(&seq.to_le_bytes());
    out[start + 16..start + 24].copy_from_slice(&time_ns.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Iterates the records of one segment, expecting sequence numbers from `first_seq`.
pub struct Records<'a> {
    bytes: &'a [u8],
    offset: usize,
    next_seq: u64,
    time_ns: u64,
    zero_tail: bool,
    /// Why iteration stopped early, if it did; `None` after a clean end.
    pub error: Option<RecordError>,
}

impl<'a> Records<'a> {
    /// Records of `bytes`, the first due to carry `first_seq`.
    pub fn new(bytes: &'a [u8], first_seq: u64) -> Self {
        Records {
            bytes,
            offset: 0,
            next_seq: first_seq,
            time_ns: 0,
            zero_tail: false,
            error: None,
        }
    }

    /// Records of `bytes`, numbered from whatever the first record carries.
    pub fn from_start(bytes: &'a [u8]) -> Self {
        let first = bytes
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map_or(1, u64::from_le_bytes);
        Records::new(bytes, first)
    }

    /// Bytes of whole, valid records read so far.
    pub fn valid_len(&self) -> usize {
        self.offset
    }

    /// The sequence number the next record must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether iteration ended at a header of zeros: the zero-filled, never written rest
    /// of a preallocated segment (a clean end; [`valid_len`](Self::valid_len) is where
    /// the written part ends).
    pub fn at_zero_tail(&self) -> bool {
        self.zero_tail
    }

    /// The journal time of the record returned last (0 before the first).
    pub fn time_ns(&self) -> u64 {
        self.time_ns
    }

    /// The record returned last as an [`Entry`].
    pub fn entry(&self, seq: u64, cmd: Command) -> Entry {
        Entry {
            seq,
            time_ns: self.time_ns,
            cmd,
        }
    }

    fn read(&self) -> Result<(u64, u64, Command, usize), RecordError> {
        let rest = &self.bytes[self.offset..];
        if rest.len() < RECORD_HEADER {
            return Err(RecordError::Truncated);
        }
        let word = |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let len = word(0);
        if len == 0 || len as usize > MAX_COMMAND_LEN {
            return Err(RecordError::BadLength(len));
        }
        let end = RECORD_HEADER + len as usize;
        if rest.len() < end {
            return Err(RecordError::Truncated);
        }
        if crc32fast::hash(&rest[8..end]) != word(4) {
            return Err(RecordError::BadChecksum);
        }
        let dword = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rest[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let seq = dword(8);
        if seq != self.next_seq {
            return Err(RecordError::BadSeq {
                expected: self.next_seq,
                found: seq,
            });
        }
        let cmd = codec::decode(&rest[RECORD_HEADER..end]).map_err(RecordError::BadPayload)?;
        Ok((seq, dword(16), cmd, end))
    }
}

impl Iterator for Records<'_> {
    type Item = (u64, Command);

    fn next(&mut self) -> Option<(u64, Command)> {
        if self.error.is_some() || self.zero_tail || self.offset == self.bytes.len() {
            return None;
        }
        if unwritten(&self.bytes[self.offset..]) {
            self.zero_tail = true;
            return None;
        }
        match self.read() {
            Ok((seq, time_ns, cmd, len)) => {
                self.offset += len;
                self.time_ns = time_ns;
                self.next_seq += 1;
                Some((seq, cmd))
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bourse_core::UserId;

    fn journal(n: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        for seq in 1..=n {
            frame(
                seq,
                1_000 + seq,
                &Command::AddUser { user: UserId(seq) },
                &mut buf,
            );
        }
        buf
    }

    #[test]
    fn reads_back_what_was_framed() {
        let buf = journal(5);
        let mut records = Records::new(&buf, 1);
        let mut got = Vec::new();
        while let Some((seq, cmd)) = records.next() {
            got.push(records.entry(seq, cmd));
        }
        let seqs: Vec<u64> = got.iter().map(|e| e.seq).collect();
        let times: Vec<u64> = got.iter().map(|e| e.time_ns).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        assert_eq!(times, vec![1_001, 1_002, 1_003, 1_004, 1_005]);
    }

    #[test]
    fn every_torn_tail_stops_at_the_last_whole_record() {
        let buf = journal(3);
        let one = buf.len() / 3;
        for cut in 0..buf.len() {
            let mut r = Records::new(&buf[..cut], 1);
            let n = r.by_ref().count();
            assert_eq!(n, cut / one, "cut at {cut}");
            assert_eq!(r.valid_len(), n * one);
            assert_eq!(r.error.is_some(), cut % one != 0);
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_is_caught() {
        let buf = journal(2);
        let one = buf.len() / 2;
        for byte in one..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                let mut r = Records::new(&bad, 1);
                assert_eq!(r.by_ref().count(), 1, "flip at {byte}.{bit} misread");
                assert!(r.error.is_some());
            }
        }
    }

    #[test]
    fn a_zero_filled_rest_is_a_clean_end_and_anything_short_of_a_header_is_not() {
        let mut buf = journal(3);
        let written = buf.len();
        buf.resize(written + 4096, 0);
        let mut r = Records::new(&buf, 1);
        assert_eq!(r.by_ref().count(), 3);
        assert_eq!(
            (r.error, r.at_zero_tail(), r.valid_len()),
            (None, true, written)
        );
        // A blank preallocated segment holds no record.
        let mut r = Records::from_start(&buf[written..]);
        assert_eq!(r.by_ref().count(), 0);
        assert_eq!((r.error, r.at_zero_tail(), r.valid_len()), (None, true, 0));
        // Fewer zero bytes than a header could be the start of a record still being
        // written: truncated, not an end.
        for extra in 1..RECORD_HEADER {
            let mut r = Records::new(&buf[..written + extra], 1);
            assert_eq!(r.by_ref().count(), 3);
            assert_eq!(
                (r.error, r.at_zero_tail()),
                (Some(RecordError::Truncated), false)
            );
        }
        // A record whose length alone reads zero is damaged, not the end.
        let mut bad = journal(2);
        let one = bad.len() / 2;
        bad[one..one + 4].fill(0);
        let mut r = Records::new(&bad, 1);
        assert_eq!(r.by_ref().count(), 1);
        assert_eq!(
            (r.error, r.at_zero_tail()),
            (Some(RecordError::BadLength(0)), false)
        );
    }

    #[test]
    fn out_of_sequence_record_is_refused() {
        let mut buf = journal(1);
        frame(5, 0, &Command::EndOfDay, &mut buf);
        let mut r = Records::new(&buf, 1);
        assert_eq!(r.by_ref().count(), 1);
        assert_eq!(
            r.error,
            Some(RecordError::BadSeq {
                expected: 2,
                found: 5
            })
        );
    }
}
