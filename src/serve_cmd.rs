//! `bourse serve`: the engine and the binary gateway, recovering from the data directory.
//! With `--demo`, also instruments, funded users and simulated market makers trading
//! over the gateway, with a live status line.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, bail};
use bourse_core::{Command, Engine, EngineConfig};
use bourse_gateway::keys::{KeyStore, SharedKeys};
use bourse_gateway::server::{GatewayConfig, run};

use crate::demo;

/// Arguments of `bourse serve`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Journal and snapshots live here; the next start recovers from them.
    #[arg(long, env = "BOURSE_DATA_DIR", default_value = "data")]
    pub(crate) data_dir: PathBuf,
    /// ZeroMQ endpoint of the order gateway.
    #[arg(
        long,
        env = "BOURSE_GATEWAY_BIND",
        default_value = "tcp://127.0.0.1:5555"
    )]
    pub(crate) bind: String,
    /// ZeroMQ PUB endpoint of the market data feed (`off`: no feed).
    #[arg(long, env = "BOURSE_FEED_BIND", default_value = "tcp://127.0.0.1:5556")]
    pub(crate) feed: String,
    /// API keys, one `KEY_ID USER SHA256_HEX_OF_SECRET` a line [default: DATA_DIR/keys.txt].
    #[arg(long, env = "BOURSE_KEYS")]
    pub(crate) keys: Option<PathBuf>,
    /// Also accept the user service's API keys from this PostgreSQL database, polled
    /// every 500 ms: a key made over HTTP logs in here within a second, a revoked one
    /// is refused (and its sessions logged out). The key file becomes optional.
    #[arg(long, env = "BOURSE_KEYS_DB")]
    pub(crate) keys_db: Option<String>,
    /// The PostgreSQL schema of the user service's tables (with `--keys-db`).
    #[arg(long, env = "BOURSE_KEYS_DB_SCHEMA")]
    pub(crate) keys_db_schema: Option<String>,
    /// The HTTP services' key on the gateway: its id (with `--service-secret`).
    #[arg(long, env = "BOURSE_SERVICE_KEY_ID", default_value = "service")]
    pub(crate) service_key_id: String,
    /// The HTTP services' key: its 32-character secret, the one they log in with. Adds
    /// that service key to the key file's (no need to write it into the file).
    #[arg(long, env = "BOURSE_SERVICE_SECRET", hide_env_values = true)]
    pub(crate) service_secret: Option<String>,
    /// Commands in the replay format (JSON Lines) applied once, on an empty journal:
    /// instruments, users, deposits.
    #[arg(long)]
    pub(crate) bootstrap: Option<PathBuf>,
    /// Messages per second per session (0: unlimited).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) throttle: u32,
    /// Pin the engine thread to this core.
    #[arg(long)]
    pub(crate) engine_core: Option<usize>,
    /// Busy-spin the pipeline threads (for dedicated cores) instead of yielding.
    #[arg(long)]
    pub(crate) spin: bool,
    /// Snapshot every this many commands (0: never): a restart replays at most this
    /// many after loading the newest snapshot.
    #[arg(long, default_value_t = bourse_gateway::server::SNAPSHOT_EVERY_COMMANDS)]
    pub(crate) snapshot_every: u64,
    /// Preallocate journal segments of this many MiB, zero-filled ahead of need, so
    /// that each group commit syncs data and no file size (0: segments grow as written).
    #[arg(long, value_name = "MIB", default_value_t = bourse_gateway::server::JOURNAL_SEGMENT_BYTES >> 20)]
    pub(crate) journal_segment_mib: u64,
    /// A batch of at most this many commands that finds the pipeline idle, while the load
    /// is light (the journal's syncs cover on average at most half that many), is journaled
    /// and executed on the I/O thread itself, with no hand-over between threads (0: every
    /// batch goes through the journal and engine threads; ignored with `--spin`).
    #[arg(long, value_name = "COMMANDS", default_value_t = bourse_gateway::server::INLINE_BATCH)]
    pub(crate) inline_batch: usize,
    /// Add demo instruments, users and simulated market makers with a status line.
    #[arg(long)]
    pub(crate) demo: bool,
    /// Stop after this many seconds (default: run until killed; the journal makes a
    /// kill safe).
    #[arg(long, value_name = "SECS")]
    pub(crate) r#for: Option<u64>,
    #[command(flatten)]
    pub(crate) metrics: crate::metrics_args::MetricsArgs,
}

/// The engine's preallocation in `bourse serve` (the bridge's replica must match it).
pub(crate) fn engine_config() -> EngineConfig {
    EngineConfig {
        orders: 1 << 20,
        levels: 1 << 16,
        ..EngineConfig::default()
    }
}

/// Parses a bootstrap file in the replay format.
fn bootstrap(path: &PathBuf) -> anyhow::Result<Vec<Command>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // Lines are decoded against the state the earlier lines build, as in a replay.
    let mut engine = Engine::default();
    let mut sink = Vec::new();
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let cmd = bourse_replay::json::parse_command(&line, &engine);
        if matches!(cmd, Command::Invalid { .. }) {
            match bourse_replay::json::explain(&line, &engine) {
                Some(why) => bail!("{}: {why} in {line}", path.display()),
                None => bail!("{}: not a command: {line}", path.display()),
            }
        }
        engine.execute(&cmd, &mut sink);
        out.push(cmd);
    }
    Ok(out)
}

/// Runs the gateway (and the demo) until killed or `--for` elapses.
pub(crate) fn run_serve(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let (keys, boot) = if args.demo {
        (demo::keys(), demo::bootstrap())
    } else {
        let path = args
            .keys
            .clone()
            .unwrap_or_else(|| args.data_dir.join("keys.txt"));
        let keys = match KeyStore::load(&path) {
            Err(bourse_gateway::keys::KeyFileError::Io { .. })
                if args.keys_db.is_some() || args.service_secret.is_some() =>
            {
                KeyStore::default()
            }
            other => other.with_context(|| {
                format!(
                    "no API keys: write {} (see docs/protocol.md), give --keys-db, or run with --demo",
                    path.display()
                )
            })?,
        };
        let boot = match &args.bootstrap {
            Some(p) => bootstrap(p)?,
            None => Vec::new(),
        };
        (keys, boot)
    };
    let mut keys = keys;
    if let Some(secret) = &args.service_secret {
        let raw: [u8; 32] = secret
            .as_bytes()
            .try_into()
            .map_err(|_| anyhow::anyhow!("--service-secret must be 32 characters"))?;
        let id = bourse_core::FixedStr::new(&args.service_key_id)
            .map_err(|_| anyhow::anyhow!("--service-key-id: at most 16 characters"))?;
        keys.insert_service(id, bourse_core::UserId(0), &raw);
    }
    let file_keys = keys.clone();
    let mut config = GatewayConfig::new(&args.data_dir, keys);
    if let Some(url) = &args.keys_db {
        follow_key_db(
            url.clone(),
            args.keys_db_schema.clone(),
            file_keys,
            config.keys.clone(),
        );
    }
    config.bind = args.bind.clone();
    config.throttle = args.throttle;
    config.engine_core = args.engine_core;
    config.spin = args.spin;
    config.snapshot_every = args.snapshot_every;
    config.segment_bytes = args.journal_segment_mib << 20;
    config.inline_batch = args.inline_batch;
    config.engine = engine_config();
    config.bootstrap = boot;
    config.feed = (args.feed != "off").then(|| args.feed.clone());
    let metrics = config.metrics.clone();
    bourse_shell::telemetry::set_source("gateway", move |page| metrics.render(page));
    args.metrics.serve("serve")?;
    eprintln!(
        "bourse: gateway on {}, market data on {}, data in {}, {} API keys, throttle {}/s per session{}",
        config.bind,
        config.feed.as_deref().unwrap_or("(off)"),
        config.data_dir.display(),
        config.keys.current().len(),
        config.throttle,
        if config.spin { ", busy-spin" } else { "" }
    );
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(secs) = args.r#for {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    let demo_stop = stop.clone();
    let demo_on = args.demo;
    let demo_metrics = config.metrics.clone();
    run(config, stop, move |ready| {
        eprintln!(
            "bourse: recovered {} journaled commands; listening on {}{}",
            ready.recovered_seq,
            ready.endpoint,
            ready
                .feed_endpoint
                .as_deref()
                .map(|f| format!(", market data on {f}"))
                .unwrap_or_default()
        );
        // The readiness signal for scripts: one line on stdout once orders are taken.
        println!("bourse: ready on {}", ready.endpoint);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        if demo_on {
            demo::start(ready.endpoint, ready.feed_endpoint, demo_metrics, demo_stop);
        }
    })?;
    Ok(())
}

/// Keeps `shared` equal to the key file's keys plus the user service's live keys
/// ([`bourse_user::keys::follow`]), on a thread of its own.
fn follow_key_db(url: String, schema: Option<String>, file: KeyStore, shared: SharedKeys) {
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return eprintln!("bourse: key database follower: {e}"),
        };
        rt.block_on(async move {
            // A database that is down (or busy) at the start is waited for: giving up
            // would leave the gateway deaf to every key made from now on.
            let mut said = false;
            let pool = loop {
                match bourse_shell::db::pool(&url, schema.as_deref(), 1).await {
                    Ok(pool) => break pool,
                    Err(e) if !said => {
                        eprintln!("bourse: key database {url}: {e}; retrying every second");
                        said = true;
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            };
            if said {
                eprintln!("bourse: key database {url} answers; following its keys");
            }
            let forever = Arc::new(AtomicBool::new(false));
            let store = Arc::new(bourse_user::store::pg::PgUserStore::new(pool));
            bourse_user::keys::follow(store, file, shared, forever).await;
        });
    });
}
