//! Redeeming a token (the companion client's call) and recording the client's outcome.
//!
//! Order of checks: signature and expiry (token crate) → the stored row and its state → the
//! computer still exists with the same objectGUID → the issuer's roles still allow it →
//! the atomic pending→redeemed step (exactly one concurrent caller wins) → audit → the
//! password write on the DC.

use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;
use trustdesk_token::RedeemCode;

use super::Repairs;
use crate::audit::{self, Action, Origin, Outcome};
use crate::db::{TokenRow, TokenState};
use crate::policy::{MintToken, Target};

/// The answer to a successful redeem.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Redeemed {
    /// The DC that now holds the new password (its DNS name when known).
    pub dc: String,
    pub computer: String,
}

/// Why a redeem was refused: a stable code and a message that helps the technician, not an
/// attacker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    #[error("the token is not in the expected form")]
    Malformed,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token has expired; mint a new one")]
    Expired,
    #[error("the token was already used; a failed repair needs a new token")]
    AlreadyUsed,
    #[error("the token was revoked")]
    Revoked,
    #[error(
        "the token was made for a computer object that no longer exists as it was (deleted, re-created or renamed)"
    )]
    WrongComputer,
    /// `why`: the policy's reason, for the audit log.
    #[error("the policy no longer allows this repair")]
    NotAllowed { why: String },
    #[error(
        "the domain controller write failed; nothing was changed on the workstation; mint a new token and try again"
    )]
    DcWriteFailed,
    #[error("the password sent is not acceptable")]
    BadPassword,
    #[error("the portal could not record the redeem; nothing was changed")]
    Unavailable,
}

impl RedeemError {
    /// The wire code, shared with the client (`trustdesk_token::RedeemCode`).
    pub fn code(&self) -> RedeemCode {
        match self {
            Self::Malformed => RedeemCode::Malformed,
            Self::BadSignature => RedeemCode::BadSignature,
            Self::Expired => RedeemCode::Expired,
            Self::AlreadyUsed => RedeemCode::AlreadyUsed,
            Self::Revoked => RedeemCode::Revoked,
            Self::WrongComputer => RedeemCode::WrongComputer,
            Self::NotAllowed { .. } => RedeemCode::NotAllowed,
            Self::DcWriteFailed => RedeemCode::DcWriteFailed,
            Self::BadPassword => RedeemCode::BadPassword,
            Self::Unavailable => RedeemCode::Unavailable,
        }
    }
}

fn from_token_error(e: &trustdesk_token::TokenError) -> RedeemError {
    use trustdesk_token::TokenError as T;
    match e {
        T::Expired { .. } => RedeemError::Expired,
        T::BadSignature | T::UnknownKey => RedeemError::BadSignature,
        _ => RedeemError::Malformed,
    }
}

/// Verify the token and find its row; a state that is not usable is its own error.
async fn usable_row(
    repairs: &Repairs,
    token: &str,
    now: OffsetDateTime,
) -> Result<(trustdesk_token::Claims, TokenRow), RedeemError> {
    let claims =
        trustdesk_token::verify(token, repairs.token_keys.verifying(), now.unix_timestamp())
            .map_err(|e| from_token_error(&e))?;
    let row = repairs
        .store
        .token_by_hash(&trustdesk_token::token_hash(token))
        .await
        .map_err(|_| RedeemError::Unavailable)?
        // Signed by us but unknown here: treat like a forgery, say nothing more.
        .ok_or(RedeemError::BadSignature)?;
    Ok((claims, row))
}

fn refused_event(
    row: Option<&TokenRow>,
    origin: &Origin,
    err: &RedeemError,
    now: OffsetDateTime,
) -> crate::db::NewAuditRow {
    let mut e = audit::event(Action::RedeemToken, Outcome::Denied, now)
        .origin(origin)
        .reason(err.code().as_str());
    if let Some(r) = row {
        let why = match err {
            RedeemError::NotAllowed { why } => format!(": {why}"),
            _ => String::new(),
        };
        e = super::about_token(
            e.reason(format!("{} (token {}){why}", err.code(), r.jti)),
            r,
        );
    }
    e
}

/// The whole redeem. Every refusal is audited; the password is never.
#[tracing::instrument(name = "repair.redeem", skip_all)]
pub async fn redeem(
    repairs: &Repairs,
    origin: &Origin,
    token: &str,
    password: &SecretString,
    now: OffsetDateTime,
) -> Result<Redeemed, RedeemError> {
    let result = redeem_inner(repairs, origin, token, password, now).await;
    if let Err((row, err)) = &result {
        // Without a token row there is nothing to tie the refusal to: count it per client and
        // write one row at the 1st, 10th, 100th … (security review M-1).
        let mut event = refused_event(row.as_ref(), origin, err, now);
        let audit = match row {
            Some(_) => true,
            None => {
                let ip = origin.source_ip.as_deref().and_then(|s| s.parse().ok());
                let c = repairs
                    .limits
                    .redeem_junk
                    .count(crate::limits::ClientKey::of(ip), std::time::Instant::now());
                event = event.reason(format!(
                    "{}: {} refused redeem(s) without a known token from this client since its \
                     window began",
                    err.code(),
                    c.count
                ));
                c.audit
            }
        };
        if audit {
            let _ = audit::record(&repairs.store, &event).await;
        }
    }
    result.map_err(|(_, e)| e)
}

async fn redeem_inner(
    repairs: &Repairs,
    origin: &Origin,
    token: &str,
    password: &SecretString,
    now: OffsetDateTime,
) -> Result<Redeemed, (Option<TokenRow>, RedeemError)> {
    let (claims, row) = usable_row(repairs, token, now)
        .await
        .map_err(|e| (None, e))?;
    let fail = |e: RedeemError| (Some(row.clone()), e);
    match row.state {
        TokenState::Pending => {}
        TokenState::Revoked => return Err(fail(RedeemError::Revoked)),
        _ => return Err(fail(RedeemError::AlreadyUsed)),
    }
    if !super::password::is_client_shaped(password) {
        return Err(fail(RedeemError::BadPassword));
    }
    // The object the token names must still be there, the same object.
    // The domain the token names: a computer of another domain is another computer.
    let Some(dir) = repairs.domains.get(&claims.domain) else {
        return Err(fail(RedeemError::WrongComputer));
    };
    let account = match dir.find_by_guid(&claims.computer.guid).await {
        Ok(Some(a))
            if a.sam_account_name
                .eq_ignore_ascii_case(&claims.computer.sam) =>
        {
            a
        }
        Ok(_) => return Err(fail(RedeemError::WrongComputer)),
        Err(_) => return Err(fail(RedeemError::DcWriteFailed)),
    };
    // What makes it tier 0 (groups, delegation to a DC), read now: the policy refuses a
    // change on an account read without it.
    let Ok(account) = dir.with_privilege(account).await else {
        return Err(fail(RedeemError::DcWriteFailed));
    };
    // The issuer's roles, re-checked now: a scope or protection change since minting counts.
    let roles: Vec<String> = row
        .issuer_roles
        .split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    let target = Target {
        dn: &account.dn,
        account: Some(&account),
    };
    // A token minted through an approval: the approval stands in for the one the rule asks.
    let granted = match &row.approval_id {
        Some(id) => repairs
            .policy
            .authorize_approved_token(&roles, &target, id)
            .map(drop),
        None => repairs
            .policy
            .authorize::<MintToken>(&roles, &target)
            .map(drop),
    };
    if let Err(denied) = granted {
        return Err(fail(RedeemError::NotAllowed {
            why: denied.to_string(),
        }));
    }
    // The atomic step: of any number of concurrent redeems, exactly one gets here.
    let won = repairs
        .store
        .transition_token(
            &row.token_hash,
            TokenState::Pending,
            TokenState::Redeemed,
            now,
            None,
            None,
        )
        .await
        .map_err(|_| fail(RedeemError::Unavailable))?;
    if !won {
        return Err(fail(RedeemError::AlreadyUsed));
    }
    let target = |e: crate::db::NewAuditRow| {
        let mut e = e.origin(origin).target(
            &account.dn,
            &account.object_guid.to_string(),
            account.netbios_name(),
        );
        e.actor_sub = Some(row.issued_by_sub.clone());
        e.actor_name = row.issued_by_name.clone();
        e.ticket = row.ticket.clone();
        e
    };
    // The minter's own address redeeming: allowed (a shared NAT, a tech at the user's desk),
    // but flagged for the security team; the post-repair watch tells whether the machine
    // itself then rotated.
    if row.minted_from.is_some() && row.minted_from == origin.source_ip {
        let flag = target(
            audit::event(Action::RedeemToken, Outcome::Flagged, now).reason(format!(
                "token {}: redeemed from the address it was minted from ({}); a technician may \
             have redeemed their own token",
                row.jti,
                origin.source_ip.as_deref().unwrap_or_default()
            )),
        );
        if audit::record(&repairs.store, &flag).await.is_err() {
            mark_failed(repairs, &row, now, "audit unavailable").await;
            return Err(fail(RedeemError::Unavailable));
        }
    }
    // Audit before the change; without the row, no change.
    if audit::record(
        &repairs.store,
        &target(
            audit::event(Action::RedeemToken, Outcome::Started, now)
                .reason(format!("token {}", row.jti)),
        ),
    )
    .await
    .is_err()
    {
        mark_failed(repairs, &row, now, "audit unavailable").await;
        return Err(fail(RedeemError::Unavailable));
    }
    match dir.set_password(&account.dn, password).await {
        Ok(dc) => {
            super::watch::start(repairs, &row, &dc, now).await;
            let _ = repairs
                .store
                .transition_token(
                    &row.token_hash,
                    TokenState::Redeemed,
                    TokenState::Redeemed,
                    now,
                    Some(dc.name()),
                    None,
                )
                .await;
            let _ = audit::record(
                &repairs.store,
                &target(
                    audit::event(Action::RedeemToken, Outcome::Success, now).reason(format!(
                        "token {}; DC-side password set on {}",
                        row.jti,
                        dc.name()
                    )),
                ),
            )
            .await;
            Ok(Redeemed {
                dc: dc.name().to_string(),
                computer: account.sam_account_name.clone(),
            })
        }
        Err(e) => {
            let detail = format!("DC write failed: {e}");
            mark_failed(repairs, &row, now, &detail).await;
            let _ = audit::record(
                &repairs.store,
                &target(audit::event(Action::RedeemToken, Outcome::Failure, now).reason(detail)),
            )
            .await;
            Err(fail(RedeemError::DcWriteFailed))
        }
    }
}

/// A redeemed token whose repair could not go on becomes `failed` (best effort: the caller
/// is already answering with an error).
async fn mark_failed(repairs: &Repairs, row: &TokenRow, now: OffsetDateTime, detail: &str) {
    let moved = repairs
        .store
        .transition_token(
            &row.token_hash,
            TokenState::Redeemed,
            TokenState::Failed,
            now,
            None,
            Some(detail),
        )
        .await;
    if let Err(e) = moved {
        tracing::error!(token.jti = %row.jti, error = %e, "could not mark the token failed");
    }
}

/// The client's verified outcome: `completed` or `failed` (with the step and a short detail).
#[tracing::instrument(name = "repair.outcome", skip_all, fields(completed))]
pub async fn record_outcome(
    repairs: &Repairs,
    origin: &Origin,
    token: &str,
    completed: bool,
    step: &str,
    detail: &str,
    now: OffsetDateTime,
) -> Result<TokenState, RedeemError> {
    // An expired token may still report: the repair started before expiry.
    let (row, _) = match usable_row(repairs, token, now).await {
        Ok((_, row)) => (row, ()),
        Err(RedeemError::Expired) => {
            let row = repairs
                .store
                .token_by_hash(&trustdesk_token::token_hash(token))
                .await
                .map_err(|_| RedeemError::Unavailable)?
                .ok_or(RedeemError::BadSignature)?;
            (row, ())
        }
        Err(e) => return Err(e),
    };
    let to = if completed {
        TokenState::Completed
    } else {
        TokenState::Failed
    };
    let text: String = format!("{step}: {detail}")
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    let moved = repairs
        .store
        .transition_token(
            &row.token_hash,
            TokenState::Redeemed,
            to,
            now,
            None,
            Some(&text),
        )
        .await
        .map_err(|_| RedeemError::Unavailable)?;
    if !moved {
        return Err(if row.state == TokenState::Revoked {
            RedeemError::Revoked
        } else {
            RedeemError::AlreadyUsed
        });
    }
    let mut e = super::about_token(
        audit::event(Action::RepairOutcome, Outcome::of(completed), now)
            .origin(origin)
            .reason(format!("token {}; {text}", row.jti)),
        &row,
    );
    e.ticket = row.ticket.clone();
    let _ = audit::record(&repairs.store, &e).await;
    Ok(to)
}
