//! # bourse-replay
//!
//! The replay format of `docs/replay-format.md`: commands in as JSON Lines, events
//! out as JSON Lines, and the end state. [`json`] is the codec; [`Replay`] drives a fresh
//! engine with it exactly as the live pipeline would.
//!
//! **Architecture invariant:** a line that cannot be decoded never stops a replay; it
//! becomes a [`Command::Invalid`], so the engine records
//! the rejection with its own sequence number.

pub mod json;

use std::io::{self, BufRead, Write};

use bourse_core::{Command, Engine, EngineConfig, Event};

/// A fresh engine fed with decoded commands, writing events as JSON Lines.
#[derive(Debug, Default)]
pub struct Replay {
    engine: Engine,
    events: Vec<Event>,
    /// Commands applied.
    pub commands: u64,
    /// Events written.
    pub events_out: u64,
}

impl Replay {
    /// A replay over an empty engine sized by `config`.
    pub fn new(config: EngineConfig) -> Self {
        Replay {
            engine: Engine::new(config),
            ..Default::default()
        }
    }

    /// A replay that goes on from `engine` (a snapshot's state, say).
    pub fn from_engine(engine: Engine) -> Self {
        Replay {
            engine,
            ..Default::default()
        }
    }

    /// The engine, as the commands so far left it.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Decodes one JSON line and applies it (blank lines are skipped).
    pub fn apply_line(&mut self, line: &str, out: &mut impl Write) -> io::Result<()> {
        if line.trim().is_empty() {
            return Ok(());
        }
        let cmd = json::parse_command(line, &self.engine);
        self.apply(&cmd, out)
    }

    /// Applies one command and writes its events.
    pub fn apply(&mut self, cmd: &Command, out: &mut impl Write) -> io::Result<()> {
        self.events.clear();
        self.engine.execute(cmd, &mut self.events);
        self.commands += 1;
        for e in &self.events {
            let object = json::EventObject {
                event: e,
                engine: &self.engine,
            };
            serde_json::to_writer(&mut *out, &object)?;
            out.write_all(b"\n")?;
            self.events_out += 1;
        }
        Ok(())
    }

    /// Reads every line of `input`, writing events to `out`.
    pub fn run(&mut self, input: impl BufRead, out: &mut impl Write) -> io::Result<()> {
        self.run_explained(input, out, |_, _| {})
    }

    /// As [`run`](Self::run), telling `malformed` the number (from 1) of each line that
    /// was malformed and why; the replay goes on as always.
    pub fn run_explained(
        &mut self,
        input: impl BufRead,
        out: &mut impl Write,
        mut malformed: impl FnMut(u64, json::Malformed),
    ) -> io::Result<()> {
        for (n, line) in input.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let cmd = json::parse_command(&line, &self.engine);
            if let Command::Invalid {
                reason: bourse_core::RejectReason::Malformed,
                ..
            } = cmd
                && let Some(why) = json::explain(&line, &self.engine)
            {
                malformed(n as u64 + 1, why);
            }
            self.apply(&cmd, out)?;
        }
        Ok(())
    }

    /// Writes the `{"state": ...}` line.
    pub fn write_state(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, &json::state_to_json(&self.engine.state()))?;
        out.write_all(b"\n")
    }
}

/// Replays `input` through a fresh engine and returns the output as a string: the
/// scenario tests' entry point.
pub fn replay_str(input: &str, with_state: bool) -> String {
    let mut r = Replay::default();
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = r.run(input.as_bytes(), &mut out);
    if with_state {
        let _ = r.write_state(&mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}
