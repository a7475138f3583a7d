//! Snapshot files: `BRSNAPF1 | seq: u64 | len: u64 | crc32: u32 | state bytes`.
//!
//! Written to a temporary name, synced, renamed into place and the directory synced, so
//! a snapshot file either exists whole or not at all; the CRC catches later damage.

use std::io::Write;
use std::path::{Path, PathBuf};

use bourse_core::state::State;

use crate::{JournalError, io_err, snapshot_name, sync_dir};

const MAGIC: &[u8; 8] = b"BRSNAPF1";
const HEADER: usize = 28;

/// Writes a snapshot of `state`, the state after command `seq`, into `dir`.
pub fn write_snapshot(dir: &Path, seq: u64, state: &State) -> Result<PathBuf, JournalError> {
    let body = bourse_core::snapshot::encode(state);
    let mut bytes = Vec::with_capacity(HEADER + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    let path = dir.join(snapshot_name(seq));
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(&bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)?;
    Ok(path)
}

/// Reads a snapshot file: the command sequence it covers and the state. `None` if the
/// file is damaged in any way (recovery then tries an older one).
pub fn read_snapshot(path: &Path) -> Result<Option<(u64, State)>, JournalError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Ok(None);
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let seq = u64_at(8);
    let len = u64_at(16);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[24..28]);
    let body = &bytes[HEADER..];
    if body.len() as u64 != len || crc32fast::hash(body) != u32::from_le_bytes(crc) {
        return Ok(None);
    }
    Ok(bourse_core::snapshot::decode(body).ok().map(|s| (seq, s)))
}
