//! [`NotificationStore`] on the embedded SQLite store (`migrations/lite/`): the same
//! statements as PostgreSQL's where SQLite reads them; times are microseconds.

use std::collections::HashMap;
use std::time::Duration;

use bourse_shell::ApiError;
use bourse_shell::health::Check;
use bourse_shell::lite::rusqlite::{self, Connection, OptionalExtension, params};
use bourse_shell::lite::{Lite, LiteCheck, LiteMigrations, now_micros, rfc3339_micros};

use super::{
    Attempt, DeliveryRecord, Draft, Due, ExpiredHeld, FiredAlert, Next, Notification,
    NotificationStore, OrderInfo, Page, Webhook,
};
use crate::kind::{Kind, Preferences};

/// The notification service's SQLite migrations.
pub const MIGRATIONS: LiteMigrations = LiteMigrations {
    table: "notification_schema_migrations",
    steps: &[
        (
            1,
            include_str!("../../migrations/lite/0001_notifications.sql"),
        ),
        (2, include_str!("../../migrations/lite/0002_cursors.sql")),
    ],
};

/// The columns [`notification`] reads.
const COLUMNS: &str = "id, user_id, kind, body, created_at, read_at IS NOT NULL";

fn notification(r: &rusqlite::Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        id: r.get(0)?,
        user: r.get::<_, i64>(1)? as u64,
        kind: r.get(2)?,
        body: r.get(3)?,
        created_at: rfc3339_micros(r.get(4)?),
        read: r.get(5)?,
    })
}

fn micros(d: Duration) -> i64 {
    d.as_micros().min(i64::MAX as u128) as i64
}

/// The columns a [`DeliveryRecord`] is read from.
const DELIVERY_COLUMNS: &str = "id, notification_id, status, next_at, created_at";

/// The deliveries of `rows` (read with [`DELIVERY_COLUMNS`]) with their attempts.
fn delivery_records(
    c: &Connection,
    rows: Vec<(i64, i64, String, i64, i64)>,
) -> rusqlite::Result<Vec<DeliveryRecord>> {
    let mut attempts = c.prepare_cached(
        "SELECT attempt, url, status_code, error, duration_us FROM notification_attempts
         WHERE delivery_id = ?1 ORDER BY attempt",
    )?;
    rows.into_iter()
        .map(|(id, notification, status, next_at, created_at)| {
            let tried = attempts
                .query_map([id], |a| {
                    Ok(Attempt {
                        number: a.get(0)?,
                        url: a.get(1)?,
                        status_code: a.get(2)?,
                        error: a.get(3)?,
                        duration: Duration::from_micros(a.get::<_, i64>(4)?.max(0) as u64),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(DeliveryRecord {
                id,
                notification,
                next_at: (status == "pending").then(|| rfc3339_micros(next_at)),
                status,
                created_at: rfc3339_micros(created_at),
                attempts: tried,
            })
        })
        .collect()
}

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, i64, String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

/// The notification service's tables in the embedded store.
#[derive(Clone, Debug)]
pub struct LiteNotifications {
    lite: Lite,
}

impl LiteNotifications {
    /// The store over `lite`.
    pub fn new(lite: Lite) -> Self {
        LiteNotifications { lite }
    }
}

#[async_trait::async_trait]
impl NotificationStore for LiteNotifications {
    async fn prepare(&self) -> Result<(), ApiError> {
        self.lite.migrate(MIGRATIONS).await?;
        Ok(())
    }

    async fn orders(
        &self,
        keys: &[(u64, String)],
    ) -> Result<Vec<((u64, String), OrderInfo)>, ApiError> {
        let keys = keys.to_vec();
        Ok(self
            .lite
            .read(move |c| {
                let mut one = c.prepare_cached(
                    "SELECT id, client_order_id, symbol, side, type, qty,
                            triggered_at IS NOT NULL
                     FROM trader_orders WHERE user_id = ?1 AND token = ?2",
                )?;
                let mut out = Vec::new();
                for (user, token) in keys {
                    let found = one
                        .query_row(params![user as i64, token], |r| {
                            Ok(OrderInfo {
                                id: r.get(0)?,
                                client_order_id: r.get(1)?,
                                symbol: r.get(2)?,
                                side: r.get(3)?,
                                order_type: r.get(4)?,
                                qty: r.get(5)?,
                                triggered: r.get(6)?,
                            })
                        })
                        .optional()?;
                    if let Some(o) = found {
                        out.push(((user, token), o));
                    }
                }
                Ok(out)
            })
            .await?)
    }

    async fn preferences(&self, users: &[u64]) -> Result<HashMap<u64, Preferences>, ApiError> {
        let users = users.to_vec();
        Ok(self
            .lite
            .read(move |c| {
                let mut q = c.prepare_cached(
                    "SELECT kind, enabled FROM notification_preferences WHERE user_id = ?1",
                )?;
                let mut out = HashMap::new();
                for user in users {
                    let mut p = Preferences::default();
                    for row in q.query_map([user as i64], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
                    })? {
                        let (kind, enabled) = row?;
                        if let Some(k) = Kind::parse(&kind) {
                            p.set.insert(k, enabled);
                        }
                    }
                    out.insert(user, p);
                }
                Ok(out)
            })
            .await?)
    }

    async fn set_preferences(
        &self,
        user: u64,
        set: &[(Kind, bool)],
    ) -> Result<Preferences, ApiError> {
        let set = set.to_vec();
        self.lite
            .write(move |c| {
                let tx = c.transaction()?;
                {
                    let mut put = tx.prepare_cached(
                        "INSERT INTO notification_preferences (user_id, kind, enabled)
                         VALUES (?1, ?2, ?3)
                         ON CONFLICT (user_id, kind) DO UPDATE SET enabled = excluded.enabled",
                    )?;
                    for (k, e) in &set {
                        put.execute(params![user as i64, k.as_str(), e])?;
                    }
                }
                tx.commit()
            })
            .await?;
        Ok(self
            .preferences(&[user])
            .await?
            .remove(&user)
            .unwrap_or_default())
    }

    async fn insert(&self, drafts: &[Draft]) -> Result<Vec<Notification>, ApiError> {
        let drafts = drafts.to_vec();
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let mut out = Vec::new();
                {
                    let mut put = tx.prepare_cached(&format!(
                        "INSERT INTO notifications (user_id, event_key, kind, body, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (user_id, event_key) DO NOTHING
                         RETURNING {COLUMNS}"
                    ))?;
                    let mut deliver = tx.prepare_cached(
                        "INSERT INTO notification_deliveries
                             (notification_id, user_id, next_at, created_at, updated_at)
                         SELECT ?1, user_id, ?2, ?2, ?2 FROM notification_webhooks
                         WHERE user_id = ?3",
                    )?;
                    let now = now_micros();
                    for d in &drafts {
                        let stored = put
                            .query_row(
                                params![
                                    d.user as i64,
                                    d.key,
                                    d.kind.as_str(),
                                    d.body.to_string(),
                                    now
                                ],
                                notification,
                            )
                            .optional()?;
                        if let Some(n) = stored {
                            deliver.execute(params![n.id, now, d.user as i64])?;
                            out.push(n);
                        }
                    }
                }
                tx.commit()?;
                Ok(out)
            })
            .await?)
    }

    async fn list(&self, user: u64, page: Page) -> Result<Vec<Notification>, ApiError> {
        Ok(self
            .lite
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM notifications
                     WHERE user_id = ?1 AND (?2 IS NULL OR id < ?2)
                       AND (NOT ?3 OR read_at IS NULL)
                     ORDER BY id DESC LIMIT ?4"
                ))?
                .query_map(
                    params![user as i64, page.before, page.unread_only, page.limit],
                    notification,
                )?
                .collect()
            })
            .await?)
    }

    async fn unread(&self, user: u64) -> Result<u64, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT count(*) FROM notifications WHERE user_id = ?1 AND read_at IS NULL",
                (user as i64,),
                |r| r.get::<_, i64>(0),
            )
            .await?
            .unwrap_or(0) as u64)
    }

    async fn mark(&self, user: u64, id: i64, read: bool) -> Result<Option<Notification>, ApiError> {
        Ok(self
            .lite
            .write(move |c| {
                c.prepare_cached(&format!(
                    "UPDATE notifications
                     SET read_at = CASE WHEN ?3 THEN coalesce(read_at, ?4) END
                     WHERE user_id = ?1 AND id = ?2
                     RETURNING {COLUMNS}"
                ))?
                .query_row(params![user as i64, id, read, now_micros()], notification)
                .optional()
            })
            .await?)
    }

    async fn mark_all(&self, user: u64) -> Result<u64, ApiError> {
        Ok(self
            .lite
            .execute(
                "UPDATE notifications SET read_at = ?2 WHERE user_id = ?1 AND read_at IS NULL",
                (user as i64, now_micros()),
            )
            .await? as u64)
    }

    async fn webhook(&self, user: u64) -> Result<Option<Webhook>, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT url, secret, created_at FROM notification_webhooks WHERE user_id = ?1",
                (user as i64,),
                |r| {
                    Ok(Webhook {
                        url: r.get(0)?,
                        secret: r.get(1)?,
                        created_at: rfc3339_micros(r.get(2)?),
                    })
                },
            )
            .await?)
    }

    async fn set_webhook(&self, user: u64, url: &str, secret: &str) -> Result<Webhook, ApiError> {
        let (url, secret) = (url.to_string(), secret.to_string());
        Ok(self
            .lite
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO notification_webhooks (user_id, url, secret, created_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (user_id) DO UPDATE
                     SET url = excluded.url, secret = excluded.secret,
                         created_at = excluded.created_at
                     RETURNING url, secret, created_at",
                )?
                .query_row(params![user as i64, url, secret, now_micros()], |r| {
                    Ok(Webhook {
                        url: r.get(0)?,
                        secret: r.get(1)?,
                        created_at: rfc3339_micros(r.get(2)?),
                    })
                })
            })
            .await?)
    }

    async fn delete_webhook(&self, user: u64) -> Result<bool, ApiError> {
        Ok(self
            .lite
            .execute(
                "DELETE FROM notification_webhooks WHERE user_id = ?1",
                (user as i64,),
            )
            .await?
            > 0)
    }

    async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Due>, ApiError> {
        let lease = micros(lease);
        Ok(self
            .lite
            .write(move |c| {
                let now = now_micros();
                let claimed: Vec<(i64, i64, i32)> = c
                    .prepare_cached(
                        "UPDATE notification_deliveries SET next_at = ?2 + ?3
                         WHERE id IN (SELECT id FROM notification_deliveries
                                      WHERE status = 'pending' AND next_at <= ?2
                                      ORDER BY next_at LIMIT ?1)
                         RETURNING id, notification_id, attempts",
                    )?
                    .query_map(params![limit, now, lease], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let mut read = c.prepare_cached(
                    "SELECT n.id, n.user_id, n.kind, n.body, n.created_at, n.read_at IS NOT NULL,
                            w.url, w.secret
                     FROM notifications n
                     LEFT JOIN notification_webhooks w ON w.user_id = n.user_id
                     WHERE n.id = ?1",
                )?;
                let mut out = Vec::with_capacity(claimed.len());
                for (id, notification_id, attempts) in claimed {
                    let (n, url, secret) = read.query_row([notification_id], |r| {
                        Ok((
                            notification(r)?,
                            r.get::<_, Option<String>>(6)?,
                            r.get::<_, Option<String>>(7)?,
                        ))
                    })?;
                    out.push(Due {
                        id,
                        attempts,
                        notification: n,
                        webhook: url.zip(secret),
                    });
                }
                Ok(out)
            })
            .await?)
    }

    async fn record(&self, delivery: i64, attempt: &Attempt, next: Next) -> Result<bool, ApiError> {
        let attempt = attempt.clone();
        let (status, delay) = match next {
            Next::Delivered => ("delivered", Duration::ZERO),
            Next::Retry(d) => ("pending", d),
            Next::Dead => ("dead", Duration::ZERO),
        };
        let delay = micros(delay);
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let now = now_micros();
                let moved = tx.execute(
                    "UPDATE notification_deliveries
                     SET attempts = ?2, status = ?3, next_at = ?4 + ?5, updated_at = ?4
                     WHERE id = ?1 AND status = 'pending' AND attempts = ?2 - 1",
                    params![delivery, attempt.number, status, now, delay],
                )?;
                if moved == 0 {
                    return Ok(false);
                }
                tx.execute(
                    "INSERT INTO notification_attempts
                         (delivery_id, attempt, at, url, status_code, error, duration_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        delivery,
                        attempt.number,
                        now,
                        attempt.url,
                        attempt.status_code,
                        attempt.error,
                        micros(attempt.duration)
                    ],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await?)
    }

    async fn deliveries(
        &self,
        user: u64,
        status: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, ApiError> {
        let status = status.map(str::to_string);
        Ok(self
            .lite
            .read(move |c| {
                let rows = c
                    .prepare_cached(&format!(
                        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries
                         WHERE user_id = ?1 AND (?2 IS NULL OR status = ?2)
                           AND (?3 IS NULL OR id < ?3)
                         ORDER BY id DESC LIMIT ?4"
                    ))?
                    .query_map(params![user as i64, status, before, limit], delivery_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                delivery_records(c, rows)
            })
            .await?)
    }

    async fn redeliver(&self, user: u64, id: i64) -> Result<Option<DeliveryRecord>, ApiError> {
        Ok(self
            .lite
            .write(move |c| {
                let now = now_micros();
                let row = c
                    .prepare_cached(&format!(
                        "UPDATE notification_deliveries
                         SET status = 'pending', next_at = ?3, updated_at = ?3
                         WHERE user_id = ?1 AND id = ?2 AND status = 'dead'
                         RETURNING {DELIVERY_COLUMNS}"
                    ))?
                    .query_row(params![user as i64, id, now], delivery_row)
                    .optional()?;
                Ok(delivery_records(c, row.into_iter().collect())?.pop())
            })
            .await?)
    }

    async fn fired_alerts(&self, since: i64) -> Result<Vec<FiredAlert>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT id, user_id, symbol, condition, price, note, triggered_price,
                        triggered_seq, triggered_at
                 FROM auto_alerts
                 WHERE status = 'triggered' AND triggered_at >= ?1
                 ORDER BY triggered_at",
                (since,),
                |r| {
                    let at: i64 = r.get(8)?;
                    Ok(FiredAlert {
                        id: r.get(0)?,
                        user: r.get::<_, i64>(1)? as u64,
                        symbol: r.get(2)?,
                        condition: r.get(3)?,
                        price: r.get(4)?,
                        note: r.get(5)?,
                        trade: (r.get(6)?, r.get(7)?),
                        triggered_at: rfc3339_micros(at),
                        at,
                    })
                },
            )
            .await?)
    }

    async fn expired_held(&self, since: i64) -> Result<Vec<ExpiredHeld>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT id, user_id, client_order_id, symbol, side, type, qty, updated_at
                 FROM trader_orders
                 WHERE type IN ('stop', 'stop_limit', 'trailing_stop') AND status = 'expired'
                   AND updated_at >= ?1
                 ORDER BY updated_at",
                (since,),
                |r| {
                    let at: i64 = r.get(7)?;
                    Ok(ExpiredHeld {
                        id: r.get(0)?,
                        user: r.get::<_, i64>(1)? as u64,
                        client_order_id: r.get(2)?,
                        symbol: r.get(3)?,
                        side: r.get(4)?,
                        order_type: r.get(5)?,
                        qty: r.get(6)?,
                        expired_at: rfc3339_micros(at),
                        at,
                    })
                },
            )
            .await?)
    }

    async fn cursor(&self, name: &str) -> Result<Option<i64>, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT at FROM notification_cursors WHERE name = ?1",
                (name.to_string(),),
                |r| r.get(0),
            )
            .await?)
    }

    async fn save_cursor(&self, name: &str, at: i64) -> Result<(), ApiError> {
        self.lite
            .execute(
                "INSERT INTO notification_cursors (name, at) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET at = max(at, excluded.at)",
                (name.to_string(), at),
            )
            .await?;
        Ok(())
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(LiteCheck(self.lite.clone()))
    }
}
