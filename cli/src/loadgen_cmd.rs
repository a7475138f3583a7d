//! `bourse loadgen`: the exchange-core workload over ZeroMQ, open loop at a fixed rate,
//! with round-trip percentiles measured from each command's *intended* send time (no
//! coordinated omission), beside a bare ZeroMQ echo at the same rate and message size.
//!
//! By default it starts its own gateway in this process (fresh data directory, the
//! workload's users as API keys), so one command measures the whole path:
//! client encode → ZeroMQ → gateway decode → ring → journal fsync → engine → ring →
//! report encode → ZeroMQ → client.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bourse_core::{Command, FixedStr, OrderType, UserId};
use bourse_gateway::keys::KeyStore;
use bourse_gateway::protocol::{ClientMsg, EnterOrder, ServerMsg, decode_server, encode_client};
use bourse_gateway::server::{GatewayConfig, run};
use bourse_workload::{WorkloadConfig, generate};
use hdrhistogram::Histogram;

/// Arguments of `bourse loadgen`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Offered rate, commands per second (all sessions together).
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    /// Seconds to send for.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Sessions (one user each) the workload is spread over.
    #[arg(long, default_value_t = 8)]
    sessions: u64,
    /// Pin the in-process gateway's engine thread to this core.
    #[arg(long)]
    engine_core: Option<usize>,
    /// Write `loadgen.md` and `loadgen.json` here.
    #[arg(long, default_value = "target/loadgen")]
    out: PathBuf,
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

/// Sends `n` messages at `rate` over `sockets` (round robin by `pick`), spinning to each
/// message's intended time, reading replies meanwhile; `matched` maps a reply to the
/// intended time of the message it answers.
fn open_loop(
    rate: u64,
    n: usize,
    sockets: &[zmq::Socket],
    mut frame_for: impl FnMut(usize, &mut Vec<u8>) -> usize,
    mut matched: impl FnMut(usize, &[u8]) -> Option<u64>,
    h: &mut Histogram<u64>,
) -> anyhow::Result<()> {
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
            std::hint::spin_loop();
        }
    }
    Ok(())
}

/// The floor: a ROUTER that echoes every frame, driven exactly like the gateway.
fn echo_floor(args: &Args, n: usize) -> anyhow::Result<Summary> {
    let ctx = zmq::Context::new();
    let server = ctx.socket(zmq::ROUTER)?;
    server.set_linger(0)?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = server
        .get_last_endpoint()?
        .map_err(|_| anyhow::anyhow!("endpoint"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let echo = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            if server.poll(zmq::POLLIN, 1).unwrap_or(0) == 0 {
                continue;
            }
            while let Ok(parts) = server.recv_multipart(zmq::DONTWAIT) {
                let _ = server.send_multipart(parts, zmq::DONTWAIT);
            }
        }
    });
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
    let rate = args.rate;
    let sessions = args.sessions as usize;
    open_loop(
        rate,
        n,
        &sockets,
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
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
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

fn gateway_run(args: &Args) -> anyhow::Result<(Summary, u64)> {
    let n = (args.rate * args.seconds) as usize;
    let w = generate(WorkloadConfig {
        users: args.sessions,
        ..WorkloadConfig::single_symbol(n)
    });
    let mut keys = KeyStore::default();
    for u in 1..=args.sessions {
        keys.insert(key(u), UserId(u), &secret(u));
    }
    let dir = tempfile::tempdir().context("temp data dir")?;
    let mut config = GatewayConfig::new(dir.path(), keys);
    config.bind = "tcp://127.0.0.1:*".into();
    config.throttle = 0;
    config.engine_core = args.engine_core;
    config.engine = w.config.engine_config();
    config.bootstrap = w.setup.clone();
    config.snapshot_every = 0;
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let gw = std::thread::spawn(move || run(config, flag, |r| drop(tx.send(r))));
    let ready = rx
        .recv_timeout(Duration::from_secs(60))
        .context("gateway did not start")?;
    let ctx = zmq::Context::new();
    let mut sockets = Vec::new();
    let mut frame = Vec::new();
    for u in 1..=args.sessions {
        let s = ctx.socket(zmq::DEALER)?;
        s.set_linger(0)?;
        s.set_sndhwm(1_000_000)?;
        s.set_rcvhwm(1_000_000)?;
        s.connect(&ready.endpoint)?;
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
    let rate = args.rate;
    // Per session, per token: what each command sent is waiting for, in send order.
    type Waiting = HashMap<FixedStr, VecDeque<(Awaits, u64)>>;
    let pending: std::cell::RefCell<Vec<Waiting>> =
        std::cell::RefCell::new(vec![HashMap::new(); args.sessions as usize]);
    let mut h = histogram()?;
    let cmds = &w.commands;
    open_loop(
        rate,
        n,
        &sockets,
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
            pending.borrow_mut()[s]
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
            let mut pending = pending.borrow_mut();
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
    stop.store(true, Ordering::Relaxed);
    let _ = gw.join();
    Ok((
        summarize(
            "**Bourse gateway** (journal fsync, engine, reports)",
            n as u64,
            &h,
        ),
        ready.recovered_seq,
    ))
}

/// Runs the echo floor and then the gateway at the same rate; writes the report.
pub(crate) fn run_loadgen(args: Args) -> anyhow::Result<()> {
    let n = (args.rate * args.seconds) as usize;
    eprintln!(
        "loadgen: bare ZeroMQ echo, {n} messages at {}/s…",
        args.rate
    );
    let floor = echo_floor(&args, n)?;
    eprintln!(
        "loadgen: gateway, {n} commands at {}/s over {} sessions…",
        args.rate, args.sessions
    );
    let (ours, setup) = gateway_run(&args)?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Round trip over TCP loopback, open loop at {} commands/s for {} s, {} sessions, \
         measured from each command's intended send time (exchange-core workload; \
         {setup} setup commands journaled first).\n",
        args.rate, args.seconds, args.sessions
    );
    let _ = writeln!(
        md,
        "| path | sent | answered | 50% | 90% | 99% | 99.9% | worst |\n|---|---|---|---|---|---|---|---|"
    );
    for s in [&floor, &ours] {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs |",
            s.name, s.sent, s.answered, s.p50, s.p90, s.p99, s.p999, s.max
        );
    }
    let _ = writeln!(
        md,
        "\np50 ratio gateway / echo floor: {:.2}×",
        ours.p50 / floor.p50.max(0.001)
    );
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("loadgen.md"), &md)?;
    let json = format!(
        "{{\"rate\":{},\"seconds\":{},\"sessions\":{},\"floor\":{{\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}},\"gateway\":{{\"sent\":{},\"answered\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}}}\n",
        args.rate,
        args.seconds,
        args.sessions,
        floor.p50,
        floor.p99,
        floor.p999,
        floor.max,
        ours.sent,
        ours.answered,
        ours.p50,
        ours.p90,
        ours.p99,
        ours.p999,
        ours.max
    );
    std::fs::write(args.out.join("loadgen.json"), json)?;
    print!("{md}");
    Ok(())
}
