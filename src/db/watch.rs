//! The watch after each redeem (`repair/watch.rs`): the key version the redeem's write left,
//! when to look again, and what was seen then. Ending a watch is a conditional UPDATE, so of
//! several portal instances on one database exactly one audits it.

use sqlx::Row;
use time::OffsetDateTime;

use super::{Store, StoreError, all_rows, on_pool, on_write};

/// Where a watch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    /// Waiting for `due_at`.
    Watching,
    /// The key version advanced by the client's rotations: the transited password is dead.
    Rotated,
    /// It did not: the password that crossed the network may still be valid.
    Exposed,
}

impl WatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Watching => "watching",
            Self::Rotated => "rotated",
            Self::Exposed => "exposed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "rotated" => Self::Rotated,
            "exposed" => Self::Exposed,
            _ => Self::Watching,
        }
    }
}

/// One redeem under watch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WatchRow {
    pub jti: String,
    pub computer_guid: String,
    pub computer_sam: String,
    pub computer_dn: String,
    #[serde(with = "time::serde::rfc3339")]
    pub redeemed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// `msDS-KeyVersionNumber` right after the redeem's write.
    pub key_version: i64,
    pub state: WatchState,
    /// The key version seen when the watch ended.
    pub seen_version: Option<i64>,
}

const COLUMNS: &str = "jti, computer_guid, computer_sam, computer_dn, redeemed_at, due_at, \
    key_version, state, seen_version";

macro_rules! row {
    ($r:expr) => {
        WatchRow {
            jti: $r.try_get("jti")?,
            computer_guid: $r.try_get("computer_guid")?,
            computer_sam: $r.try_get("computer_sam")?,
            computer_dn: $r.try_get("computer_dn")?,
            redeemed_at: $r.try_get("redeemed_at")?,
            due_at: $r.try_get("due_at")?,
            key_version: $r.try_get("key_version")?,
            state: WatchState::parse(&$r.try_get::<String, _>("state")?),
            seen_version: $r.try_get("seen_version")?,
        }
    };
}

impl Store {
    /// Start watching a redeem.
    pub async fn watch_start(&self, w: &WatchRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO repair_watch ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        on_write!(self, |pool| sqlx::query(&sql)
            .bind(&w.jti)
            .bind(&w.computer_guid)
            .bind(&w.computer_sam)
            .bind(&w.computer_dn)
            .bind(w.redeemed_at)
            .bind(w.due_at)
            .bind(w.key_version)
            .bind(w.state.as_str())
            .bind(w.seen_version)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Watches whose time has come, oldest first.
    pub async fn watches_due(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<WatchRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM repair_watch WHERE state = 'watching' AND due_at <= $1 \
             ORDER BY due_at LIMIT $2"
        );
        let rows = on_pool!(self, |pool| all_rows!(
            row,
            sqlx::query(&sql).bind(now).bind(limit),
            pool
        ))?;
        Ok(rows)
    }

    /// End a watch as `to`, having seen `seen`; `true` for the one caller whose UPDATE matched.
    pub async fn watch_end(
        &self,
        jti: &str,
        to: WatchState,
        seen: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_write!(self, |pool| sqlx::query(
            "UPDATE repair_watch SET state = $1, seen_version = $2, checked_at = $3 \
             WHERE jti = $4 AND state = 'watching'"
        )
        .bind(to.as_str())
        .bind(seen)
        .bind(now)
        .bind(jti)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// The watches of one computer (by objectGUID) since `since`, oldest first.
    pub async fn watches_of(
        &self,
        computer_guid: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<WatchRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM repair_watch WHERE computer_guid = $1 AND redeemed_at >= $2 \
             ORDER BY redeemed_at LIMIT 50"
        );
        let rows = on_pool!(self, |pool| all_rows!(
            row,
            sqlx::query(&sql).bind(computer_guid).bind(since),
            pool
        ))?;
        Ok(rows)
    }

    /// The newest watches that ended `exposed` (the fleet report's critical list).
    pub async fn exposed_watches(&self, limit: i64) -> Result<Vec<WatchRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM repair_watch WHERE state = 'exposed' \
             ORDER BY redeemed_at DESC LIMIT $1"
        );
        let rows = on_pool!(self, |pool| all_rows!(
            row,
            sqlx::query(&sql).bind(limit),
            pool
        ))?;
        Ok(rows)
    }
}
