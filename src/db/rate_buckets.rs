//! The rate limits' buckets that several portal instances share (PostgreSQL).
//!
//! Each instance checks its own in-memory bucket first (`crate::limits`); only a request it
//! allows is taken from the shared one here, so a flood costs the database at most what the
//! limit lets through per instance. The GCRA is the in-memory one, in one statement, on the
//! database's clock (the instances' clocks need not agree): a request is allowed when the
//! bucket's time, moved up to now, is at most the quota's tolerance ahead of now, and is then
//! moved one interval further. Of concurrent requests the row lock lets each see the one
//! before. SQLite serves one instance, whose in-memory buckets are the whole truth.

use std::time::Duration;

use super::{Store, StoreError};
use crate::limits::Quota;

const CENTURY_SECS: f64 = 100.0 * 365.25 * 86_400.0;

/// Allowed: the row as inserted or moved. Refused: the `WHERE` keeps the row, nothing returns.
const TAKE: &str = "INSERT INTO rate_buckets AS b (limit_name, client, tat) \
    VALUES ($1, $2, now() + make_interval(secs => $3)) \
    ON CONFLICT (limit_name, client) DO UPDATE \
    SET tat = GREATEST(b.tat, now()) + make_interval(secs => $3) \
    WHERE GREATEST(b.tat, now()) <= now() + make_interval(secs => $4) \
    RETURNING 1";

impl Store {
    /// Whether the rate limits are shared through this database (PostgreSQL, which several
    /// instances may use) rather than kept by each process alone (SQLite).
    pub fn shares_rate_limits(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Take one request of `client` from the shared bucket of `limit`: whether it is allowed.
    /// On SQLite there is no shared bucket, and the answer is yes.
    pub async fn take_shared(
        &self,
        limit: &str,
        client: &str,
        quota: Quota,
    ) -> Result<bool, StoreError> {
        let Self::Postgres(db) = self else {
            return Ok(true);
        };
        // A quota beyond a century (an overflowed tolerance) is a century: PostgreSQL's
        // intervals and timestamps end long before `Duration::MAX`.
        let secs = |d: Duration| d.as_secs_f64().min(CENTURY_SECS);
        let row = sqlx::query(TAKE)
            .bind(limit)
            .bind(client)
            .bind(secs(quota.every))
            .bind(secs(quota.tolerance()))
            .fetch_optional(&db.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Forget the shared buckets that are full again (their time has passed): the number
    /// forgotten. Nothing to do on SQLite.
    pub async fn sweep_shared_limits(&self) -> Result<u64, StoreError> {
        let Self::Postgres(db) = self else {
            return Ok(0);
        };
        let done = sqlx::query("DELETE FROM rate_buckets WHERE tat <= now()")
            .execute(&db.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
