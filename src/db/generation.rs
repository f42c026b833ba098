//! The API keys' generation on SQLite, read on the calling thread.
//!
//! Every request with an API key asks for the keys' generation (`auth::api_keys`), so that a
//! key revoked by another process is refused on the next request. sqlx runs each SQLite
//! statement on a thread of its own, and the hand-off there and back (and the pool's ping of
//! the connection after it) was about 0.1 ms of a lookup at one client, before anything else
//! could start (BENCHMARKS.md, session 22). A one-row read from SQLite's page cache takes a
//! few microseconds, so this reads it where it is asked, on a read-only connection of its own.
//!
//! It never waits: the connection's busy timeout is zero, and a caller that finds the
//! connection in use by another does not queue for it. Whenever it cannot answer at once
//! (in use, busy, any error) the caller reads through sqlx as before. The read starts after
//! the request arrived, as through sqlx: what it answers was committed before then.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

/// The one statement, for this reader and for the pool alike (`api_keys.rs`).
pub(super) const GENERATION: &str = "SELECT generation FROM api_key_generation WHERE id = 1";

/// A read-only connection to the store's file, for the generation alone.
#[derive(Debug)]
pub(super) struct GenerationReader(Mutex<Connection>);

impl GenerationReader {
    /// Open `file` read-only (it exists: sqlx's pool has opened it).
    pub(super) fn open(file: &Path) -> Result<Self, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        Ok(Self(Mutex::new(conn)))
    }

    /// The generation, or `None` when it cannot be read at once (the caller then asks sqlx).
    pub(super) fn read(&self) -> Option<i64> {
        let conn = self.0.try_lock().ok()?;
        let read = conn
            .prepare_cached(GENERATION)
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)));
        match read {
            Ok(generation) => Some(generation),
            Err(e) => {
                tracing::debug!(error = %e, "keys' generation not read in place; asking the pool");
                None
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use crate::db::{Store, default_url, temp_sqlite};

    fn reader(store: &Store) -> &super::GenerationReader {
        let Store::Sqlite(db) = store else {
            panic!("a SQLite store")
        };
        db.generation
            .as_deref()
            .expect("a file store reads in place")
    }

    #[tokio::test]
    async fn a_revocation_committed_by_another_connection_is_read_in_place_at_once() {
        let (store, dir) = temp_sqlite().await;
        crate::auth::api_keys::create(&store, "ci", "helpdesk")
            .await
            .unwrap();
        let before = reader(&store).read().expect("read in place");
        // Another process: its own pool on the same file.
        let other = Store::connect(&default_url(dir.path())).await.unwrap();
        assert!(
            other
                .revoke_api_key("ci", crate::clock::now())
                .await
                .unwrap()
        );
        let after = reader(&store).read().expect("read in place");
        assert!(after > before, "{before} → {after}");
        assert_eq!(store.api_key_generation().await.unwrap(), after);
    }

    // Holding the reader's lock across the pool's read is what this test is about.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn a_reader_in_use_sends_the_caller_through_the_pool() {
        let (store, _dir) = temp_sqlite().await;
        let in_place = reader(&store).read().expect("read in place");
        let held = reader(&store).0.lock().unwrap();
        assert_eq!(reader(&store).read(), None);
        assert_eq!(store.api_key_generation().await.unwrap(), in_place);
        drop(held);
    }

    #[tokio::test]
    async fn before_the_migrations_the_pool_answers_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&default_url(dir.path())).await.unwrap();
        assert_eq!(reader(&store).read(), None);
        assert!(store.api_key_generation().await.is_err());
    }
}
