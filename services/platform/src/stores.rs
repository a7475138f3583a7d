//! Every service's store on one back end: PostgreSQL (one schema for all of them, as
//! the distributed mode has) or the embedded SQLite file.

use std::path::PathBuf;
use std::sync::Arc;

use bourse_auto::store::AutoStore;
use bourse_notification::store::NotificationStore;
use bourse_order::holdings::HoldingsReader;
use bourse_order::store::SettlementStore;
use bourse_shell::lite::Lite;
use bourse_stock::store::MarketStore;
use bourse_trader::store::TraderStore;
use bourse_user::store::UserStore;

use crate::PlatformError;

/// Where the data lives.
#[derive(Clone, Debug)]
pub enum Backend {
    /// PostgreSQL at `url`, in `schema` (created if missing), or `public`.
    Postgres {
        /// `postgres://...` or `host=... user=... dbname=...`.
        url: String,
        /// The schema.
        schema: Option<String>,
    },
    /// The embedded SQLite file at this path.
    Sqlite(PathBuf),
}

/// Every service's store.
#[derive(Clone, Debug)]
pub struct Stores {
    /// Accounts, tokens, API keys.
    pub users: Arc<dyn UserStore>,
    /// Settlement's tables.
    pub settlement: Arc<dyn SettlementStore>,
    /// Holdings, read from settlement's tables.
    pub holdings: Arc<dyn HoldingsReader>,
    /// The trader's orders.
    pub trader: Arc<dyn TraderStore>,
    /// Instruments, trades, bars.
    pub market: Arc<dyn MarketStore>,
    /// The auto service's (held orders, its position in the trades).
    pub auto: Arc<dyn AutoStore>,
    /// The notification service's (inbox, preferences, webhooks, deliveries).
    pub notifications: Arc<dyn NotificationStore>,
    /// The PostgreSQL pool, on that back end.
    pub pool: Option<deadpool_postgres::Pool>,
    /// The embedded store, on that back end.
    pub lite: Option<Lite>,
}

impl Stores {
    /// Opens the back end.
    pub async fn open(backend: &Backend) -> Result<Stores, PlatformError> {
        match backend {
            Backend::Postgres { url, schema } => {
                let pool = bourse_shell::db::pool(url, schema.as_deref(), 16)
                    .await
                    .map_err(|e| PlatformError::Store(e.to_string()))?;
                Ok(Self::postgres(pool))
            }
            Backend::Sqlite(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| PlatformError::Store(format!("{}: {e}", dir.display())))?;
                }
                let lite = Lite::open(path).map_err(|e| PlatformError::Store(e.to_string()))?;
                Ok(Self::sqlite(lite))
            }
        }
    }

    /// The stores on a PostgreSQL pool.
    pub fn postgres(pool: deadpool_postgres::Pool) -> Stores {
        let settlement = Arc::new(bourse_order::store::pg::PgSettlement::new(pool.clone()));
        Stores {
            users: Arc::new(bourse_user::store::pg::PgUserStore::new(pool.clone())),
            settlement: settlement.clone(),
            holdings: settlement,
            trader: Arc::new(bourse_trader::store::pg::PgTrader::new(pool.clone())),
            market: Arc::new(bourse_stock::store::pg::PgMarket::new(pool.clone())),
            auto: Arc::new(bourse_auto::store::pg::PgAuto::new(pool.clone())),
            notifications: Arc::new(bourse_notification::store::pg::PgNotifications::new(
                pool.clone(),
            )),
            pool: Some(pool),
            lite: None,
        }
    }

    /// The stores on the embedded file.
    pub fn sqlite(lite: Lite) -> Stores {
        let settlement = Arc::new(bourse_order::store::lite::LiteSettlement::new(lite.clone()));
        Stores {
            users: Arc::new(bourse_user::store::lite::LiteUserStore::new(lite.clone())),
            settlement: settlement.clone(),
            holdings: settlement,
            trader: Arc::new(bourse_trader::store::lite::LiteTrader::new(lite.clone())),
            market: Arc::new(bourse_stock::store::lite::LiteMarket::new(lite.clone())),
            auto: Arc::new(bourse_auto::store::lite::LiteAuto::new(lite.clone())),
            notifications: Arc::new(bourse_notification::store::lite::LiteNotifications::new(
                lite.clone(),
            )),
            pool: None,
            lite: Some(lite),
        }
    }

    /// Makes every table, each service's own before those that read it.
    pub async fn prepare(&self) -> Result<(), PlatformError> {
        let failed = |what: &str, e: String| PlatformError::Store(format!("{what}: {e}"));
        self.settlement
            .prepare()
            .await
            .map_err(|e| failed("settlement", e.to_string()))?;
        self.users
            .prepare()
            .await
            .map_err(|e| failed("users", e.message))?;
        self.market
            .prepare()
            .await
            .map_err(|e| failed("stock", e.message))?;
        self.trader
            .prepare()
            .await
            .map_err(|e| failed("trader", e.message))?;
        self.auto
            .prepare()
            .await
            .map_err(|e| failed("auto", e.message))?;
        self.notifications
            .prepare()
            .await
            .map_err(|e| failed("notification", e.message))?;
        Ok(())
    }
}
