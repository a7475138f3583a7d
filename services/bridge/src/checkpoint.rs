//! Where the bridge is: the last command all of whose events the bus confirmed.
//!
//! Kept in the journal directory as `reader-bridge.seq` (`<cmd_seq> <event_seq>
//! <account_seq>`), which is also what stops the gateway from pruning journal segments
//! the bridge still needs.

use std::path::{Path, PathBuf};

use crate::BridgeError;

/// A position in the engine's output, always at a command boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last command whose events were all confirmed (0: none).
    pub cmd_seq: u64,
    /// The last event confirmed (0: none).
    pub event_seq: u64,
    /// The last event confirmed on the account stream (`exec.*`, `account.*`; 0: none),
    /// which numbers the stream's next message ([`bourse_bus::Message::prev_seq`]).
    /// `None` for a checkpoint written before it was recorded.
    pub account_seq: Option<u64>,
}

impl Default for Checkpoint {
    /// The start: nothing published.
    fn default() -> Self {
        Checkpoint {
            cmd_seq: 0,
            event_seq: 0,
            account_seq: Some(0),
        }
    }
}

/// The checkpoint file in a journal directory.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(format!(
        "{}bridge{}",
        bourse_journal::READER_PREFIX,
        bourse_journal::READER_SUFFIX
    ))
}

impl Checkpoint {
    /// Reads the checkpoint (the start if there is none).
    pub fn load(dir: &Path) -> Result<Checkpoint, BridgeError> {
        let text = match std::fs::read_to_string(path(dir)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Checkpoint::default());
            }
            Err(e) => return Err(BridgeError::Io(e)),
        };
        let mut nums = text.split_whitespace().map(str::parse::<u64>);
        match (nums.next(), nums.next(), nums.next(), nums.next()) {
            (Some(Ok(cmd_seq)), Some(Ok(event_seq)), account, None)
                if account.as_ref().is_none_or(Result::is_ok) =>
            {
                Ok(Checkpoint {
                    cmd_seq,
                    event_seq,
                    account_seq: account.and_then(Result::ok),
                })
            }
            _ => Err(BridgeError::BadCheckpoint(text)),
        }
    }

    /// Writes the checkpoint atomically (a crash leaves the old or the new one; losing
    /// the newest only means publishing some events again).
    pub fn save(&self, dir: &Path) -> Result<(), BridgeError> {
        let tmp = dir.join("reader-bridge.tmp");
        let line = match self.account_seq {
            Some(a) => format!("{} {} {a}\n", self.cmd_seq, self.event_seq),
            None => format!("{} {}\n", self.cmd_seq, self.event_seq),
        };
        std::fs::write(&tmp, line)?;
        std::fs::rename(&tmp, path(dir))?;
        Ok(())
    }
}
