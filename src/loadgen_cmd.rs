//! `bourse loadgen`: the exchange-core workload over ZeroMQ, open loop at a fixed rate,
//! with round-trip percentiles measured from each command's *intended* send time (no
//! coordinated omission), beside a bare ZeroMQ echo at the same rate and message size.
//!
//! It starts the servers itself, each as a child process of this binary (a fresh data
//! directory, the workload's users as API keys, the same deterministic workload), so
//! one command measures the whole path, with the client and the server in separate
//! processes as in production: client encode → ZeroMQ → gateway decode → ring →
//! journal fsync → engine → ring → report encode → ZeroMQ → client. `--loadgen-core`
//! and `--gateway-core` place the processes on cores.
//!
//! The gateway child also reports where the time went inside it: its stage histograms
//! (`bourse_gateway::metrics`: arrival → durable → matched → reported, each from the
//! frame's arrival), the journal's `fdatasync` per batch and the commands per batch,
//! printed in the report beside the round trip.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bourse_core::{Command, FixedStr, OrderType, UserId};
use bourse_gateway::keys::KeyStore;
use bourse_gateway::metrics::{Percentiles, Stage};
use bourse_gateway::protocol::{ClientMsg, EnterOrder, ServerMsg, decode_server, encode_client};
use bourse_gateway::server::{GatewayConfig, run};
use bourse_workload::{WorkloadConfig, generate};
use hdrhistogram::Histogram;

/// Arguments of `bourse loadgen`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Offered rate, commands per second (all sessions together); a comma-separated
    /// list runs each rate in turn (a sweep), each on fresh servers.
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    rate: Vec<u64>,
    /// Seconds to send for.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Sessions (one user each) the workload is spread over.
    #[arg(long, default_value_t = 8)]
    sessions: u64,
    /// Pin the gateway's engine thread to this core.
    #[arg(long)]
    engine_core: Option<usize>,
    /// Pin the gateway process (and the echo server) to this core.
    #[arg(long)]
    gateway_core: Option<usize>,
    /// Pin the load generator's sending thread to this core.
    #[arg(long)]
    loadgen_core: Option<usize>,
    /// Busy-spin the gateway's threads (for dedicated cores).
    #[arg(long)]
    spin: bool,
    /// The gateway's journal segments, preallocated, in MiB (0: segments grow as
    /// written).
    #[arg(long, value_name = "MIB", default_value_t = bourse_gateway::server::JOURNAL_SEGMENT_BYTES >> 20)]
    journal_segment_mib: u64,
    /// The gateway's small batches: a batch of at most this many commands that finds the
    /// pipeline idle, while the load is light (the journal's syncs cover on average at most
    /// half that many), is journaled and executed on the I/O thread itself, with no
    /// hand-over between threads (0: every batch goes through the journal and engine
    /// threads; ignored with `--spin`).
    #[arg(long, value_name = "COMMANDS", default_value_t = bourse_gateway::server::INLINE_BATCH)]
    inline_batch: usize,
    /// Write `loadgen.md` and `loadgen.json` here.
    #[arg(long, default_value = "target/loadgen")]
    out: PathBuf,
    /// Instead of the exchange-core workload, the demo's participants (as under `bourse
    /// serve --demo`), against a floor that answers at once and then the gateway,
    /// `--reps` times, `--seconds` each; prints a table (`--rate` and the placement
    /// options do not apply).
    #[arg(long)]
    demo: bool,
    /// With `--demo`: how many (floor, gateway) pairs.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Internal: run as the load generator's child server (`gateway` or `echo`).
    #[arg(long, hide = true)]
    role: Option<Role>,
}

/// The servers the load generator starts as child processes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The Bourse gateway, with the workload's setup journaled.
    Gateway,
    /// A bare ZeroMQ ROUTER echoing every frame.
    Echo,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Echo => "echo",
        }
    }
}

impl Args {
    /// The rate of a single run (the first of the list).
    fn rate(&self) -> u64 {
        self.rate.first().copied().unwrap_or(100_000)
    }

    /// These arguments for one run at `rate`.
    fn at(&self, rate: u64) -> Args {
        Args {
            rate: vec![rate],
            ..self.clone()
        }
    }
}

fn pin(core: Option<usize>) -> anyhow::Result<()> {
    if let Some(id) = core {
        anyhow::ensure!(
            core_affinity::set_for_current(core_affinity::CoreId { id }),
            "cannot pin to core {id}"
        );
    }
    Ok(())
}

/// A child server: its endpoint, its output, and the pipe whose closing stops it.
struct Child {
    process: std::process::Child,
    endpoint: String,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Child {
    /// Starts this binary as `role` with the same arguments; waits for its endpoint.
    fn start(args: &Args, role: Role) -> anyhow::Result<Child> {
        use std::io::BufRead;
        let exe = std::env::current_exe().context("finding this binary")?;
        let mut cmd = std::process::Command::new(exe);
        cmd.args([
            "loadgen",
            "--role",
            role.name(),
            "--rate",
            &args.rate().to_string(),
            "--seconds",
            &args.seconds.to_string(),
            "--sessions",
            &args.sessions.to_string(),
            "--journal-segment-mib",
            &args.journal_segment_mib.to_string(),
            "--inline-batch",
            &args.inline_batch.to_string(),
        ]);
        if let Some(c) = args.engine_core {
            cmd.args(["--engine-core", &c.to_string()]);
        }
        if let Some(c) = args.gateway_core {
            cmd.args(["--gateway-core", &c.to_string()]);
        }
        if args.spin {
            cmd.arg("--spin");
        }
        let mut process = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("starting the server")?;
        let stdout = process.stdout.take().context("server stdout")?;
        let mut stdout = std::io::BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let endpoint = line
            .strip_prefix("ready ")
            .map(|e| e.trim().to_string())
            .with_context(|| format!("the {} server did not start", role.name()))?;
        Ok(Child {
            process,
            endpoint,
            stdout,
        })
    }

    /// Stops the server and returns what it printed after its endpoint.
    fn finish(mut self) -> Vec<String> {
        use std::io::BufRead;
        drop(self.process.stdin.take());
        let mut lines = Vec::new();
        let mut line = String::new();
        while matches!(self.stdout.read_line(&mut line), Ok(n) if n > 0) {
            lines.push(line.trim_end().to_string());
            line.clear();
        }
        lines
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        drop(self.process.stdin.take()); // the child stops when its stdin closes
        let _ = self.process.wait();
    }
}

/// A child server's stop flag: set when the parent closes our stdin (or dies).
fn stop_on_stdin_close() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        flag.store(true, Ordering::Relaxed);
    });
    stop
}

fn announce(endpoint: &str) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready {endpoint}");
    let _ = out.flush();
}

/// Runs as a child server until the parent closes stdin.
fn serve_role(args: &Args, role: Role) -> anyhow::Result<()> {
    // Pin first: every thread started from here on (ZeroMQ's, the pipeline's) inherits it.
    pin(args.gateway_core)?;
    let stop = stop_on_stdin_close();
    match role {
        Role::Echo => {
            let ctx = zmq::Context::new();
            let server = ctx.socket(zmq::ROUTER)?;
            server.set_linger(0)?;
            server.set_sndhwm(1_000_000)?;
            server.set_rcvhwm(1_000_000)?;
            server.bind("tcp://127.0.0.1:*")?;
            let endpoint = server
                .get_last_endpoint()?
                .map_err(|_| anyhow::anyhow!("endpoint"))?;
            announce(&endpoint);
            while !stop.load(Ordering::Relaxed) {
                if server.poll(zmq::POLLIN, 50)? == 0 {
                    continue;
                }
                while let Ok(parts) = server.recv_multipart(zmq::DONTWAIT) {
                    let _ = server.send_multipart(parts, zmq::DONTWAIT);
                }
            }
        }
        Role::Gateway => {
            let (w, _) = workload(args);
            let mut keys = KeyStore::default();
            for u in 1..=args.sessions {
                keys.insert(key(u), UserId(u), &secret(u));
            }
            let dir = tempfile::tempdir().context("temp data dir")?;
            let mut config = GatewayConfig::new(dir.path(), keys);
            config.bind = "tcp://127.0.0.1:*".into();
            config.throttle = 0;
            config.engine_core = args.engine_core;
            config.spin = args.spin;
            config.engine = w.config.engine_config();
            config.bootstrap = w.setup;
            config.snapshot_every = 0;
            config.segment_bytes = args.journal_segment_mib << 20;
            config.inline_batch = args.inline_batch;
            let metrics = config.metrics.clone();
            run(config, stop, |r| announce(&r.endpoint))?;
            // Where the time went, for the parent's report.
            use std::io::Write;
            let mut out = std::io::stdout();
            for (name, h) in [
                ("durable", metrics.stage(Stage::Durable)),
                ("matched", metrics.stage(Stage::Matched)),
                ("reported", metrics.stage(Stage::Reported)),
                ("fsync", metrics.fsync()),
            ] {
                let p = h.percentiles();
                let _ = writeln!(
                    out,
                    "stage {name} {} {} {} {} {}",
                    p.count, p.p50, p.p90, p.p99, p.p999
                );
            }
            let _ = writeln!(out, "executed {}", metrics.executed());
            let _ = writeln!(out, "inline {}", metrics.inline());
            let _ = out.flush();
        }
    }
    Ok(())
}

fn workload(args: &Args) -> (bourse_workload::Workload, usize) {
    let n = (args.rate() * args.seconds) as usize;
    let w = generate(WorkloadConfig {
        users: args.sessions,
        ..WorkloadConfig::single_symbol(n)
    });
    (w, n)
}

/// Inside the gateway: percentiles (µs) of each stage, `fdatasync` per batch, and the
/// commands executed.
#[derive(Default)]
struct Inside {
    stages: Vec<(String, Percentiles)>,
    executed: u64,
    /// Of those, run on the I/O thread (small batches that found the pipeline idle).
    inline: u64,
}

impl Inside {
    /// Reads what the gateway child printed when it stopped.
    fn parse(lines: &[String]) -> Inside {
        let mut inside = Inside::default();
        for l in lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["stage", name, count, p50, p90, p99, p999] => {
                    let n = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
                    inside.stages.push((
                        (*name).to_string(),
                        Percentiles {
                            count: count.parse().unwrap_or(0),
                            p50: n(p50),
                            p90: n(p90),
                            p99: n(p99),
                            p999: n(p999),
                        },
                    ));
                }
                ["executed", n] => inside.executed = n.parse().unwrap_or(0),
                ["inline", n] => inside.inline = n.parse().unwrap_or(0),
                _ => {}
            }
        }
        inside
    }
}

/// Round-trip percentiles in microseconds.
struct Summary {
    name: String,
    sent: u64,
    answered: u64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

fn summarize(name: &str, sent: u64, h: &Histogram<u64>) -> Summary {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
    Summary {
        name: name.into(),
        sent,
        answered: h.len(),
        p50: us(0.5),
        p90: us(0.9),
        p99: us(0.99),
        p999: us(0.999),
        max: h.max() as f64 / 1_000.0,
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).context("histogram")
}

/// How long the sending loop naps when it has nothing to do (about 30 µs in practice).
const IDLE_NAP: Duration = Duration::from_micros(10);

/// Sends `n` messages at `rate` over `sockets` from a thread pinned to `core` (the
/// process stays unpinned, so the servers it starts are too): each message at its
/// intended time, with `frame_for` saying which socket; replies are read meanwhile and
/// `matched` maps one to the intended time of the message it answers.
fn open_loop(
    core: Option<usize>,
    rate: u64,
    n: usize,
    sockets: Vec<zmq::Socket>,
    frame_for: impl FnMut(usize, &mut Vec<u8>) -> usize + Send,
    matched: impl FnMut(usize, &[u8]) -> Option<u64> + Send,
    h: &mut Histogram<u64>,
) -> anyhow::Result<()> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                pin(core)?;
                paced(rate, n, &sockets, frame_for, matched, h)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the sending thread panicked"))?
    })
}

fn paced(
    rate: u64,
    n: usize,
    sockets: &[zmq::Socket],
    mut frame_for: impl FnMut(usize, &mut Vec<u8>) -> usize,
    mut matched: impl FnMut(usize, &[u8]) -> Option<u64>,
    h: &mut Histogram<u64>,
) -> anyhow::Result<()> {
    // Naps of a few microseconds need a small timer slack (the default is 50 µs); a
    // thread's is /proc/<tid>/timerslack_ns.
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
    if let Some(tid) = tid {
        let _ = std::fs::write(format!("/proc/{tid}/timerslack_ns"), "1000");
    }
    let start = Instant::now();
    let mut buf = Vec::with_capacity(64);
    let mut next = 0usize;
    let mut last_report = Instant::now();
    let deadline_after_send = Duration::from_secs(5);
    let mut sent_all_at = None;
    loop {
        let now = start.elapsed().as_nanos() as u64;
        if next < n {
            let due = (next as u128 * 1_000_000_000 / u128::from(rate)) as u64;
            if now >= due {
                buf.clear();
                let s = frame_for(next, &mut buf);
                sockets[s].send(&buf[..], 0)?;
                next += 1;
                continue;
            }
        } else if sent_all_at.is_none() {
            sent_all_at = Some(Instant::now());
        }
        let mut got = false;
        for (i, sock) in sockets.iter().enumerate() {
            while let Ok(reply) = sock.recv_bytes(zmq::DONTWAIT) {
                got = true;
                if let Some(intended) = matched(i, &reply) {
                    let done = start.elapsed().as_nanos() as u64;
                    h.saturating_record(done.saturating_sub(intended).max(1));
                }
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!("loadgen: sent {next}/{n}, answered {}", h.len());
            last_report = Instant::now();
        }
        if h.len() as usize >= n {
            break;
        }
        if let Some(t) = sent_all_at
            && t.elapsed() > deadline_after_send
        {
            break;
        }
        if !got {
            // Nothing arrived and nothing is due: give the core to the servers (on a
            // machine with few cores, spinning here delays the very replies awaited).
            std::thread::sleep(IDLE_NAP);
        }
    }
    Ok(())
}

/// The floor: a ROUTER that echoes every frame, driven exactly like the gateway.
fn echo_floor(args: &Args, n: usize) -> anyhow::Result<Summary> {
    let server = Child::start(args, Role::Echo)?;
    let endpoint = server.endpoint.clone();
    let ctx = zmq::Context::new();
    let sockets: Vec<zmq::Socket> = (0..args.sessions)
        .map(|_| -> anyhow::Result<zmq::Socket> {
            let s = ctx.socket(zmq::DEALER)?;
            s.set_linger(0)?;
            s.connect(&endpoint)?;
            Ok(s)
        })
        .collect::<anyhow::Result<_>>()?;
    std::thread::sleep(Duration::from_millis(200));
    let mut h = histogram()?;
    let rate = args.rate();
    let sessions = args.sessions as usize;
    open_loop(
        args.loadgen_core,
        rate,
        n,
        sockets,
        |i, buf| {
            // A 56-byte frame, as EnterOrder, carrying its index.
            buf.extend_from_slice(&(i as u64).to_le_bytes());
            buf.resize(56, 0);
            i % sessions
        },
        |_, reply| {
            let i = u64::from_le_bytes(reply.get(..8)?.try_into().ok()?);
            Some((i as u128 * 1_000_000_000 / u128::from(rate)) as u64)
        },
        &mut h,
    )?;
    drop(server);
    Ok(summarize("bare ZeroMQ echo (floor)", n as u64, &h))
}

fn secret(user: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&user.to_le_bytes());
    s
}

fn key(user: u64) -> FixedStr {
    FixedStr::new(&format!("lg-{user}")).unwrap_or_default()
}

/// Which report answers which command, per token, in send order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Awaits {
    Accepted,
    Canceled,
    Replaced,
}

fn gateway_run(args: &Args) -> anyhow::Result<(Summary, u64, Inside)> {
    let (w, n) = workload(args);
    let server = Child::start(args, Role::Gateway)?;
    let ctx = zmq::Context::new();
    let mut sockets = Vec::new();
    let mut frame = Vec::new();
    for u in 1..=args.sessions {
        let s = ctx.socket(zmq::DEALER)?;
        s.set_linger(0)?;
        s.set_sndhwm(1_000_000)?;
        s.set_rcvhwm(1_000_000)?;
        s.connect(&server.endpoint)?;
        frame.clear();
        encode_client(
            &ClientMsg::Login {
                key_id: key(u),
                secret: secret(u),
            },
            &mut frame,
        );
        s.send(&frame[..], 0)?;
        s.poll(zmq::POLLIN, 5_000)?;
        let reply =
            decode_server(&s.recv_bytes(0)?).map_err(|r| anyhow::anyhow!("login: {r:?}"))?;
        anyhow::ensure!(
            reply == ServerMsg::LoginAccepted { user: u },
            "login refused: {reply:?}"
        );
        sockets.push(s);
    }
    let symbol = FixedStr::new("S0").unwrap_or_default();
    let rate = args.rate();
    // Per session, per token: what each command sent is waiting for, in send order.
    type Waiting = HashMap<FixedStr, VecDeque<(Awaits, u64)>>;
    // (A mutex because both closures need it; uncontended, on the sending thread only.)
    let pending: std::sync::Mutex<Vec<Waiting>> =
        std::sync::Mutex::new(vec![HashMap::new(); args.sessions as usize]);
    let mut h = histogram()?;
    let cmds = &w.commands;
    open_loop(
        args.loadgen_core,
        rate,
        n,
        sockets,
        |i, buf| {
            let intended = (i as u128 * 1_000_000_000 / u128::from(rate)) as u64;
            let (msg, user, token, awaits) = match cmds[i] {
                Command::New(o) => (
                    ClientMsg::Enter(EnterOrder {
                        token: o.id,
                        symbol,
                        side: o.side,
                        order_type: OrderType::Limit,
                        tif: o.tif,
                        post_only: o.post_only,
                        price: o.price,
                        qty: o.qty,
                    }),
                    o.user,
                    o.id,
                    Awaits::Accepted,
                ),
                Command::Cancel { user, id } => {
                    (ClientMsg::Cancel { token: id }, user, id, Awaits::Canceled)
                }
                Command::Replace {
                    user,
                    id,
                    new_id,
                    price,
                    qty,
                } => (
                    ClientMsg::Replace {
                        token: id,
                        new_token: new_id,
                        price,
                        qty,
                    },
                    user,
                    id,
                    Awaits::Replaced,
                ),
                _ => (
                    ClientMsg::Heartbeat,
                    UserId(1),
                    FixedStr::default(),
                    Awaits::Accepted,
                ),
            };
            encode_client(&msg, buf);
            let s = (user.0 - 1) as usize;
            pending.lock().unwrap_or_else(|e| e.into_inner())[s]
                .entry(token)
                .or_default()
                .push_back((awaits, intended));
            s
        },
        |s, reply| {
            let (token, kind) = match decode_server(reply).ok()? {
                ServerMsg::Accepted { order, .. } => (order.token, Some(Awaits::Accepted)),
                ServerMsg::Replaced { token, .. } => (token, Some(Awaits::Replaced)),
                ServerMsg::Canceled { token, reason, .. } => match reason {
                    bourse_core::CancelReason::User => (token, Some(Awaits::Canceled)),
                    bourse_core::CancelReason::Replaced => (token, Some(Awaits::Replaced)),
                    _ => return None,
                },
                ServerMsg::Rejected { token: Some(t), .. } => (t, None),
                _ => return None,
            };
            let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
            let queue = pending[s].get_mut(&token)?;
            let &(awaits, intended) = queue.front()?;
            if kind.is_some_and(|k| k != awaits) {
                return None;
            }
            queue.pop_front();
            if queue.is_empty() {
                pending[s].remove(&token);
            }
            Some(intended)
        },
        &mut h,
    )?;
    let inside = Inside::parse(&server.finish());
    Ok((
        summarize(
            "**Bourse gateway** (journal fsync, engine, reports)",
            n as u64,
            &h,
        ),
        w.setup.len() as u64,
        inside,
    ))
}

/// One rate's results.
struct RunResult {
    rate: u64,
    floor: Summary,
    gateway: Summary,
    inside: Inside,
}

fn summary_json(s: &Summary) -> String {
    format!(
        "{{\"sent\":{},\"answered\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
        s.sent, s.answered, s.p50, s.p90, s.p99, s.p999, s.max
    )
}

/// Runs the echo floor and then the gateway at each rate; writes the report.
pub(crate) fn run_loadgen(args: Args) -> anyhow::Result<()> {
    if let Some(role) = args.role {
        return serve_role(&args, role);
    }
    if args.demo {
        return crate::demo_bench::run_pairs(args.seconds, args.reps);
    }
    let mut results = Vec::new();
    let mut setup = 0;
    for &rate in &args.rate {
        let run = args.at(rate);
        let n = (rate * run.seconds) as usize;
        eprintln!("loadgen: bare ZeroMQ echo, {n} messages at {rate}/s…");
        let floor = echo_floor(&run, n)?;
        eprintln!(
            "loadgen: gateway, {n} commands at {rate}/s over {} sessions…",
            run.sessions
        );
        let (gateway, s, inside) = gateway_run(&run)?;
        setup = s;
        results.push(RunResult {
            rate,
            floor,
            gateway,
            inside,
        });
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Round trip over TCP loopback, open loop for {} s per rate, {} sessions, measured \
         from each command's intended send time (exchange-core workload; {setup} setup \
         commands journaled first). Placement: load generator {}, gateway process {}, \
         engine thread {}{}.\n",
        args.seconds,
        args.sessions,
        core_name(args.loadgen_core),
        core_name(args.gateway_core),
        core_name(args.engine_core),
        if args.spin {
            ", busy-spin".to_string()
        } else if args.inline_batch == 0 {
            ", every batch through the journal and engine threads".to_string()
        } else {
            format!(
                ", batches of up to {} commands journaled and executed on the I/O thread when the pipeline is idle",
                args.inline_batch
            )
        }
    );
    let _ = writeln!(
        md,
        "| rate/s | path | sent | answered | 50% | 90% | 99% | 99.9% | worst | p50 / floor |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &results {
        for s in [&r.floor, &r.gateway] {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.2}× |",
                r.rate,
                s.name,
                s.sent,
                s.answered,
                s.p50,
                s.p90,
                s.p99,
                s.p999,
                s.max,
                s.p50 / r.floor.p50.max(0.001)
            );
        }
    }
    let _ = writeln!(
        md,
        "\nInside the gateway, from each command's arrival (frame decoded) to: `durable` \
         (journaled and fsynced), `matched` (executed), `reported` (its last report handed \
         to ZeroMQ); `fsync` is one journal batch's `fdatasync`. Percentiles from the \
         gateway's own histograms (within a quarter of the truth).\n\n\
         | rate/s | stage | count | 50% | 90% | 99% | 99.9% |\n|---|---|---|---|---|---|---|"
    );
    for r in &results {
        for (name, p) in &r.inside.stages {
            let _ = writeln!(
                md,
                "| {} | {name} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs |",
                r.rate, p.count, p.p50, p.p90, p.p99, p.p999
            );
        }
        if let Some((_, f)) = r.inside.stages.iter().find(|(n, _)| n == "fsync")
            && f.count > 0
        {
            let _ = writeln!(
                md,
                "| {} | commands per batch | {:.1} | | | | |",
                r.rate,
                r.inside.executed as f64 / f.count as f64
            );
        }
        if r.inside.executed > 0 {
            let _ = writeln!(
                md,
                "| {} | commands run on the I/O thread | {:.1}% | | | | |",
                r.rate,
                100.0 * r.inside.inline as f64 / r.inside.executed as f64
            );
        }
    }
    let best = results
        .iter()
        .filter(|r| r.gateway.p99 < 1_000.0 && r.gateway.answered == r.gateway.sent)
        .map(|r| r.rate)
        .max();
    let _ = writeln!(
        md,
        "\nHighest rate run with gateway p99 under 1 ms: {}",
        best.map_or("none".to_string(), |r| format!("{r}/s"))
    );
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("loadgen.md"), &md)?;
    let runs: Vec<String> = results
        .iter()
        .map(|r| {
            let inside: Vec<String> = r
                .inside
                .stages
                .iter()
                .map(|(name, p)| {
                    format!(
                        "\"{name}\":{{\"count\":{},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1}}}",
                        p.count, p.p50, p.p90, p.p99, p.p999
                    )
                })
                .collect();
            format!(
                "{{\"rate\":{},\"floor\":{},\"gateway\":{},\"inside\":{{{}}}}}",
                r.rate,
                summary_json(&r.floor),
                summary_json(&r.gateway),
                inside.join(",")
            )
        })
        .collect();
    let json = format!(
        "{{\"seconds\":{},\"sessions\":{},\"runs\":[{}]}}\n",
        args.seconds,
        args.sessions,
        runs.join(",")
    );
    std::fs::write(args.out.join("loadgen.json"), json)?;
    print!("{md}");
    Ok(())
}

fn core_name(core: Option<usize>) -> String {
    core.map_or("unpinned".to_string(), |c| format!("on core {c}"))
}
