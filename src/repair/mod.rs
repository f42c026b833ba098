//! The two repairs: the DC-side reset and the one-time token the companion client redeems.
//!
//! Every function that changes a computer takes the policy's `Grant` for it. An action that
//! changes AD writes its audit row first and does not run if that fails; the outcome is
//! audited after. No machine password or token is ever logged, stored or audited: tokens
//! are stored as SHA-256 hashes, passwords exist only in memory on their way to the DC.

pub mod code;
pub mod code_guard;
pub mod keys;
pub mod password;
pub mod redeem;
pub mod shown_once;
pub mod watch;

use std::sync::Arc;

use time::OffsetDateTime;

use crate::ad::ComputerAccount;
use crate::audit::{self, Action, Actor, Origin, Outcome};
use crate::config::TokensConfig;
use crate::db::{Store, StoreError, TokenRow, TokenState};
use crate::directory::password::WrittenDc;
use crate::directory::{DirectoryError, Domains};
use crate::policy::{Grant, MintToken, Policy, ResetAccount, RevokeToken};

/// What the repairs work with, and nothing of the web layer: built once by `lib::build`,
/// cheap to clone (the background watch holds one).
#[derive(Clone)]
pub struct Repairs {
    pub store: Store,
    /// The managed domains: a computer is written in the one its DN names.
    pub domains: Arc<Domains>,
    pub policy: Arc<Policy>,
    pub token_keys: Arc<keys::TokenKeys>,
    /// The limits on guessing short repair codes (this process's share).
    pub code_guard: Arc<code_guard::CodeGuard>,
    /// Lifetimes and the post-repair watch.
    pub tokens: TokensConfig,
    /// The portal's public URL, named in every token.
    pub public_url: String,
    /// Counts redeems without a known token, per client (this process's share).
    pub limits: Arc<crate::limits::Limits>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("the audit log could not be written, so nothing was changed: {0}")]
    Audit(StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the domain controller refused or failed the password write: {0}")]
    Directory(DirectoryError),
    #[error("could not generate a random password or token: {0}")]
    Random(#[source] crate::db::Source),
    #[error("the token could not be signed: {0}")]
    Token(#[source] trustdesk_token::TokenError),
}

/// What a reset or mint is about.
pub struct RepairRequest<'a> {
    pub actor: &'a Actor,
    pub origin: &'a Origin,
    pub account: &'a ComputerAccount,
    /// A reason or ticket reference, as typed (bounded by the caller).
    pub ticket: Option<&'a str>,
    /// The approved request this repair carries out, when one was needed (four eyes).
    pub approval: Option<&'a ApprovedBy<'a>>,
}

/// Who approved a repair, for its audit events and its token: with the requester as the actor,
/// every event names both people.
pub struct ApprovedBy<'a> {
    pub request_id: &'a str,
    /// The approver, as the audit log names people.
    pub approver: &'a str,
}

impl ApprovedBy<'_> {
    fn note(&self) -> String {
        format!(
            "approved by {} (request {})",
            self.approver, self.request_id
        )
    }
}

/// The reason of `req`'s events: `text`, and the approval behind it.
fn reason(req: &RepairRequest<'_>, text: String) -> String {
    match req.approval {
        Some(a) => format!("{text}; {}", a.note()),
        None => text,
    }
}

fn event(req: &RepairRequest<'_>, action: Action, outcome: Outcome) -> crate::db::NewAuditRow {
    let mut e = audit::event(action, outcome, crate::clock::now())
        .actor(req.actor)
        .origin(req.origin)
        .target(
            &req.account.dn,
            &req.account.object_guid.to_string(),
            req.account.netbios_name(),
        );
    e.ticket = req.ticket.map(str::to_string);
    e.reason = req.approval.map(ApprovedBy::note);
    e
}

/// `e` about the computer token `row` names, with the token's minter as the actor: the client
/// acts with that person's token (redeem, outcome, code exchange).
fn about_token(mut e: crate::db::NewAuditRow, row: &TokenRow) -> crate::db::NewAuditRow {
    e = e.target(&row.computer_dn, &row.computer_guid, row.computer_name());
    e.actor_sub = Some(row.issued_by_sub.clone());
    e.actor_name = row.issued_by_name.clone();
    e
}

/// DC-side reset: a fresh random 120-character password on the DC (never the default one).
/// The machine cannot authenticate afterwards until it is rejoined or token-repaired.
#[tracing::instrument(name = "repair.reset", skip_all, fields(computer = %req.account.netbios_name()))]
pub async fn reset_account(
    _grant: &Grant<ResetAccount>,
    repairs: &Repairs,
    req: &RepairRequest<'_>,
) -> Result<WrittenDc, RepairError> {
    audit::record(
        &repairs.store,
        &event(req, Action::ResetAccount, Outcome::Started),
    )
    .await
    .map_err(RepairError::Audit)?;
    let password = password::generate().map_err(|e| RepairError::Random(Box::new(e)))?;
    let result = match repairs.domains.holding(&req.account.dn) {
        Ok(dir) => dir.set_password(&req.account.dn, &password).await,
        Err(e) => Err(e),
    };
    drop(password);
    match result {
        Ok(dc) => {
            audit::record(
                &repairs.store,
                &event(req, Action::ResetAccount, Outcome::Success)
                    .reason(reason(req, format!("written on {}", dc.name()))),
            )
            .await?;
            Ok(dc)
        }
        Err(e) => {
            audit::record(
                &repairs.store,
                &event(req, Action::ResetAccount, Outcome::Failure)
                    .reason(reason(req, e.to_string())),
            )
            .await?;
            Err(RepairError::Directory(e))
        }
    }
}

/// A minted token and its short code: both are returned once and never stored.
pub struct Minted {
    pub token: String,
    pub code: trustdesk_token::ShortCode,
    pub row: TokenRow,
    /// How long it lives, in minutes (what was asked, within the granting roles' cap).
    pub minutes: u32,
}

impl Repairs {
    /// A token's lifetime in minutes: `requested` (else the default), at least one, at most
    /// the smallest cap of the roles that granted this mint and `tokens.max_lifetime_minutes`.
    pub fn lifetime_minutes(&self, grant: &Grant<MintToken>, requested: Option<u32>) -> u32 {
        let cap = self
            .policy
            .token_minutes_cap(grant.roles(), self.tokens.max_lifetime_minutes)
            .max(1);
        requested
            .unwrap_or(self.tokens.lifetime_minutes)
            .clamp(1, cap)
    }
}

/// Mint a one-time repair token for `req.account`, living `requested` minutes within the
/// caps ([`Repairs::lifetime_minutes`]). `roles` are the minter's, re-checked at redeem.
#[tracing::instrument(name = "repair.mint", skip_all, fields(computer = %req.account.netbios_name()))]
pub async fn mint_token(
    grant: &Grant<MintToken>,
    repairs: &Repairs,
    req: &RepairRequest<'_>,
    roles: &[String],
    requested: Option<u32>,
    now: OffsetDateTime,
) -> Result<Minted, RepairError> {
    let minutes = repairs.lifetime_minutes(grant, requested);
    let lifetime = time::Duration::minutes(i64::from(minutes));
    let keys = &repairs.token_keys;
    let jti = trustdesk_token::new_jti().map_err(|e| RepairError::Random(Box::new(e)))?;
    let domain = crate::ad::dn::dn_domain(&req.account.dn).unwrap_or_default();
    let claims = trustdesk_token::Claims {
        v: trustdesk_token::VERSION,
        kid: keys.signing().kid(),
        jti: jti.clone(),
        computer: trustdesk_token::ComputerRef {
            guid: req.account.object_guid,
            sam: req.account.sam_account_name.clone(),
            dns: req.account.dns_host_name.clone(),
        },
        domain,
        portal: repairs.public_url.clone(),
        issued_by: req
            .actor
            .name
            .clone()
            .unwrap_or_else(|| req.actor.sub.clone()),
        iat: now.unix_timestamp(),
        exp: (now + lifetime).unix_timestamp(),
    };
    let token = trustdesk_token::sign(&claims, keys.signing()).map_err(RepairError::Token)?;
    let row = TokenRow {
        jti,
        token_hash: trustdesk_token::token_hash(&token),
        kid: claims.kid.clone(),
        computer_guid: req.account.object_guid.to_string(),
        computer_sam: req.account.sam_account_name.clone(),
        computer_dn: req.account.dn.clone(),
        issued_by_sub: req.actor.sub.clone(),
        issued_by_name: req.actor.name.clone(),
        issuer_roles: roles.join(","),
        ticket: req.ticket.map(str::to_string),
        issued_at: now,
        expires_at: now + lifetime,
        state: TokenState::Pending,
        state_at: now,
        dc: None,
        detail: None,
        minted_from: req.origin.source_ip.clone(),
        approval_id: req.approval.map(|a| a.request_id.to_string()),
    };
    let code =
        trustdesk_token::ShortCode::generate().map_err(|e| RepairError::Random(Box::new(e)))?;
    // The rows first: a token that cannot be recorded is never shown.
    repairs.store.insert_token(&row).await?;
    code::keep(repairs, &code, &row, &claims, now).await?;
    audit::record(
        &repairs.store,
        &event(req, Action::MintToken, Outcome::Success).reason(reason(
            req,
            format!("token {} valid until {}", row.jti, row.expires_at),
        )),
    )
    .await
    .map_err(RepairError::Audit)?;
    Ok(Minted {
        token,
        code,
        row,
        minutes,
    })
}

/// Revoke a pending token; `false` if it was no longer pending.
#[tracing::instrument(name = "repair.revoke", skip_all, fields(token.jti = %row.jti))]
pub async fn revoke_token(
    _grant: &Grant<RevokeToken>,
    repairs: &Repairs,
    actor: &Actor,
    origin: &Origin,
    row: &TokenRow,
    now: OffsetDateTime,
) -> Result<bool, RepairError> {
    let done = repairs
        .store
        .transition_token(
            &row.token_hash,
            TokenState::Pending,
            TokenState::Revoked,
            now,
            None,
            Some(&format!("revoked by {}", actor.sub)),
        )
        .await?;
    let mut e = audit::event(Action::RevokeToken, Outcome::of(done), now)
        .actor(actor)
        .origin(origin)
        .target(&row.computer_dn, &row.computer_guid, row.computer_name())
        .reason(format!("token {}", row.jti));
    if !done {
        e = e.reason(format!("token {} was {}", row.jti, row.state_at_time(now)));
    }
    audit::record(&repairs.store, &e).await?;
    Ok(done)
}
