//! `bourse` with no subcommand (also `bourse serve all`): the whole platform in one
//! process — engine and binary gateway, market data, the bridge onto the in-process
//! bus, settlement, and the user, trader, stock and portfolio services — on the
//! embedded SQLite store in the data directory (nothing to install), or on PostgreSQL
//! with `--store postgres`. Stop it any way you like, `kill -9` included: the next
//! start recovers every acknowledged order from the journal and the store.
//!
//! With `--demo`: three instruments, six simulated participants registered, funded
//! and keyed through the user service as any client would be, four of them quoting
//! and two taking over the binary gateway, and a `demo` user to log in as; the
//! start-up prints the addresses, the demo login and API key, and a curl to try.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::http::Method;
use bourse_core::{Command, FixedStr, Price, Qty};
use bourse_platform::{Addresses, Backend, PlatformConfig, Stores};
use bourse_shell::client::Client;
use bourse_shell::config::{ShellArgs, kept_secret, write_private};
use serde_json::{Value, json};

use crate::demo;

/// Where the all-in-one process keeps its data.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoreKind {
    /// The embedded SQLite file `DATA_DIR/bourse.db`: nothing to install.
    Sqlite,
    /// PostgreSQL at `--database-url` (and `--schema`).
    Postgres,
}

/// Arguments of `bourse` (the whole platform in one process).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Where the data lives.
    #[arg(long, env = "BOURSE_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    store: StoreKind,
    /// The binary order gateway's ZeroMQ endpoint.
    #[arg(
        long = "gateway",
        env = "BOURSE_GATEWAY_BIND",
        default_value = "tcp://127.0.0.1:5555"
    )]
    gateway: String,
    /// The market data feed's ZeroMQ PUB endpoint.
    #[arg(long, env = "BOURSE_FEED_BIND", default_value = "tcp://127.0.0.1:5556")]
    feed: String,
    /// The address the HTTP services listen on.
    #[arg(long, env = "BOURSE_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// The port every service answers on, routed by path as NGINX routes them
    /// (0: any free port, printed).
    #[arg(long, env = "BOURSE_FRONT_PORT", default_value_t = 8080)]
    front_port: u16,
    /// The user service's own port; the trader, stock, portfolio and notification
    /// services take the next four (0: any free ports, printed).
    #[arg(long, env = "BOURSE_PORT", default_value_t = 8081)]
    port: u16,
    /// Make sure this admin exists: `USERNAME:PASSWORD` [default: `admin`, with a
    /// password made on the first start and kept in DATA_DIR/admin.secret].
    #[arg(long, env = "BOURSE_ADMIN", hide_env_values = true)]
    admin: Option<String>,
    /// Add instruments, funded demo users and simulated market makers and takers.
    #[arg(long)]
    demo: bool,
    /// Milliseconds a demo market maker waits between rounds of quotes (a taker twice
    /// as long between orders): 5 makes about 3,000 orders a second; more is gentler
    /// on a small machine or a debug build.
    #[arg(long, value_name = "MS", default_value_t = 5, requires = "demo")]
    demo_pace_ms: u64,
    /// Messages per second per gateway session (0: unlimited).
    #[arg(long, default_value_t = 10_000)]
    throttle: u32,
    /// Let users register webhooks on loopback and private addresses (a machine of
    /// your own; never on a public deployment).
    #[arg(long, env = "BOURSE_WEBHOOKS_PRIVATE")]
    webhooks_private: bool,
    /// Stop after this many seconds (default: run until stopped).
    #[arg(long, value_name = "SECS")]
    r#for: Option<u64>,
    #[command(flatten)]
    shell: ShellArgs,
}

/// What each account signed up for in the demo gets to trade with: $100,000 of paper
/// money, as a paper trading account starts with.
const DEMO_SIGNUP_CASH: i64 = 10_000_000;

/// The demo user's password (the demo is for trying things, not for keeping secrets).
const DEMO_PASSWORD: &str = "demo-password";

/// One of the demo's accounts, as kept in DATA_DIR/demo-accounts.json.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct DemoKey {
    user: u64,
    username: String,
    key_id: String,
    secret: String,
}

/// The demo's accounts: the simulated participants and the one to log in as.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct DemoAccounts {
    participants: Vec<DemoKey>,
    demo: DemoKey,
}

/// The admin's name and password: given, or `admin` with a password kept in the data
/// directory.
fn admin(args: &Args) -> anyhow::Result<(String, String)> {
    if let Some(a) = &args.admin {
        let (u, p) = a
            .split_once(':')
            .context("--admin must be USERNAME:PASSWORD")?;
        return Ok((u.to_string(), p.to_string()));
    }
    let path = args.shell.data_dir.join("admin.secret");
    let password = kept_secret(&path, 12).with_context(|| format!("keeping {}", path.display()))?;
    Ok(("admin".into(), password))
}

/// Runs the platform until SIGINT, SIGTERM or `--for`.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    bourse_shell::telemetry::init_logging(args.shell.log_json);
    let data_dir = args.shell.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let admin = admin(&args)?;
    let token_secret = args.shell.secret()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let backend = match args.store {
            StoreKind::Sqlite => Backend::Sqlite(data_dir.join("bourse.db")),
            StoreKind::Postgres => Backend::Postgres {
                url: args.shell.database_url.clone(),
                schema: args.shell.schema.clone(),
            },
        };
        let stores = Stores::open(&backend).await.context("opening the store")?;
        let bootstrap = if args.demo {
            demo::symbols()
                .map(|(s, _)| Command::AddInstrument {
                    symbol: FixedStr::new(s).unwrap_or_default(),
                    tick: Price(1),
                    lot: Qty(1),
                })
                .collect()
        } else {
            Vec::new()
        };
        let config = PlatformConfig {
            data_dir: data_dir.clone(),
            gateway: args.gateway.clone(),
            feed: args.feed.clone(),
            addresses: Addresses::from_port(args.host, args.port),
            front: Some(SocketAddr::new(args.host, args.front_port)),
            bootstrap,
            token_secret,
            access_ttl: Duration::from_secs(args.shell.access_ttl),
            admin: Some(admin.clone()),
            signup_cash: if args.demo { DEMO_SIGNUP_CASH } else { 0 },
            rate: (args.shell.rate, args.shell.burst),
            throttle: args.throttle,
            bar_interval: bourse_stock::stream::BAR_INTERVAL,
            small: false,
            webhooks: bourse_notification::webhook::WebhookConfig {
                allow_private: args.webhooks_private,
                ..Default::default()
            },
            clock: Arc::new(bourse_auto::recurring::SystemClock),
        };
        let running = bourse_platform::start(config, stores)
            .await
            .context("starting the platform")?;
        let demo_stop = Arc::new(AtomicBool::new(false));
        let accounts = if args.demo {
            let accounts = demo_accounts(&running, &admin, &data_dir)
                .await
                .context("setting up the demo's accounts")?;
            let participants = accounts
                .participants
                .iter()
                .map(|k| demo::Participant {
                    user: k.user,
                    key_id: FixedStr::new(&k.key_id).unwrap_or_default(),
                    secret: k.secret.as_bytes().try_into().unwrap_or([0; 32]),
                })
                .collect();
            demo::start_with(
                running.endpoint.clone(),
                Some(running.feed.clone()),
                participants,
                Duration::from_millis(args.demo_pace_ms),
                Some(running.gateway_metrics.clone()),
                demo_stop.clone(),
            );
            Some(accounts)
        } else {
            None
        };
        banner(&running, &backend, &admin, accounts.as_ref());
        println!("bourse: all-in-one ready");
        match args.r#for {
            Some(secs) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
                    _ = bourse_shell::server::signal() => {}
                }
            }
            None => bourse_shell::server::signal().await,
        }
        demo_stop.store(true, Ordering::Relaxed);
        eprintln!("bourse: stopping");
        running.stop().await.context("stopping")?;
        anyhow::Ok(())
    })
}

fn banner(
    running: &bourse_platform::Running,
    backend: &Backend,
    admin: &(String, String),
    accounts: Option<&DemoAccounts>,
) {
    let store = match backend {
        Backend::Sqlite(path) => format!("the embedded store {}", path.display()),
        Backend::Postgres { url, schema } => format!(
            "PostgreSQL {url}{}",
            schema
                .as_deref()
                .map(|s| format!(" (schema {s})"))
                .unwrap_or_default()
        ),
    };
    let ws = |base: &str| base.replacen("http://", "ws://", 1);
    let front = running.front_base.clone().unwrap_or_default();
    println!(
        "\nBourse is running, all in one process, on {store}.\n\
         \n  web page           {front}/   sign up, trade, watch the portfolio (open it in a browser)\
         \n  everything         {front}   (each service by its paths, as NGINX routes them)\
         \n  user service       {}   accounts, logins, API keys, admin funding\
         \n  trader service     {}   Alpaca's Trading API v2; trade updates at {}/stream\
         \n  stock service      {}   assets, clock, market data; live at {}/v2/iex\
         \n  portfolio          {}/portfolio?userID=<id>   live valuation (WebSocket)\
         \n  notifications      {}/v1/notifications   inbox, webhooks; pushed at /v1/notifications/stream\
         \n  alerts             {}/v1/alerts   price alerts; recurring orders at /v1/recurring\
         \n  binary gateway     {}   market data feed {}\
         \n  admin              {} / {}",
        running.user_base,
        running.trader_base,
        ws(&running.trader_base),
        running.stock_base,
        ws(&running.stock_base),
        ws(&running.portfolio_base),
        running.notification_base,
        running.auto_base,
        running.endpoint,
        running.feed,
        admin.0,
        admin.1,
    );
    if let Some(a) = accounts {
        let d = &a.demo;
        println!(
            "\n  demo login         {} / {DEMO_PASSWORD}   (user {})\
             \n  demo API key       {} / {}\
             \n\nTry:\n  curl -s {front}/v2/account -H 'APCA-API-KEY-ID: {}' -H 'APCA-API-SECRET-KEY: {}'\n",
            d.username, d.user, d.key_id, d.secret, d.key_id, d.secret,
        );
    } else {
        println!(
            "\nNo instruments yet: list one as the admin (POST {front}/v1/admin/assets), or run with --demo.\n"
        );
    }
}

/// Registers (or finds) a user, and makes a fresh API key for it; `true` if the user
/// is new.
async fn account(
    users: &Client,
    username: &str,
    password: &str,
) -> anyhow::Result<(DemoKey, bool)> {
    let creds = json!({"username": username, "password": password});
    let r = users.post("/v1/users", &creds).await?;
    let new = match r.status.as_u16() {
        201 => true,
        409 => false,
        _ => bail!("registering {username}: {} {}", r.status, r.text),
    };
    let r = users.post("/v1/auth/login", &creds).await?;
    if r.status != 200 {
        bail!("logging in as {username}: {} {}", r.status, r.text);
    }
    let token = r.json["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let user = r.json["user"]["id"].as_u64().unwrap_or_default();
    let r = users
        .clone()
        .with_token(&token)
        .post("/v1/keys", &json!({"label": "demo"}))
        .await?;
    if r.status != 201 {
        bail!("making {username}'s API key: {} {}", r.status, r.text);
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Ok((
        DemoKey {
            user,
            username: username.to_string(),
            key_id: text(&r.json["key_id"]),
            secret: text(&r.json["secret"]),
        },
        new,
    ))
}

/// The demo's accounts: kept from an earlier start if their keys still work, else
/// registered (or found), keyed and, when new, funded through the user service.
async fn demo_accounts(
    running: &bourse_platform::Running,
    admin: &(String, String),
    data_dir: &Path,
) -> anyhow::Result<DemoAccounts> {
    let users = Client::new(&running.user_base);
    let path: PathBuf = data_dir.join("demo-accounts.json");
    if let Some(kept) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<DemoAccounts>(&b).ok())
    {
        let me = users
            .clone()
            .with_key(&kept.demo.key_id, &kept.demo.secret)
            .get("/v1/users/me")
            .await?;
        if me.status == 200 {
            return Ok(kept);
        }
    }
    let r = users
        .post(
            "/v1/auth/login",
            &json!({"username": admin.0, "password": admin.1}),
        )
        .await?;
    if r.status != 200 {
        bail!("logging in as the admin: {} {}", r.status, r.text);
    }
    let funder_token = r.json["access_token"].as_str().unwrap_or_default();
    let funder = users.clone().with_token(funder_token);
    let fund = |user: u64, asset: &'static str, amount: String| {
        let funder = funder.clone();
        async move {
            let r = funder
                .post(
                    &format!("/v1/admin/users/{user}/deposit"),
                    &json!({"asset": asset, "amount": amount}),
                )
                .await?;
            if r.status != 200 {
                bail!("funding user {user} with {asset}: {} {}", r.status, r.text);
            }
            anyhow::Ok(())
        }
    };
    let mut participants = Vec::new();
    for i in 1..=demo::PARTICIPANTS {
        let name = if i <= 4 {
            format!("maker{i}")
        } else {
            format!("taker{}", i - 4)
        };
        let (key, new) = account(&users, &name, &format!("{name}-password")).await?;
        if new {
            fund(key.user, "USD", "100000000.00".into()).await?;
            for (symbol, _) in demo::symbols() {
                fund(key.user, symbol, "10000000".into()).await?;
            }
        }
        participants.push(key);
    }
    let (demo, new) = account(&users, "demo", DEMO_PASSWORD).await?;
    if new {
        // Its cash is every sign-up's in the demo (DEMO_SIGNUP_CASH).
        fund(demo.user, "ACME", "100".into()).await?;
        // The instruments were listed by the journal's bootstrap, without names.
        let lister = Client::new(&running.stock_base).with_token(funder_token);
        for (symbol, name) in demo::names() {
            let r = lister
                .send(
                    Method::PATCH,
                    &format!("/v1/admin/assets/{symbol}"),
                    Some(&json!({ "name": name })),
                )
                .await?;
            if r.status != 200 {
                bail!("naming {symbol}: {} {}", r.status, r.text);
            }
        }
    }
    let accounts = DemoAccounts { participants, demo };
    write_private(&path, &serde_json::to_string_pretty(&accounts)?)
        .with_context(|| format!("writing {}", path.display()))?;
    // The gateway takes keys made over HTTP within a second (it polls every 500 ms).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    Ok(accounts)
}
