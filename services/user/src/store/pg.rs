//! [`UserStore`] on PostgreSQL (`migrations/`).

use std::time::Duration;

use bourse_shell::ApiError;
use bourse_shell::auth::Role;
use bourse_shell::health::{Check, Database};
use deadpool_postgres::Pool;

use super::{KeyRow, LiveKey, Login, Opener, Refreshed, UserStore};

/// Times as the API shows them: RFC 3339, UTC, microseconds.
const RFC3339: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

/// The user tables in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgUserStore {
    pool: Pool,
}

impl PgUserStore {
    /// The store over `pool`.
    pub fn new(pool: Pool) -> Self {
        PgUserStore { pool }
    }
}

fn hash32(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

#[async_trait::async_trait]
impl UserStore for PgUserStore {
    async fn prepare(&self) -> Result<(), ApiError> {
        let mut client = self.pool.get().await?;
        crate::MIGRATIONS.run(&mut client).await?;
        Ok(())
    }

    async fn create_account(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        open: Opener<'_>,
    ) -> Result<Option<u64>, ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "INSERT INTO accounts (username, password_hash, role) VALUES ($1, $2, $3)
                 ON CONFLICT (username) DO NOTHING RETURNING id",
                &[&username, &password_hash, &role.as_str()],
            )
            .await?
        else {
            return Ok(None);
        };
        let id = row.get::<_, i64>(0) as u64;
        open(id).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    async fn make_admin(&self, username: &str) -> Result<(), ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("UPDATE accounts SET role = 'admin' WHERE username = $1")
            .await?;
        client.execute(&stmt, &[&username]).await?;
        Ok(())
    }

    async fn account(&self, id: u64) -> Result<Option<(String, Role)>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT username, role FROM accounts WHERE id = $1")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&(id as i64)])
            .await?
            .map(|r| (r.get(0), Role::parse(r.get(1)))))
    }

    async fn login(&self, username: &str) -> Result<Option<Login>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT id, password_hash, role FROM accounts WHERE username = $1")
            .await?;
        Ok(client.query_opt(&stmt, &[&username]).await?.map(|r| Login {
            id: r.get::<_, i64>(0) as u64,
            password_hash: r.get(1),
            role: Role::parse(r.get(2)),
        }))
    }

    async fn add_refresh(
        &self,
        token_sha256: [u8; 32],
        user: u64,
        family: &str,
        ttl: Duration,
    ) -> Result<(), ApiError> {
        let client = self.pool.get().await?;
        insert_refresh(&client, token_sha256, user, family, ttl).await
    }

    async fn rotate_refresh(
        &self,
        token_sha256: [u8; 32],
        next_sha256: [u8; 32],
        ttl: Duration,
    ) -> Result<Refreshed, ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT t.user_id, t.family, t.used_at IS NOT NULL, t.revoked_at IS NOT NULL,
                        t.expires_at < now(), u.username, u.role
                 FROM refresh_tokens t JOIN accounts u ON u.id = t.user_id
                 WHERE t.token_sha256 = $1 FOR UPDATE OF t",
                &[&token_sha256.as_slice()],
            )
            .await?
        else {
            return Ok(Refreshed::Unknown);
        };
        let family: String = row.get(1);
        let (used, revoked, expired): (bool, bool, bool) = (row.get(2), row.get(3), row.get(4));
        if used && !revoked {
            tx.execute(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL",
                &[&family],
            )
            .await?;
            tx.commit().await?;
            return Ok(Refreshed::Reused);
        }
        if revoked || expired {
            return Ok(Refreshed::Dead);
        }
        tx.execute(
            "UPDATE refresh_tokens SET used_at = now() WHERE token_sha256 = $1",
            &[&token_sha256.as_slice()],
        )
        .await?;
        let user = row.get::<_, i64>(0) as u64;
        insert_refresh(&tx, next_sha256, user, &family, ttl).await?;
        tx.commit().await?;
        Ok(Refreshed::Rotated {
            user,
            username: row.get(5),
            role: Role::parse(row.get(6)),
        })
    }

    async fn revoke_login(&self, token_sha256: [u8; 32]) -> Result<bool, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE refresh_tokens SET revoked_at = now()
                 WHERE family = (SELECT family FROM refresh_tokens WHERE token_sha256 = $1)
                   AND revoked_at IS NULL",
            )
            .await?;
        Ok(client.execute(&stmt, &[&token_sha256.as_slice()]).await? > 0)
    }

    async fn create_key(
        &self,
        user: u64,
        key_id: &str,
        secret_sha256: [u8; 32],
        label: &str,
        max_live: i64,
    ) -> Result<Option<String>, ApiError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // One writer per user at a time, so the count below holds.
        tx.execute(
            "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
            &[&(user as i64)],
        )
        .await?;
        let live: i64 = tx
            .query_one(
                "SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
                &[&(user as i64)],
            )
            .await?
            .get(0);
        if live >= max_live {
            return Ok(None);
        }
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO api_keys (key_id, user_id, secret_sha256, label)
                     VALUES ($1, $2, $3, $4)
                     RETURNING to_char(created_at AT TIME ZONE 'UTC', {RFC3339})"
                ),
                &[&key_id, &(user as i64), &secret_sha256.as_slice(), &label],
            )
            .await?;
        tx.commit().await?;
        Ok(Some(row.get(0)))
    }

    async fn keys(&self, user: u64) -> Result<Vec<KeyRow>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT key_id, label, to_char(created_at AT TIME ZONE 'UTC', {RFC3339})
                 FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL
                 ORDER BY created_at DESC, key_id"
            ))
            .await?;
        Ok(client
            .query(&stmt, &[&(user as i64)])
            .await?
            .iter()
            .map(|r| KeyRow {
                key_id: r.get(0),
                label: r.get(1),
                created_at: r.get(2),
            })
            .collect())
    }

    async fn revoke_key(&self, user: u64, key_id: &str) -> Result<bool, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE api_keys SET revoked_at = now(), changed_at = clock_timestamp()
                 WHERE key_id = $1 AND user_id = $2 AND revoked_at IS NULL",
            )
            .await?;
        Ok(client.execute(&stmt, &[&key_id, &(user as i64)]).await? > 0)
    }

    async fn key(&self, key_id: &str) -> Result<Option<LiveKey>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT k.user_id, u.role, k.secret_sha256 FROM api_keys k
                 JOIN accounts u ON u.id = k.user_id
                 WHERE k.key_id = $1 AND k.revoked_at IS NULL",
            )
            .await?;
        Ok(client.query_opt(&stmt, &[&key_id]).await?.and_then(|r| {
            Some(LiveKey {
                user: r.get::<_, i64>(0) as u64,
                role: Role::parse(r.get(1)),
                secret_sha256: hash32(r.get(2))?,
            })
        }))
    }

    async fn live_keys(&self) -> Result<Vec<(String, u64, [u8; 32])>, ApiError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT key_id, user_id, secret_sha256 FROM api_keys WHERE revoked_at IS NULL",
            )
            .await?;
        Ok(client
            .query(&stmt, &[])
            .await?
            .iter()
            .filter_map(|r| Some((r.get(0), r.get::<_, i64>(1) as u64, hash32(r.get(2))?)))
            .collect())
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(Database(self.pool.clone()))
    }
}

async fn insert_refresh(
    client: &impl deadpool_postgres::GenericClient,
    token_sha256: [u8; 32],
    user: u64,
    family: &str,
    ttl: Duration,
) -> Result<(), ApiError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO refresh_tokens (token_sha256, user_id, family, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[
                &token_sha256.as_slice(),
                &(user as i64),
                &family,
                &ttl.as_secs_f64(),
            ],
        )
        .await?;
    Ok(())
}
