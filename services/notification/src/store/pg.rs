//! [`NotificationStore`] on PostgreSQL (`migrations/`).

use std::collections::HashMap;
use std::time::Duration;

use bourse_shell::ApiError;
use bourse_shell::db::{micros_sql, rfc3339_sql as time};
use bourse_shell::health::{Check, Database};
use bourse_shell::migrate::Migrations;
use deadpool_postgres::Pool;
use deadpool_postgres::tokio_postgres::Row;

use super::{
    Attempt, DeliveryRecord, Draft, Due, ExpiredHeld, FiredAlert, Next, NotificationStore,
    OrderInfo, Page, Webhook,
};
use crate::kind::{Kind, Preferences};

/// The notification service's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    table: "notification_schema_migrations",
    lock: 7_340_007,
    steps: &[
        (1, include_str!("../../migrations/0001_notifications.sql")),
        (2, include_str!("../../migrations/0002_cursors.sql")),
    ],
};

/// The columns [`notification`] reads, of table alias `n`.
fn columns() -> String {
    format!(
        "n.id, n.user_id, n.kind, n.body, {}, n.read_at IS NOT NULL",
        time("n.created_at")
    )
}

fn notification(r: &Row) -> super::Notification {
    super::Notification {
        id: r.get(0),
        user: r.get::<_, i64>(1) as u64,
        kind: r.get(2),
        body: r.get(3),
        created_at: r.get(4),
        read: r.get(5),
    }
}

fn micros(d: Duration) -> i64 {
    d.as_micros().min(i64::MAX as u128) as i64
}

/// The notification service's tables in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgNotifications {
    pool: Pool,
}

impl PgNotifications {
    /// The store over `pool`.
    pub fn new(pool: Pool) -> Self {
        PgNotifications { pool }
    }

    async fn delivery_records(&self, rows: Vec<Row>) -> Result<Vec<DeliveryRecord>, ApiError> {
        let client = self.pool.get().await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let attempts = client
            .query(
                "SELECT delivery_id, attempt, url, status_code, error, duration_us
                 FROM notification_attempts WHERE delivery_id = ANY($1)
                 ORDER BY delivery_id, attempt",
                &[&ids],
            )
            .await?;
        let mut by_delivery: HashMap<i64, Vec<Attempt>> = HashMap::new();
        for a in attempts {
            by_delivery.entry(a.get(0)).or_default().push(Attempt {
                number: a.get(1),
                url: a.get(2),
                status_code: a.get(3),
                error: a.get(4),
                duration: Duration::from_micros(a.get::<_, i64>(5).max(0) as u64),
            });
        }
        Ok(rows
            .iter()
            .map(|r| DeliveryRecord {
                id: r.get(0),
                notification: r.get(1),
                status: r.get(2),
                next_at: r.get(3),
                created_at: r.get(4),
                attempts: by_delivery.remove(&r.get::<_, i64>(0)).unwrap_or_default(),
            })
            .collect())
    }
}

/// The columns a [`DeliveryRecord`] is read from, of table alias `d`.
fn delivery_columns() -> String {
    format!(
        "d.id, d.notification_id, d.status,
         CASE WHEN d.status = 'pending' THEN {} END, {}",
        time("d.next_at"),
        time("d.created_at")
    )
}

#[async_trait::async_trait]
impl NotificationStore for PgNotifications {
    async fn prepare(&self) -> Result<(), ApiError> {
        let mut client = self.pool.get().await?;
        MIGRATIONS.run(&mut client).await?;
        Ok(())
    }

    async fn orders(
        &self,
        keys: &[(u64, String)],
    ) -> Result<Vec<((u64, String), OrderInfo)>, ApiError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        let users: Vec<i64> = keys.iter().map(|(u, _)| *u as i64).collect();
        let tokens: Vec<&str> = keys.iter().map(|(_, t)| t.as_str()).collect();
        let stmt = client
            .prepare_cached(
                "SELECT t.user_id, t.token, t.id, t.client_order_id, t.symbol, t.side, t.type,
                        t.qty, t.triggered_at IS NOT NULL
                 FROM unnest($1::BIGINT[], $2::TEXT[]) AS k(user_id, token)
                 JOIN trader_orders t ON t.user_id = k.user_id AND t.token = k.token",
            )
            .await?;
        Ok(client
            .query(&stmt, &[&users, &tokens])
            .await?
            .iter()
            .map(|r| {
                (
                    (r.get::<_, i64>(0) as u64, r.get(1)),
                    OrderInfo {
                        id: r.get(2),
                        client_order_id: r.get(3),
                        symbol: r.get(4),
                        side: r.get(5),
                        order_type: r.get(6),
                        qty: r.get(7),
                        triggered: r.get(8),
                    },
                )
            })
            .collect())
    }

    async fn preferences(&self, users: &[u64]) -> Result<HashMap<u64, Preferences>, ApiError> {
        let client = self.pool.get().await?;
        let ids: Vec<i64> = users.iter().map(|u| *u as i64).collect();
        let stmt = client
            .prepare_cached(
                "SELECT user_id, kind, enabled FROM notification_preferences
                 WHERE user_id = ANY($1)",
            )
            .await?;
        let mut out: HashMap<u64, Preferences> =
            users.iter().map(|u| (*u, Preferences::default())).collect();
        for r in client.query(&stmt, &[&ids]).await? {
            if let Some(kind) = Kind::parse(r.get(1)) {
                out.entry(r.get::<_, i64>(0) as u64)
                    .or_default()
                    .set
                    .insert(kind, r.get(2));
            }
        }
        Ok(out)
    }

    async fn set_preferences(
        &self,
        user: u64,
        set: &[(Kind, bool)],
    ) -> Result<Preferences, ApiError> {
        {
            let client = self.pool.get().await?;
            let kinds: Vec<&str> = set.iter().map(|(k, _)| k.as_str()).collect();
            let enabled: Vec<bool> = set.iter().map(|(_, e)| *e).collect();
            client
                .execute(
                    "INSERT INTO notification_preferences (user_id, kind, enabled)
                     SELECT $1, k, e FROM unnest($2::TEXT[], $3::BOOLEAN[]) AS x(k, e)
                     ON CONFLICT (user_id, kind) DO UPDATE SET enabled = EXCLUDED.enabled",
                    &[&(user as i64), &kinds, &enabled],
                )
                .await?;
        }
        Ok(self
            .preferences(&[user])
            .await?
            .remove(&user)
            .unwrap_or_default())
    }

    async fn insert(&self, drafts: &[Draft]) -> Result<Vec<super::Notification>, ApiError> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let users: Vec<i64> = drafts.iter().map(|d| d.user as i64).collect();
        let keys: Vec<&str> = drafts.iter().map(|d| d.key.as_str()).collect();
        let kinds: Vec<&str> = drafts.iter().map(|d| d.kind.as_str()).collect();
        let bodies: Vec<String> = drafts.iter().map(|d| d.body.to_string()).collect();
        let stmt = tx
            .prepare_cached(&format!(
                "WITH n AS (
                     INSERT INTO notifications (user_id, event_key, kind, body)
                     SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[])
                     ON CONFLICT (user_id, event_key) DO NOTHING
                     RETURNING *
                 )
                 SELECT {} FROM n ORDER BY n.id",
                columns()
            ))
            .await?;
        let stored: Vec<super::Notification> = tx
            .query(&stmt, &[&users, &keys, &kinds, &bodies])
            .await?
            .iter()
            .map(notification)
            .collect();
        let ids: Vec<i64> = stored.iter().map(|n| n.id).collect();
        tx.execute(
            "INSERT INTO notification_deliveries (notification_id, user_id)
             SELECT n.id, n.user_id FROM notifications n
             JOIN notification_webhooks w ON w.user_id = n.user_id
             WHERE n.id = ANY($1)",
            &[&ids],
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn list(&self, user: u64, page: Page) -> Result<Vec<super::Notification>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {} FROM notifications n
                 WHERE n.user_id = $1 AND ($2::BIGINT IS NULL OR n.id < $2)
                   AND (NOT $3 OR n.read_at IS NULL)
                 ORDER BY n.id DESC LIMIT $4",
                columns()
            ))
            .await?;
        Ok(client
            .query(
                &stmt,
                &[
                    &(user as i64),
                    &page.before,
                    &page.unread_only,
                    &i64::from(page.limit),
                ],
            )
            .await?
            .iter()
            .map(notification)
            .collect())
    }

    async fn unread(&self, user: u64) -> Result<u64, ApiError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
                &[&(user as i64)],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn mark(
        &self,
        user: u64,
        id: i64,
        read: bool,
    ) -> Result<Option<super::Notification>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "UPDATE notifications n
                 SET read_at = CASE WHEN $3 THEN COALESCE(n.read_at, clock_timestamp()) END
                 WHERE n.user_id = $1 AND n.id = $2
                 RETURNING {}",
                columns()
            ))
            .await?;
        Ok(client
            .query_opt(&stmt, &[&(user as i64), &id, &read])
            .await?
            .as_ref()
            .map(notification))
    }

    async fn mark_all(&self, user: u64) -> Result<u64, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "UPDATE notifications SET read_at = clock_timestamp()
                 WHERE user_id = $1 AND read_at IS NULL",
                &[&(user as i64)],
            )
            .await?)
    }

    async fn webhook(&self, user: u64) -> Result<Option<Webhook>, ApiError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT url, secret, {} FROM notification_webhooks WHERE user_id = $1",
                    time("created_at")
                ),
                &[&(user as i64)],
            )
            .await?;
        Ok(row.map(|r| Webhook {
            url: r.get(0),
            secret: r.get(1),
            created_at: r.get(2),
        }))
    }

    async fn set_webhook(&self, user: u64, url: &str, secret: &str) -> Result<Webhook, ApiError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO notification_webhooks (user_id, url, secret) VALUES ($1, $2, $3)
                     ON CONFLICT (user_id) DO UPDATE
                     SET url = EXCLUDED.url, secret = EXCLUDED.secret,
                         created_at = clock_timestamp()
                     RETURNING url, secret, {}",
                    time("created_at")
                ),
                &[&(user as i64), &url, &secret],
            )
            .await?;
        Ok(Webhook {
            url: row.get(0),
            secret: row.get(1),
            created_at: row.get(2),
        })
    }

    async fn delete_webhook(&self, user: u64) -> Result<bool, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "DELETE FROM notification_webhooks WHERE user_id = $1",
                &[&(user as i64)],
            )
            .await?
            > 0)
    }

    async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Due>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "WITH due AS (
                     SELECT id FROM notification_deliveries
                     WHERE status = 'pending' AND next_at <= clock_timestamp()
                     ORDER BY next_at LIMIT $1
                     FOR UPDATE SKIP LOCKED
                 )
                 UPDATE notification_deliveries d
                 SET next_at = clock_timestamp() + $2 * INTERVAL '1 microsecond'
                 FROM due, notifications n
                 WHERE d.id = due.id AND n.id = d.notification_id
                 RETURNING {}, d.id, d.attempts,
                     (SELECT url FROM notification_webhooks WHERE user_id = d.user_id),
                     (SELECT secret FROM notification_webhooks WHERE user_id = d.user_id)",
                columns()
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&i64::from(limit), &(micros(lease) as f64)])
            .await?
            .iter()
            .map(|r| {
                let url: Option<String> = r.get(8);
                let secret: Option<String> = r.get(9);
                Due {
                    notification: notification(r),
                    id: r.get(6),
                    attempts: r.get(7),
                    webhook: url.zip(secret),
                }
            })
            .collect())
    }

    async fn record(&self, delivery: i64, attempt: &Attempt, next: Next) -> Result<bool, ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let (status, delay) = match next {
            Next::Delivered => ("delivered", Duration::ZERO),
            Next::Retry(d) => ("pending", d),
            Next::Dead => ("dead", Duration::ZERO),
        };
        // Only the attempt that follows the last one recorded counts.
        let moved = tx
            .execute(
                "UPDATE notification_deliveries
                 SET attempts = $2, status = $3,
                     next_at = clock_timestamp() + $4 * INTERVAL '1 microsecond',
                     updated_at = clock_timestamp()
                 WHERE id = $1 AND status = 'pending' AND attempts = $2 - 1",
                &[&delivery, &attempt.number, &status, &(micros(delay) as f64)],
            )
            .await?;
        if moved == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO notification_attempts
                 (delivery_id, attempt, url, status_code, error, duration_us)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &delivery,
                &attempt.number,
                &attempt.url,
                &attempt.status_code,
                &attempt.error,
                &micros(attempt.duration),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn deliveries(
        &self,
        user: u64,
        status: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, ApiError> {
        let rows = {
            let client = self.pool.get().await?;
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {} FROM notification_deliveries d
                     WHERE d.user_id = $1 AND ($2::TEXT IS NULL OR d.status = $2)
                       AND ($3::BIGINT IS NULL OR d.id < $3)
                     ORDER BY d.id DESC LIMIT $4",
                    delivery_columns()
                ))
                .await?;
            client
                .query(
                    &stmt,
                    &[&(user as i64), &status, &before, &i64::from(limit)],
                )
                .await?
        };
        self.delivery_records(rows).await
    }

    async fn redeliver(&self, user: u64, id: i64) -> Result<Option<DeliveryRecord>, ApiError> {
        let rows = {
            let client = self.pool.get().await?;
            client
                .query(
                    &format!(
                        "UPDATE notification_deliveries d
                         SET status = 'pending', next_at = clock_timestamp(),
                             updated_at = clock_timestamp()
                         WHERE d.user_id = $1 AND d.id = $2 AND d.status = 'dead'
                         RETURNING {}",
                        delivery_columns()
                    ),
                    &[&(user as i64), &id],
                )
                .await?
        };
        Ok(self.delivery_records(rows).await?.pop())
    }

    async fn fired_alerts(&self, since: i64) -> Result<Vec<FiredAlert>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT id, user_id, symbol, condition, price, note, triggered_price,
                        triggered_seq, {}, {}
                 FROM auto_alerts
                 WHERE status = 'triggered' AND triggered_at >= to_timestamp($1::BIGINT / 1e6)
                 ORDER BY triggered_at",
                time("triggered_at"),
                micros_sql("triggered_at")
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&since])
            .await?
            .iter()
            .map(|r| FiredAlert {
                id: r.get(0),
                user: r.get::<_, i64>(1) as u64,
                symbol: r.get(2),
                condition: r.get(3),
                price: r.get(4),
                note: r.get(5),
                trade: (r.get(6), r.get(7)),
                triggered_at: r.get(8),
                at: r.get(9),
            })
            .collect())
    }

    async fn expired_held(&self, since: i64) -> Result<Vec<ExpiredHeld>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                // The types as the partial index `trader_orders_conditional` names them.
                "SELECT id, user_id, client_order_id, symbol, side, type, qty, {}, {}
                 FROM trader_orders
                 WHERE type IN ('stop', 'stop_limit', 'trailing_stop') AND status = 'expired'
                   AND updated_at >= to_timestamp($1::BIGINT / 1e6)
                 ORDER BY updated_at",
                time("updated_at"),
                micros_sql("updated_at")
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&since])
            .await?
            .iter()
            .map(|r| ExpiredHeld {
                id: r.get(0),
                user: r.get::<_, i64>(1) as u64,
                client_order_id: r.get(2),
                symbol: r.get(3),
                side: r.get(4),
                order_type: r.get(5),
                qty: r.get(6),
                expired_at: r.get(7),
                at: r.get(8),
            })
            .collect())
    }

    async fn cursor(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT at FROM notification_cursors WHERE name = $1",
                &[&name],
            )
            .await?
            .map(|r| r.get(0)))
    }

    async fn save_cursor(&self, name: &str, at: i64) -> Result<(), ApiError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO notification_cursors (name, at) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET at = GREATEST(notification_cursors.at, $2)",
                &[&name, &at],
            )
            .await?;
        Ok(())
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(Database(self.pool.clone()))
    }
}
