//! Webhook deliveries (`crate::webhooks`): the outbox's rows, and the one-row cursor that says
//! how far into the audit log they have been planned.
//!
//! Deliveries are added and the cursor moved in one transaction, conditional on the cursor
//! being where the planner read it: a crash between the two cannot lose or repeat a delivery,
//! and of several portal instances on one database only one plans each audit row (a unique
//! index on hook, row and event backs that up). A delivery is claimed for an attempt by a
//! conditional UPDATE that pushes its due time past the attempt (a lease), so only one instance
//! sends it; an instance that dies mid-attempt leaves it due again when the lease ends.

use sqlx::Row;
use time::OffsetDateTime;

use super::vocab::DeliveryState;
use super::{Store, StoreError, all_rows, on_pool, on_write};

/// One delivery: an audit event, for one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// A UUID, also the body's `id` and the `Trustdesk-Delivery` header.
    pub id: String,
    /// The hook's URL (it holds no credentials: configuration refuses them).
    pub hook: String,
    /// `repair.completed`, …
    pub event_type: String,
    /// The audit row it reports.
    pub audit_seq: i64,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (while `pending`).
    pub next_attempt_at: OffsetDateTime,
    /// Why the last attempt failed (never the secret or the signature).
    pub last_error: Option<String>,
    /// The HTTP status the last attempt got, if it got one.
    pub last_status: Option<i64>,
    pub created_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
}

/// What an attempt left on its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptEnd {
    pub state: DeliveryState,
    /// The attempts made, this one included.
    pub attempts: i64,
    pub next_attempt_at: OffsetDateTime,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub delivered_at: Option<OffsetDateTime>,
}

const COLUMNS: &str = "id, hook, event_type, audit_seq, body, state, attempts, next_attempt_at, \
    last_error, last_status, created_at, delivered_at";

macro_rules! row {
    ($r:expr) => {
        DeliveryRow {
            id: $r.try_get("id")?,
            hook: $r.try_get("hook")?,
            event_type: $r.try_get("event_type")?,
            audit_seq: $r.try_get("audit_seq")?,
            body: $r.try_get("body")?,
            state: DeliveryState::decode(&$r.try_get::<String, _>("state")?)?,
            attempts: $r.try_get("attempts")?,
            next_attempt_at: $r.try_get("next_attempt_at")?,
            last_error: $r.try_get("last_error")?,
            last_status: $r.try_get("last_status")?,
            created_at: $r.try_get("created_at")?,
            delivered_at: $r.try_get("delivered_at")?,
        }
    };
}

impl Store {
    /// The cursor, created at the audit log's current head if there is none yet (the first
    /// start with webhooks: history is not replayed). Returns where it stands.
    pub async fn webhook_cursor_start(&self) -> Result<i64, StoreError> {
        on_write!(self, |pool| sqlx::query(
            "INSERT INTO webhook_cursor (id, audit_seq) \
             SELECT 1, COALESCE(MAX(seq), 0) FROM audit_events WHERE 1 = 1 \
             ON CONFLICT (id) DO NOTHING"
        )
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(self.webhook_cursor().await?.unwrap_or(0))
    }

    /// The last audit `seq` planned, if the cursor exists.
    pub async fn webhook_cursor(&self) -> Result<Option<i64>, StoreError> {
        let seq = on_pool!(self, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT audit_seq FROM webhook_cursor WHERE id = 1"
        )
        .fetch_optional(pool)
        .await)?;
        Ok(seq)
    }

    /// In one transaction: move the cursor from `from` to `to` and add `rows`. `false`, with
    /// nothing written, when the cursor was no longer at `from` (another instance planned
    /// those rows first).
    pub async fn webhook_enqueue(
        &self,
        from: i64,
        to: i64,
        rows: &[DeliveryRow],
    ) -> Result<bool, StoreError> {
        let insert = format!(
            "INSERT INTO webhook_deliveries ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (hook, audit_seq, event_type) DO NOTHING"
        );
        let moved = on_write!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let moved = sqlx::query(
                "UPDATE webhook_cursor SET audit_seq = $1 WHERE id = 1 AND audit_seq = $2",
            )
            .bind(to)
            .bind(from)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved != 1 {
                tx.rollback().await?;
                return Ok::<_, sqlx::Error>(false);
            }
            for r in rows {
                sqlx::query(&insert)
                    .bind(&r.id)
                    .bind(&r.hook)
                    .bind(&r.event_type)
                    .bind(r.audit_seq)
                    .bind(&r.body)
                    .bind(r.state.as_str())
                    .bind(r.attempts)
                    .bind(r.next_attempt_at)
                    .bind(&r.last_error)
                    .bind(r.last_status)
                    .bind(r.created_at)
                    .bind(r.delivered_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        }
        .await)?;
        Ok(moved)
    }

    /// Pending deliveries due at `now`, oldest due first.
    pub async fn webhook_due(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhook_deliveries \
             WHERE state = '{}' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
            DeliveryState::Pending.as_str()
        );
        let rows = on_pool!(self, |pool| all_rows!(
            row,
            sqlx::query(&sql).bind(now).bind(limit),
            pool
        ))?;
        Ok(rows)
    }

    /// Claim `row` for an attempt until `until`: `true` for the one caller whose UPDATE
    /// matched (it is still pending, due, and at the attempts this caller read).
    pub async fn webhook_claim(
        &self,
        row: &DeliveryRow,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE webhook_deliveries SET next_attempt_at = $1 \
             WHERE id = $2 AND state = '{}' AND attempts = $3 AND next_attempt_at <= $4",
            DeliveryState::Pending.as_str()
        );
        let n = on_write!(self, |pool| sqlx::query(&sql)
            .bind(until)
            .bind(&row.id)
            .bind(row.attempts)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Record what the attempt on delivery `id` (claimed at `attempts_before`) left.
    pub async fn webhook_attempted(
        &self,
        id: &str,
        attempts_before: i64,
        end: &AttemptEnd,
    ) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_at = $3, \
             last_status = $4, last_error = $5, delivered_at = $6 \
             WHERE id = $7 AND attempts = $8"
        )
        .bind(end.state.as_str())
        .bind(end.attempts)
        .bind(end.next_attempt_at)
        .bind(end.status)
        .bind(&end.error)
        .bind(end.delivered_at)
        .bind(id)
        .bind(attempts_before)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The newest deliveries, newest first (the admin page).
    pub async fn webhook_recent(&self, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhook_deliveries \
             ORDER BY created_at DESC, audit_seq DESC LIMIT $1"
        );
        let rows = on_pool!(self, |pool| all_rows!(
            row,
            sqlx::query(&sql).bind(limit),
            pool
        ))?;
        Ok(rows)
    }
}
