//! Server-side sessions in the portal's own database (tower-sessions + its sqlx store).
//!
//! One store type for both backends, so the session layer is one type. Expired sessions are
//! swept by a background task.
//!
//! The database never holds a session id as the cookie carries it (M-5): a record is stored
//! under [`stored_id`], 128 bits of the SHA-256 of the cookie's id, so someone who reads the
//! sessions table (or `staff_logins`, which keeps the same stored id) cannot replay a
//! session. Migration 0013 dropped the sessions stored before, under their clear ids.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
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
            Store::Postgres(db) => Self::Postgres(PostgresStore::new(db.pool.clone())),
        };
        let migrated = match &backend {
            Self::Sqlite(s) => s.migrate().await,
            Self::Postgres(s) => s.migrate().await,
        };
        migrated.map_err(|e| StoreError::Migrate(format!("sessions: {e}").into()))?;
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
            if let Err(e) = store.sweep_logins(crate::clock::now()).await {
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
                .load_stored(&id)
                .await
                .map_err(|e| StoreError::Query(format!("sessions: {e}").into()))?;
            if record.is_some() {
                live.push(login);
            }
        }
        Ok(live)
    }

    /// Delete these session records (ids as stored: [`stored_id`], as `staff_logins` keeps
    /// them).
    pub async fn delete_ids(&self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            let Ok(id) = id.parse::<Id>() else { continue };
            self.delete_stored(&id)
                .await
                .map_err(|e| StoreError::Query(format!("sessions: {e}").into()))?;
        }
        Ok(())
    }

    async fn load_stored(&self, stored: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(s) => s.load(stored).await,
            Self::Postgres(s) => s.load(stored).await,
        }
    }

    async fn save_stored(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.save(record).await,
            Self::Postgres(s) => s.save(record).await,
        }
    }

    async fn delete_stored(&self, stored: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete(stored).await,
            Self::Postgres(s) => s.delete(stored).await,
        }
    }
}

/// The id a session is stored under: the first 128 bits of SHA-256 over a label and the
/// cookie's id. One way: the stored id does not give the cookie's.
#[must_use]
pub fn stored_id(id: &Id) -> Id {
    let digest = Sha256::new()
        .chain_update(b"trustdesk session id\0")
        .chain_update(id.0.to_le_bytes())
        .finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
    Id(i128::from_le_bytes(first))
}

/// `record` as stored: under [`stored_id`].
fn as_stored(record: &Record) -> Record {
    Record {
        id: stored_id(&record.id),
        ..record.clone()
    }
}

/// Ids as the cookie carries them on one side, [`stored_id`]s on the database's.
#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh random id (128 bits) that is already taken is drawn again, as the sqlx
        // store's own `create` does.
        while self.load_stored(&stored_id(&record.id)).await?.is_some() {
            record.id = Id::default();
        }
        self.save_stored(&as_stored(record)).await
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.save_stored(&as_stored(record)).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        Ok(self
            .load_stored(&stored_id(id))
            .await?
            .map(|record| Record { id: *id, ..record }))
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.delete_stored(&stored_id(id)).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_id_is_fixed_per_id_and_is_not_the_id() {
        let id = Id::default();
        assert_eq!(stored_id(&id), stored_id(&id));
        assert_ne!(stored_id(&id), id);
        assert_ne!(stored_id(&id), stored_id(&Id::default()));
        assert_ne!(stored_id(&id).to_string(), id.to_string());
    }
}
