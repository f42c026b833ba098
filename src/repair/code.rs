//! Short repair codes (`K7QF-M2XD-9PWA`): made beside each minted token, and exchanged by the
//! companion client for that token (`POST /api/v1/redeem/code`) when it also names the
//! computer the token was minted for. The client then verifies the token exactly as if it had
//! been pasted; the code adds a way to carry the token, not a way around its checks.
//!
//! Stored: the code's SHA-256 and the token's public claims, from which the token is signed
//! again (Ed25519 is deterministic, so the result is the minted token, checked against its
//! stored hash). Neither the code nor the token is stored.
//!
//! One answer for every failure (`unknown_code`): a wrong, used, expired, revoked or locked
//! code, and a right code with the wrong computer name, look the same from outside. Three
//! wrong names lock the code (the token itself still works). Guessing is limited per address
//! and globally, and audited in aggregate (`code_guard.rs`).

use std::time::Instant;

use time::OffsetDateTime;
use trustdesk_token::ShortCode;

use super::Repairs;
use super::code_guard::{self, Shut};
use crate::audit::{self, Action, Origin, Outcome};
use crate::db::{CodeRow, StoreError, TokenRow, TokenState};

/// Wrong computer names a code survives.
pub const MAX_NAME_MISSES: i64 = 3;

/// What the client sends.
pub struct CodeRequest<'a> {
    pub code: &'a str,
    /// The computer's NetBIOS name (a trailing `$` is allowed).
    pub computer: &'a str,
    /// Its AD domain's DNS name.
    pub domain: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("the request is not in the expected form")]
    Malformed,
    #[error("no live repair code matches this code and computer")]
    Unknown,
    #[error("too many wrong repair codes; wait and try again, or paste the full token")]
    Shut(Shut),
    #[error("the portal could not look the code up; nothing was changed")]
    Unavailable(#[source] StoreError),
}

/// Keep `code` for the token `row`, signed from `claims`.
pub async fn keep(
    repairs: &Repairs,
    code: &ShortCode,
    row: &TokenRow,
    claims: &trustdesk_token::Claims,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(claims).map_err(|e| StoreError::Query(Box::new(e)))?;
    repairs
        .store
        .insert_code(&code.hash(), &row.jti, &json, row.expires_at, now)
        .await
}

/// The token behind `req.code`, for `req.computer` only; every refusal is counted and audited
/// as `code_guard` and the module comment say.
#[tracing::instrument(name = "repair.code", skip_all)]
pub async fn resolve(
    repairs: &Repairs,
    origin: &Origin,
    req: &CodeRequest<'_>,
    now: OffsetDateTime,
    clock: Instant,
) -> Result<String, CodeError> {
    let address = origin.source_ip.as_deref().unwrap_or("unknown");
    // Count a refusal (`miss`: a well-formed code that is not live) and return it.
    let refuse = |miss: bool, err: CodeError| async move {
        count(repairs, origin, address, miss, clock, &err).await;
        err
    };
    if let Err(shut) = repairs.code_guard.open(address, clock) {
        return Err(refuse(false, CodeError::Shut(shut)).await);
    }
    let (Some(code), Some(computer), Some(domain)) = (
        ShortCode::parse(req.code),
        name(req.computer, 15),
        name(req.domain, 255),
    ) else {
        return Err(refuse(false, CodeError::Malformed).await);
    };
    let hash = code.hash();
    let Some(row) = repairs
        .store
        .code_by_hash(&hash, now)
        .await
        .map_err(CodeError::Unavailable)?
    else {
        return Err(refuse(true, CodeError::Unknown).await);
    };
    let token_row = repairs
        .store
        .token_by_jti(&row.jti)
        .await
        .map_err(CodeError::Unavailable)?;
    let Some(token_row) = token_row.filter(|t| t.state_at_time(now) == TokenState::Pending) else {
        drop_code(repairs, &hash).await;
        return Err(refuse(true, CodeError::Unknown).await);
    };
    if !names_match(&token_row, computer, domain) {
        wrong_name(repairs, origin, &hash, &token_row, computer, domain).await?;
        return Err(refuse(true, CodeError::Unknown).await);
    }
    let token = match sign_again(repairs, &row, &token_row) {
        Ok(token) => token,
        Err(why) => {
            drop_code(repairs, &hash).await;
            individual(repairs, origin, &token_row, Outcome::Denied, why).await?;
            return Err(CodeError::Unknown);
        }
    };
    // The one use: of concurrent requests exactly one deletes the row.
    if !repairs
        .store
        .take_code(&hash)
        .await
        .map_err(CodeError::Unavailable)?
    {
        return Err(CodeError::Unknown);
    }
    individual(
        repairs,
        origin,
        &token_row,
        Outcome::Success,
        format!("the repair code gave token {} to the client", token_row.jti),
    )
    .await?;
    Ok(token)
}

/// A name as sent: trimmed, 1..=`max` characters of letters, digits, `-`, `.` and `_`.
fn name(raw: &str, max: usize) -> Option<&str> {
    let n = raw.trim().trim_end_matches('$');
    let ok = !n.is_empty()
        && n.len() <= max
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    ok.then_some(n)
}

fn names_match(row: &TokenRow, computer: &str, domain: &str) -> bool {
    let sam = row.computer_sam.trim_end_matches('$');
    let row_domain = crate::ad::dn::dn_domain(&row.computer_dn).unwrap_or_default();
    sam.eq_ignore_ascii_case(computer)
        && row_domain.eq_ignore_ascii_case(domain.trim_end_matches('.'))
}

/// The minted token, signed again from its claims; it must hash to the stored token's hash.
fn sign_again(repairs: &Repairs, row: &CodeRow, token_row: &TokenRow) -> Result<String, String> {
    let claims: trustdesk_token::Claims =
        serde_json::from_str(&row.claims).map_err(|e| format!("stored claims unreadable: {e}"))?;
    let key = repairs.token_keys.signing();
    if key.kid() != claims.kid {
        return Err(format!(
            "the token-signing key changed since token {} was minted: paste the full token or \
             mint a new one",
            token_row.jti
        ));
    }
    let token = trustdesk_token::sign(&claims, key).map_err(|e| e.to_string())?;
    if trustdesk_token::token_hash(&token) != token_row.token_hash {
        return Err(format!(
            "the token signed again for {} does not match the minted one",
            token_row.jti
        ));
    }
    Ok(token)
}

async fn drop_code(repairs: &Repairs, hash: &str) {
    if let Err(e) = repairs.store.take_code(hash).await {
        tracing::warn!(error = %e, "cannot drop a dead repair code");
    }
}

/// A right code with the wrong computer name: counted against the code (locked at
/// [`MAX_NAME_MISSES`]) and audited, naming the token's computer.
async fn wrong_name(
    repairs: &Repairs,
    origin: &Origin,
    hash: &str,
    token_row: &TokenRow,
    computer: &str,
    domain: &str,
) -> Result<(), CodeError> {
    let misses = repairs
        .store
        .miss_code(hash)
        .await
        .map_err(CodeError::Unavailable)?;
    let locked = misses >= MAX_NAME_MISSES;
    if locked {
        drop_code(repairs, hash).await;
    }
    let reason = format!(
        "the repair code of token {} was sent with computer {computer:?} in {domain:?}, not \
         this computer ({misses} of {MAX_NAME_MISSES}){}",
        token_row.jti,
        if locked {
            "; the code is locked, the token still works"
        } else {
            ""
        }
    );
    individual(repairs, origin, token_row, Outcome::Denied, reason).await
}

/// An audit event about one token's code, with its minter as the actor.
async fn individual(
    repairs: &Repairs,
    origin: &Origin,
    t: &TokenRow,
    outcome: Outcome,
    reason: String,
) -> Result<(), CodeError> {
    let e = super::about_token(
        audit::event(Action::RedeemCode, outcome, crate::clock::now())
            .origin(origin)
            .reason(reason),
        t,
    );
    audit::record(&repairs.store, &e)
        .await
        .map(|_| ())
        .map_err(CodeError::Unavailable)
}

/// Count a failure from `address`, and audit the count when it is a power of ten.
async fn count(
    repairs: &Repairs,
    origin: &Origin,
    address: &str,
    miss: bool,
    clock: Instant,
    err: &CodeError,
) {
    let c = repairs.code_guard.fail(address, miss, clock);
    if !c.audit {
        return;
    }
    let minutes = clock.saturating_duration_since(c.since).as_secs() / 60;
    let this = match err {
        CodeError::Shut(Shut::Address) => "this address is refused until its window ends",
        CodeError::Shut(Shut::Global) => "code lookups are paused for everyone",
        CodeError::Malformed => "not a code",
        _ => "no such live code",
    };
    let e = audit::event(Action::RedeemCode, Outcome::Denied, crate::clock::now())
        .origin(origin)
        .reason(format!(
            "{} refused repair code request(s) from this address in the last {minutes} min \
             (window {} min; this one: {this})",
            c.failures,
            code_guard::WINDOW.as_secs() / 60
        ));
    if let Err(e) = audit::record(&repairs.store, &e).await {
        tracing::warn!(error = %e, "cannot audit refused repair codes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_lookup() {
        assert_eq!(name(" LABWS01$ ", 15), Some("LABWS01"));
        assert_eq!(name("lab.example.test.", 255), Some("lab.example.test."));
        for bad in ["", "$", "PC 01", "PC01*", "(&)", "ABCDEFGHIJKLMNOP"] {
            assert_eq!(name(bad, 15), None, "{bad:?}");
        }
    }
}
