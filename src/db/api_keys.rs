//! API keys: only their SHA-256 hashes are stored, with an optional expiry and the time each
//! was last used.

use sqlx::Row;
use time::OffsetDateTime;

use super::generation::{GENERATION, GenerationReader};
use super::{Store, StoreError, on_pool, on_write};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub name: String,
    pub role: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

fn key_from<R>(r: &R) -> Result<ApiKeyRow, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> OffsetDateTime: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<OffsetDateTime>: sqlx::Decode<'a, R::Database>,
{
    Ok(ApiKeyRow {
        name: r.try_get("name")?,
        role: r.try_get("role")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

const KEY_COLUMNS: &str = "name, role, created_at, revoked_at, expires_at, last_used_at";

impl Store {
    /// Store a new key's hash; a name already in use is a [`StoreError::Conflict`].
    pub async fn add_api_key(
        &self,
        name: &str,
        role: &str,
        key_hash: &str,
        now: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let res = on_write!(self, |pool| sqlx::query(
            "INSERT INTO api_keys (name, role, key_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(name)
        .bind(role)
        .bind(key_hash)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|_| ()));
        match res {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("an API key named {name:?} exists"),
            )),
            other => Ok(other?),
        }
    }

    /// The key with this hash, revoked, expired or not (the caller decides with its state).
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
        let row = on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(key_hash)
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(key_from)
                .transpose()
        })?;
        Ok(row)
    }

    /// The API keys' generation: it moves on with every change to a key's standing (a
    /// revocation, an expiry, a role, a deletion: triggers, migration 0015), never back. On
    /// SQLite it is read on the calling thread when that can be done at once (`generation.rs`).
    pub async fn api_key_generation(&self) -> Result<i64, StoreError> {
        if let Store::Sqlite(db) = self
            && let Some(generation) = db.generation.as_deref().and_then(GenerationReader::read)
        {
            return Ok(generation);
        }
        let generation = on_pool!(self, |pool| {
            sqlx::query_scalar(GENERATION).fetch_one(pool).await
        })?;
        Ok(generation)
    }

    /// Note that the key `name` was used at `now`.
    pub async fn touch_api_key(&self, name: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE name = $2"
        )
        .bind(now)
        .bind(name)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub async fn revoke_api_key(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_write!(self, |pool| sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL"
        )
        .bind(now)
        .bind(name)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY name");
        let rows = on_pool!(self, |pool| {
            sqlx::query(&sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(key_from)
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }
}
