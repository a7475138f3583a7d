//! The embedded store: one SQLite database file (rusqlite, SQLite built in), for the
//! all-in-one process, where there is no PostgreSQL to install. Every service's store
//! trait has a PostgreSQL implementation and one on this.
//!
//! One writer connection (SQLite takes one writer at a time anyway) and a few reader
//! connections, in WAL mode so that readers never wait for the writer. Work runs on
//! tokio's blocking threads, never on the async workers. `synchronous = FULL`: a
//! committed transaction is on disk before the commit returns, so `kill -9` loses
//! nothing that was acknowledged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

pub use rusqlite;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum LiteError {
    /// SQLite refused or failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking task was lost (the runtime is shutting down).
    #[error("sqlite task: {0}")]
    Task(String),
}

impl LiteError {
    /// Whether trying again later may succeed (the database is busy or locked).
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            LiteError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

impl From<LiteError> for crate::ApiError {
    fn from(e: LiteError) -> Self {
        if e.is_busy() || matches!(e, LiteError::Task(_)) {
            crate::ApiError::unavailable("database", e)
        } else {
            crate::ApiError::internal(e)
        }
    }
}

/// The embedded database, cheap to clone and share.
#[derive(Clone)]
pub struct Lite {
    path: PathBuf,
    /// `None` only while a blocking task has it, or after one panicked (reopened then).
    writer: Arc<tokio::sync::Mutex<Option<Connection>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

impl std::fmt::Debug for Lite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lite").field("path", &self.path).finish()
    }
}

/// Readers kept open between uses.
const KEPT_READERS: usize = 8;

fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )?;
    Ok(conn)
}

type WriterGuard = tokio::sync::OwnedMutexGuard<Option<Connection>>;

/// Runs `f` on the writer connection held by `guard`, on a blocking thread.
async fn on_writer<T, F>(guard: &mut WriterGuard, path: &Path, f: F) -> Result<T, LiteError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
{
    let mut conn = match guard.take() {
        Some(c) => c,
        None => open_connection(path)?,
    };
    let (conn, out) = tokio::task::spawn_blocking(move || {
        let out = f(&mut conn);
        (conn, out)
    })
    .await
    .map_err(|e| LiteError::Task(e.to_string()))?;
    **guard = Some(conn);
    out.map_err(LiteError::from)
}

impl Lite {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Lite, LiteError> {
        let path = path.as_ref().to_path_buf();
        let writer = open_connection(&path)?;
        Ok(Lite {
            path,
            writer: Arc::new(tokio::sync::Mutex::new(Some(writer))),
            readers: Arc::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the writer connection (one writer at a time). `f` opens its own
    /// transaction when it needs one ([`Connection::transaction`]).
    pub async fn write<T, F>(&self, f: F) -> Result<T, LiteError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let mut guard = self.writer.clone().lock_owned().await;
        on_writer(&mut guard, &self.path, f).await
    }

    /// Begins a write transaction that may span awaits (a call to the engine between
    /// two statements): other writers wait until it commits or is dropped (rolled
    /// back). Keep it short.
    pub async fn transaction(&self) -> Result<LiteTx, LiteError> {
        let mut guard = self.writer.clone().lock_owned().await;
        on_writer(&mut guard, &self.path, |c| {
            c.execute_batch("BEGIN IMMEDIATE")
        })
        .await?;
        Ok(LiteTx {
            guard,
            path: self.path.clone(),
            open: true,
        })
    }

    /// Runs `f` on a reader connection: it sees the last committed state and never
    /// waits for the writer.
    pub async fn read<T, F>(&self, f: F) -> Result<T, LiteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let (readers, path) = (self.readers.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let taken = readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match taken {
                Some(c) => c,
                None => open_connection(&path)?,
            };
            let out = f(&conn);
            let mut kept = readers.lock().unwrap_or_else(|e| e.into_inner());
            if kept.len() < KEPT_READERS {
                kept.push(conn);
            }
            out.map_err(LiteError::from)
        })
        .await
        .map_err(|e| LiteError::Task(e.to_string()))?
    }

    /// The rows of one query on a reader, each through `map`.
    pub async fn rows<T, P>(
        &self,
        sql: &'static str,
        params: P,
        map: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, LiteError>
    where
        T: Send + 'static,
        P: rusqlite::Params + Send + 'static,
    {
        self.read(move |c| c.prepare_cached(sql)?.query_map(params, map)?.collect())
            .await
    }

    /// The first row of one query on a reader (`None`: no row), through `map`.
    pub async fn row<T, P>(
        &self,
        sql: &'static str,
        params: P,
        map: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, LiteError>
    where
        T: Send + 'static,
        P: rusqlite::Params + Send + 'static,
    {
        use rusqlite::OptionalExtension;
        self.read(move |c| c.prepare_cached(sql)?.query_row(params, map).optional())
            .await
    }

    /// Runs one statement on the writer (its own transaction); returns the rows changed.
    pub async fn execute<P>(&self, sql: &'static str, params: P) -> Result<usize, LiteError>
    where
        P: rusqlite::Params + Send + 'static,
    {
        self.write(move |c| c.prepare_cached(sql)?.execute(params))
            .await
    }

    /// Applies `migrations` not yet applied (each in its own transaction); returns how
    /// many.
    pub async fn migrate(&self, migrations: LiteMigrations) -> Result<usize, LiteError> {
        self.write(move |conn| {
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {} (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                migrations.table
            ))?;
            let mut applied = 0;
            for (version, sql) in migrations.steps {
                let tx = conn.transaction()?;
                let done: bool = tx.query_row(
                    &format!("SELECT count(*) > 0 FROM {} WHERE version = ?1", migrations.table),
                    [version],
                    |r| r.get(0),
                )?;
                if !done {
                    tx.execute_batch(sql)?;
                    tx.execute(
                        &format!(
                            "INSERT INTO {} (version, applied_at) VALUES (?1, ?2)",
                            migrations.table
                        ),
                        rusqlite::params![version, now_micros()],
                    )?;
                    applied += 1;
                }
                tx.commit()?;
            }
            Ok(applied)
        })
        .await
    }
}

/// A write transaction of [`Lite::transaction`]: rolled back unless committed.
pub struct LiteTx {
    guard: WriterGuard,
    path: PathBuf,
    open: bool,
}

impl LiteTx {
    /// Runs `f` inside the transaction.
    pub async fn run<T, F>(&mut self, f: F) -> Result<T, LiteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        on_writer(&mut self.guard, &self.path, move |c| f(c)).await
    }

    /// Commits.
    pub async fn commit(mut self) -> Result<(), LiteError> {
        on_writer(&mut self.guard, &self.path, |c| c.execute_batch("COMMIT")).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for LiteTx {
    fn drop(&mut self) {
        if self.open
            && let Some(c) = self.guard.as_mut()
        {
            // Cheap (nothing is written): fine on the async thread.
            let _ = c.execute_batch("ROLLBACK");
        }
    }
}

/// A component's SQLite migrations (the counterpart of [`crate::migrate::Migrations`]).
#[derive(Clone, Copy, Debug)]
pub struct LiteMigrations {
    /// The table that records which versions were applied.
    pub table: &'static str,
    /// `(version, SQL)`, in order.
    pub steps: &'static [(i32, &'static str)],
}

/// Microseconds since the Unix epoch: how the embedded store keeps times.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A time kept as [`now_micros`] as the API shows times: RFC 3339 in UTC with
/// microseconds (`2026-12-01T15:30:00.125000Z`), as PostgreSQL's `to_char` renders them
/// in the distributed mode.
pub fn rfc3339_micros(micros: i64) -> String {
    match jiff::Timestamp::from_microsecond(micros) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        Err(_) => String::new(),
    }
}

/// The readiness check of the embedded store: a reader answers `SELECT 1`.
#[derive(Clone, Debug)]
pub struct LiteCheck(pub Lite);

impl crate::health::Check for LiteCheck {
    fn name(&self) -> &str {
        "database"
    }

    fn check(&self) -> crate::auth::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.0
                .read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: LiteMigrations = LiteMigrations {
        table: "t_migrations",
        steps: &[
            (
                1,
                "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL);",
            ),
            (2, "CREATE INDEX t_v ON t (v);"),
        ],
    };

    #[test]
    fn times_read_as_the_api_shows_them() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_micros(1_796_139_000_125_000),
            "2026-12-01T15:30:00.125000Z"
        );
    }

    #[tokio::test]
    async fn migrations_apply_once_and_commits_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let lite = Lite::open(&path).unwrap();
        assert_eq!(lite.migrate(STEPS).await.unwrap(), 2);
        assert_eq!(lite.migrate(STEPS).await.unwrap(), 0, "applied once");
        let id = lite
            .write(|c| {
                c.query_row("INSERT INTO t (v) VALUES ('a') RETURNING id", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .await
            .unwrap();
        assert_eq!(id, 1);
        drop(lite);
        let again = Lite::open(&path).unwrap();
        let v: String = again
            .read(|c| c.query_row("SELECT v FROM t WHERE id = 1", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(v, "a");
    }

    #[tokio::test]
    async fn a_reader_sees_the_last_commit_while_the_writer_holds_a_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let lite = Lite::open(dir.path().join("store.db")).unwrap();
        lite.migrate(STEPS).await.unwrap();
        lite.write(|c| c.execute("INSERT INTO t (v) VALUES ('committed')", []))
            .await
            .unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, wait_started) = tokio::sync::oneshot::channel::<()>();
        let writer = lite.clone();
        let open = tokio::spawn(async move {
            writer
                .write(move |c| {
                    let tx = c.transaction()?;
                    tx.execute("INSERT INTO t (v) VALUES ('uncommitted')", [])?;
                    let _ = started.send(());
                    let _ = held.recv();
                    tx.commit()
                })
                .await
        });
        wait_started.await.unwrap();
        let seen: Vec<String> = lite
            .read(|c| {
                let mut s = c.prepare("SELECT v FROM t ORDER BY id")?;
                let rows = s.query_map([], |r| r.get(0))?;
                rows.collect()
            })
            .await
            .unwrap();
        assert_eq!(seen, vec!["committed".to_string()]);
        release.send(()).unwrap();
        open.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_transaction_spans_awaits_and_rolls_back_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let lite = Lite::open(dir.path().join("store.db")).unwrap();
        lite.migrate(STEPS).await.unwrap();
        let count = |lite: Lite| async move {
            lite.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)))
                .await
                .unwrap()
        };
        let mut tx = lite.transaction().await.unwrap();
        tx.run(|c| c.execute("INSERT INTO t (v) VALUES ('dropped')", []))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        drop(tx);
        assert_eq!(count(lite.clone()).await, 0, "rolled back");
        let mut tx = lite.transaction().await.unwrap();
        tx.run(|c| c.execute("INSERT INTO t (v) VALUES ('kept')", []))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        tx.run(|c| c.execute("INSERT INTO t (v) VALUES ('kept too')", []))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(lite.clone()).await, 2);
        // The next writer was not left inside a transaction.
        lite.write(|c| c.execute("INSERT INTO t (v) VALUES ('after')", []))
            .await
            .unwrap();
        assert_eq!(count(lite).await, 3);
    }
}
