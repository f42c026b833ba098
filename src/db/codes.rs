//! Short repair codes: the SHA-256 of a code, the token it stands for (by `jti`) and that
//! token's public claims. Using a code is a DELETE, so of concurrent attempts exactly one wins.

use sqlx::Row;
use time::OffsetDateTime;

use super::{Store, StoreError, on_pool, on_write};

/// A live code's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    pub jti: String,
    /// The token's claims as JSON (public: every token carries them in clear).
    pub claims: String,
    /// Wrong computer names sent with this code so far.
    pub misses: i64,
}

impl Store {
    /// Keep a code for token `jti` until `expires_at`; expired codes are deleted first.
    pub async fn insert_code(
        &self,
        code_hash: &str,
        jti: &str,
        claims: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_write!(self, |pool| async {
            sqlx::query("DELETE FROM repair_codes WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO repair_codes (code_hash, jti, claims, misses, expires_at) \
                 VALUES ($1, $2, $3, 0, $4)",
            )
            .bind(code_hash)
            .bind(jti)
            .bind(claims)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|_| ())
        }
        .await)?;
        Ok(())
    }

    /// The live (unexpired) code with this hash.
    pub async fn code_by_hash(
        &self,
        code_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CodeRow>, StoreError> {
        let row = on_pool!(self, |pool| {
            match sqlx::query(
                "SELECT jti, claims, misses FROM repair_codes \
                 WHERE code_hash = $1 AND expires_at > $2",
            )
            .bind(code_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
            {
                Some(r) => Ok::<_, sqlx::Error>(Some(CodeRow {
                    jti: r.try_get("jti")?,
                    claims: r.try_get("claims")?,
                    misses: r.try_get("misses")?,
                })),
                None => Ok(None),
            }
        })?;
        Ok(row)
    }

    /// Use (or drop) the code: `true` only for the one caller whose DELETE matched.
    pub async fn take_code(&self, code_hash: &str) -> Result<bool, StoreError> {
        let n = on_write!(self, |pool| sqlx::query(
            "DELETE FROM repair_codes WHERE code_hash = $1"
        )
        .bind(code_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Count a wrong computer name against the code; returns the misses now recorded (0 when
    /// the code is gone).
    pub async fn miss_code(&self, code_hash: &str) -> Result<i64, StoreError> {
        let misses = on_write!(self, |pool| async {
            sqlx::query("UPDATE repair_codes SET misses = misses + 1 WHERE code_hash = $1")
                .bind(code_hash)
                .execute(pool)
                .await?;
            sqlx::query_scalar::<_, i64>("SELECT misses FROM repair_codes WHERE code_hash = $1")
                .bind(code_hash)
                .fetch_optional(pool)
                .await
        }
        .await)?;
        Ok(misses.unwrap_or(0))
    }
}
