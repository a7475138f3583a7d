//! [`UserStore`] on the embedded SQLite store (`migrations/lite/`).

use std::time::Duration;

use bourse_shell::ApiError;
use bourse_shell::auth::Role;
use bourse_shell::health::Check;
use bourse_shell::lite::rusqlite::{self, OptionalExtension, params};
use bourse_shell::lite::{Lite, LiteCheck, LiteMigrations, now_micros, rfc3339_micros};

use super::{KeyRow, LiveKey, Login, Opener, Refreshed, UserStore};

/// The user tables' SQLite migrations.
pub const MIGRATIONS: LiteMigrations = LiteMigrations {
    table: "user_schema_migrations",
    steps: &[(1, include_str!("../../migrations/lite/0001_accounts.sql"))],
};

/// The user tables in the embedded store.
#[derive(Clone, Debug)]
pub struct LiteUserStore {
    lite: Lite,
}

impl LiteUserStore {
    /// The store over `lite`.
    pub fn new(lite: Lite) -> Self {
        LiteUserStore { lite }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn hash32(bytes: Vec<u8>) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

#[async_trait::async_trait]
impl UserStore for LiteUserStore {
    async fn prepare(&self) -> Result<(), ApiError> {
        self.lite.migrate(MIGRATIONS).await?;
        Ok(())
    }

    async fn create_account(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        open: Opener<'_>,
    ) -> Result<Option<u64>, ApiError> {
        // The id first, committed on its own: never handed out twice.
        let id: i64 = self
            .lite
            .write(|c| {
                c.query_row(
                    "UPDATE account_ids SET next = next + 1 RETURNING next - 1",
                    [],
                    |r| r.get(0),
                )
            })
            .await?;
        let mut tx = self.lite.transaction().await?;
        let (name, hash) = (username.to_string(), password_hash.to_string());
        let id: Option<i64> = tx
            .run(move |c| {
                c.query_row(
                    "INSERT INTO accounts (id, username, password_hash, role, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (username) DO NOTHING RETURNING id",
                    params![id, name, hash, role.as_str(), now_micros()],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        open(id as u64).await?;
        tx.commit().await?;
        Ok(Some(id as u64))
    }

    async fn make_admin(&self, username: &str) -> Result<(), ApiError> {
        self.lite
            .execute(
                "UPDATE accounts SET role = 'admin' WHERE username = ?1",
                (username.to_string(),),
            )
            .await?;
        Ok(())
    }

    async fn account(&self, id: u64) -> Result<Option<(String, Role)>, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT username, role FROM accounts WHERE id = ?1",
                (id as i64,),
                |r| Ok((r.get::<_, String>(0)?, Role::parse(&r.get::<_, String>(1)?))),
            )
            .await?)
    }

    async fn login(&self, username: &str) -> Result<Option<Login>, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT id, password_hash, role FROM accounts WHERE username = ?1",
                (username.to_string(),),
                |r| {
                    Ok(Login {
                        id: r.get::<_, i64>(0)? as u64,
                        password_hash: r.get(1)?,
                        role: Role::parse(&r.get::<_, String>(2)?),
                    })
                },
            )
            .await?)
    }

    async fn add_refresh(
        &self,
        token_sha256: [u8; 32],
        user: u64,
        family: &str,
        ttl: Duration,
    ) -> Result<(), ApiError> {
        let family = family.to_string();
        self.lite
            .write(move |c| insert_refresh(c, token_sha256, user, &family, ttl))
            .await?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        token_sha256: [u8; 32],
        next_sha256: [u8; 32],
        ttl: Duration,
    ) -> Result<Refreshed, ApiError> {
        Ok(self
            .lite
            .write(move |c| {
                let tx = c.transaction()?;
                let now = now_micros();
                let found = tx
                    .query_row(
                        "SELECT t.user_id, t.family, t.used_at IS NOT NULL,
                                t.revoked_at IS NOT NULL, t.expires_at < ?2, u.username, u.role
                         FROM refresh_tokens t JOIN accounts u ON u.id = t.user_id
                         WHERE t.token_sha256 = ?1",
                        params![token_sha256.as_slice(), now],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, bool>(2)?,
                                r.get::<_, bool>(3)?,
                                r.get::<_, bool>(4)?,
                                r.get::<_, String>(5)?,
                                r.get::<_, String>(6)?,
                            ))
                        },
                    )
                    .optional()?;
                let Some((user, family, used, revoked, expired, username, role)) = found else {
                    return Ok(Refreshed::Unknown);
                };
                if used && !revoked {
                    tx.execute(
                        "UPDATE refresh_tokens SET revoked_at = ?2
                         WHERE family = ?1 AND revoked_at IS NULL",
                        params![family, now],
                    )?;
                    tx.commit()?;
                    return Ok(Refreshed::Reused);
                }
                if revoked || expired {
                    return Ok(Refreshed::Dead);
                }
                tx.execute(
                    "UPDATE refresh_tokens SET used_at = ?2 WHERE token_sha256 = ?1",
                    params![token_sha256.as_slice(), now],
                )?;
                insert_refresh(&tx, next_sha256, user as u64, &family, ttl)?;
                tx.commit()?;
                Ok(Refreshed::Rotated {
                    user: user as u64,
                    username,
                    role: Role::parse(&role),
                })
            })
            .await?)
    }

    async fn revoke_login(&self, token_sha256: [u8; 32]) -> Result<bool, ApiError> {
        Ok(self
            .lite
            .execute(
                "UPDATE refresh_tokens SET revoked_at = ?2
                 WHERE family = (SELECT family FROM refresh_tokens WHERE token_sha256 = ?1)
                   AND revoked_at IS NULL",
                (token_sha256.to_vec(), now_micros()),
            )
            .await?
            > 0)
    }

    async fn create_key(
        &self,
        user: u64,
        key_id: &str,
        secret_sha256: [u8; 32],
        label: &str,
        max_live: i64,
    ) -> Result<Option<String>, ApiError> {
        let (key_id, label) = (key_id.to_string(), label.to_string());
        let created = self
            .lite
            .write(move |c| {
                // The one writer: the count below holds until the commit.
                let tx = c.transaction()?;
                let live: i64 = tx.query_row(
                    "SELECT count(*) FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL",
                    [user as i64],
                    |r| r.get(0),
                )?;
                if live >= max_live {
                    return Ok(None);
                }
                let now = now_micros();
                tx.execute(
                    "INSERT INTO api_keys (key_id, user_id, secret_sha256, label, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key_id, user as i64, secret_sha256.as_slice(), label, now],
                )?;
                tx.commit()?;
                Ok(Some(now))
            })
            .await?;
        Ok(created.map(rfc3339_micros))
    }

    async fn keys(&self, user: u64) -> Result<Vec<KeyRow>, ApiError> {
        Ok(self
            .lite
            .rows(
                "SELECT key_id, label, created_at FROM api_keys
                 WHERE user_id = ?1 AND revoked_at IS NULL
                 ORDER BY created_at DESC, key_id",
                (user as i64,),
                |r| {
                    Ok(KeyRow {
                        key_id: r.get(0)?,
                        label: r.get(1)?,
                        created_at: rfc3339_micros(r.get(2)?),
                    })
                },
            )
            .await?)
    }

    async fn revoke_key(&self, user: u64, key_id: &str) -> Result<bool, ApiError> {
        Ok(self
            .lite
            .execute(
                "UPDATE api_keys SET revoked_at = ?3
                 WHERE key_id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
                (key_id.to_string(), user as i64, now_micros()),
            )
            .await?
            > 0)
    }

    async fn key(&self, key_id: &str) -> Result<Option<LiveKey>, ApiError> {
        Ok(self
            .lite
            .row(
                "SELECT k.user_id, u.role, k.secret_sha256 FROM api_keys k
                 JOIN accounts u ON u.id = k.user_id
                 WHERE k.key_id = ?1 AND k.revoked_at IS NULL",
                (key_id.to_string(),),
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )
            .await?
            .and_then(|(user, role, hash)| {
                Some(LiveKey {
                    user: user as u64,
                    role: Role::parse(&role),
                    secret_sha256: hash32(hash)?,
                })
            }))
    }

    async fn live_keys(&self) -> Result<Vec<(String, u64, [u8; 32])>, ApiError> {
        let rows: Vec<(String, i64, Vec<u8>)> = self
            .lite
            .rows(
                "SELECT key_id, user_id, secret_sha256 FROM api_keys WHERE revoked_at IS NULL",
                (),
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, user, hash)| Some((id, user as u64, hash32(hash)?)))
            .collect())
    }

    fn check(&self) -> Box<dyn Check> {
        Box::new(LiteCheck(self.lite.clone()))
    }
}

fn insert_refresh(
    c: &rusqlite::Connection,
    token_sha256: [u8; 32],
    user: u64,
    family: &str,
    ttl: Duration,
) -> Result<(), rusqlite::Error> {
    c.execute(
        "INSERT INTO refresh_tokens (token_sha256, user_id, family, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            token_sha256.as_slice(),
            user as i64,
            family,
            now_micros().saturating_add(micros(ttl))
        ],
    )?;
    Ok(())
}
