//! Sleeping and waking the pipeline threads, for machines where they share cores.
//!
//! A busy-spinning thread on a shared core holds it until the scheduler preempts it,
//! which delays the thread it is waiting for by up to a scheduler slice (milliseconds):
//! on two cores, spinning is what makes latency bad. So unless the gateway runs with
//! `spin`, every pipeline thread sleeps when it has nothing to do and is woken by the
//! thread that gives it work:
//!
//! ```text
//! I/O thread ──publish, wake──┬──▶ journal stage ──durable mark, wake──┐
//!     ▲                       └──▶ engine stage ──publish reports──┐  │
//!     └────────────── write a byte to the wake pipe ────────────────┴──┘
//! ```
//!
//! The engine stage writes to the pipe only when the reports it published may already
//! leave (the journal's mark is past their command: the journal was faster). Usually
//! the engine is done long before the `fdatasync`, and waking the I/O thread then would
//! only make it find the reports held and sleep again — a wake-up and a sleep of the
//! shared core for nothing; the journal stage's wake, after its mark, brings it once
//! they may go (`release::DurableMark::passes` says why none is lost). (The market data
//! stage is woken by both, unconditionally, since it too passes on only what is
//! durable.)
//!
//! # No lost wake-ups
//! A [`Sleeper`] has an `epoch` that every [`Sleeper::wake`] bumps *after* the waker's
//! publication and *before* it looks at `sleeping`. The sleeper raises `sleeping`, then
//! reads the epoch: if it moved since the sleeper last looked (before its last check of
//! the ring), a publication may have happened unseen, so it checks again instead of
//! parking. Otherwise the waker's later epoch bump is ordered after `sleeping` was
//! raised, so the waker sees it and unparks (all four accesses are `SeqCst`). A park
//! timeout bounds the cost of any case this reasoning missed.

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::Duration;

use disruptor::wait_strategies::WaitStrategy;

/// Name of the journal stage's thread (the [`Park`] strategy finds its sleeper by it).
pub(crate) const JOURNAL_THREAD: &str = "bourse-journal";
/// Name of the engine stage's thread.
pub(crate) const ENGINE_THREAD: &str = "bourse-engine";
/// Name of the market data stage's thread.
pub(crate) const FEED_THREAD: &str = "bourse-feed";

/// How many times a waiting stage spins before it parks: a few microseconds, enough to
/// catch a batch that is already on its way, short enough to give a shared core away.
const SPINS: u32 = 64;
/// The longest a parked stage sleeps before it looks again by itself (a safety net:
/// wake-ups are not lost, see the module docs).
pub(crate) const PARK_TIMEOUT: Duration = Duration::from_millis(10);

/// One thread that may be asleep, and what it takes to wake it.
#[derive(Debug, Default)]
pub(crate) struct Sleeper {
    thread: OnceLock<Thread>,
    sleeping: AtomicBool,
    epoch: AtomicU64,
}

impl Sleeper {
    /// Tells the thread there may be new work; unparks it if it sleeps. Call after
    /// publishing the work.
    pub(crate) fn wake(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst)
            && let Some(t) = self.thread.get()
        {
            t.unpark();
        }
    }

    /// Parks the calling thread unless the epoch moved since `seen`; returns the epoch
    /// to remember for the next call. A caller that checks for work between two calls
    /// never misses a wake-up (see the module docs).
    pub(crate) fn park(&self, seen: u64, timeout: Duration) -> u64 {
        self.thread.get_or_init(std::thread::current);
        self.sleeping.store(true, Ordering::SeqCst);
        let now = self.epoch.load(Ordering::SeqCst);
        if now == seen {
            std::thread::park_timeout(timeout);
        }
        self.sleeping.store(false, Ordering::SeqCst);
        self.epoch.load(Ordering::SeqCst)
    }
}

/// The sleepers of one gateway's pipeline stages.
#[derive(Debug)]
pub(crate) struct Stages {
    timeout: Duration,
    /// The journal stage, woken by the I/O thread's publications.
    pub(crate) journal: Sleeper,
    /// The engine stage, woken by the I/O thread's publications.
    pub(crate) engine: Sleeper,
    /// The market data stage, woken by the engine stage's reports and the journal
    /// stage's durable mark.
    pub(crate) feed: Sleeper,
}

impl Stages {
    /// A set that lives as long as the process: the disruptor wants its wait strategy
    /// `Copy`, so [`Park`] holds a `&'static`. One small allocation per gateway started.
    pub(crate) fn leak(timeout: Duration) -> &'static Stages {
        Box::leak(Box::new(Stages {
            timeout,
            journal: Sleeper::default(),
            engine: Sleeper::default(),
            feed: Sleeper::default(),
        }))
    }

    fn of_current_thread(&self) -> Option<&Sleeper> {
        match std::thread::current().name() {
            Some(JOURNAL_THREAD) => Some(&self.journal),
            Some(ENGINE_THREAD) => Some(&self.engine),
            Some(FEED_THREAD) => Some(&self.feed),
            _ => None,
        }
    }
}

thread_local! {
    /// This thread's wait: (sequence waited for, calls so far, epoch last seen).
    static WAIT: Cell<(i64, u32, u64)> = const { Cell::new((-1, 0, 0)) };
}

/// The wait strategy of the stages when they share cores: spin briefly, then park until
/// woken (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Park {
    stages: &'static Stages,
}

impl Park {
    /// A strategy whose stages sleep on `stages`.
    pub(crate) fn new(stages: &'static Stages) -> Self {
        Park { stages }
    }
}

impl WaitStrategy for Park {
    fn wait_for(&self, sequence: i64) {
        let (seq, calls, seen) = WAIT.with(Cell::get);
        let calls = if seq == sequence {
            calls.saturating_add(1)
        } else {
            0
        };
        let Some(me) = self.stages.of_current_thread() else {
            // Not a stage of ours: back off without a waker.
            std::thread::sleep(Duration::from_micros(50));
            return;
        };
        if calls < SPINS {
            std::hint::spin_loop();
            WAIT.with(|w| w.set((sequence, calls, me.epoch.load(Ordering::SeqCst))));
            return;
        }
        let seen = me.park(seen, self.stages.timeout);
        // Woken (or timed out): spin again before the next park.
        WAIT.with(|w| w.set((sequence, 0, seen)));
    }
}

/// Wakes the I/O thread, which sleeps in `zmq_poll` on its socket and this pipe.
#[derive(Debug)]
pub(crate) struct IoWaker {
    sleeping: AtomicBool,
    tx: UnixStream,
}

/// The I/O thread's end of the wake pipe.
#[derive(Debug)]
pub(crate) struct IoWakeReceiver {
    rx: UnixStream,
}

/// A connected waker and receiver.
pub(crate) fn io_wake_pipe() -> std::io::Result<(IoWaker, IoWakeReceiver)> {
    let (tx, rx) = UnixStream::pair()?;
    tx.set_nonblocking(true)?;
    rx.set_nonblocking(true)?;
    Ok((
        IoWaker {
            sleeping: AtomicBool::new(false),
            tx,
        },
        IoWakeReceiver { rx },
    ))
}

impl IoWaker {
    /// After publishing reports: if the I/O thread sleeps, wake it (one byte; a full
    /// pipe means a wake-up is already pending).
    pub(crate) fn wake(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            let _ = (&self.tx).write(&[1]);
        }
    }

    /// The I/O thread is about to sleep: after this, it must check the output ring once
    /// more before it blocks (a report published before the flag was seen is caught by
    /// that check; one after it writes to the pipe).
    pub(crate) fn going_to_sleep(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
    }

    /// The I/O thread is awake again.
    pub(crate) fn awake(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }
}

impl IoWakeReceiver {
    /// The descriptor to poll for readability.
    pub(crate) fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.rx.as_raw_fd()
    }

    /// Empties the pipe.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        loop {
            match (&self.rx).read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicI64;
    use std::time::Instant;

    #[test]
    fn no_wake_up_is_lost() {
        // With a 60 s park timeout, one lost wake-up would stall the stage for 60 s.
        let stages = Stages::leak(Duration::from_secs(60));
        let start = Instant::now();
        let wait = Park::new(stages);
        let published = Arc::new(AtomicI64::new(-1));
        let seen = published.clone();
        let stage = std::thread::Builder::new()
            .name(ENGINE_THREAD.into())
            .spawn(move || {
                for next in 0..2_000i64 {
                    while seen.load(Ordering::Acquire) < next {
                        wait.wait_for(next);
                    }
                }
            })
            .unwrap();
        for i in 0..2_000i64 {
            // Vary the gap so that publications land in every phase of the wait:
            // while spinning, while going to sleep, while parked.
            if i % 3 != 0 {
                std::thread::sleep(Duration::from_micros((i % 7) as u64 * 40));
            }
            published.store(i, Ordering::Release);
            stages.engine.wake();
        }
        stage.join().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a wake-up was lost: {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn the_io_pipe_carries_a_wake_only_when_the_reader_sleeps() {
        let (waker, receiver) = io_wake_pipe().unwrap();
        waker.wake();
        let mut buf = [0u8; 8];
        assert!((&receiver.rx).read(&mut buf).is_err(), "awake: no byte");
        waker.going_to_sleep();
        waker.wake();
        assert_eq!((&receiver.rx).read(&mut buf).unwrap(), 1);
        waker.wake();
        receiver.drain();
        assert!((&receiver.rx).read(&mut buf).is_err(), "drained");
        waker.awake();
    }
}
