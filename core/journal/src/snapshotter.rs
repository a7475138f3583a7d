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
//! a core is free it runs there at full speed. Waited for ([`Snapshotter::wait`], as a
//! gateway does when it shuts down), it leaves the idle class: on a busy machine an idle
//! thread could otherwise wait behind everything else for as long as the load lasts.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread::JoinHandle;

use bourse_core::EngineConfig;

use crate::{JournalError, state_at, write_snapshot};

/// At most one snapshot in flight, built and written on its own thread.
#[derive(Debug)]
pub struct Snapshotter {
    dir: PathBuf,
    config: EngineConfig,
    running: Option<Running>,
}

/// The snapshot in flight.
#[derive(Debug)]
struct Running {
    thread: JoinHandle<Result<u64, JournalError>>,
    /// Set by the waiter: the thread must not stay in the idle class.
    hurry: Arc<AtomicBool>,
    /// The thread's kernel id once it is in the idle class (0 before).
    tid: Arc<AtomicI32>,
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
        self.running
            .as_ref()
            .is_some_and(|r| !r.thread.is_finished())
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
        let hurry = Arc::new(AtomicBool::new(false));
        let tid = Arc::new(AtomicI32::new(0));
        let thread = std::thread::spawn({
            let (hurry, tid) = (hurry.clone(), tid.clone());
            move || {
                run_when_idle();
                // Either the waiter sees the id and lifts this thread out of the idle
                // class, or this thread sees the waiter's flag and leaves it itself.
                tid.store(current_tid(), Ordering::SeqCst);
                if hurry.load(Ordering::SeqCst) {
                    run_normally(0);
                }
                let engine = state_at(&dir, seq, config)?;
                write_snapshot(&dir, seq, &engine.state()).map(|_| seq)
            }
        });
        self.running = Some(Running { thread, hurry, tid });
        true
    }

    /// If a snapshot finished since the last call, its sequence number (now durable) or
    /// its error; `None` while one is running or none was started.
    pub fn finished(&mut self) -> Option<Result<u64, JournalError>> {
        if self.busy() {
            return None;
        }
        let running = self.running.take()?;
        Some(self.join(running))
    }

    /// Waits for the snapshot in flight, if any, taking its thread out of the idle class
    /// so that a busy machine cannot hold the wait up.
    pub fn wait(&mut self) -> Option<Result<u64, JournalError>> {
        let running = self.running.take()?;
        running.hurry.store(true, Ordering::SeqCst);
        let tid = running.tid.load(Ordering::SeqCst);
        if tid != 0 {
            run_normally(tid);
        }
        Some(self.join(running))
    }

    fn join(&self, running: Running) -> Result<u64, JournalError> {
        running.thread.join().unwrap_or_else(|_| {
            Err(JournalError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other("snapshot thread panicked"),
            })
        })
    }
}

/// The calling thread's kernel id.
fn current_tid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::gettid()
    }
}

/// Moves thread `tid` (0: the caller) back to the normal class. Best effort, as
/// [`run_when_idle`]; the thread has at worst an idle priority.
#[allow(unsafe_code)]
fn run_normally(tid: i32) {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is an initialised `sched_param` that outlives the call; `tid` names
    // a thread of this process (or 0, the caller), whose scheduling class is all that
    // changes.
    let _ = unsafe { libc::sched_setscheduler(tid, libc::SCHED_OTHER, &param) };
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
    fn a_thread_in_the_idle_class_is_lifted_out_of_it_by_another() {
        let (to_main, from_thread) = std::sync::mpsc::channel();
        let (to_thread, from_main) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            run_when_idle();
            to_main.send((current_tid(), policy())).unwrap();
            from_main.recv().unwrap();
            policy()
        });
        let (tid, before) = from_thread.recv().unwrap();
        assert_eq!(before, libc::SCHED_IDLE as u32);
        run_normally(tid);
        to_thread.send(()).unwrap();
        assert_eq!(t.join().unwrap(), libc::SCHED_OTHER as u32);
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
