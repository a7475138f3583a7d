//! `bourse serve notification`: each user's order events as an inbox in PostgreSQL,
//! pushed over WebSocket and POSTed to their webhook. One instance at a time stores
//! (the event queue has a single active consumer; another started beside it stands by
//! and takes over); every instance serves the API and its own sockets (each follows
//! the pushes on a queue of its own), and every instance delivers webhooks (deliveries
//! are claimed, never sent by two at once).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bourse_bus::rabbit::{QueueSpec, RabbitConfig};
use bourse_notification::service::{PREFETCH, PUSH_PATTERN, Status};
use bourse_notification::store::NotificationStore;
use bourse_notification::webhook::{Counters, WebhookConfig};
use bourse_notification::{NotificationState, app};
use bourse_shell::config::ShellArgs;
use bourse_user::keys::Keys;

/// Arguments of `bourse serve notification`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(
        long,
        env = "BOURSE_NOTIFICATION_LISTEN",
        default_value = "127.0.0.1:8086"
    )]
    listen: SocketAddr,
    /// The service's event queue (declared here, bound to `exec.*`).
    #[arg(
        long,
        env = "BOURSE_NOTIFICATION_QUEUE",
        default_value = "bourse.notification"
    )]
    notification_queue: String,
    /// Calls to a webhook before its delivery is dead.
    #[arg(long, env = "BOURSE_WEBHOOK_ATTEMPTS", default_value_t = 10)]
    webhook_attempts: i32,
    /// The first retry's delay in milliseconds (each next one doubles, up to an hour).
    #[arg(long, env = "BOURSE_WEBHOOK_BACKOFF_MS", default_value_t = 2_000)]
    webhook_backoff_ms: u64,
    /// A webhook call without an answer after this many milliseconds failed.
    #[arg(long, env = "BOURSE_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    webhook_timeout_ms: u64,
    /// Let users register webhooks on loopback and private addresses (tests, private
    /// deployments; never on a public one).
    #[arg(long, env = "BOURSE_WEBHOOKS_PRIVATE")]
    webhooks_private: bool,
    #[command(flatten)]
    shell: ShellArgs,
    #[command(flatten)]
    bus: crate::bridge_cmd::BusArgs,
}

/// Runs the notification service until SIGINT or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    crate::http_role::serve(
        "notification",
        args.listen,
        args.shell.log_json,
        || async move {
            let pool = args.shell.pool().await?;
            // It names orders from the trader's table: its schema (and what it stands
            // on) first.
            crate::http_role::prepare_trader(&pool).await?;
            // And the auto service's price alerts.
            bourse_auto::store::AutoStore::prepare(&bourse_auto::store::pg::PgAuto::new(
                pool.clone(),
            ))
            .await
            .map_err(|e| anyhow::anyhow!("migrating the auto schema: {}", e.message))?;
            let store = bourse_notification::store::pg::PgNotifications::new(pool.clone());
            store
                .prepare()
                .await
                .map_err(|e| anyhow::anyhow!("migrating the notification schema: {}", e.message))?;
            let store: Arc<dyn NotificationStore> = Arc::new(store);
            let auth = args.shell.auth(Arc::new(Keys::pg(pool)))?;
            let webhooks = WebhookConfig {
                base: Duration::from_millis(args.webhook_backoff_ms.max(1)),
                max_attempts: args.webhook_attempts.max(1),
                timeout: Duration::from_millis(args.webhook_timeout_ms.max(1)),
                allow_private: args.webhooks_private,
                ..WebhookConfig::default()
            };
            let status = Arc::new(Status::default());
            let stop = Arc::new(AtomicBool::new(false));
            let rabbit = args.bus.rabbit();
            let events = QueueSpec::notification(&args.notification_queue);
            let consumer = rabbit.consumers(&events, PREFETCH);
            // The pushes need no queue of their own declared by the publisher.
            let pushes = RabbitConfig {
                queues: Vec::new(),
                ..rabbit.clone()
            };
            let publisher = pushes.publishers();
            tokio::spawn(bourse_notification::service::run(
                store.clone(),
                consumer,
                publisher,
                status.clone(),
                stop.clone(),
            ));
            tokio::spawn(bourse_notification::webhook::run(
                store.clone(),
                webhooks,
                status.wake.clone(),
                Arc::new(Counters::default()),
                stop.clone(),
            ));
            let state = NotificationState {
                store,
                auth,
                listeners: bourse_trader::stream::Listeners::new(),
                webhooks,
                wake: status.wake.clone(),
            };
            // One push queue per instance: each needs every push for its own sockets.
            let own = QueueSpec::transient("bourse.notification.push", &[PUSH_PATTERN]);
            let follower = rabbit.consumers(&own, 1_000);
            tokio::spawn(bourse_notification::push::follow(
                state.listeners.clone(),
                follower,
                stop,
            ));
            Ok(app(state, Some(&status)))
        },
    )
}
