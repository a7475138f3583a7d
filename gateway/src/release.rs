//! Holding reports back until their command is durable.
//!
//! The journal stage and the engine stage read the input ring side by side (as LMAX's
//! journaller and business logic do): the engine matches a batch while the journal
//! writes and syncs it. So the engine's events can be ready before their command is on
//! disk, and whoever reads them — the I/O thread sending reports, the market data stage
//! publishing — passes them on only once the journal stage has published a durable
//! position at or past their command's number ([`DurableMark`]; the I/O thread numbers
//! the commands it hands over, from 0, whichever thread journals them). Until then they
//! wait, in order, in a [`Release`]: no report and no market data about a command a
//! crash could still take back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The command number up to which every command is journaled and synced (`-1`:
/// none yet). Written by the journal stage after each `fdatasync`, read by the
/// readers of the engine's events.
#[derive(Clone, Debug)]
pub(crate) struct DurableMark(Arc<AtomicI64>);

impl DurableMark {
    /// Nothing durable yet.
    pub(crate) fn new() -> Self {
        DurableMark(Arc::new(AtomicI64::new(-1)))
    }

    /// Every command up to number `seq` is durable. Call after the sync, before
    /// waking the readers.
    pub(crate) fn set(&self, seq: i64) {
        self.0.store(seq, Ordering::SeqCst);
    }

    /// The command number up to which commands are durable.
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }

    /// Whether events of the command numbered `seq`, just published to the
    /// output ring, may leave now. When they may not, their readers need no wake-up
    /// from the publisher: the journal stage wakes them once it has set the mark past
    /// `seq`. The fence orders the publication before the mark's read, so either this
    /// read sees the journal's mark or the readers, woken after it, see the events.
    pub(crate) fn passes(&self, seq: i64) -> bool {
        std::sync::atomic::fence(Ordering::SeqCst);
        self.0.load(Ordering::SeqCst) >= seq
    }
}

/// Something that came from a numbered command.
pub(crate) trait FromCommand: Copy {
    /// The number of the command it came from.
    fn command(&self) -> i64;
}

/// One reader's events that wait for their command to be durable, in arrival order.
#[derive(Debug)]
pub(crate) struct Release<T> {
    mark: DurableMark,
    held: VecDeque<T>,
}

impl<T: FromCommand> Release<T> {
    /// A reader that releases what `mark` says is durable; room for `capacity` waiting
    /// events before it grows.
    pub(crate) fn new(mark: DurableMark, capacity: usize) -> Self {
        Release {
            mark,
            held: VecDeque::with_capacity(capacity),
        }
    }

    /// Hands `f` every waiting event whose command is now durable, then each of
    /// `incoming` in turn — or keeps it, and everything after it, to wait. Order is
    /// kept: an event is never passed on before one that came earlier. Returns how many
    /// were passed on.
    pub(crate) fn pass<'a>(
        &mut self,
        incoming: impl IntoIterator<Item = &'a T>,
        mut f: impl FnMut(&T),
    ) -> usize
    where
        T: 'a,
    {
        let durable = self.mark.get();
        let mut passed = 0;
        while let Some(t) = self.held.front() {
            if t.command() > durable {
                break;
            }
            f(t);
            self.held.pop_front();
            passed += 1;
        }
        for t in incoming {
            if self.held.is_empty() && t.command() <= durable {
                f(t);
                passed += 1;
            } else {
                self.held.push_back(*t);
            }
        }
        passed
    }

    /// Whether events wait for the journal.
    pub(crate) fn waiting(&self) -> bool {
        !self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (command, event number): the event number shows the order they were passed in.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct E(i64, u32);

    impl FromCommand for E {
        fn command(&self) -> i64 {
            self.0
        }
    }

    fn pass(r: &mut Release<E>, incoming: &[E]) -> Vec<E> {
        let mut out = Vec::new();
        r.pass(incoming, |e| out.push(*e));
        out
    }

    #[test]
    fn nothing_passes_before_its_command_is_durable_and_order_is_kept() {
        let mark = DurableMark::new();
        let mut r = Release::new(mark.clone(), 4);
        // The engine ran ahead: events of commands 0..=3, none durable.
        let first = [E(0, 0), E(0, 1), E(1, 2), E(2, 3), E(2, 4), E(3, 5)];
        assert_eq!(pass(&mut r, &first), []);
        assert!(r.waiting());
        mark.set(1);
        assert_eq!(pass(&mut r, &[]), [E(0, 0), E(0, 1), E(1, 2)]);
        // More arrive while some still wait: behind them, even if already durable.
        mark.set(2);
        assert_eq!(pass(&mut r, &[E(4, 6)]), [E(2, 3), E(2, 4)]);
        mark.set(4);
        assert_eq!(
            pass(&mut r, &[E(4, 7), E(5, 8)]),
            [E(3, 5), E(4, 6), E(4, 7)]
        );
        assert!(r.waiting(), "command 5 is not durable");
        mark.set(5);
        assert_eq!(pass(&mut r, &[]), [E(5, 8)]);
        assert!(!r.waiting());
        // Caught up: what is durable on arrival passes at once.
        assert_eq!(pass(&mut r, &[E(5, 9)]), [E(5, 9)]);
    }

    #[test]
    fn the_publisher_wakes_readers_only_for_what_is_durable() {
        let mark = DurableMark::new();
        assert!(!mark.passes(0), "nothing is durable at first");
        mark.set(4);
        assert!(mark.passes(3));
        assert!(mark.passes(4), "the mark's own command may leave");
        assert!(
            !mark.passes(5),
            "a command past the mark waits for the journal's wake"
        );
    }

    #[test]
    fn every_event_passes_exactly_once_whatever_the_interleaving() {
        // A deterministic walk: events of commands 0..200 arrive in chunks while the
        // durable mark moves by its own steps; at the end all passed, in order, and
        // none before its command was durable.
        let mark = DurableMark::new();
        let mut r = Release::new(mark.clone(), 8);
        let events: Vec<E> = (0..200)
            .flat_map(|c| (0..3).map(move |k| E(c, (c * 3 + k) as u32)))
            .collect();
        let mut passed = Vec::new();
        let (mut at, mut durable, mut step) = (0, -1i64, 1u64);
        while passed.len() < events.len() {
            step = step
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let take = ((step >> 60) as usize).min(events.len() - at);
            durable = (durable + ((step >> 33) % 5) as i64).min(199);
            mark.set(durable);
            r.pass(&events[at..at + take], |e| {
                assert!(e.0 <= durable, "{e:?} passed at durable {durable}");
                passed.push(*e);
            });
            at += take;
            if at == events.len() && durable < 199 {
                durable = 199;
            }
        }
        assert_eq!(passed, events);
    }
}
