//! Snapshots taken without stopping the engine for long.
//!
//! The engine thread hands over a *clone* of the engine (a `memcpy`-like copy of its
//! vectors and maps: the only pause it pays) and goes on; a background thread builds the
//! canonical state, encodes it and writes the file. Only after that file is durable may
//! the journal segments it covers be pruned ([`Snapshotter::finished`] says when).

use std::path::PathBuf;
use std::thread::JoinHandle;

use bourse_core::Engine;

use crate::{JournalError, write_snapshot};

/// At most one snapshot in flight, written on its own thread.
#[derive(Debug)]
pub struct Snapshotter {
    dir: PathBuf,
    running: Option<JoinHandle<Result<u64, JournalError>>>,
}

impl Snapshotter {
    /// Snapshots go to `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Snapshotter {
            dir: dir.into(),
            running: None,
        }
    }

    /// Whether a snapshot is being written.
    pub fn busy(&self) -> bool {
        self.running.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Starts writing a snapshot of `engine` as the state after command `seq`, unless
    /// one is still being written (then returns `false` and takes nothing). The caller
    /// pauses only for `engine.clone()`.
    pub fn start(&mut self, seq: u64, engine: &Engine) -> bool {
        if self.busy() {
            return false;
        }
        let copy = engine.clone();
        let dir = self.dir.clone();
        self.running = Some(std::thread::spawn(move || {
            write_snapshot(&dir, seq, &copy.state()).map(|_| seq)
        }));
        true
    }

    /// If a snapshot finished since the last call, its sequence number (now durable) or
    /// its error; `None` while one is running or none was started.
    pub fn finished(&mut self) -> Option<Result<u64, JournalError>> {
        if self.busy() {
            return None;
        }
        let handle = self.running.take()?;
        Some(handle.join().unwrap_or_else(|_| {
            Err(JournalError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other("snapshot thread panicked"),
            })
        }))
    }

    /// Waits for the snapshot in flight, if any.
    pub fn wait(&mut self) -> Option<Result<u64, JournalError>> {
        let handle = self.running.take()?;
        Some(handle.join().unwrap_or_else(|_| {
            Err(JournalError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other("snapshot thread panicked"),
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bourse_core::{Command, EngineConfig, UserId};

    #[test]
    fn background_snapshot_is_what_recovery_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::default();
        let mut sink = Vec::new();
        for u in 1..=50 {
            engine.execute(&Command::AddUser { user: UserId(u) }, &mut sink);
        }
        let mut s = Snapshotter::new(dir.path());
        assert!(s.start(50, &engine));
        // The engine goes on while the snapshot is written.
        engine.execute(&Command::AddUser { user: UserId(99) }, &mut sink);
        let seq = s.wait().expect("one was running").expect("written");
        assert_eq!(seq, 50);
        assert!(s.finished().is_none(), "nothing left in flight");
        let rec = crate::recover(dir.path(), EngineConfig::default()).unwrap();
        assert_eq!(rec.snapshot_seq, Some(50));
        assert_eq!(
            rec.engine.state().accounts.len(),
            50,
            "the state as of the snapshot"
        );
    }
}
