//! `bourse replay`: JSON Lines (or a journal) in, events as JSON Lines out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bourse_journal::Records;
use bourse_replay::Replay;

/// Arguments of `bourse replay`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Commands as JSON Lines: a file, or `-` for standard input.
    #[arg(default_value = "-", conflicts_with = "journal")]
    input: String,
    /// Replay a journal instead: a segment file, or a journal directory (all its
    /// segments; when the oldest were pruned after a snapshot, from that snapshot's
    /// state on). Files are only read, never repaired.
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// Append one final line with the end state.
    #[arg(long)]
    state: bool,
}

/// Runs the replay to standard output.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut replay = Replay::default();
    match &args.journal {
        Some(path) => replay_journal(path, &mut replay, &mut out)?,
        None => {
            let input: Box<dyn BufRead> = if args.input == "-" {
                Box::new(io::stdin().lock())
            } else {
                let f =
                    File::open(&args.input).with_context(|| format!("opening {}", args.input))?;
                Box::new(BufReader::new(f))
            };
            let source = args.input.clone();
            replay.run_explained(input, &mut out, |line, why| {
                eprintln!("bourse replay: {source}:{line}: malformed, {why} (rejected; the replay goes on)");
            })?;
        }
    }
    if args.state {
        replay.write_state(&mut out)?;
    }
    out.flush()?;
    Ok(())
}

fn replay_journal(path: &Path, replay: &mut Replay, out: &mut impl Write) -> anyhow::Result<()> {
    let files = if path.is_dir() {
        bourse_journal::segments(path)?
    } else {
        vec![path.to_path_buf()]
    };
    let mut expected = 1;
    if path.is_dir()
        && let Some(first) = files
            .first()
            .and_then(|f| bourse_journal::segment_first_seq(f))
        && first > 1
    {
        // Segments before a snapshot are pruned: start from the snapshot they led to.
        let snap = path.join(format!("snap-{:020}.bin", first - 1));
        let (seq, state) = bourse_journal::read_snapshot(&snap)
            .ok()
            .flatten()
            .with_context(|| {
                format!(
                    "{} starts at command {first} and {} is missing or damaged: commands 1 to {} cannot be replayed",
                    files[0].display(),
                    snap.display(),
                    first - 1
                )
            })?;
        eprintln!(
            "bourse replay: commands 1 to {seq} were pruned after a snapshot; starting from {}",
            snap.display()
        );
        *replay = Replay::from_engine(bourse_core::Engine::from_state(
            &state,
            crate::serve_cmd::engine_config(),
        ));
        expected = seq + 1;
    }
    for (i, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let mut records = Records::from_start(&bytes);
        for (seq, cmd) in records.by_ref() {
            // The records of a segment follow on from its first (`Records` checks), so
            // only the first can be out of place. A segment with none (empty, or a
            // preallocated one not yet written to) is no gap.
            if seq != expected {
                bail!(
                    "{} starts at command {seq} where {expected} was due (journal pruned after a snapshot?)",
                    file.display(),
                );
            }
            replay.apply(&cmd, out)?;
            expected = seq + 1;
        }
        if let Some(e) = records.error {
            let tail = if i + 1 == files.len() {
                " (torn tail: stopped there)"
            } else {
                ""
            };
            eprintln!(
                "bourse replay: {} at byte {}: {e}{tail}",
                file.display(),
                records.valid_len()
            );
            if i + 1 != files.len() {
                bail!("corrupt journal segment {}", file.display());
            }
        }
    }
    Ok(())
}
