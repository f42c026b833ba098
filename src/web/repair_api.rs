//! The automation API's repairs (`/api/v1`), for the ticketing system: mint, reset, revoke, and
//! a computer's tokens. The same checks as the pages (`repair_gate::gate`: the policy, the hourly
//! limit, the diagnosis's gate, each refusal audited), the same capabilities, the same audit
//! events. A change the policy holds back for an approval is stored as a request and answered
//! `202` with it (`approvals_api.rs` decides and collects). The routes that change something
//! take API keys only ([`ApiCaller`]): no cookie, so no CSRF.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::authorize::{About, Asking};
use super::error::ErrorBody;
use super::extract::{ApiCaller, CurrentStaff, RequestOrigin};
use super::repair::TokenStatus;
use super::repair_gate::gate;
use super::{AppError, AppState, approval_flow};
use crate::db::{ApprovalRow, TokenRow};
use crate::diagnostics::RepairAction;
use crate::directory::filter::ComputerQuery;
use crate::policy::{Diagnose, MintToken, ResetAccount, Target};
use crate::repair::{self, Minted, RepairRequest};

/// A reason or ticket reference: trimmed, control characters dropped, at most 200 characters.
fn ticket(raw: Option<&str>) -> Option<String> {
    raw.and_then(|t| super::format::form_text(t, 200))
}

/// `POST /api/v1/computers/{name}/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintAsk {
    /// A reason or ticket reference (required when the mint waits for an approval).
    ticket: Option<String>,
    /// Within the granting roles' cap; the default when absent.
    lifetime_minutes: Option<u32>,
    /// Forces a token the diagnosis withholds (`override_diagnosis`; audited).
    override_reason: Option<String>,
}

/// A minted token, in this one answer only: trustdesk keeps its hash, never the token.
#[derive(Serialize, ToSchema)]
pub struct MintedToken {
    jti: String,
    computer: String,
    /// The signed token, for `trustdesk-client redeem`.
    token: String,
    /// The short repair code, for a client that fetches the token by it.
    code: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    minutes: u32,
}

impl From<Minted> for MintedToken {
    fn from(m: Minted) -> Self {
        Self {
            computer: m.row.computer_name().to_string(),
            jti: m.row.jti,
            token: m.token,
            code: m.code.grouped(),
            expires_at: m.row.expires_at,
            minutes: m.minutes,
        }
    }
}

/// `201` with the token, once.
pub(super) fn created(minted: Minted) -> Response {
    (StatusCode::CREATED, Json(MintedToken::from(minted))).into_response()
}

/// `202` with the request that waits for an approval.
fn accepted(row: ApprovalRow) -> Response {
    (StatusCode::ACCEPTED, Json(row)).into_response()
}

#[utoipa::path(
    post,
    path = "/api/v1/computers/{name}/tokens",
    operation_id = "mint",
    tag = "repair tokens",
    summary = "Mint a one-time repair token (API key only)",
    description = "The token is in this answer once. Where the policy holds a mint back for an \
        approval, the answer is 202 with the request; its requester collects the token with \
        `POST /api/v1/approvals/{id}/token` once approved.",
    params(("name" = String, Path, description = "The computer's name (sAMAccountName without `$`, DNS name, or `DOMAIN\\NAME`); a name in several managed domains answers 409 until its domain is named")),
    request_body = MintAsk,
    responses(
        (status = 201, description = "The token, shown once", body = MintedToken),
        (status = 202, description = "Waiting for an approval", body = ApprovalRow),
        (status = 400, description = "A name or body that cannot be read", body = ErrorBody<'_>),
        (status = 401, description = "No API key, or not a valid one", body = ErrorBody<'_>),
        (status = 403, description = "Refused by the policy or the diagnosis", body = ErrorBody<'_>),
        (status = 404, description = "No such computer", body = ErrorBody<'_>),
        (status = 429, description = "The hourly limit", body = ErrorBody<'_>),
    ),
    security(("apiKey" = []))
)]
pub async fn api_mint(
    State(state): State<AppState>,
    ApiCaller(staff): ApiCaller,
    RequestOrigin(origin): RequestOrigin,
    Path(path): Path<super::locate::ComputerPath>,
    Json(ask): Json<MintAsk>,
) -> Result<Response, AppError> {
    let asking = Asking::new(&state, &staff, &origin);
    let overriding = ticket(ask.override_reason.as_deref());
    let repair = RepairAction::TokenRepair;
    let gated = gate::<MintToken>(&asking, &path.typed(), repair, overriding.as_deref()).await?;
    let ticket = ticket(ask.ticket.as_deref());
    let grant = match gated.grant {
        Ok(grant) => grant,
        Err(route) => {
            let ticket = ticket.ok_or_else(|| {
                AppError::BadRequest("A request for approval needs a ticket.".into())
            })?;
            let row = approval_flow::ask::<MintToken>(
                &asking,
                &gated.account,
                &route,
                &ticket,
                ask.lifetime_minutes,
            )
            .await?;
            return Ok(accepted(row));
        }
    };
    let who = staff.actor();
    let req = RepairRequest {
        actor: &who,
        origin: &origin,
        account: &gated.account,
        ticket: ticket.as_deref(),
        approval: None,
    };
    let now = crate::clock::now();
    let minted = repair::mint_token(
        &grant,
        &state.repairs,
        &req,
        &staff.roles,
        ask.lifetime_minutes,
        now,
    )
    .await?;
    Ok(created(minted))
}

/// `POST /api/v1/computers/{name}/reset`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetAsk {
    /// A reason or ticket reference (required).
    ticket: String,
    /// Forces a reset the diagnosis withholds (`override_diagnosis`; audited).
    override_reason: Option<String>,
}

/// A DC-side reset done.
#[derive(Serialize, ToSchema)]
pub struct ResetDone {
    computer: String,
    /// The DC that took the new password.
    dc: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/computers/{name}/reset",
    operation_id = "reset",
    tag = "repair tokens",
    summary = "DC-side reset of a computer account (API key only)",
    description = "A new random password on a DC: the machine cannot authenticate until it is \
        rejoined or token-repaired. Where the policy holds a reset back for an approval, the \
        answer is 202 with the request; the reset runs when it is approved.",
    params(("name" = String, Path, description = "The computer's name (sAMAccountName without `$`, DNS name, or `DOMAIN\\NAME`); a name in several managed domains answers 409 until its domain is named")),
    request_body = ResetAsk,
    responses(
        (status = 200, description = "Reset", body = ResetDone),
        (status = 202, description = "Waiting for an approval", body = ApprovalRow),
        (status = 400, description = "A name or body that cannot be read, or no ticket", body = ErrorBody<'_>),
        (status = 401, description = "No API key, or not a valid one", body = ErrorBody<'_>),
        (status = 403, description = "Refused by the policy or the diagnosis", body = ErrorBody<'_>),
        (status = 404, description = "No such computer", body = ErrorBody<'_>),
        (status = 429, description = "The hourly limit", body = ErrorBody<'_>),
        (status = 503, description = "No DC took the password", body = ErrorBody<'_>),
    ),
    security(("apiKey" = []))
)]
pub async fn api_reset(
    State(state): State<AppState>,
    ApiCaller(staff): ApiCaller,
    RequestOrigin(origin): RequestOrigin,
    Path(path): Path<super::locate::ComputerPath>,
    Json(ask): Json<ResetAsk>,
) -> Result<Response, AppError> {
    let overriding = ticket(ask.override_reason.as_deref());
    let Some(ticket) = ticket(Some(&ask.ticket)) else {
        return Err(AppError::BadRequest(
            "Give a reason or ticket reference.".into(),
        ));
    };
    let asking = Asking::new(&state, &staff, &origin);
    let repair = RepairAction::DcReset;
    let gated = gate::<ResetAccount>(&asking, &path.typed(), repair, overriding.as_deref()).await?;
    let grant = match gated.grant {
        Ok(grant) => grant,
        Err(route) => {
            let row =
                approval_flow::ask::<ResetAccount>(&asking, &gated.account, &route, &ticket, None)
                    .await?;
            return Ok(accepted(row));
        }
    };
    let who = staff.actor();
    let req = RepairRequest {
        actor: &who,
        origin: &origin,
        account: &gated.account,
        ticket: Some(&ticket),
        approval: None,
    };
    let dc = repair::reset_account(&grant, &state.repairs, &req).await?;
    let done = ResetDone {
        computer: gated.account.netbios_name().to_string(),
        dc: dc.name().to_string(),
    };
    Ok(Json(done).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/tokens/{jti}/revoke",
    operation_id = "revoke",
    tag = "repair tokens",
    summary = "Revoke a pending repair token (API key only)",
    params(("jti" = String, Path, description = "The token's id")),
    responses(
        (status = 200, description = "Revoked", body = TokenStatus),
        (status = 401, description = "No API key, or not a valid one", body = ErrorBody<'_>),
        (status = 403, description = "The policy refuses", body = ErrorBody<'_>),
        (status = 404, description = "No such token", body = ErrorBody<'_>),
        (status = 409, description = "No longer pending", body = ErrorBody<'_>),
    ),
    security(("apiKey" = []))
)]
pub async fn api_revoke(
    State(state): State<AppState>,
    ApiCaller(staff): ApiCaller,
    RequestOrigin(origin): RequestOrigin,
    Path(jti): Path<String>,
) -> Result<Json<TokenStatus>, AppError> {
    let asking = Asking::new(&state, &staff, &origin);
    let (row, revoked) = super::repair::revoke_jti(&asking, &jti).await?;
    let now = crate::clock::now();
    let row = state.store.token_by_jti(&jti).await?.unwrap_or(row);
    if !revoked {
        return Err(AppError::Conflict(format!(
            "This token is no longer pending: it is {}.",
            row.state_at_time(now)
        )));
    }
    Ok(Json(TokenStatus::of(row, now)))
}

/// A computer's repair tokens, newest first.
#[derive(Serialize, ToSchema)]
pub struct ComputerTokens {
    computer: String,
    tokens: Vec<TokenRow>,
}

#[utoipa::path(
    get,
    path = "/api/v1/computers/{name}/tokens",
    operation_id = "computer_tokens",
    tag = "repair tokens",
    summary = "A computer's repair tokens, newest first (at most 50)",
    description = "For a caller the policy lets diagnose the computer. A token's state is as \
        stored: a pending one past its `expires_at` is expired.",
    params(("name" = String, Path, description = "The computer's name (sAMAccountName without `$`, DNS name, or `DOMAIN\\NAME`); a name in several managed domains answers 409 until its domain is named")),
    responses(
        (status = 200, description = "The tokens", body = ComputerTokens),
        (status = 401, description = "No session or API key", body = ErrorBody<'_>),
        (status = 403, description = "The policy refuses", body = ErrorBody<'_>),
        (status = 404, description = "No such computer", body = ErrorBody<'_>),
    )
)]
pub async fn api_tokens(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Path(path): Path<super::locate::ComputerPath>,
) -> Result<Json<ComputerTokens>, AppError> {
    let q = ComputerQuery::parse(&path.typed()).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let asking = Asking::new(&state, &staff, &origin);
    asking
        .permitted(crate::policy::Action::Diagnose, About::Name(q.display()))
        .await?;
    let found = state.lookups.domains.find_unique(&q).await?;
    let account = found.map(|x| x.account).ok_or(AppError::NotFound)?;
    let target = Target {
        dn: &account.dn,
        account: Some(&account),
    };
    asking
        .authorize::<Diagnose>(&target, About::Account(&account))
        .await?;
    let guid = account.object_guid.to_string();
    let tokens = state.store.tokens_where(Some(&guid), None, 50).await?;
    Ok(Json(ComputerTokens {
        computer: account.netbios_name().to_string(),
        tokens,
    }))
}
