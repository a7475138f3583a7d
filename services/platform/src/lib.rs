//! # bourse-platform
//!
//! The whole platform in one process, as the all-in-one `bourse` runs it and as the
//! services' integration tests (`bourse-testkit`) start it: the gateway (engine,
//! journal, market data feed) with a service key; the bridge from the journal onto
//! the in-process bus; settlement, the stock service's ingestion and the auto service
//! (conditional orders) and the notification service off the bus; the user, trader,
//! stock, portfolio and notification services over HTTP, each on its own address.
//!
//! The data lives in one of two places ([`Stores`]): PostgreSQL (a schema), or the
//! embedded SQLite file in the data directory, which needs nothing installed. The same
//! service code runs on both: only the stores differ.
//!
//! The in-process bus keeps nothing across a restart, and need not: its publishes are
//! confirmed only once settlement and market data have committed them, so the bridge's
//! checkpoint is never ahead of them; after a `kill -9` the bridge republishes from it
//! and they drop what they have (by sequence number). Nothing the journal
//! acknowledged is lost.

pub mod front;
pub mod stores;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bourse_bus::memory::MemoryBus;
use bourse_core::{Command, FixedStr, UserId};
use bourse_gateway_client::GatewayClient;
use bourse_shell::auth::{Auth, RateLimit, TokenKeys};
use bourse_trader::TraderState;
use bourse_user::UserState;
use bourse_user::keys::Keys;
use bourse_user::session::Credentials;

pub use stores::{Backend, Stores};

/// Why the platform did not start.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The gateway did not start.
    #[error("gateway: {0}")]
    Gateway(String),
    /// A store could not be opened or prepared.
    #[error("store: {0}")]
    Store(String),
    /// A service could not listen.
    #[error("listening on {addr}: {error}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
}

/// Where each service listens (port 0: any free port).
#[derive(Clone, Debug)]
pub struct Addresses {
    /// The user service.
    pub user: SocketAddr,
    /// The trader service.
    pub trader: SocketAddr,
    /// The stock service.
    pub stock: SocketAddr,
    /// The portfolio service.
    pub portfolio: SocketAddr,
    /// The notification service.
    pub notification: SocketAddr,
    /// The auto service (price alerts).
    pub auto: SocketAddr,
}

impl Addresses {
    /// The user service on `host:port` and the trader, stock, portfolio, notification
    /// and auto services on the next five ports (port 0: each on any free port).
    pub fn from_port(host: std::net::IpAddr, port: u16) -> Self {
        let at = |n: u16| SocketAddr::new(host, if port == 0 { 0 } else { port + n });
        Addresses {
            user: at(0),
            trader: at(1),
            stock: at(2),
            portfolio: at(3),
            notification: at(4),
            auto: at(5),
        }
    }

    /// Every service on a free port of 127.0.0.1.
    pub fn any() -> Self {
        Self::from_port([127, 0, 0, 1].into(), 0)
    }
}

/// How to run the platform.
#[derive(Clone, Debug)]
pub struct PlatformConfig {
    /// The journal, snapshots, the bridge's checkpoint (and the embedded store, if used).
    pub data_dir: PathBuf,
    /// The binary gateway's ZeroMQ endpoint (`tcp://127.0.0.1:*`: any free port).
    pub gateway: String,
    /// The market data feed's ZeroMQ endpoint.
    pub feed: String,
    /// The services' addresses.
    pub addresses: Addresses,
    /// One more address serving every service by path ([`front`]), if given.
    pub front: Option<SocketAddr>,
    /// Commands applied once, on an empty journal (instruments, users, deposits).
    pub bootstrap: Vec<Command>,
    /// The secret that signs access tokens.
    pub token_secret: Vec<u8>,
    /// Seconds an access token lives.
    pub access_ttl: Duration,
    /// The admin to make sure of (created if missing).
    pub admin: Option<(String, String)>,
    /// Cash, in cents, each new sign-up gets (0: none; the demo gives paper money).
    pub signup_cash: i64,
    /// Requests per second per key or user (and the burst).
    pub rate: (u32, u32),
    /// Messages per second per gateway session (0: unlimited).
    pub throttle: u32,
    /// The candle interval the market data stream sends as bars.
    pub bar_interval: &'static str,
    /// Ring sizes, preallocation and journal segments (small for tests).
    pub small: bool,
    /// How the notification service calls webhooks.
    pub webhooks: bourse_notification::webhook::WebhookConfig,
    /// What time recurring orders run by (the system's; tests set their own).
    pub clock: Arc<dyn bourse_auto::recurring::Clock>,
}

/// The service session's key on the gateway (in-process only; never written anywhere).
const SERVICE_KEY: &str = "services";

/// A running platform.
pub struct Running {
    /// The user service's base URL.
    pub user_base: String,
    /// The trader service's base URL.
    pub trader_base: String,
    /// The stock service's base URL.
    pub stock_base: String,
    /// The portfolio service's base URL.
    pub portfolio_base: String,
    /// The notification service's base URL.
    pub notification_base: String,
    /// The auto service's base URL (price alerts).
    pub auto_base: String,
    /// Every service at one address, if the config asked for it.
    pub front_base: Option<String>,
    /// The gateway's order entry endpoint.
    pub endpoint: String,
    /// The gateway's market data feed.
    pub feed: String,
    /// The gateway.
    pub gateway: bourse_gateway::server::Running,
    /// The gateway's metrics (what `/metrics` shows under `bourse_gateway_*`).
    pub gateway_metrics: Arc<bourse_gateway::metrics::GatewayMetrics>,
    /// The stock service's live book.
    pub book: Arc<bourse_stock::LiveBook>,
    /// The auto service's status (armed, fired, its position in the trades).
    pub auto: Arc<bourse_auto::service::Status>,
    /// The recurring orders' runner's counters.
    pub recurring: Arc<bourse_auto::recurring::Counters>,
    /// Held `day` orders expired at a close since start.
    pub day_expired: Arc<std::sync::atomic::AtomicU64>,
    /// The portfolio service's hub.
    pub hub: Arc<bourse_portfolio::Hub>,
    /// The notification service's status (notifications stored, its position).
    pub notifications: Arc<bourse_notification::service::Status>,
    /// The webhook worker's counters.
    pub webhooks: Arc<bourse_notification::webhook::Counters>,
    /// The auth every service shares.
    pub auth: Arc<Auth>,
    /// The in-process bus.
    pub bus: MemoryBus,
    /// The stores.
    pub stores: Stores,
    /// The service session on the gateway.
    pub engine: GatewayClient,
    /// Set to stop the background tasks.
    pub stop: Arc<AtomicBool>,
}

impl Running {
    /// Stops the background tasks and the gateway (its journal is complete).
    pub async fn stop(self) -> Result<(), PlatformError> {
        self.stop.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::task::spawn_blocking(move || self.gateway.stop())
            .await
            .map_err(|e| PlatformError::Gateway(e.to_string()))?
            .map_err(|e| PlatformError::Gateway(e.to_string()))
    }
}

/// Serves `app` on `addr`; returns its base URL.
async fn serve(addr: SocketAddr, app: axum::Router) -> Result<String, PlatformError> {
    let (listener, bound) = bourse_shell::server::bind(addr)
        .await
        .map_err(|error| PlatformError::Listen { addr, error })?;
    tokio::spawn(bourse_shell::server::serve(
        listener,
        app,
        bourse_shell::server::signal(),
    ));
    Ok(format!("http://{bound}"))
}

/// A consumer factory that hands out `consumer` once (the in-process bus's consumers
/// do not break, so there is never a second connection to make).
fn once<C: Send + 'static>(
    consumer: C,
) -> impl FnMut() -> std::future::Ready<Result<C, bourse_bus::BusError>> {
    let mut consumer = Some(consumer);
    move || std::future::ready(consumer.take().ok_or(bourse_bus::BusError::Closed))
}

/// Starts it all on `stores` (prepared here).
pub async fn start(config: PlatformConfig, stores: Stores) -> Result<Running, PlatformError> {
    let stop = Arc::new(AtomicBool::new(false));
    stores.prepare().await?;

    // The gateway, with the in-process service key.
    let secret: [u8; 32] = bourse_shell::auth::random_bytes(32)
        .try_into()
        .map_err(|_| PlatformError::Config("no randomness".into()))?;
    let mut keys = bourse_gateway::keys::KeyStore::default();
    keys.insert_service(
        FixedStr::new(SERVICE_KEY).unwrap_or_default(),
        UserId(0),
        &secret,
    );
    let mut gw = bourse_gateway::server::GatewayConfig::new(&config.data_dir, keys);
    gw.bind = config.gateway.clone();
    gw.feed = Some(config.feed.clone());
    gw.throttle = config.throttle;
    if config.small {
        gw.ring_size = 1024;
        gw.segment_bytes = 1 << 20;
    }
    gw.bootstrap = config.bootstrap.clone();
    let gateway_metrics = gw.metrics.clone();
    let page_metrics = gw.metrics.clone();
    bourse_shell::telemetry::set_source("gateway", move |page| page_metrics.render(page));
    let engine_config = gw.engine;
    let (base_keys, shared_keys) = (gw.keys.current().as_ref().clone(), gw.keys.clone());
    let gateway =
        bourse_gateway::server::spawn(gw).map_err(|e| PlatformError::Gateway(e.to_string()))?;
    let endpoint = gateway.ready.endpoint.clone();
    let feed = gateway
        .ready
        .feed_endpoint
        .clone()
        .ok_or_else(|| PlatformError::Gateway("no market data feed".into()))?;
    // The gateway follows the user service's keys, as `bourse serve --keys-db` does.
    tokio::spawn(bourse_user::keys::follow(
        stores.users.clone(),
        base_keys,
        shared_keys,
        stop.clone(),
    ));

    // Journal → bridge → in-process bus → settlement and market data.
    let bus = MemoryBus::new();
    // Settlement and market data are durable queues: a publish is confirmed (and the
    // bridge's checkpoint moves) only once they have committed it. Each connects (and,
    // after any failure, connects again) to its queue by name; the bridge republishes
    // whatever the lost consumer had not acknowledged.
    let durable = |name: &'static str, spec: bourse_bus::rabbit::QueueSpec| {
        let bus = bus.clone();
        let consumer = move || {
            let patterns: Vec<&str> = spec.patterns.iter().map(String::as_str).collect();
            bus.durable_consumer(name, &patterns)
        };
        let first = consumer();
        let mut first = Some(first);
        move || std::future::ready(Ok(first.take().unwrap_or_else(&consumer)))
    };
    let settlement = durable(
        "settlement",
        bourse_bus::rabbit::QueueSpec::settlement("settlement"),
    );
    let market = durable("market", bourse_bus::rabbit::QueueSpec::market("market"));
    let auto_trades = durable("auto", bourse_bus::rabbit::QueueSpec::auto("auto"));
    let order_events = durable(
        "notification",
        bourse_bus::rabbit::QueueSpec::notification("notification"),
    );
    let pushes = bus.consumer(
        "notification-pushes",
        &[bourse_notification::service::PUSH_PATTERN],
    );
    let hints = bus.consumer("portfolio-hints", &[bourse_portfolio::changes::PATTERN]);
    let execs = bus.consumer("trade-updates", &[bourse_trader::stream::PATTERN]);
    let (bridge_bus, bridge_stop) = (bus.clone(), stop.clone());
    let bridge_config = bourse_bridge::BridgeConfig::new(&config.data_dir, engine_config);
    tokio::spawn(async move {
        let connect = || {
            let bus = bridge_bus.clone();
            async move { Ok(bus.publisher()) }
        };
        if let Err(e) =
            bourse_bridge::run(bridge_config, connect, bridge_stop, |p| p.export()).await
        {
            tracing::error!("bridge stopped: {e}");
        }
    });
    let (settle_store, settle_bus, settle_stop) =
        (stores.settlement.clone(), bus.clone(), stop.clone());
    tokio::spawn(async move {
        let publishers = move || {
            let bus = settle_bus.clone();
            async move { Ok(bus.publisher()) }
        };
        if let Err(e) = bourse_order::service::run(
            settle_store,
            bourse_order::service::ServiceConfig::default(),
            settlement,
            publishers,
            settle_stop,
            |p| p.export(),
        )
        .await
        {
            tracing::error!("settlement stopped: {e}");
        }
    });
    let (market_store, ingest_stop) = (stores.market.clone(), stop.clone());
    tokio::spawn(async move {
        let up = Arc::new(AtomicBool::new(false));
        bourse_stock::ingest::run(market_store, market, up, ingest_stop, |_| {}).await;
    });
    let book = bourse_stock::LiveBook::new();
    bourse_stock::book::follow(&zmq::Context::new(), &feed, book.clone(), stop.clone())
        .map_err(|e| PlatformError::Gateway(format!("feed: {e}")))?;

    // The services, sharing the token secret and the key store.
    let engine = {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            GatewayClient::connect(&endpoint, SERVICE_KEY, secret, Duration::from_secs(5))
        })
        .await
        .map_err(|e| PlatformError::Gateway(e.to_string()))?
        .map_err(|e| PlatformError::Gateway(e.to_string()))?
    };
    let limit = |n: u32| std::num::NonZeroU32::new(n.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
    let auth = Arc::new(Auth {
        tokens: TokenKeys::new(&config.token_secret, config.access_ttl),
        keys: Arc::new(Keys::new(stores.users.clone())),
        limit: RateLimit::new(limit(config.rate.0), limit(config.rate.1)),
    });
    let user_state = UserState {
        store: stores.users.clone(),
        auth: auth.clone(),
        refresh_ttl: Duration::from_secs(30 * 86_400),
        engine: Some(engine.clone()),
        signup_cash: config.signup_cash,
    };
    if let Some((username, password)) = &config.admin {
        bourse_user::session::ensure_admin(
            &user_state,
            &Credentials {
                username: username.clone(),
                password: password.clone(),
            },
        )
        .await
        .map_err(|e| PlatformError::Store(format!("the admin: {}", e.message)))?;
    }
    let user_app = bourse_user::app(user_state);
    let user_base = serve(config.addresses.user, user_app.clone()).await?;

    // The portfolio service: prices from the feed, hints from settlement.
    let (interest, subscriptions, catch_ups) = bourse_portfolio::prices::interest();
    let hub = bourse_portfolio::Hub::new(interest);
    bourse_portfolio::prices::follow(
        &zmq::Context::new(),
        &feed,
        Arc::downgrade(&hub),
        subscriptions,
        stop.clone(),
    )
    .map_err(|e| PlatformError::Gateway(format!("feed: {e}")))?;
    tokio::spawn(bourse_portfolio::prices::catch_up(
        stores.holdings.clone(),
        Arc::downgrade(&hub),
        catch_ups,
        Duration::from_millis(500),
    ));
    let (hints_store, hints_hub, hints_stop) = (stores.holdings.clone(), hub.clone(), stop.clone());
    tokio::spawn(async move {
        let up = Arc::new(AtomicBool::new(false));
        bourse_portfolio::changes::run(hints_store, hints_hub, once(hints), up, hints_stop).await;
    });
    let portfolio_app = bourse_portfolio::app(
        bourse_portfolio::PortfolioState {
            holdings: stores.holdings.clone(),
            auth: auth.clone(),
            hub: hub.clone(),
            stream: bourse_portfolio::StreamConfig::default(),
        },
        None,
    );
    let portfolio_base = serve(config.addresses.portfolio, portfolio_app.clone()).await?;

    // The auto service: conditional orders held until a trade fires them.
    let auto = Arc::new(bourse_auto::service::Status::default());
    tokio::spawn(bourse_auto::service::run(
        bourse_auto::service::Stores {
            auto: stores.auto.clone(),
            trader: stores.trader.clone(),
            market: stores.market.clone(),
        },
        engine.clone(),
        auto_trades,
        auto.clone(),
        stop.clone(),
    ));
    let day_expired = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // A close missed while the platform was down is handled before it serves.
    let mut close = bourse_auto::session::Close::new(
        stores.auto.clone(),
        Some(engine.clone()),
        config.clock.clone(),
        day_expired.clone(),
    );
    close.round().await;
    tokio::spawn(close.run(bourse_auto::recurring::TICK, stop.clone()));
    let recurring = Arc::new(bourse_auto::recurring::Counters::default());
    tokio::spawn(bourse_auto::recurring::run(
        bourse_auto::service::Stores {
            auto: stores.auto.clone(),
            trader: stores.trader.clone(),
            market: stores.market.clone(),
        },
        engine.clone(),
        config.clock.clone(),
        bourse_auto::recurring::TICK,
        recurring.clone(),
        stop.clone(),
    ));
    let auto_app = bourse_auto::app(
        bourse_auto::alerts::AutoState {
            store: stores.auto.clone(),
            market: stores.market.clone(),
            auth: auth.clone(),
            clock: config.clock.clone(),
        },
        &auto,
    );
    let auto_base = serve(config.addresses.auto, auto_app.clone()).await?;

    // The notification service: the inbox, its pushes and the webhooks.
    let notifications = Arc::new(bourse_notification::service::Status::default());
    let (notify_bus, notify_status) = (bus.clone(), notifications.clone());
    tokio::spawn(bourse_notification::service::run(
        stores.notifications.clone(),
        order_events,
        move || {
            let bus = notify_bus.clone();
            async move { Ok(bus.publisher()) }
        },
        notify_status,
        stop.clone(),
    ));
    let webhooks = Arc::new(bourse_notification::webhook::Counters::default());
    tokio::spawn(bourse_notification::webhook::run(
        stores.notifications.clone(),
        config.webhooks,
        notifications.wake.clone(),
        webhooks.clone(),
        stop.clone(),
    ));
    let notification_state = bourse_notification::NotificationState {
        store: stores.notifications.clone(),
        auth: auth.clone(),
        listeners: bourse_trader::stream::Listeners::new(),
        webhooks: config.webhooks,
        wake: notifications.wake.clone(),
    };
    tokio::spawn(bourse_notification::push::follow(
        notification_state.listeners.clone(),
        once(pushes),
        stop.clone(),
    ));
    let notification_app = bourse_notification::app(notification_state, Some(&notifications));
    let notification_base = serve(config.addresses.notification, notification_app.clone()).await?;

    // The trader: order entry, its reconciler and trade_updates.
    let trader_state = TraderState::with_stores(
        stores.trader.clone(),
        stores.holdings.clone(),
        Arc::new(bourse_stock::assets::Suspensions::over(
            stores.market.clone(),
        )),
        auth.clone(),
        Some(engine.clone()),
    );
    tokio::spawn(bourse_trader::reconcile::run(
        stores.trader.clone(),
        engine.clone(),
        bourse_trader::reconcile::GRACE,
        stop.clone(),
    ));
    let (stream_stores, listeners, updates_stop) = (
        trader_state.stream_stores(),
        trader_state.listeners.clone(),
        stop.clone(),
    );
    tokio::spawn(bourse_trader::stream::run(
        stream_stores,
        listeners,
        once(execs),
        updates_stop,
    ));
    let trader_app = bourse_trader::app(trader_state);
    let trader_base = serve(config.addresses.trader, trader_app.clone()).await?;
    let stock_app = bourse_stock::app(
        bourse_stock::StockState {
            store: stores.market.clone(),
            auth: auth.clone(),
            engine: Some(engine.clone()),
            book: book.clone(),
            bar_interval: config.bar_interval,
        },
        None,
    );
    let stock_base = serve(config.addresses.stock, stock_app.clone()).await?;
    let front_base = match config.front {
        Some(addr) => Some(
            serve(
                addr,
                front::router(front::Apps {
                    user: user_app,
                    trader: trader_app,
                    stock: stock_app,
                    portfolio: portfolio_app,
                    notification: notification_app,
                    auto: auto_app,
                }),
            )
            .await?,
        ),
        None => None,
    };
    Ok(Running {
        user_base,
        trader_base,
        stock_base,
        portfolio_base,
        notification_base,
        auto_base,
        front_base,
        endpoint,
        feed,
        gateway,
        gateway_metrics,
        book,
        auto,
        recurring,
        day_expired,
        hub,
        notifications,
        webhooks,
        auth,
        bus,
        stores,
        engine,
        stop,
    })
}
