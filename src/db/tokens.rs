//! Repair tokens: rows keyed by `jti`, found by the SHA-256 of the token. Every state change
//! is a conditional UPDATE, so of any number of concurrent attempts exactly one wins.

use sqlx::Row;
use time::OffsetDateTime;

use super::vocab::TokenState;
use super::{Store, StoreError, on_pool, on_write};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TokenRow {
    pub jti: String,
    #[serde(skip)]
    pub token_hash: String,
    pub kid: String,
    pub computer_guid: String,
    pub computer_sam: String,
    pub computer_dn: String,
    pub issued_by_sub: String,
    pub issued_by_name: Option<String>,
    /// The issuer's roles at mint time, comma-separated: the policy is re-checked with them at
    /// redeem time.
    pub issuer_roles: String,
    pub ticket: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Never [`TokenState::Expired`] (see [`TokenRow::state_at_time`]).
    pub state: TokenState,
    #[serde(with = "time::serde::rfc3339")]
    pub state_at: OffsetDateTime,
    pub dc: Option<String>,
    pub detail: Option<String>,
    /// The client address the token was minted from: a redeem from it is flagged.
    pub minted_from: Option<String>,
    /// The approved request it was minted through, if one was needed.
    pub approval_id: Option<String>,
}

impl TokenRow {
    /// The computer's name (its sAMAccountName without the `$`).
    pub fn computer_name(&self) -> &str {
        self.computer_sam.trim_end_matches('$')
    }

    /// The state as people should see it: a pending token past its expiry is `expired`.
    pub fn state_at_time(&self, now: OffsetDateTime) -> TokenState {
        if self.state == TokenState::Pending && now >= self.expires_at {
            TokenState::Expired
        } else {
            self.state
        }
    }
}

const COLUMNS: &str = "jti, token_hash, kid, computer_guid, computer_sam, computer_dn, issued_by_sub, \
    issued_by_name, issuer_roles, ticket, issued_at, expires_at, state, state_at, dc, detail, minted_from, \
    approval_id";

macro_rules! row {
    ($r:expr) => {
        TokenRow {
            jti: $r.try_get("jti")?,
            token_hash: $r.try_get("token_hash")?,
            kid: $r.try_get("kid")?,
            computer_guid: $r.try_get("computer_guid")?,
            computer_sam: $r.try_get("computer_sam")?,
            computer_dn: $r.try_get("computer_dn")?,
            issued_by_sub: $r.try_get("issued_by_sub")?,
            issued_by_name: $r.try_get("issued_by_name")?,
            issuer_roles: $r.try_get("issuer_roles")?,
            ticket: $r.try_get("ticket")?,
            issued_at: $r.try_get("issued_at")?,
            expires_at: $r.try_get("expires_at")?,
            state: TokenState::decode(&$r.try_get::<String, _>("state")?)?,
            state_at: $r.try_get("state_at")?,
            dc: $r.try_get("dc")?,
            detail: $r.try_get("detail")?,
            minted_from: $r.try_get("minted_from")?,
            approval_id: $r.try_get("approval_id")?,
        }
    };
}

impl Store {
    pub async fn insert_token(&self, t: &TokenRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO repair_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        );
        on_write!(self, |pool| sqlx::query(&sql)
            .bind(&t.jti)
            .bind(&t.token_hash)
            .bind(&t.kid)
            .bind(&t.computer_guid)
            .bind(&t.computer_sam)
            .bind(&t.computer_dn)
            .bind(&t.issued_by_sub)
            .bind(&t.issued_by_name)
            .bind(&t.issuer_roles)
            .bind(&t.ticket)
            .bind(t.issued_at)
            .bind(t.expires_at)
            .bind(t.state.as_str())
            .bind(t.state_at)
            .bind(&t.dc)
            .bind(&t.detail)
            .bind(&t.minted_from)
            .bind(&t.approval_id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM repair_tokens WHERE token_hash = $1");
        let row = on_pool!(self, |pool| {
            match sqlx::query(&sql)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?
            {
                Some(r) => Ok::<_, sqlx::Error>(Some(row!(r))),
                None => Ok(None),
            }
        })?;
        Ok(row)
    }

    /// Move `from` → `to` for the token with this hash; `true` only for the one caller whose
    /// UPDATE matched (the atomic step of redeem, outcome and revoke).
    pub async fn transition_token(
        &self,
        token_hash: &str,
        from: TokenState,
        to: TokenState,
        now: OffsetDateTime,
        dc: Option<&str>,
        detail: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = on_write!(self, |pool| sqlx::query(
            "UPDATE repair_tokens SET state = $1, state_at = $2, dc = COALESCE($3, dc), \
             detail = COALESCE($4, detail) WHERE token_hash = $5 AND state = $6"
        )
        .bind(to.as_str())
        .bind(now)
        .bind(dc)
        .bind(detail)
        .bind(token_hash)
        .bind(from.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Tokens for a computer (by objectGUID) or by an issuer (OIDC sub), newest first.
    pub async fn tokens_where(
        &self,
        computer_guid: Option<&str>,
        issued_by_sub: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TokenRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM repair_tokens WHERE ($1 IS NULL OR computer_guid = $1) \
             AND ($2 IS NULL OR issued_by_sub = $2) ORDER BY issued_at DESC LIMIT $3"
        );
        let rows = on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(computer_guid)
                .bind(issued_by_sub)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok::<_, sqlx::Error>(row!(r)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }

    pub async fn token_by_jti(&self, jti: &str) -> Result<Option<TokenRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM repair_tokens WHERE jti = $1");
        let row = on_pool!(self, |pool| {
            match sqlx::query(&sql).bind(jti).fetch_optional(pool).await? {
                Some(r) => Ok::<_, sqlx::Error>(Some(row!(r))),
                None => Ok(None),
            }
        })?;
        Ok(row)
    }
}
