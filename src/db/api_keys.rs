//! API keys: only their SHA-256 hashes are stored.

use sqlx::Row;
use time::OffsetDateTime;

use super::{Store, StoreError, on_pool, on_write};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub name: String,
    pub role: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl Store {
    /// Store a new key's hash; a name already in use is a [`StoreError::Conflict`].
    pub async fn add_api_key(
        &self,
        name: &str,
        role: &str,
        key_hash: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let res = on_write!(self, |pool| sqlx::query(
            "INSERT INTO api_keys (name, role, key_hash, created_at) VALUES ($1, $2, $3, $4)"
        )
        .bind(name)
        .bind(role)
        .bind(key_hash)
        .bind(now)
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

    /// The role of the live key with this hash.
    pub async fn api_key_role(
        &self,
        key_hash: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query(
                "SELECT name, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            )
            .bind(key_hash)
            .fetch_optional(pool)
            .await?
            .map(|r| Ok::<_, sqlx::Error>((r.try_get("name")?, r.try_get("role")?)))
            .transpose()
        })?;
        Ok(row)
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
        let rows = on_pool!(self, |pool| {
            sqlx::query("SELECT name, role, created_at, revoked_at FROM api_keys ORDER BY name")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok::<_, sqlx::Error>(ApiKeyRow {
                        name: r.try_get("name")?,
                        role: r.try_get("role")?,
                        created_at: r.try_get("created_at")?,
                        revoked_at: r.try_get("revoked_at")?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }
}
