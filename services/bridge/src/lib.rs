//! # bourse-bridge
//!
//! The broker bridge: engine events onto the bus, at least once, in order.
//!
//! The engine's durable output is its journal: the events are a deterministic function
//! of the commands. So the bridge follows the journal ([`tail`]), runs each command
//! through a replica engine to get exactly the events the gateway's engine produced,
//! turns them into messages ([`messages`]), publishes them in batches and waits for the
//! broker's confirms, and only then records how far it got ([`checkpoint`]). After any
//! restart — its own, the broker's, the gateway's — it rebuilds the replica at the
//! checkpoint from the journal (snapshot + replay) and carries on from there; a batch
//! that was published but not confirmed is published again, and consumers drop what
//! they have seen by sequence number.
//!
//! Map: [`tail`], [`messages`], [`checkpoint`], [`run`](crate::run()).

pub mod checkpoint;
pub mod messages;
mod runner;
pub mod tail;

pub use checkpoint::Checkpoint;
pub use runner::{BridgeConfig, Progress, run};
pub use tail::{Damaged, HeadProbe, JournalTail};

/// Errors of the bridge.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] bourse_journal::JournalError),
    /// A file operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The journal skips commands the bridge has not read.
    #[error("journal gap: expected command {expected}, the next segment starts at {found}")]
    Gap {
        /// The command the bridge needs next.
        expected: u64,
        /// Where the journal continues.
        found: u64,
    },
    /// The checkpoint file is not two or three numbers.
    #[error("unreadable checkpoint: {0:?}")]
    BadCheckpoint(String),
}
