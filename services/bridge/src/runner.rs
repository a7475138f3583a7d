//! The bridge's loop: read, replay, publish, confirm, checkpoint; reconnect on failure.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bourse_bus::{BusError, Message, Publisher};
use bourse_core::{Engine, EngineConfig, Event};

use crate::messages::event_messages;
use crate::tail::{Damaged, HeadProbe, JournalTail};
use crate::{BridgeError, Checkpoint};

/// How the bridge runs.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// The gateway's data directory (journal and snapshots).
    pub journal_dir: PathBuf,
    /// The engine configuration the gateway runs with (the replica must match it).
    pub engine: EngineConfig,
    /// Most commands per published batch (one wait for confirms per batch).
    pub batch: usize,
    /// How long to wait before looking at the journal again when it has nothing new.
    pub poll: Duration,
    /// How often `on_progress` hears where the bridge is even when nothing moved.
    pub report: Duration,
}

impl BridgeConfig {
    /// Defaults for a data directory: batches of up to 2,048 commands, 1 ms polls.
    pub fn new(journal_dir: impl Into<PathBuf>, engine: EngineConfig) -> Self {
        BridgeConfig {
            journal_dir: journal_dir.into(),
            engine,
            batch: 2_048,
            poll: Duration::from_millis(1),
            report: Duration::from_secs(1),
        }
    }
}

/// What the bridge reports after each confirmed batch, and every
/// [`report`](BridgeConfig::report) interval whether or not anything moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Where it is now.
    pub checkpoint: Checkpoint,
    /// The last command written to the journal, as of the last report interval.
    pub journal_head: u64,
    /// Messages confirmed since it started.
    pub published: u64,
    /// Batches that had to be published again after a failure.
    pub retries: u64,
    /// The damaged record at the journal's tail the bridge is waiting at (a crashed
    /// writer's torn write, which the writer's recovery cuts), if any.
    pub waiting_at: Option<Damaged>,
}

impl Progress {
    /// Commands written to the journal but not yet confirmed by the bus.
    pub fn lag(&self) -> u64 {
        self.journal_head.saturating_sub(self.checkpoint.cmd_seq)
    }

    /// Sets the process's `bourse_bridge_*` metrics to where the bridge stands.
    pub fn export(&self) {
        metrics::gauge!("bourse_bridge_command_seq").set(self.checkpoint.cmd_seq as f64);
        metrics::gauge!("bourse_bridge_event_seq").set(self.checkpoint.event_seq as f64);
        metrics::gauge!("bourse_bridge_journal_head_seq").set(self.journal_head as f64);
        metrics::gauge!("bourse_bridge_lag_commands").set(self.lag() as f64);
        metrics::gauge!("bourse_bridge_waiting_at_damage")
            .set(f64::from(u8::from(self.waiting_at.is_some())));
        metrics::counter!("bourse_bridge_published_messages_total").absolute(self.published);
        metrics::counter!("bourse_bridge_retries_total").absolute(self.retries);
    }
}

/// A batch of messages and where the bridge stands once the broker confirmed it.
struct Batch {
    messages: Vec<Message>,
    checkpoint: Checkpoint,
}

/// The journal's reader and the replica engine it feeds.
struct Replica {
    engine: Engine,
    tail: JournalTail,
    commands: Vec<bourse_journal::Entry>,
    events: Vec<Event>,
    /// The account stream's last event so far.
    account_seq: Option<u64>,
}

impl Replica {
    /// The messages of up to `max` new commands (`None`: nothing new yet).
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, BridgeError> {
        self.commands.clear();
        if self.tail.read(max, &mut self.commands)? == 0 {
            return Ok(None);
        }
        let mut messages = Vec::new();
        for entry in &self.commands {
            self.events.clear();
            self.engine.execute(&entry.cmd, &mut self.events);
            for e in &self.events {
                event_messages(e, entry, &self.engine, &mut self.account_seq, &mut messages);
            }
        }
        Ok(Some(Batch {
            messages,
            checkpoint: Checkpoint {
                cmd_seq: self.tail.next_seq() - 1,
                event_seq: self.engine.seq().0,
                account_seq: self.account_seq,
            },
        }))
    }
}

/// Runs until `shutdown` is set: follows the journal from the checkpoint and publishes
/// every event through a publisher from `connect` (called again after any failure,
/// with a back-off). `on_progress` hears about every confirmed batch and, at least every
/// `config.report`, where the bridge stands against the journal's head.
///
/// Returns an error, and stops, when the journal cannot be read on from the checkpoint
/// (a gap, a corrupt record): the caller exits non-zero so that a supervisor and an
/// operator see it, rather than a bridge that silently stops publishing.
pub async fn run<P, C, F>(
    config: BridgeConfig,
    mut connect: C,
    shutdown: Arc<AtomicBool>,
    mut on_progress: impl FnMut(Progress),
) -> Result<(), BridgeError>
where
    P: Publisher,
    C: FnMut() -> F,
    F: Future<Output = Result<P, BusError>>,
{
    let dir = &config.journal_dir;
    let mut checkpoint = Checkpoint::load(dir)?;
    let mut replica = Replica {
        engine: if checkpoint.cmd_seq == 0 {
            Engine::new(config.engine)
        } else {
            bourse_journal::state_at(dir, checkpoint.cmd_seq, config.engine)?
        },
        tail: JournalTail::new(dir, checkpoint.cmd_seq + 1),
        commands: Vec::with_capacity(config.batch),
        events: Vec::new(),
        account_seq: checkpoint.account_seq,
    };
    let mut publisher: Option<P> = None;
    // The batch being published, and the one made while it was in flight: published
    // in order, each checkpointed once confirmed.
    let mut current: Option<Batch> = None;
    let mut next: Option<Batch> = None;
    let mut progress = Progress {
        checkpoint,
        journal_head: 0,
        published: 0,
        retries: 0,
        waiting_at: None,
    };
    let mut head = HeadProbe::default();
    let mut next_report = tokio::time::Instant::now();
    let mut backoff = Duration::from_millis(50);
    while !shutdown.load(Ordering::Relaxed) {
        if tokio::time::Instant::now() >= next_report {
            next_report = tokio::time::Instant::now() + config.report;
            progress.journal_head = head.head(dir)?.max(checkpoint.cmd_seq);
            progress.waiting_at = replica.tail.damaged().cloned();
            on_progress(progress.clone());
        }
        if current.is_none() {
            current = match next.take() {
                Some(b) => Some(b),
                None => replica.next_batch(config.batch)?,
            };
        }
        let Some(batch) = current.as_ref() else {
            tokio::time::sleep(config.poll).await;
            continue;
        };
        let p = match publisher.as_mut() {
            Some(p) => p,
            None => match connect().await {
                Ok(p) => publisher.insert(p),
                Err(e) => {
                    eprintln!("bourse-bridge: cannot reach the broker ({e}); retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            },
        };
        // While the broker takes this batch, make the next one: the publish sends its
        // frames on its first poll (`join!` polls it first), then waits for confirms
        // that the connection's own task receives.
        let make_next = next.is_none();
        let (published, made) = tokio::join!(p.publish(&batch.messages), async {
            if make_next {
                replica.next_batch(config.batch)
            } else {
                Ok(None)
            }
        });
        if let Some(b) = made? {
            next = Some(b);
        }
        match published {
            Ok(()) => {
                batch.checkpoint.save(dir)?;
                checkpoint = batch.checkpoint;
                progress.published += batch.messages.len() as u64;
                progress.checkpoint = checkpoint;
                current = None;
                backoff = Duration::from_millis(50);
                on_progress(progress.clone());
            }
            Err(e) => {
                eprintln!(
                    "bourse-bridge: publishing events to {} failed ({e}); reconnecting",
                    batch.checkpoint.event_seq
                );
                publisher = None;
                progress.retries += 1;
                tokio::time::sleep(backoff).await;
            }
        }
    }
    Ok(())
}
