//! Record framing: `len: u32 | crc32: u32 | seq: u64 | payload[len]`, little-endian.
//!
//! The CRC covers `seq` and the payload, so a record whose length field survived a torn
//! write but whose body did not is caught. [`Records`] iterates a segment's bytes and
//! stops at the first record that is short, too long, fails its CRC, or does not carry
//! the next sequence number, reporting where and why.

use bourse_core::Command;

use crate::codec::{self, MAX_COMMAND_LEN};

/// Bytes before a record's payload.
pub const RECORD_HEADER: usize = 16;

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

/// Appends one framed record to `out`.
pub fn frame(seq: u64, cmd: &Command, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER]);
    codec::encode(cmd, out);
    let len = (out.len() - start - RECORD_HEADER) as u32;
    out[start + 8..start + 16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Iterates the records of one segment, expecting sequence numbers from `first_seq`.
pub struct Records<'a> {
    bytes: &'a [u8],
    offset: usize,
    next_seq: u64,
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

    fn read(&self) -> Result<(u64, Command, usize), RecordError> {
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
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&rest[8..16]);
        let seq = u64::from_le_bytes(seq);
        if seq != self.next_seq {
            return Err(RecordError::BadSeq {
                expected: self.next_seq,
                found: seq,
            });
        }
        let cmd = codec::decode(&rest[RECORD_HEADER..end]).map_err(RecordError::BadPayload)?;
        Ok((seq, cmd, end))
    }
}

impl Iterator for Records<'_> {
    type Item = (u64, Command);

    fn next(&mut self) -> Option<(u64, Command)> {
        if self.error.is_some() || self.offset == self.bytes.len() {
            return None;
        }
        match self.read() {
            Ok((seq, cmd, len)) => {
                self.offset += len;
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
            frame(seq, &Command::AddUser { user: UserId(seq) }, &mut buf);
        }
        buf
    }

    #[test]
    fn reads_back_what_was_framed() {
        let buf = journal(5);
        let got: Vec<u64> = Records::new(&buf, 1).map(|(s, _)| s).collect();
        assert_eq!(got, vec![1, 2, 3, 4, 5]);
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
    fn out_of_sequence_record_is_refused() {
        let mut buf = journal(1);
        frame(5, &Command::EndOfDay, &mut buf);
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
