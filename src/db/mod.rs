//! The database: SQLite (embedded default, a file under the data directory) or PostgreSQL
//! (several portal instances), chosen by the URL. Typed sqlx pools behind one enum; SQL is
//! written once with `$N` placeholders where both dialects agree, and migrations are embedded
//! from `migrations/sqlite` and `migrations/postgres`.

mod api_keys;
mod approvals;
mod audit;
mod codes;
mod fleet;
mod generation;
mod logins;
mod observations;
mod rate_buckets;
mod tokens;
pub mod vocab;
mod watch;
mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use api_keys::ApiKeyRow;
pub use approvals::{ApprovalRow, Decider};
pub use audit::{
    AuditFilter, AuditLink, AuditRow, Chain, GENESIS, LinkBody, NewAuditRow, SignedHead,
};
pub use codes::CodeRow;
pub use fleet::{FleetBeat, FleetEnd, FleetFindingRow, FleetScanRow, STALE_SCAN};
pub use logins::{LoginRow, LoginsOf};
pub use observations::ObservationRow;
pub use tokens::TokenRow;
pub use vocab::{ApprovalState, DeliveryState, FleetState, TokenState};
pub use watch::{WatchRow, WatchState};
pub use webhooks::{AttemptEnd, DeliveryRow};

/// An underlying error, kept as the source (its text is also in the message, for the logs
/// that print one line).
pub type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL is not valid: {0}")]
    Url(String),
    #[error("cannot create the data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Source),
    #[error("database migration failed: {0}")]
    Migrate(#[source] Source),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Query(#[source] Source),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                Self::Unavailable(Box::new(e))
            }
            other => Self::Query(Box::new(other)),
        }
    }
}

/// The store: one pool, of whichever backend the URL named.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// PostgreSQL: the pool, and the queue this process's audit appends gather in (see
/// `audit/append.rs`). Derefs to the pool.
#[derive(Clone, Debug)]
pub struct PgDb {
    pub pool: PgPool,
    audit_queue: std::sync::Arc<audit::PgQueue>,
    appended: std::sync::Arc<tokio::sync::Notify>,
}

impl From<PgPool> for PgDb {
    fn from(pool: PgPool) -> Self {
        Self {
            pool,
            audit_queue: std::sync::Arc::default(),
            appended: std::sync::Arc::default(),
        }
    }
}

impl std::ops::Deref for PgDb {
    type Target = PgPool;
    fn deref(&self) -> &PgPool {
        &self.pool
    }
}

/// SQLite: a pool of readers (WAL lets them run beside a writer) and an async lock that
/// admits one writer at a time. SQLite allows one writer anyway; queueing on the lock is
/// async and fair, where SQLITE_BUSY retries would sleep. The lock also guards the audit
/// writer (its connection and the chain head this process last wrote), and audit events
/// queue beside it to be committed together (see `audit/append.rs`).
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pub pool: SqlitePool,
    write: std::sync::Arc<tokio::sync::Mutex<audit::Writer>>,
    audit_queue: std::sync::Arc<audit::Queue>,
    appended: std::sync::Arc<tokio::sync::Notify>,
    /// The API keys' generation read on the caller's thread (`generation.rs`); `None` when
    /// the store is not a file or its read-only connection could not be opened.
    generation: Option<std::sync::Arc<generation::GenerationReader>>,
}

impl SqliteDb {
    pub(crate) async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, audit::Writer> {
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
            $crate::db::Store::Postgres(db) => {
                let $pool = &db.pool;
                $body
            }
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
            $crate::db::Store::Postgres(db) => {
                let $pool = &db.pool;
                $body
            }
        }
    };
}
pub(crate) use on_write;

/// Every row a query answers, each read by the macro `$row` (one row of either backend into
/// the store's type), inside [`on_pool!`].
macro_rules! all_rows {
    ($row:ident, $query:expr, $pool:expr) => {
        async {
            $query
                .fetch_all($pool)
                .await?
                .iter()
                .map(|r| Ok::<_, sqlx::Error>($row!(r)))
                .collect::<Result<Vec<_>, _>>()
        }
        .await
    };
}
pub(crate) use all_rows;

/// M-5: the SQLite file's directory is created 0700, and the file 0600 before SQLite opens
/// it; SQLite gives its `-wal` and `-shm` files the database file's mode, and any left from
/// before are set to 0600 here too. An existing directory keeps its mode (it may be the
/// data directory an administrator made); an existing file is set to 0600. `:memory:` and
/// other names without a file are left alone.
fn private_files(file: &Path) -> Result<(), StoreError> {
    if file.as_os_str().is_empty() || file.to_str().is_some_and(|f| f.starts_with(':')) {
        return Ok(());
    }
    let fail = |path: &Path, e: std::io::Error| StoreError::DataDir {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(parent).map_err(|e| fail(parent, e))?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(file).map_err(|e| fail(file, e))?;
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm", "-journal"] {
        use std::os::unix::fs::PermissionsExt;
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        let path = std::path::PathBuf::from(path);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail(&path, e))?;
        }
    }
    Ok(())
}

/// What check-config and the start say about a PostgreSQL URL that does not ask for
/// `sslmode=verify-full` (sqlx's default, `prefer`, takes plaintext when the server offers no
/// TLS and checks no certificate). `None` for SQLite, and for verify-full (with
/// `sslrootcert=/path/to/ca.pem`, or the system's roots).
pub fn tls_warning(url: &str) -> Option<String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return None;
    }
    let mode = PgConnectOptions::from_str(url).ok()?.get_ssl_mode();
    (!matches!(mode, sqlx::postgres::PgSslMode::VerifyFull)).then(|| {
        format!(
            "database_url: sslmode is {mode:?}, not verify-full: the connection to PostgreSQL \
             may be plaintext or reach a server whose certificate nobody checked; add \
             ?sslmode=verify-full&sslrootcert=/path/to/ca.pem"
        )
    })
}

/// How long a PostgreSQL connection's ping on its return to the pool vouches for it.
const PG_TESTED_FOR: Duration = Duration::from_secs(1);

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
            private_files(opts.get_filename())?;
            let file = opts.get_filename().to_path_buf();
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // The file is in this process: a pooled connection cannot have gone away, and
                // sqlx's default ping before each acquire is one more hop to the connection's
                // thread on every statement.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
            let generation = file
                .is_file()
                .then(|| generation::GenerationReader::open(&file))
                .and_then(|opened| {
                    opened
                        .inspect_err(|e| {
                            tracing::warn!(error = %e, "the keys' generation will be read through the pool");
                        })
                        .ok()
                })
                .map(std::sync::Arc::new);
            Ok(Self::Sqlite(SqliteDb {
                pool,
                write: std::sync::Arc::default(),
                audit_queue: std::sync::Arc::default(),
                appended: std::sync::Arc::default(),
                generation,
            }))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                // sqlx pings a connection when it goes back to the pool, and by default once
                // more before each acquire: a round trip ahead of every statement. A connection
                // back in the pool for less than PG_TESTED_FOR was answering then; only an
                // older one is pinged first (a failed ping drops it and the pool takes another).
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > PG_TESTED_FOR {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
            Ok(Self::Postgres(pool.into()))
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
            Self::Postgres(db) => sqlx::migrate!("./migrations/postgres").run(&db.pool).await,
        };
        result.map_err(|e| StoreError::Migrate(Box::new(e)))
    }

    /// A round trip to the database (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Notified after each audit row this process appends through this store (and its
    /// clones): the webhook dispatcher waits on it instead of polling often. One permit is
    /// kept when nobody waits, so an append is never missed between two waits.
    pub fn audit_appended(&self) -> &tokio::sync::Notify {
        match self {
            Self::Sqlite(db) => &db.appended,
            Self::Postgres(db) => &db.appended,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// A migrated SQLite store in a fresh temporary directory, for unit tests (the directory
/// lives as long as the returned guard).
#[cfg(test)]
pub(crate) async fn temp_sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&default_url(dir.path())).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_without_verify_full_is_warned_about() {
        for url in [
            "postgres://u@db.example/td",
            "postgres://u@db.example/td?sslmode=require",
            "postgresql://u@db.example/td?sslmode=verify-ca",
        ] {
            let w = tls_warning(url).unwrap();
            assert!(w.contains("verify-full") && !w.contains("u@db"), "{w}");
        }
        let full = "postgres://u@db.example/td?sslmode=verify-full&sslrootcert=/etc/td/ca.pem";
        assert_eq!(tls_warning(full), None);
        assert_eq!(
            tls_warning("sqlite:///var/lib/trustdesk/trustdesk.db"),
            None
        );
    }

    /// M-5: `sslmode=verify-full` with a CA file works against a real PostgreSQL over TLS
    /// (the local server, whose certificate is Debian's self-signed `ssl-cert-snakeoil` for
    /// `localhost`), and refuses the same server under another CA or another name.
    #[tokio::test]
    #[ignore = "needs PostgreSQL"]
    async fn postgres_verify_full_with_a_ca_file_connects_and_refuses_a_wrong_ca() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let ca = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
        let base = std::env::var("TD_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://trustdesk:trustdesk@127.0.0.1:5432/postgres".into());
        let mut url = url::Url::parse(&base).unwrap();
        // Ignored unless asked for: then a missing server is a failure, not a skip.
        assert!(
            Path::new(ca).exists() && std::net::TcpStream::connect("127.0.0.1:5432").is_ok(),
            "PostgreSQL with TLS (the snakeoil certificate) is required on 127.0.0.1:5432"
        );
        url.set_host(Some("localhost")).unwrap();
        let with = |url: &url::Url, ca: &str| format!("{url}?sslmode=verify-full&sslrootcert={ca}");
        let store = Store::connect(&with(&url, ca)).await.unwrap();
        store.ping().await.unwrap();
        // The system's public CAs: none of them signed this server's certificate.
        let public = "/etc/ssl/certs/ca-certificates.crt";
        assert!(Store::connect(&with(&url, public)).await.is_err());
        url.set_host(Some("127.0.0.1")).unwrap();
        assert!(
            Store::connect(&with(&url, ca)).await.is_err(),
            "the certificate names localhost, not 127.0.0.1"
        );
    }

    /// M-5: a new data directory is 0700; the database, its WAL and its shared-memory file
    /// are 0600, whatever the umask.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_sqlite_files_are_private_to_the_portal() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let store = Store::connect(&default_url(&data)).await.unwrap();
        store.migrate().await.unwrap();
        let db = data.join("trustdesk.db");
        assert_eq!(mode(&data), 0o700);
        for file in [
            db.clone(),
            data.join("trustdesk.db-wal"),
            data.join("trustdesk.db-shm"),
        ] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        // A file left readable by an older version is made private at the next start.
        drop(store);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _store = Store::connect(&default_url(&data)).await.unwrap();
        assert_eq!(mode(&db), 0o600);
    }
}
