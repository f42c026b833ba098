//! Signed chain heads (made by `crate::audit::key`): stored beside the chain so the audit page can show
//! the newest one and `audit verify --key` can check them all. A row here proves nothing by
//! itself: only its signature, checked under a public key from outside the database, does.

use sqlx::Row;
use time::OffsetDateTime;

use super::super::{Store, StoreError, on_pool, on_write};

/// A chain head signed with the audit key (`crate::audit::key` signs and checks it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignedHead {
    pub seq: i64,
    pub hash: String,
    /// Whole seconds (the signed message carries the Unix time).
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    /// Which public key verifies it (16 hex characters of its SHA-256); informative only.
    pub key_id: String,
    /// The Ed25519 signature of [`message`], base64url.
    pub signature: String,
}

const HEAD_COLUMNS: &str = "h.seq, h.hash, h.signed_at, h.key_id, h.signature";

fn head_from<R>(row: &R) -> Result<SignedHead, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> OffsetDateTime: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(SignedHead {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        signed_at: row.try_get("signed_at")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

impl Store {
    /// The newest row's `seq` and `hash`, if the chain has any.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        let sql = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";
        let head = on_pool!(self, |pool| {
            sqlx::query(sql)
                .fetch_optional(pool)
                .await?
                .map(|r| Ok::<_, sqlx::Error>((r.try_get("seq")?, r.try_get("hash")?)))
                .transpose()
        })?;
        Ok(head)
    }

    /// Store a signed head; a head already signed at that `seq` (by another instance) is kept.
    /// Returns whether this one was stored.
    pub async fn add_signed_head(&self, head: &SignedHead) -> Result<bool, StoreError> {
        let n = on_write!(self, |pool| sqlx::query(
            "INSERT INTO audit_heads (seq, hash, signed_at, key_id, signature) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING"
        )
        .bind(head.seq)
        .bind(&head.hash)
        .bind(head.signed_at)
        .bind(&head.key_id)
        .bind(&head.signature)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The signed head with the highest `seq`.
    pub async fn latest_signed_head(&self) -> Result<Option<SignedHead>, StoreError> {
        let sql = format!("SELECT {HEAD_COLUMNS} FROM audit_heads h ORDER BY h.seq DESC LIMIT 1");
        let head = on_pool!(self, |pool| {
            sqlx::query(&sql)
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(head_from)
                .transpose()
        })?;
        Ok(head)
    }

    /// Signed heads with `seq > after_seq`, in order, at most `limit`, each with the hash the
    /// chain holds at its `seq` now (`None`: no such row any more).
    pub async fn signed_heads_against_chain(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<(SignedHead, Option<String>)>, StoreError> {
        let sql = format!(
            "SELECT {HEAD_COLUMNS}, e.hash AS chain_hash FROM audit_heads h \
             LEFT JOIN audit_events e ON e.seq = h.seq \
             WHERE h.seq > $1 ORDER BY h.seq LIMIT $2"
        );
        let rows = on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok::<_, sqlx::Error>((head_from(r)?, r.try_get("chain_hash")?)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }
}
