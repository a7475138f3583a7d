//! `bourse`: the one binary of the platform. `main` only parses arguments and dispatches
//! to a subcommand module. With no subcommand it runs the whole platform in one process
//! ([`all_cmd`]); `bourse serve ROLE` runs one role on its own.

mod all_cmd;
mod auto_cmd;
mod bridge_cmd;
mod demo;
mod demo_bench;
mod end_of_day_cmd;
mod http_role;
mod loadgen_cmd;
mod metrics_args;
mod notification_cmd;
mod order_cmd;
mod portfolio_cmd;
mod replay_cmd;
mod serve_cmd;
mod stock_cmd;
mod trader_cmd;
mod user_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Bourse: a stock exchange and trading platform.
#[derive(Parser, Debug)]
#[command(
    name = "bourse",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    all: Box<all_cmd::Args>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run one role on its own: the engine and the binary order gateway (the default),
    /// a service, or `all` of them in one process (as `bourse` with no subcommand).
    Serve(Box<ServeCmd>),
    /// Run commands (JSON Lines, or a journal) through a fresh engine; print events as JSON Lines.
    Replay(replay_cmd::Args),
    /// Load the gateway with the exchange-core workload at a fixed rate; report round trips.
    Loadgen(loadgen_cmd::Args),
    /// Publish the engine's events (from the journal) to RabbitMQ, resuming after restarts.
    Bridge(bridge_cmd::Args),
    /// Settle executions from RabbitMQ into PostgreSQL (the order service).
    Order(order_cmd::Args),
    /// End the trading day on a running engine: every resting DAY order expires.
    EndOfDay(end_of_day_cmd::Args),
}

/// `bourse serve [ROLE]`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct ServeCmd {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    engine: serve_cmd::Args,
}

/// The roles `bourse serve` runs.
#[derive(Subcommand, Debug)]
enum Role {
    /// The engine and the binary order gateway (the default).
    Engine(serve_cmd::Args),
    /// The user service: accounts, logins, API keys (HTTP).
    User(user_cmd::Args),
    /// The trader service: orders and the account in Alpaca's API v2 shapes (HTTP).
    Trader(trader_cmd::Args),
    /// The stock service: assets, the calendar and market data in Alpaca's shapes (HTTP).
    Stock(Box<stock_cmd::Args>),
    /// The portfolio service: each user's live valuation over WebSocket.
    Portfolio(Box<portfolio_cmd::Args>),
    /// The auto service: stop, stop-limit and trailing-stop orders, fired when a trade
    /// triggers them.
    Auto(Box<auto_cmd::Args>),
    /// The notification service: the inbox, its WebSocket and signed webhooks.
    Notification(Box<notification_cmd::Args>),
    /// The bridge: the engine's events from the journal to RabbitMQ (as `bourse bridge`).
    Bridge(bridge_cmd::Args),
    /// Settlement: executions from RabbitMQ into PostgreSQL (as `bourse order`).
    Order(order_cmd::Args),
    /// The whole platform in one process (as `bourse` with no subcommand).
    All(Box<all_cmd::Args>),
}

/// The allocator of every role: the services allocate per request (JSON, HTTP, SQL
/// rows), and glibc's malloc was ~11% of the HTTP order path's samples (PERF.md,
/// "mimalloc"). The engine's hot path does not allocate at all.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs the command; an error is one line on stderr (its causes after colons, never a
/// backtrace, whatever `RUST_BACKTRACE` says) and exit status 1. Output cut short by
/// its reader (`bourse replay ... | head`) is not an error.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if reader_went_away(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bourse: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// `e` and its causes, joined by colons, each said once: a library error that names its
/// cause in its own message (`reading keys.txt: No such file or directory`) and also
/// returns it as its source would otherwise print the cause twice.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Whether `e` comes from writing to a pipe whose reader closed it.
fn reader_went_away(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Cmd::Replay(args)) => replay_cmd::run(args),
        Some(Cmd::Serve(serve)) => match serve.role {
            None => serve_cmd::run_serve(serve.engine),
            Some(Role::Engine(engine)) => serve_cmd::run_serve(engine),
            Some(Role::User(args)) => user_cmd::run(args),
            Some(Role::Trader(args)) => trader_cmd::run(args),
            Some(Role::Stock(args)) => stock_cmd::run(*args),
            Some(Role::Portfolio(args)) => portfolio_cmd::run(*args),
            Some(Role::Auto(args)) => auto_cmd::run(*args),
            Some(Role::Notification(args)) => notification_cmd::run(*args),
            Some(Role::Bridge(args)) => bridge_cmd::run_bridge(args),
            Some(Role::Order(args)) => order_cmd::run_order(args),
            Some(Role::All(args)) => all_cmd::run(*args),
        },
        Some(Cmd::Loadgen(args)) => loadgen_cmd::run_loadgen(args),
        Some(Cmd::Bridge(args)) => bridge_cmd::run_bridge(args),
        Some(Cmd::Order(args)) => order_cmd::run_order(args),
        Some(Cmd::EndOfDay(args)) => end_of_day_cmd::run(args),
        None => all_cmd::run(*cli.all),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let keys = bourse_gateway::keys::KeyFileError::Io {
            path: "keys.txt".into(),
            source: io,
        };
        let e = anyhow::Error::new(keys).context("no API keys");
        assert_eq!(
            format!("{e:#}"),
            "no API keys: reading keys.txt: no such file: no such file"
        );
        assert_eq!(one_line(&e), "no API keys: reading keys.txt: no such file");
        // Causes that do not repeat are all kept.
        let e = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(one_line(&e), "outer: middle: inner");
    }

    /// Clap checks its definitions only when a command is parsed: two arguments of a
    /// role sharing a name would otherwise pass the build and fail at start-up.
    #[test]
    fn every_command_line_is_well_formed() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
