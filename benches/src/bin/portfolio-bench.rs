//! The portfolio socket at scale: many concurrent sockets, each user holding several of
//! the symbols that tick, against `bourse serve portfolio` running as its own process
//! (so its memory and CPU are its own), fed by a ZeroMQ PUB this tool binds in the
//! feed's format.
//!
//! Measured: tick-to-socket latency (the tool publishes trade `n` at price `BASE + n`
//! and timestamps it; a client that sees a symbol's price change looks up when that
//! trade was published), the server's resident memory per idle socket, and its CPU
//! during the ticks. The floor: the same clients and ticks against a bare WebSocket
//! server (this binary again, `--floor-server`, its own process too) that forwards each
//! tick to every socket as it comes, with no database, no valuation and no pacing.
//!
//! ```sh
//! cargo build --release -p bourse -p bourse-benches
//! target/release/portfolio-bench --sockets 10000 --ticks-per-second 100 --seconds 10
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Arguments.
#[derive(Parser, Debug, Clone)]
struct Args {
    /// Concurrent sockets (one user each).
    #[arg(long, default_value_t = 10_000)]
    sockets: usize,
    /// Symbols that tick.
    #[arg(long, default_value_t = 100)]
    symbols: usize,
    /// Trades per second across all symbols.
    #[arg(long, default_value_t = 100)]
    ticks_per_second: u64,
    /// Seconds of ticking per run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The server's pacing: at most one message per socket per this many ms.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// PostgreSQL.
    #[arg(long, default_value = "host=127.0.0.1 user=postgres dbname=test")]
    pg: String,
    /// Internal: run the bare floor server on this feed and print its address.
    #[arg(long, hide = true)]
    floor_server: Option<String>,
}

const SECRET: &str = "portfolio-bench-secret";
const BASE: i64 = 1_000_000;

/// Publish times of trades, by trade number (nanoseconds since the run's start).
struct Sent {
    start: Instant,
    at: Vec<AtomicU64>,
}

impl Sent {
    fn latency_us(&self, tick: usize, now: Instant) -> Option<u64> {
        let t = self.at.get(tick)?.load(Ordering::Relaxed);
        (t > 0)
            .then(|| (now.duration_since(self.start).as_nanos() as u64).saturating_sub(t) / 1_000)
    }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Resident memory, bytes.
    fn rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// CPU time used so far (user + system).
    fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).unwrap_or_default();
        // After the command's closing parenthesis: field 3 (state) first, so utime and
        // stime (fields 14 and 15) are the 12th and 13th; in clock ticks (100 a second).
        let f: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        let ticks = field(11) + field(12);
        Duration::from_millis(ticks * 10)
    }
}

/// Starts `program args`, returns it and the `http://` address it printed.
fn spawn(program: &std::path::Path, args: &[&str], marker: &str) -> anyhow::Result<(Proc, String)> {
    let mut child = Proc(
        Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?,
    );
    let stdout = child.0.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .context("the server never said where it listens")?;
        if line.contains(marker) {
            let addr = line.rsplit(' ').next().unwrap_or_default().to_string();
            return Ok((child, addr));
        }
    }
}

fn symbol(i: usize) -> String {
    format!("S{i:03}")
}

/// Each user's symbols: 5–20 of them, spread over all.
fn holdings(user: usize, symbols: usize) -> Vec<usize> {
    let n = 5 + (user * 7919) % 16;
    (0..n.min(symbols))
        .map(|k| (user * 31 + k * 97) % symbols)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

async fn seed(args: &Args, schema: &str) -> anyhow::Result<()> {
    let pool = bourse_shell::db::pool(&args.pg, Some(schema), 2).await?;
    bourse_order::service::prepare(&pool).await?;
    bourse_user::prepare(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let (mut users, mut assets, mut amounts) = (Vec::new(), Vec::new(), Vec::new());
    for u in 1..=args.sockets {
        users.push(u as i64);
        assets.push("USD".to_string());
        amounts.push(1_000_000i64);
        for s in holdings(u, args.symbols) {
            users.push(u as i64);
            assets.push(symbol(s));
            amounts.push(10 + (u % 90) as i64);
        }
    }
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO balances (user_id, asset, amount) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])",
            &[&users, &assets, &amounts],
        )
        .await?;
    Ok(())
}

/// Opens `n` sockets to `url_of(user)`, at most 200 handshakes at a time; each client
/// records, for every symbol whose price changed, the latency of that trade.
async fn open_all(
    n: usize,
    url_of: impl Fn(usize) -> String,
    token_of: impl Fn(usize) -> String,
    sent: Arc<Sent>,
    hist: Arc<Mutex<Histogram<u64>>>,
    messages: Arc<AtomicU64>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::with_capacity(n);
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for u in 1..=n {
        let mut req = url_of(u).into_client_request()?;
        req.headers_mut()
            .insert("authorization", format!("Bearer {}", token_of(u)).parse()?);
        let (sent, hist, messages, gate, ready) = (
            sent.clone(),
            hist.clone(),
            messages.clone(),
            gate.clone(),
            ready_tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await else {
                eprintln!("socket {u}: handshake failed");
                let _ = ready.send(());
                return;
            };
            drop(permit);
            let mut seen: HashMap<String, i64> = HashMap::new();
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let mut first = true;
            let mut flushed = Instant::now();
            while let Some(Ok(m)) = ws.next().await {
                let Message::Text(t) = m else { continue };
                let now = Instant::now();
                messages.fetch_add(1, Ordering::Relaxed);
                if let Some(tick) = t.strip_prefix("tick ") {
                    // The floor server's message: the trade number.
                    if let Some(us) = tick
                        .parse()
                        .ok()
                        .and_then(|n: usize| sent.latency_us(n, now))
                    {
                        let _ = local.record(us.max(1));
                    }
                } else if let Ok(v) = serde_json::from_str::<Portfolio<'_>>(&t) {
                    for p in &v.positions {
                        let Some(price) = &p.price else { continue };
                        let cents = bourse_shell::money::parse_cents("price", price).unwrap_or(0);
                        let before = match seen.get_mut(p.symbol.as_ref()) {
                            Some(c) => Some(std::mem::replace(c, cents)),
                            None => seen.insert(p.symbol.to_string(), cents),
                        };
                        if !first
                            && before != Some(cents)
                            && cents > BASE
                            && let Some(us) = sent.latency_us((cents - BASE) as usize, now)
                        {
                            let _ = local.record(us.max(1));
                        }
                    }
                }
                if first {
                    first = false;
                    let _ = ready.send(());
                }
                // Flushed often: the run ends by aborting the clients.
                if local.len() >= 8
                    || (!local.is_empty()
                        && now.duration_since(flushed) > Duration::from_millis(500))
                {
                    flushed = now;
                    hist.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .add(&local)
                        .ok();
                    local.reset();
                }
            }
            hist.lock()
                .unwrap_or_else(|e| e.into_inner())
                .add(&local)
                .ok();
            let _ = ws.close(None).await;
        }));
    }
    for _ in 0..n {
        ready_rx.recv().await;
    }
    Ok(tasks)
}

/// Publishes trades for `seconds` at `rate`/s round-robin over the symbols; trade `n`
/// is at price `BASE + n`.
fn tick(publisher: &zmq::Socket, args: &Args, sent: &Sent) -> usize {
    let total = (args.ticks_per_second * args.seconds) as usize;
    let gap = Duration::from_nanos(1_000_000_000 / args.ticks_per_second.max(1));
    let start = Instant::now();
    for n in 1..=total.min(sent.at.len() - 1) {
        let due = start + gap * n as u32;
        while Instant::now() < due {
            std::thread::sleep(
                due.saturating_duration_since(Instant::now())
                    .min(Duration::from_micros(200)),
            );
        }
        let sym = symbol(n % args.symbols);
        let msg = bourse_feeds::MarketData::Trade {
            symbol: sym.clone(),
            event_seq: n as u64,
            price: BASE + n as i64,
            qty: 1,
            taker_side: "buy".into(),
            time_ms: 0,
        };
        sent.at[n].store(sent.start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let _ = publisher.send(msg.topic().as_bytes(), zmq::SNDMORE);
        let _ = publisher.send(msg.to_json().as_bytes(), 0);
    }
    total
}

/// What a client reads of a portfolio message (`docs/portfolio.md`): each position's
/// symbol and price, borrowed from the text. One client thread reads every socket's
/// messages, so what it spends on each is time the later sockets of a burst wait: a
/// `serde_json::Value` per message (a map and a string per field) was most of it.
#[derive(serde::Deserialize)]
struct Portfolio<'a> {
    #[serde(borrow)]
    positions: Vec<Position<'a>>,
}

/// One position of a [`Portfolio`].
#[derive(serde::Deserialize)]
struct Position<'a> {
    #[serde(borrow)]
    symbol: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    price: Option<std::borrow::Cow<'a, str>>,
}

/// The floor: each tick on the feed goes to every socket whose user holds the symbol,
/// as it comes (the same holdings as the seeded ones, computed, not read).
fn floor_server(feed: &str, symbols: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let (tx, _) = tokio::sync::broadcast::channel::<(usize, Arc<str>)>(65_536);
    let sub = zmq::Context::new().socket(zmq::SUB)?;
    sub.set_subscribe(b"")?;
    sub.connect(feed)?;
    let feed_tx = tx.clone();
    std::thread::spawn(move || {
        while let Ok(parts) = sub.recv_multipart(0) {
            if let Some(Ok(bourse_feeds::MarketData::Trade {
                event_seq, symbol, ..
            })) = parts
                .last()
                .map(|b| serde_json::from_slice::<bourse_feeds::MarketData>(b))
            {
                let s = symbol.trim_start_matches('S').parse().unwrap_or(usize::MAX);
                let _ = feed_tx.send((s, Arc::from(format!("tick {event_seq}"))));
            }
        }
    });
    rt.block_on(async move {
        let app = axum::Router::new().route(
            "/portfolio",
            axum::routing::get(
                move |ws: axum::extract::WebSocketUpgrade,
                      axum::extract::Query(q): axum::extract::Query<HashMap<String, usize>>| {
                    let mut rx = tx.subscribe();
                    let held = holdings(q.get("userID").copied().unwrap_or(0), symbols);
                    async move {
                        ws.on_upgrade(move |mut socket| async move {
                            let _ = socket.send(axum::extract::ws::Message::Text("hello".into())).await;
                            loop {
                                match rx.recv().await {
                                    Ok((s, t)) if held.contains(&s) => {
                                        let m = axum::extract::ws::Message::Text(t.as_ref().into());
                                        if socket.send(m).await.is_err() {
                                            break;
                                        }
                                    }
                                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                                    Err(_) => break,
                                }
                            }
                        })
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("floor server on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}

struct Outcome {
    hist: Histogram<u64>,
    messages: u64,
    rss_idle: u64,
    rss_base: u64,
    cpu: Duration,
    ticks: usize,
}

async fn run_one(
    args: &Args,
    server: &Proc,
    base: &str,
    feed: &zmq::Socket,
    tokens: bool,
) -> anyhow::Result<Outcome> {
    let total = (args.ticks_per_second * args.seconds) as usize + 2;
    let sent = Arc::new(Sent {
        start: Instant::now(),
        at: (0..total).map(|_| AtomicU64::new(0)).collect(),
    });
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let messages = Arc::new(AtomicU64::new(0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_base = server.rss();
    let keys = bourse_shell::auth::TokenKeys::new(SECRET.as_bytes(), Duration::from_secs(3600));
    let ws_base = base.replacen("http://", "ws://", 1);
    let tasks = open_all(
        args.sockets,
        |u| format!("{ws_base}/portfolio?userID={u}"),
        |u| {
            if tokens {
                keys.issue(u as u64, bourse_shell::auth::Role::User)
                    .unwrap_or_default()
            } else {
                String::new()
            }
        },
        sent.clone(),
        hist.clone(),
        messages.clone(),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = server.rss();
    messages.store(0, Ordering::Relaxed);
    let cpu0 = server.cpu();
    let (feed_args, sent2) = (args.clone(), sent.clone());
    let ticks = tokio::task::block_in_place(|| tick(feed, &feed_args, &sent2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu = server.cpu().saturating_sub(cpu0);
    let messages = messages.load(Ordering::Relaxed);
    // Clients flush what they recorded every half second.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for t in &tasks {
        t.abort();
    }
    let hist = hist.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Outcome {
        hist,
        messages,
        rss_idle,
        rss_base,
        cpu,
        ticks,
    })
}

fn row(name: &str, args: &Args, o: &Outcome) {
    let h = &o.hist;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let per_socket = o.rss_idle.saturating_sub(o.rss_base) as f64 / args.sockets as f64 / 1024.0;
    println!(
        "| {name} | {} | {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} KiB | {:.2} s ({:.0}% of a core) |",
        args.sockets,
        o.ticks,
        o.messages,
        h.len(),
        ms(0.5),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1000.0,
        per_socket,
        o.cpu.as_secs_f64(),
        o.cpu.as_secs_f64() / args.seconds as f64 * 100.0,
    );
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(feed) = &args.floor_server {
        return floor_server(feed, args.symbols);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let schema = format!("portfolio_bench_{}", std::process::id());
        seed(&args, &schema).await?;
        let ctx = zmq::Context::new();
        let feed = ctx.socket(zmq::PUB)?;
        feed.set_sndhwm(1_000_000)?;
        feed.bind("tcp://127.0.0.1:*")?;
        let feed_at = feed.get_last_endpoint()?.map_err(|_| anyhow::anyhow!("endpoint"))?;
        let dir = std::env::current_exe()?.parent().context("target dir")?.to_path_buf();
        let interval = args.interval_ms.to_string();
        let exchange = format!("bench.portfolio.{}", std::process::id());
        println!(
            "{} sockets (5–20 of {} symbols each), {} trades/s for {} s, server pacing {} ms; latency: trade published → socket saw the price\n",
            args.sockets, args.symbols, args.ticks_per_second, args.seconds, args.interval_ms
        );
        println!("| server | sockets | trades | messages | latencies | p50 | p99 | p99.9 | max | server RSS per idle socket | server CPU while ticking |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        {
            let symbols = args.symbols.to_string();
            let (floor, base) = spawn(
                &std::env::current_exe()?,
                &["--floor-server", &feed_at, "--symbols", &symbols],
                "floor server on",
            )?;
            let o = run_one(&args, &floor, &base, &feed, false).await?;
            row("bare WebSocket fan-out (floor)", &args, &o);
        }
        {
            let (server, base) = spawn(
                &dir.join("bourse"),
                &[
                    "serve", "portfolio", "--listen", "127.0.0.1:0", "--database-url", &args.pg, "--schema", &schema,
                    "--jwt-secret", SECRET, "--feed", &feed_at, "--exchange", &exchange, "--interval-ms", &interval,
                    "--rate", "100000", "--burst", "100000",
                ],
                "portfolio service on",
            )?;
            let o = run_one(&args, &server, &base, &feed, true).await?;
            row("**bourse serve portfolio**", &args, &o);
        }
        let pool = bourse_shell::db::pool(&args.pg, None, 1).await?;
        pool.get().await?.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await?;
        let _ = bourse_bus::rabbit::delete_topology(&bourse_bus::rabbit::RabbitConfig {
            exchange,
            queues: Vec::new(),
            ..Default::default()
        })
        .await;
        anyhow::Ok(())
    })
}
