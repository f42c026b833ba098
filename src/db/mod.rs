//! The database: SQLite (embedded default, a file under the data directory) or PostgreSQL
//! (several portal instances), chosen by the URL. Typed sqlx pools behind one enum; SQL is
//! written once with `$N` placeholders where both dialects agree, and migrations are embedded
//! from `migrations/sqlite` and `migrations/postgres`.

mod api_keys;
mod audit;
mod codes;
mod fleet;
mod logins;
mod observations;
mod tokens;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use api_keys::ApiKeyRow;
pub use audit::{AuditFilter, AuditLink, AuditRow, LinkBody, NewAuditRow};
pub use codes::CodeRow;
pub use fleet::{FleetEnd, FleetFindingRow, FleetScanRow};
pub use logins::{LoginRow, LoginsOf};
pub use observations::ObservationRow;
pub use tokens::TokenRow;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL is not valid: {0}")]
    Url(String),
    #[error("cannot create the data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Query(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                Self::Unavailable(e.to_string())
            }
            other => Self::Query(other.to_string()),
        }
    }
}

/// The store: one pool, of whichever backend the URL named.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteDb),
    Postgres(PgPool),
}

/// SQLite: a pool of readers (WAL lets them run beside a writer) and an async lock that
/// admits one writer at a time. SQLite allows one writer anyway; queueing on the lock is
/// async and fair, where SQLITE_BUSY retries would sleep. The lock also guards the audit
/// chain head this process last wrote (see `audit.rs`).
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pub pool: SqlitePool,
    write: std::sync::Arc<tokio::sync::Mutex<Option<(i64, String)>>>,
}

impl SqliteDb {
    pub(crate) async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, Option<(i64, String)>> {
        self.write.lock().await
    }
}

/// Run the same statement on whichever pool the store holds. The SQL must be valid in both
/// dialects; where they differ, write two `match` arms instead.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            $crate::db::Store::Sqlite(db) => {
                let $pool = &db.pool;
                $body
            }
            $crate::db::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Like [`on_pool!`], for statements that write: on SQLite, under the writer lock.
macro_rules! on_write {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            $crate::db::Store::Sqlite(db) => {
                let _writer = db.write_lock().await;
                let $pool = &db.pool;
                $body
            }
            $crate::db::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_write;

/// The default URL: a SQLite file in the data directory.
pub fn default_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("trustdesk.db").display())
}

impl Store {
    /// Open the database named by `url`, creating a SQLite file (and its directory) if needed.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Url(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL + NORMAL: a commit survives a crash of the process; only a power
                // loss can lose the last transactions (SQLite's documented trade-off).
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            if let Some(parent) = opts.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::DataDir {
                    path: parent.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // The file is in this process: a pooled connection cannot have gone away, and
                // sqlx's default ping before each acquire is one more hop to the connection's
                // thread on every statement.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(Self::Sqlite(SqliteDb {
                pool,
                write: std::sync::Arc::default(),
            }))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(Self::Postgres(pool))
        } else {
            Err(StoreError::Url(
                "expected sqlite:… or postgres://…".to_string(),
            ))
        }
    }

    /// Apply the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let result = match self {
            Self::Sqlite(db) => sqlx::migrate!("./migrations/sqlite").run(&db.pool).await,
            Self::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        };
        result.map_err(|e| StoreError::Migrate(e.to_string()))
    }

    /// A round trip to the database (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}
