//! Requests for approval (four eyes): one row per request, keyed by a random id. Every
//! decision and every use is a conditional UPDATE from the state it expects, so of two
//! approvers pressing at once, or two collections of one approved token, exactly one wins.

use sqlx::Row;
use time::OffsetDateTime;

use super::vocab::{Action, ApprovalState};
use super::{Store, StoreError, all_rows, on_pool, on_write};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ApprovalRow {
    pub id: String,
    /// `mint_token` or `reset_account`.
    pub action: Action,
    pub computer_guid: String,
    pub computer_sam: String,
    pub computer_dn: String,
    /// The requester: a subject at an issuer (the OIDC provider, or trustdesk for API keys).
    pub requester_iss: String,
    pub requester_sub: String,
    pub requester_name: Option<String>,
    /// The requester's roles when they asked, comma-separated: re-checked when it runs.
    #[serde(skip)]
    pub requester_roles: String,
    /// The reason or ticket reference given with the request.
    pub ticket: Option<String>,
    /// The token lifetime asked for (a mint).
    pub lifetime_minutes: Option<i64>,
    /// The roles whose holders may decide, comma-separated, as the rule said when asked.
    pub approvers: String,
    /// Stored, never [`ApprovalState::Expired`]; the API answers with
    /// [`ApprovalRow::state_at_time`], which is `expired` past `expires_at` unused.
    pub state: ApprovalState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decider_iss: Option<String>,
    pub decider_sub: Option<String>,
    pub decider_name: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
    /// What the use did: the DC a reset wrote on, the token id a mint made.
    pub detail: Option<String>,
}

impl ApprovalRow {
    /// The computer's name (its sAMAccountName without the `$`).
    pub fn computer_name(&self) -> &str {
        self.computer_sam.trim_end_matches('$')
    }

    /// The requester's roles when they asked.
    pub fn requester_roles(&self) -> Vec<String> {
        self.requester_roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The state as people should see it: waiting or unused past its expiry is `expired`.
    pub fn state_at_time(&self, now: OffsetDateTime) -> ApprovalState {
        match self.state {
            ApprovalState::Pending | ApprovalState::Approved if now >= self.expires_at => {
                ApprovalState::Expired
            }
            state => state,
        }
    }
}

const COLUMNS: &str = "id, action, computer_guid, computer_sam, computer_dn, requester_iss, \
    requester_sub, requester_name, requester_roles, ticket, lifetime_minutes, approvers, state, \
    created_at, expires_at, decided_at, decider_iss, decider_sub, decider_name, used_at, detail";

macro_rules! row {
    ($r:expr) => {
        ApprovalRow {
            id: $r.try_get("id")?,
            action: Action::decode(&$r.try_get::<String, _>("action")?)?,
            computer_guid: $r.try_get("computer_guid")?,
            computer_sam: $r.try_get("computer_sam")?,
            computer_dn: $r.try_get("computer_dn")?,
            requester_iss: $r.try_get("requester_iss")?,
            requester_sub: $r.try_get("requester_sub")?,
            requester_name: $r.try_get("requester_name")?,
            requester_roles: $r.try_get("requester_roles")?,
            ticket: $r.try_get("ticket")?,
            lifetime_minutes: $r.try_get("lifetime_minutes")?,
            approvers: $r.try_get("approvers")?,
            state: ApprovalState::decode(&$r.try_get::<String, _>("state")?)?,
            created_at: $r.try_get("created_at")?,
            expires_at: $r.try_get("expires_at")?,
            decided_at: $r.try_get("decided_at")?,
            decider_iss: $r.try_get("decider_iss")?,
            decider_sub: $r.try_get("decider_sub")?,
            decider_name: $r.try_get("decider_name")?,
            used_at: $r.try_get("used_at")?,
            detail: $r.try_get("detail")?,
        }
    };
}

/// Who decided, for [`Store::decide_approval`].
pub struct Decider<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub name: Option<&'a str>,
}

impl Store {
    pub async fn insert_approval(&self, a: &ApprovalRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO approvals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        );
        on_write!(self, |pool| sqlx::query(&sql)
            .bind(&a.id)
            .bind(a.action.as_str())
            .bind(&a.computer_guid)
            .bind(&a.computer_sam)
            .bind(&a.computer_dn)
            .bind(&a.requester_iss)
            .bind(&a.requester_sub)
            .bind(&a.requester_name)
            .bind(&a.requester_roles)
            .bind(&a.ticket)
            .bind(a.lifetime_minutes)
            .bind(&a.approvers)
            .bind(a.state.as_str())
            .bind(a.created_at)
            .bind(a.expires_at)
            .bind(a.decided_at)
            .bind(&a.decider_iss)
            .bind(&a.decider_sub)
            .bind(&a.decider_name)
            .bind(a.used_at)
            .bind(&a.detail)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn approval(&self, id: &str) -> Result<Option<ApprovalRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM approvals WHERE id = $1");
        let row = on_pool!(self, |pool| {
            match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
                Some(r) => Ok::<_, sqlx::Error>(Some(row!(r))),
                None => Ok(None),
            }
        })?;
        Ok(row)
    }

    /// The newest requests: those still waiting first when `waiting`, else every one.
    pub async fn approvals(
        &self,
        waiting: bool,
        limit: i64,
    ) -> Result<Vec<ApprovalRow>, StoreError> {
        let filter = if waiting {
            "WHERE state IN ('pending', 'approved')"
        } else {
            ""
        };
        let sql =
            format!("SELECT {COLUMNS} FROM approvals {filter} ORDER BY created_at DESC LIMIT $1");
        let rows = on_pool!(self, |pool| all_rows!(
            row,
            sqlx::query(&sql).bind(limit),
            pool
        ))?;
        Ok(rows)
    }

    /// A pending request, not expired at `now`, becomes `to` (approved or denied) by `decider`;
    /// `true` for the one caller whose UPDATE matched.
    pub async fn decide_approval(
        &self,
        id: &str,
        to: ApprovalState,
        decider: &Decider<'_>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_write!(self, |pool| {
            sqlx::query(
            "UPDATE approvals SET state = $1, decided_at = $2, decider_iss = $3, decider_sub = $4, \
             decider_name = $5 WHERE id = $6 AND state = 'pending' AND expires_at > $2"
        )
        .bind(to.as_str())
        .bind(now)
        .bind(decider.iss)
        .bind(decider.sub)
        .bind(decider.name)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// An approved request, not expired at `now`, is used: `true` for the one caller whose
    /// UPDATE matched. `detail` says what the use did.
    pub async fn use_approval(
        &self,
        id: &str,
        now: OffsetDateTime,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let n = on_write!(self, |pool| sqlx::query(
            "UPDATE approvals SET state = 'used', used_at = $1, detail = $2 \
             WHERE id = $3 AND state = 'approved' AND expires_at > $1"
        )
        .bind(now)
        .bind(detail)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// An approved request that could not be carried out waits again: back to pending, its
    /// decision cleared. `true` when it was approved and unused.
    pub async fn reopen_approval(&self, id: &str) -> Result<bool, StoreError> {
        let n = on_write!(self, |pool| sqlx::query(
            "UPDATE approvals SET state = 'pending', decided_at = NULL, decider_iss = NULL, \
             decider_sub = NULL, decider_name = NULL WHERE id = $1 AND state = 'approved'"
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
