//! Server-side sessions in the portal's own database (tower-sessions + its sqlx store).
//!
//! One store type for both backends, so the session layer is one type. Expired sessions are
//! swept by a background task.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::db::{LoginRow, LoginsOf, Store, StoreError};

#[derive(Clone, Debug)]
pub enum SessionBackend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl SessionBackend {
    /// The session table lives beside ours; its own migration creates it if missing.
    pub async fn new(store: &Store) -> Result<Self, StoreError> {
        let backend = match store {
            Store::Sqlite(db) => Self::Sqlite(SqliteStore::new(db.pool.clone())),
            Store::Postgres(pool) => Self::Postgres(PostgresStore::new(pool.clone())),
        };
        let migrated = match &backend {
            Self::Sqlite(s) => s.migrate().await,
            Self::Postgres(s) => s.migrate().await,
        };
        migrated.map_err(|e| StoreError::Migrate(format!("sessions: {e}")))?;
        Ok(backend)
    }

    /// Delete expired sessions (and logins past their lifetime) every `period`, forever
    /// (spawned at startup).
    pub async fn sweep(self, store: Store, period: std::time::Duration) {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            if let Err(e) = self.delete_expired().await {
                tracing::warn!(error = %e, "could not sweep expired sessions");
            }
            if let Err(e) = store.sweep_logins(time::OffsetDateTime::now_utc()).await {
                tracing::warn!(error = %e, "could not sweep old logins");
            }
        }
    }

    /// End the sessions of `of` at once: their records go, so their next request finds no
    /// session. Returns the logins ended.
    pub async fn end_logins(
        &self,
        store: &Store,
        of: LoginsOf<'_>,
        now: time::OffsetDateTime,
    ) -> Result<Vec<LoginRow>, StoreError> {
        let logins = store.logins(of, now).await?;
        for login in &logins {
            self.delete_ids(std::slice::from_ref(&login.session_id))
                .await?;
            store.remove_login(&login.session_id).await?;
        }
        Ok(logins)
    }

    /// The logins of `of` whose session still exists (not signed out, not idle too long).
    pub async fn live_logins(
        &self,
        store: &Store,
        of: LoginsOf<'_>,
        now: time::OffsetDateTime,
    ) -> Result<Vec<LoginRow>, StoreError> {
        let mut live = Vec::new();
        for login in store.logins(of, now).await? {
            let Ok(id) = login.session_id.parse::<Id>() else {
                continue;
            };
            let record = self
                .load(&id)
                .await
                .map_err(|e| StoreError::Query(format!("sessions: {e}")))?;
            if record.is_some() {
                live.push(login);
            }
        }
        Ok(live)
    }

    /// Delete these session records (ids as the cookie carries them).
    pub async fn delete_ids(&self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            let Ok(id) = id.parse::<Id>() else { continue };
            self.delete(&id)
                .await
                .map_err(|e| StoreError::Query(format!("sessions: {e}")))?;
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.create(record).await,
            Self::Postgres(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.save(record).await,
            Self::Postgres(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(s) => s.load(id).await,
            Self::Postgres(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete(id).await,
            Self::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for SessionBackend {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete_expired().await,
            Self::Postgres(s) => s.delete_expired().await,
        }
    }
}
