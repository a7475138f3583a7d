//! `bourse replay`: JSON Lines (or a journal) in, events as JSON Lines out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use bourse_replay::Replay;

/// Arguments of `bourse replay`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Commands as JSON Lines: a file, or `-` for standard input.
    #[arg(default_value = "-")]
    input: String,
    /// Append one final line with the end state.
    #[arg(long)]
    state: bool,
}

/// Runs the replay to standard output.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut replay = Replay::default();
    let input: Box<dyn BufRead> = if args.input == "-" {
        Box::new(io::stdin().lock())
    } else {
        let f = File::open(PathBuf::from(&args.input))
            .with_context(|| format!("opening {}", args.input))?;
        Box::new(BufReader::new(f))
    };
    replay.run(input, &mut out)?;
    if args.state {
        replay.write_state(&mut out)?;
    }
    out.flush()?;
    Ok(())
}
