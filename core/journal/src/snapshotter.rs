//! Snapshots taken without stopping the engine at all.
//!
//! The engine is deterministic, so the state after command `seq` can be rebuilt anywhere
//! from the previous snapshot and the journal up to `seq`. [`Snapshotter::start`] does
//! exactly that on a background thread ([`state_at`](crate::state_at), read-only), then
//! writes the new snapshot: the engine thread never pauses and shares no memory with it.
//! The price is CPU on another core: replaying the commands since the last snapshot (at
//! millions of commands a second). Copying the live engine instead would pause it for
//! the copy and its page faults — about 0.7 s per million resting orders, measured in
//! `PERF.md`. Only after the new file is durable may the journal segments it covers be
//! pruned ([`Snapshotter::finished`] says when).
//!
//! The snapshot thread runs in the scheduler's idle class ([`run_when_idle`]): on a
//! core it shares with the pipeline's threads it takes only time they leave, and where
//! a core is free it runs there at full speed.

use std::path::PathBuf;
use std::thread::JoinHandle;

use bourse_core::EngineConfig;

use crate::{JournalError, state_at, write_snapshot};

/// At most one snapshot in flight, built and written on its own thread.
#[derive(Debug)]
pub struct Snapshotter {
    dir: PathBuf,
    config: EngineConfig,
    running: Option<JoinHandle<Result<u64, JournalError>>>,
}

impl Snapshotter {
    /// Snapshots of the journal in `dir`; `config` sizes the rebuilt engine.
    pub fn new(dir: impl Into<PathBuf>, config: EngineConfig) -> Self {
        Snapshotter {
            dir: dir.into(),
            config,
            running: None,
        }
    }

    /// Whether a snapshot is being written.
    pub fn busy(&self) -> bool {
        self.running.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Starts building and writing the snapshot of the state after command `seq`, which
    /// must be durable in the journal; unless one is still in flight (then returns
    /// `false`). Costs the caller one thread spawn.
    pub fn start(&mut self, seq: u64) -> bool {
        if self.busy() {
            return false;
        }
        let dir = self.dir.clone();
        let config = self.config;
        self.running = Some(std::thread::spawn(move || {
            run_when_idle();
            let engine = state_at(&dir, seq, config)?;
            write_snapshot(&dir, seq, &engine.state()).map(|_| seq)
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

/// Puts the calling thread in the scheduler's idle class (`SCHED_IDLE`): it runs only
/// when its core has nothing else to run. A snapshot replays up to an interval of
/// commands (half a second of CPU and more); at normal priority, on the one core a
/// gateway shares with it, that stalled the journal stage for 16–293 ms at 100,000
/// commands/s (PERF.md, "Snapshots in the idle class"). Best effort: if the kernel
/// refuses, the thread keeps its priority and the snapshot is taken all the same.
#[allow(unsafe_code)]
fn run_when_idle() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is an initialised `sched_param` that outlives the call, the only
    // pointer passed; pid 0 is the calling thread, whose scheduling class is all that
    // changes.
    let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Journal;
    use bourse_core::{Command, Engine, UserId};

    /// The scheduling policy of the calling thread, from `/proc` (field 41 of its
    /// `stat`).
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // The command name (field 2) is in parentheses and may hold spaces.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(41 - 3).unwrap().parse().unwrap()
    }

    #[test]
    fn a_thread_run_when_idle_is_in_the_idle_class_and_others_are_not() {
        let idle = std::thread::spawn(|| {
            run_when_idle();
            policy()
        })
        .join()
        .unwrap();
        assert_eq!(idle, libc::SCHED_IDLE as u32);
        assert_eq!(
            policy(),
            libc::SCHED_OTHER as u32,
            "the caller's own thread is untouched"
        );
    }

    #[test]
    fn background_snapshot_is_the_state_at_its_seq_while_the_journal_grows() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::default();
        let mut journal = Journal::open(dir.path(), 1).unwrap();
        let mut sink = Vec::new();
        for u in 1..=50 {
            let cmd = Command::AddUser { user: UserId(u) };
            journal.append(&cmd);
            engine.execute(&cmd, &mut sink);
        }
        journal.commit().unwrap();
        let at_50 = engine.state().hash();
        let mut s = Snapshotter::new(dir.path(), EngineConfig::default());
        assert!(s.start(50));
        // The engine and the journal go on while the snapshot is built.
        for u in 51..=60 {
            let cmd = Command::AddUser { user: UserId(u) };
            journal.append(&cmd);
            engine.execute(&cmd, &mut sink);
        }
        journal.commit().unwrap();
        let seq = s.wait().expect("one was running").expect("written");
        assert_eq!(seq, 50);
        assert!(s.finished().is_none(), "nothing left in flight");
        let (snap_seq, state) = crate::read_snapshot(&dir.path().join(crate::snapshot_name(50)))
            .unwrap()
            .expect("valid snapshot");
        assert_eq!(snap_seq, 50);
        assert_eq!(state.hash(), at_50, "exactly the state after command 50");
        let rec = crate::recover(dir.path(), EngineConfig::default()).unwrap();
        assert_eq!((rec.snapshot_seq, rec.last_seq), (Some(50), 60));
        assert_eq!(rec.engine.state().hash(), engine.state().hash());
    }

    #[test]
    fn a_snapshot_past_the_end_of_the_journal_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), 1).unwrap();
        journal.append(&Command::AddUser { user: UserId(1) });
        journal.commit().unwrap();
        let mut s = Snapshotter::new(dir.path(), EngineConfig::default());
        assert!(s.start(5));
        assert!(s.wait().expect("ran").is_err());
        assert!(!dir.path().join(crate::snapshot_name(5)).exists());
    }
}
