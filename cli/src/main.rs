//! `bourse`: the one binary of the platform. `main` only parses arguments and dispatches
//! to a subcommand module.

mod replay_cmd;

use clap::{Parser, Subcommand};

/// Bourse: a stock exchange and trading platform.
#[derive(Parser, Debug)]
#[command(name = "bourse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run commands (JSON Lines, or a journal) through a fresh engine; print events as JSON Lines.
    Replay(replay_cmd::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Replay(args) => replay_cmd::run(args),
    }
}
