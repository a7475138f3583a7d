//! The auto service end to end: from the trade that crosses a stop to the engine's
//! acceptance of the order the stop becomes, in the whole platform in one process
//! (`bourse_platform::start`: gateway, journal, bridge, in-process bus, auto service,
//! services over HTTP), on the embedded store or PostgreSQL.
//!
//! Each wave: `--stops` sell stops entered over `POST /v2/orders` at one price, a bid
//! deep enough for all of them, then one trade just below the stop price. Measured from
//! the engine's own times (`time_ns` of the events on the bus: the journal's clock, one
//! reading per batch): crossing trade → each fired order's `accepted`. The floor, in the
//! same run: this tool sees the same crossing trade on the bus and enters one market
//! order through the service session at once — the bus delivery plus one order entry,
//! what a service that did no work of its own would take.
//!
//! ```sh
//! cargo run --release -p bourse-benches --bin auto-bench -- --stops 100 --waves 20
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bourse_bus::Consumer;
use bourse_core::{Command, FixedStr, OrderType, Price, Qty, Side, TimeInForce, UserId};
use bourse_gateway::protocol::{EnterOrder, ServiceMsg};
use bourse_shell::client::Client;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Arguments.
#[derive(Parser, Debug, Clone)]
struct Args {
    /// Stops fired by each crossing trade.
    #[arg(long, default_value_t = 100)]
    stops: u32,
    /// Waves (crossing trades).
    #[arg(long, default_value_t = 20)]
    waves: u32,
    /// `sqlite` (the embedded store) or `postgres`.
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// PostgreSQL, for `--store postgres` (a fresh schema is made and dropped).
    #[arg(long, default_value = "host=127.0.0.1 user=postgres dbname=test")]
    pg: String,
}

const ADMIN: (&str, &str) = ("root", "root-password");

async fn user(users: &Client, name: &str) -> anyhow::Result<(u64, String)> {
    let creds = json!({"username": name, "password": "bench-password-1"});
    let r = users.post("/v1/users", &creds).await?;
    if r.status != 201 {
        bail!("registering {name}: {}", r.text);
    }
    let id = r.json["id"].as_u64().context("user id")?;
    let r = users.post("/v1/auth/login", &creds).await?;
    let token = r.json["access_token"]
        .as_str()
        .context("token")?
        .to_string();
    Ok((id, token))
}

async fn fund(admin: &Client, user: u64, asset: &str, amount: &str) -> anyhow::Result<()> {
    let r = admin
        .post(
            &format!("/v1/admin/users/{user}/deposit"),
            &json!({"asset": asset, "amount": amount}),
        )
        .await?;
    if r.status != 200 {
        bail!("funding {user}: {}", r.text);
    }
    Ok(())
}

async fn order(c: &Client, body: Value) -> anyhow::Result<Value> {
    let r = c.post("/v2/orders", &body).await?;
    if r.status != 200 {
        bail!("order {body}: {}", r.text);
    }
    Ok(r.json)
}

fn cents(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// Microsecond percentiles of `h`.
fn line(name: &str, h: &Histogram<u64>) -> String {
    format!(
        "{name:<38} n={:>6}  p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        h.len(),
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.9) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.max() as f64 / 1e3
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (stores, schema) = match args.store.as_str() {
        "sqlite" => (
            bourse_platform::Stores::sqlite(bourse_shell::lite::Lite::open(
                dir.path().join("bourse.db"),
            )?),
            None,
        ),
        "postgres" => {
            let schema = format!("auto_bench_{}", std::process::id());
            let pool = bourse_shell::db::pool(&args.pg, Some(&schema), 16).await?;
            (bourse_platform::Stores::postgres(pool), Some(schema))
        }
        other => bail!("--store sqlite or postgres, not {other}"),
    };
    let config = bourse_platform::PlatformConfig {
        data_dir: dir.path().to_path_buf(),
        gateway: "tcp://127.0.0.1:*".into(),
        feed: "tcp://127.0.0.1:*".into(),
        addresses: bourse_platform::Addresses::any(),
        front: None,
        bootstrap: vec![Command::AddInstrument {
            symbol: FixedStr::new("ACME").unwrap_or_default(),
            tick: Price(1),
            lot: Qty(1),
        }],
        token_secret: b"auto-bench".to_vec(),
        access_ttl: Duration::from_secs(3_600),
        admin: Some((ADMIN.0.into(), ADMIN.1.into())),
        signup_cash: 0,
        rate: (1_000_000, 1_000_000),
        throttle: 0,
        bar_interval: "1m",
        small: false,
        webhooks: bourse_notification::webhook::WebhookConfig::default(),
        clock: Arc::new(bourse_auto::recurring::SystemClock),
    };
    let running = bourse_platform::start(config, stores.clone()).await?;
    let users = Client::new(&running.user_base);
    let trader = Client::new(&running.trader_base);
    let r = users
        .post(
            "/v1/auth/login",
            &json!({"username": ADMIN.0, "password": ADMIN.1}),
        )
        .await?;
    let admin = users
        .clone()
        .with_token(r.json["access_token"].as_str().context("admin token")?);
    let total = i64::from(args.stops) * i64::from(args.waves);
    let (seller, seller_token) = user(&users, "seller").await?;
    let (bidder, bidder_token) = user(&users, "bidder").await?;
    let (crosser, crosser_token) = user(&users, "crosser").await?;
    let (taker, taker_token) = user(&users, "taker").await?;
    let (floor, _) = user(&users, "floor").await?;
    fund(&admin, seller, "ACME", &total.to_string()).await?;
    fund(&admin, bidder, "USD", &(total * 100).to_string()).await?;
    fund(&admin, crosser, "ACME", &args.waves.to_string()).await?;
    fund(&admin, taker, "USD", "1000000").await?;
    fund(&admin, floor, "ACME", &args.waves.to_string()).await?;
    let seller_c = trader.clone().with_token(&seller_token);
    let bidder_c = trader.clone().with_token(&bidder_token);
    let crosser_c = trader.clone().with_token(&crosser_token);
    let taker_c = trader.clone().with_token(&taker_token);

    // The engine's events, as the services see them.
    let mut events = running.bus.consumer("auto-bench", &["exec.*", "trade.*"]);
    let mut fired = Histogram::<u64>::new(3)?;
    let mut first = Histogram::<u64>::new(3)?;
    let mut last = Histogram::<u64>::new(3)?;
    let mut floor_h = Histogram::<u64>::new(3)?;
    let started = Instant::now();
    for w in 0..i64::from(args.waves) {
        let stop = 9_000 - 10 * w;
        for _ in 0..args.stops {
            order(
                &seller_c,
                json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "stop",
                       "time_in_force": "gtc", "stop_price": cents(stop)}),
            )
            .await?;
        }
        order(
            &bidder_c,
            json!({"symbol": "ACME", "qty": (args.stops + 1).to_string(), "side": "buy",
                   "type": "limit", "time_in_force": "gtc", "limit_price": "50.00"}),
        )
        .await?;
        // Armed (polled every 100 ms), then the crossing trade.
        let t0 = Instant::now();
        while running
            .auto
            .armed
            .load(std::sync::atomic::Ordering::Relaxed)
            < u64::from(args.stops)
        {
            if t0.elapsed() > Duration::from_secs(30) {
                bail!("the stops of wave {w} were never armed");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        order(
            &crosser_c,
            json!({"symbol": "ACME", "qty": "1", "side": "sell", "type": "limit",
                   "time_in_force": "gtc", "limit_price": cents(stop - 1)}),
        )
        .await?;
        order(
            &taker_c,
            json!({"symbol": "ACME", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}),
        )
        .await?;
        // Follow the bus until every stop of the wave and the floor order are accepted.
        let mut trade_ns: Option<i64> = None;
        let mut accepted: Vec<i64> = Vec::new();
        let mut floor_token: Option<String> = None;
        let mut floor_ns: Option<i64> = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        while accepted.len() < args.stops as usize || floor_ns.is_none() {
            let Some(d) = events.next_within(Duration::from_millis(200)).await? else {
                if Instant::now() > deadline {
                    bail!(
                        "wave {w}: {} of {} stops accepted",
                        accepted.len(),
                        args.stops
                    );
                }
                continue;
            };
            let body: Value = serde_json::from_slice(&d.message.body)?;
            let ns = body["time_ns"].as_i64().unwrap_or(0);
            match (body["event"].as_str(), d.message.routing_key.as_str()) {
                (Some("trade"), key)
                    if key.starts_with("trade.")
                        && body["taker_user"] == taker
                        && body["price"] == stop - 1 =>
                {
                    trade_ns = Some(ns);
                    // The floor: an order entered the moment the trade is seen.
                    let token = format!("F{w:015}");
                    floor_token = Some(token.clone());
                    let engine = running.engine.clone();
                    tokio::spawn(async move {
                        let order = EnterOrder {
                            token: FixedStr::new(&token).unwrap_or_default(),
                            symbol: FixedStr::new("ACME").unwrap_or_default(),
                            side: Side::Sell,
                            order_type: OrderType::Market,
                            tif: TimeInForce::Day,
                            post_only: false,
                            price: Price(0),
                            qty: Qty(1),
                        };
                        let _ = engine
                            .request(ServiceMsg::EnterFor {
                                request: 0,
                                user: UserId(floor),
                                order,
                            })
                            .await;
                    });
                }
                (Some("accepted"), key) if key == format!("exec.{seller}") => accepted.push(ns),
                (Some("accepted"), key)
                    if key == format!("exec.{floor}")
                        && body["id"].as_str() == floor_token.as_deref() =>
                {
                    floor_ns = Some(ns);
                }
                _ => {}
            }
        }
        let t = trade_ns.context("the crossing trade was not seen")?;
        let us = |ns: i64| ((ns - t).max(0) / 1_000) as u64;
        for a in &accepted {
            fired.record(us(*a).max(1))?;
        }
        first.record(us(*accepted.iter().min().unwrap_or(&t)).max(1))?;
        last.record(us(*accepted.iter().max().unwrap_or(&t)).max(1))?;
        floor_h.record(us(floor_ns.unwrap_or(t)).max(1))?;
    }
    println!(
        "auto-bench: {} waves of {} stops on {} ({:.1} s)",
        args.waves,
        args.stops,
        args.store,
        started.elapsed().as_secs_f64()
    );
    println!("{}", line("trade -> each fired order accepted", &fired));
    println!("{}", line("trade -> first of the wave accepted", &first));
    println!("{}", line("trade -> last of the wave accepted", &last));
    println!("{}", line("floor: trade seen -> order accepted", &floor_h));
    let stop = running.stop();
    stop.await?;
    if let (Some(schema), Some(pool)) = (schema, stores.pool.as_ref()) {
        pool.get()
            .await?
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await?;
    }
    Ok(())
}
