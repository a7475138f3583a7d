//! `POST /v2/orders` end to end — HTTP in, the engine's verdict (journaled, fsynced),
//! HTTP out — at fixed offered rates, beside a bare axum handler answering a fixed body
//! measured by the same load loop in the same run.
//!
//! ```sh
//! cargo run --release -p bourse-benches --bin http-bench -- --rate 1000,2000,5000 --seconds 5
//! ```
//!
//! Method: open loop. Request `i` is due at `start + i / rate`; it is sent then (or as
//! soon as one of `--in-flight` slots frees) and its latency is measured from when it
//! was due, so a stall counts against every request behind it (no coordinated
//! omission). Orders are IOC buys of one share at $0.01 in an empty book — each is
//! accepted, journaled and canceled — from 100 users, so the book stays empty and the
//! work per order stays the same. The gateway, the PostgreSQL pool and the trader
//! service run in this process; PostgreSQL is the machine's.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::http::Method;
use bourse_core::{Command, FixedStr, Price, Qty, UserId};
use bourse_gateway::protocol::ServiceMsg;
use bourse_gateway_client::GatewayClient;
use bourse_shell::auth::{Auth, KeyVerifier, RateLimit, TokenKeys};
use bourse_shell::client::Client;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// Offered rates (requests per second), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,5000")]
    rate: Vec<u64>,
    /// Seconds per rate and path.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 1024)]
    in_flight: usize,
    /// PostgreSQL.
    #[arg(long, default_value = "host=127.0.0.1 user=postgres dbname=test")]
    pg: String,
    /// Also measure `GET /v2/orders` and `GET /v2/positions` at these rates, with this
    /// many orders in the database (`--read-rate`, `--orders`).
    #[arg(long, value_delimiter = ',')]
    read_rate: Vec<u64>,
    /// Orders seeded before the reads.
    #[arg(long, default_value_t = 100_000)]
    orders: u64,
    /// While `GET /v2/orders` is measured, also offer this many `POST /v2/orders` a
    /// second (each moves its user's versions, so cached pages give way).
    #[arg(long, default_value_t = 0)]
    read_writes: u64,
}

/// The allocator the `bourse` binary runs the services with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: [u8; 32] = [9; 32];
const USERS: u64 = 100;

/// API keys are not used here: every request carries a token.
struct NoKeys;

impl KeyVerifier for NoKeys {
    fn verify<'a>(
        &'a self,
        _key_id: &'a str,
        _secret: &'a str,
    ) -> bourse_shell::auth::BoxFuture<
        'a,
        Result<Option<bourse_shell::auth::Principal>, bourse_shell::ApiError>,
    > {
        Box::pin(async { Ok(None) })
    }
}

struct Run {
    sent: u64,
    ok: u64,
    hist: Histogram<u64>,
    elapsed: Duration,
}

/// Offers `rate` requests a second for `seconds` to `clients[i % n]`, each a `POST`
/// of `body` to `path` (a `GET` when `body` is null); returns latencies from the
/// intended send times.
async fn offer(
    clients: &[Client],
    path: &'static str,
    body: &serde_json::Value,
    rate: u64,
    seconds: u64,
    in_flight: usize,
) -> Run {
    let total = rate * seconds;
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
    ));
    let ok = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(due).await;
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        let (client, body, hist, ok) = (
            clients[(i % clients.len() as u64) as usize].clone(),
            body.clone(),
            hist.clone(),
            ok.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // The answer is counted, not parsed: the load tool's own work competes with
            // the server for this machine's two cores.
            let r = if body.is_null() {
                client.exchange(Method::GET, path, None).await
            } else {
                client.exchange(Method::POST, path, Some(&body)).await
            };
            let latency = due.elapsed().as_micros() as u64;
            match &r {
                Ok((status, _, _)) if status.is_success() => {
                    ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                other => {
                    static SHOWN: std::sync::atomic::AtomicU64 =
                        std::sync::atomic::AtomicU64::new(0);
                    if SHOWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3 {
                        eprintln!(
                            "http-bench: a failed request: {:?}",
                            other
                                .as_ref()
                                .map(|(status, _, body)| (status, String::from_utf8_lossy(body)))
                        );
                    }
                }
            }
            hist.lock()
                .unwrap_or_else(|e| e.into_inner())
                .saturating_record(latency.max(1));
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let hist = hist.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Run {
        sent: total,
        ok: ok.load(std::sync::atomic::Ordering::Relaxed),
        hist,
        elapsed,
    }
}

/// One result table row.
fn row(rate: u64, name: &str, r: &Run) {
    println!(
        "| {rate} | {name} | {} | {} | {:.0} | {} | {} | {} | {} |",
        r.sent,
        r.ok,
        r.ok as f64 / r.elapsed.as_secs_f64(),
        ms(r.hist.value_at_quantile(0.5)),
        ms(r.hist.value_at_quantile(0.99)),
        ms(r.hist.value_at_quantile(0.999)),
        ms(r.hist.max()),
    );
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

async fn serve(app: axum::Router) -> anyhow::Result<SocketAddr> {
    let (listener, addr) = bourse_shell::server::bind("127.0.0.1:0".parse()?).await?;
    tokio::spawn(bourse_shell::server::serve(
        listener,
        app,
        std::future::pending(),
    ));
    Ok(addr)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let dir = tempfile::tempdir()?;
        let mut keys = bourse_gateway::keys::KeyStore::default();
        keys.insert_service(FixedStr::new("bench").expect("id"), UserId(0), &SECRET);
        let mut config = bourse_gateway::server::GatewayConfig::new(dir.path(), keys);
        config.bind = "tcp://127.0.0.1:*".into();
        config.feed = None;
        config.throttle = 0;
        config.bootstrap = vec![Command::AddInstrument {
            symbol: FixedStr::new("ACME").expect("symbol"),
            tick: Price(1),
            lot: Qty(1),
        }];
        let gateway = bourse_gateway::server::spawn(config).context("gateway")?;
        let engine = GatewayClient::connect(
            &gateway.ready.endpoint,
            "bench",
            SECRET,
            Duration::from_secs(10),
        )?;
        let schema = format!("httpbench_{}", std::process::id());
        let pool = bourse_shell::db::pool(&args.pg, Some(&schema), 32).await?;
        bourse_order::service::prepare(&pool).await?;
        bourse_stock::prepare(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("stock schema: {}", e.message))?;
        bourse_user::prepare(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("user schema: {}", e.message))?;
        bourse_trader::prepare(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let tokens = TokenKeys::new(b"http bench", Duration::from_secs(3600));
        for u in 1..=USERS {
            for msg in [
                ServiceMsg::AddUser {
                    request: 0,
                    user: UserId(u),
                },
                ServiceMsg::Deposit {
                    request: 0,
                    user: UserId(u),
                    asset: FixedStr::new("USD").expect("usd"),
                    amount: 1_000_000_000,
                },
            ] {
                engine.request(msg).await?;
            }
        }
        let auth = Arc::new(Auth {
            tokens: tokens.clone(),
            keys: Arc::new(NoKeys),
            limit: RateLimit::new(
                NonZeroU32::new(1_000_000).expect("rate"),
                NonZeroU32::new(1_000_000).expect("burst"),
            ),
        });
        let state = bourse_trader::TraderState::new(pool.clone(), auth, Some(engine));
        let cache = state.pages.clone();
        // The baseline for reads in the same run: the same service without its cache.
        let uncached = state.with_pages(bourse_trader::pages::PageCache::new(0));
        let trader = serve(bourse_trader::app(state)).await?;
        let trader_uncached = serve(bourse_trader::app(uncached)).await?;
        // The floor for reads: the same page of orders the trader answers, as a fixed
        // body (set once the database is seeded).
        let page: Arc<std::sync::OnceLock<axum::body::Bytes>> = Default::default();
        let fixed = page.clone();
        let bare = serve(axum::Router::new().route(
            "/v2/orders",
            axum::routing::post(|| async {
                axum::Json(json!({"id": "00000000-0000-4000-8000-000000000000", "status": "new"}))
            })
            .get(move || {
                let body = fixed.get().cloned().unwrap_or_default();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body) }
            }),
        ))
        .await?;
        let clients = |addr: SocketAddr| -> anyhow::Result<Vec<Client>> {
            (1..=USERS)
                .map(|u| {
                    Ok(Client::new(format!("http://{addr}"))
                        .with_token(&tokens.issue(u, bourse_shell::auth::Role::User).map_err(|e| anyhow::anyhow!("{}", e.message))?))
                })
                .collect()
        };
        let (trader_clients, bare_clients) = (clients(trader)?, clients(bare)?);
        let uncached_clients = clients(trader_uncached)?;
        let order = json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "limit",
                           "time_in_force": "ioc", "limit_price": "0.01"});
        println!(
            "`POST /v2/orders` (IOC buy, 1 share at $0.01, empty book: accepted, journaled, canceled), {} s per rate, open loop from intended send times, {USERS} users, at most {} in flight.\n",
            args.seconds, args.in_flight
        );
        println!("| rate/s | path | sent | 2xx | achieved/s | p50 | p99 | p99.9 | max |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for &rate in &args.rate {
            for (name, clients) in [
                ("bare axum handler (floor)", &bare_clients),
                ("**trader**: HTTP → engine verdict → HTTP", &trader_clients),
            ] {
                let r = offer(clients, "/v2/orders", &order, rate, args.seconds, args.in_flight).await;
                row(rate, name, &r);
            }
        }
        let reads: Vec<u64> = args.read_rate.iter().copied().filter(|&r| r > 0).collect();
        if !reads.is_empty() {
            // Orders spread over the users, a tenth of each user's open, every one with a
            // settled row, each filled one with its trade (against the next user's sell),
            // and two holdings per user — ACME, and QUIET, deposited and never traded —
            // as settlement would have left them (its position past them all).
            let c = pool.get().await?;
            c.batch_execute(&format!(
                "INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
                     time_in_force, qty, limit_price, status, known_seq, created_at)
                 SELECT 'seed-' || g, 1 + g % {USERS}, 'seed-' || g, 'H' || g, 'ACME', 'buy',
                        'limit', 'gtc', 10, 100, CASE WHEN (g / {USERS}) % 10 = 0 THEN 'new' ELSE 'filled' END,
                        g, now() - make_interval(secs => g)
                 FROM generate_series(1, {n}) g;
                 INSERT INTO orders (order_seq, user_id, client_id, symbol, side, price, qty,
                     filled, status, updated_seq)
                 SELECT 1000000 + g, 1 + g % {USERS}, 'H' || g, 'ACME', 'buy', 100, 10,
                        CASE WHEN (g / {USERS}) % 10 = 0 THEN 0 ELSE 10 END,
                        CASE WHEN (g / {USERS}) % 10 = 0 THEN 'open' ELSE 'filled' END, 1000000 + g
                 FROM generate_series(1, {n}) g;
                 INSERT INTO trades (seq, cmd_seq, symbol, price, qty, buyer, seller,
                     buy_order_seq, taker_side)
                 SELECT 3000000 + g, 3000000 + g, 'ACME', 100, 10, 1 + g % {USERS},
                        1 + (g + 1) % {USERS}, 1000000 + g, 'buy'
                 FROM generate_series(1, {n}) g WHERE (g / {USERS}) % 10 <> 0;
                 INSERT INTO balances (user_id, asset, amount)
                 SELECT u, 'ACME', 900 FROM generate_series(1, {USERS}) u
                 UNION ALL
                 SELECT u, 'QUIET', 100 FROM generate_series(1, {USERS}) u
                 ON CONFLICT DO NOTHING;
                 UPDATE settlement_position SET seq = 1000000 + {n} WHERE id = 1;
                 ANALYZE",
                n = args.orders
            ))
            .await?;
            drop(c);
            let (status, _, body) = trader_clients[0]
                .exchange(Method::GET, "/v2/orders", None)
                .await?;
            anyhow::ensure!(status.is_success(), "GET /v2/orders: {status}");
            let shown = serde_json::from_slice::<Vec<serde_json::Value>>(&body)?.len();
            println!(
                "\nReads with {} orders in the database ({} a user): `GET /v2/orders` (the open ones, the first page: {shown} orders, {} bytes) and `GET /v2/positions`; the floor is a bare axum handler answering the same page's bytes; `POST /v2/orders` offered meanwhile: {}/s.\n",
                args.orders,
                args.orders / USERS,
                body.len(),
                args.read_writes
            );
            let _ = page.set(body);
            println!("| rate/s | path | sent | 2xx | achieved/s | p50 | p99 | p99.9 | max |");
            println!("|---|---|---|---|---|---|---|---|---|");
            for &rate in &reads {
                for (name, path, clients) in [
                    ("bare axum handler, the same page (floor)", "/v2/orders", &bare_clients),
                    ("GET /v2/orders, no cache (baseline)", "/v2/orders", &uncached_clients),
                    ("GET /v2/orders", "/v2/orders", &trader_clients),
                    ("GET /v2/positions", "/v2/positions", &trader_clients),
                ] {
                    let writes = (args.read_writes > 0).then(|| {
                        let (clients, order, seconds, in_flight) =
                            (trader_clients.clone(), order.clone(), args.seconds, args.in_flight);
                        let rate = args.read_writes;
                        tokio::spawn(async move {
                            offer(&clients, "/v2/orders", &order, rate, seconds, in_flight).await
                        })
                    });
                    let before = cache.hits_and_misses();
                    let r = offer(clients, path, &serde_json::Value::Null, rate, args.seconds, args.in_flight).await;
                    let after = cache.hits_and_misses();
                    row(rate, name, &r);
                    let (hits, misses) = (after.0 - before.0, after.1 - before.1);
                    if hits + misses > 0 {
                        println!(
                            "|  | (pages from the cache: {hits} of {}, {:.1}%) | | | | | | | |",
                            hits + misses,
                            100.0 * hits as f64 / (hits + misses) as f64
                        );
                    }
                    if let Some(w) = writes {
                        let w = w.await?;
                        println!(
                            "|  | (`POST /v2/orders` meanwhile: {} of {} 2xx, p50 {}, p99 {}) | | | | | | | |",
                            w.ok,
                            w.sent,
                            ms(w.hist.value_at_quantile(0.5)),
                            ms(w.hist.value_at_quantile(0.99))
                        );
                    }
                }
            }
        }
        pool.get()
            .await?
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await?;
        drop(gateway);
        Ok(())
    })
}
