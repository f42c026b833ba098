//! Repair pages (DC-side reset, token mint and revoke) and the companion client's API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::AppError;
use super::AppState;
use super::approval_flow;
use super::authorize::Asking;
use super::error::ErrorBody;
use super::extract::{Csrf, CurrentStaff, NoFields, RequestOrigin};
use super::format::computer_path;
use super::locate::ComputerPath;
use super::repair_gate::gate;
use crate::auth::Staff;
use crate::db::TokenState;
use crate::diagnostics::{RepairAction, Verdict};
use crate::repair::shown_once::{ShownReset, ShownToken};
use crate::repair::{self, RepairRequest};

/// A reason or ticket reference: trimmed, control characters dropped, at most 200 characters.
fn ticket(raw: &str) -> Option<String> {
    super::format::form_text(raw, 200)
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    ticket: String,
    /// Present to force a repair the diagnosis withholds (`override_diagnosis`).
    #[serde(default)]
    override_reason: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "reset_confirm.html")]
pub struct ResetConfirmPage {
    pub(super) staff: Option<Staff>,
    pub(super) name: String,
    /// The DNS name of its domain (its URLs carry it).
    pub(super) domain: String,
    pub(super) dn: String,
    /// The diagnosis's verdict, repeated before the button.
    pub(super) verdict: Option<Verdict>,
    /// The approval the reset waits for (`approval by senior`): the button asks for it.
    pub(super) held: Option<String>,
    pub(super) error: Option<String>,
}

/// `GET /computers/{name}/reset`: say plainly what a reset does, ask for a reason.
pub async fn reset_confirm(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Path(path): Path<ComputerPath>,
) -> Result<ResetConfirmPage, AppError> {
    let asking = Asking::new(&state, &staff, &origin);
    let name = path.typed();
    let gated =
        gate::<crate::policy::ResetAccount>(&asking, &name, RepairAction::DcReset, None).await?;
    Ok(ResetConfirmPage {
        name: gated.account.netbios_name().to_string(),
        domain: gated.domain.clone(),
        dn: gated.account.dn.clone(),
        verdict: Some(gated.verdict),
        held: gated.grant.err().map(|route| route.to_string()),
        staff: Some(staff),
        error: None,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "reset_done.html")]
pub struct ResetDonePage {
    pub(super) staff: Option<Staff>,
    pub(super) name: String,
    pub(super) dc: String,
}

/// `POST /computers/{name}/reset`: the DC-side reset.
pub async fn reset(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Path(path): Path<ComputerPath>,
    Csrf(staff, form): Csrf<ResetForm>,
) -> Result<Response, AppError> {
    let overriding = ticket(&form.override_reason);
    let asking = Asking::new(&state, &staff, &origin);
    let name = path.typed();
    let gated = gate::<crate::policy::ResetAccount>(
        &asking,
        &name,
        RepairAction::DcReset,
        overriding.as_deref(),
    )
    .await?;
    let account = gated.account;
    let Some(ticket) = ticket(&form.ticket) else {
        let page = ResetConfirmPage {
            name: account.netbios_name().to_string(),
            domain: gated.domain.clone(),
            dn: account.dn.clone(),
            verdict: None,
            held: gated.grant.err().map(|route| route.to_string()),
            staff: Some(staff),
            error: Some("Give a reason or ticket reference.".into()),
        };
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    };
    let grant = match gated.grant {
        Ok(grant) => grant,
        Err(route) => {
            let row = approval_flow::ask::<crate::policy::ResetAccount>(
                &asking, &account, &route, &ticket, None,
            )
            .await?;
            return Ok(Redirect::to(&approval_page(&row.id)).into_response());
        }
    };
    let who = staff.actor();
    let req = RepairRequest {
        actor: &who,
        origin: &origin,
        account: &account,
        ticket: Some(&ticket),
        approval: None,
    };
    let dc = repair::reset_account(&grant, &state.repairs, &req).await?;
    // Redirect after the POST: a reload of the result page never resets again.
    let name = account.netbios_name().to_string();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let page = format!("{}/reset/{id}", computer_path(&name));
    let shown = ShownReset {
        name,
        dc: dc.name().to_string(),
    };
    state
        .resets_done
        .hold(&id, &staff.sub, shown, std::time::Instant::now());
    Ok(Redirect::to(&page).into_response())
}

/// `GET /computers/{name}/reset/{id}`: the reset's result, once, to whoever asked for it;
/// after that, the computer's page, whose diagnosis names the reset.
pub async fn reset_done(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    match state
        .resets_done
        .take(&id, &staff.sub, std::time::Instant::now())
    {
        Some(shown) => ResetDonePage {
            name: shown.name,
            dc: shown.dc,
            staff: Some(staff),
        }
        .into_response(),
        None => Redirect::to(&computer_path(&name)).into_response(),
    }
}

#[derive(Deserialize)]
pub struct MintForm {
    #[serde(default)]
    ticket: String,
    lifetime_minutes: Option<u32>,
    /// Present to force a repair the diagnosis withholds (`override_diagnosis`).
    #[serde(default)]
    override_reason: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "token_minted.html")]
pub struct TokenMintedPage {
    pub(super) staff: Option<Staff>,
    pub(super) name: String,
    pub(super) token: String,
    /// The short repair code, grouped.
    pub(super) code: String,
    /// The token's id, for the live state.
    pub(super) jti: String,
    pub(super) expires: String,
    pub(super) minutes: u32,
    /// The commands that fetch the client and redeem, with `[downloads]`.
    pub(super) client: Option<super::downloads::ClientHelp>,
}

/// `POST /computers/{name}/tokens`: mint a token, hold it for the page that shows it once,
/// and redirect there (a reload of that page never mints again).
pub async fn mint(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Path(path): Path<ComputerPath>,
    Csrf(staff, form): Csrf<MintForm>,
) -> Result<Redirect, AppError> {
    let overriding = ticket(&form.override_reason);
    let asking = Asking::new(&state, &staff, &origin);
    let name = path.typed();
    let gated = gate::<crate::policy::MintToken>(
        &asking,
        &name,
        RepairAction::TokenRepair,
        overriding.as_deref(),
    )
    .await?;
    let account = gated.account;
    let ticket = ticket(&form.ticket);
    let grant = match gated.grant {
        Ok(grant) => grant,
        Err(route) => {
            let Some(ticket) = ticket else {
                return Err(AppError::BadRequest(
                    "A request for approval needs a reason or ticket reference.".into(),
                ));
            };
            let row = approval_flow::ask::<crate::policy::MintToken>(
                &asking,
                &account,
                &route,
                &ticket,
                form.lifetime_minutes,
            )
            .await?;
            return Ok(Redirect::to(&approval_page(&row.id)));
        }
    };
    let who = staff.actor();
    let req = RepairRequest {
        actor: &who,
        origin: &origin,
        account: &account,
        ticket: ticket.as_deref(),
        approval: None,
    };
    let minted = repair::mint_token(
        &grant,
        &state.repairs,
        &req,
        &staff.roles,
        form.lifetime_minutes,
        crate::clock::now(),
    )
    .await?;
    Ok(Redirect::to(&show_once(&state, &staff, minted)))
}

/// `/approvals/{id}`: the page of one request.
pub(super) fn approval_page(id: &str) -> String {
    format!("/approvals/{id}")
}

/// Hold `minted` for its minter's one look, and name the page that shows it.
pub(super) fn show_once(state: &AppState, staff: &Staff, minted: repair::Minted) -> String {
    let name = minted.row.computer_name().to_string();
    let page = format!("{}/tokens/{}", computer_path(&name), minted.row.jti);
    let shown = ShownToken {
        name,
        token: SecretString::from(minted.token),
        code: SecretString::from(minted.code.grouped()),
        expires: minted
            .row
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        minutes: minted.minutes,
    };
    state.shown_once.hold(
        &minted.row.jti,
        &staff.sub,
        shown,
        std::time::Instant::now(),
    );
    page
}

#[derive(Template, WebTemplate)]
#[template(path = "token_gone.html")]
pub struct TokenGonePage {
    pub(super) staff: Option<Staff>,
    pub(super) name: String,
}

/// `GET /computers/{name}/tokens/{jti}`: the token just minted, once, to its minter; after
/// that, a page that says so and points to the computer's token list.
pub async fn minted(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path((name, jti)): Path<(String, String)>,
) -> Response {
    match state
        .shown_once
        .take(&jti, &staff.sub, std::time::Instant::now())
    {
        Some(shown) => TokenMintedPage {
            client: super::downloads::for_token(&state, shown.token.expose_secret()),
            token: shown.token.expose_secret().to_string(),
            code: shown.code.expose_secret().to_string(),
            jti,
            name: shown.name,
            expires: shown.expires,
            minutes: shown.minutes,
            staff: Some(staff),
        }
        .into_response(),
        None => TokenGonePage {
            staff: Some(staff),
            name,
        }
        .into_response(),
    }
}

/// `GET /api/v1/tokens/{jti}`: a token's state, for the person who minted it (anyone else
/// gets 404, as for a token that does not exist). The token page polls it, so the technician
/// on the phone sees the repair go pending → redeemed → completed. A read of one's own token
/// is not audited: the mint was, and so is every change of its state.
#[utoipa::path(
    get,
    path = "/api/v1/tokens/{jti}",
    operation_id = "token_state",
    tag = "repair tokens",
    summary = "A repair token's state, for the person who minted it (the token page polls it)",
    description = "Anyone else gets 404, as for a token that does not exist. Not audited: the \
        mint was, and so is every change of the token's state.",
    params(("jti" = String, Path, description = "The token's id")),
    responses(
        (status = 200, description = "The token's state", body = TokenStatus),
        (status = 401, description = "Not signed in", body = ErrorBody<'_>),
        (status = 404, description = "No such token minted by this person", body = ErrorBody<'_>),
    )
)]
pub async fn token_state(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path(jti): Path<String>,
) -> Result<Json<TokenStatus>, AppError> {
    let row = state
        .store
        .token_by_jti(&jti)
        .await?
        .filter(|row| row.issued_by_sub == staff.sub)
        .ok_or(AppError::NotFound)?;
    Ok(Json(TokenStatus::of(row, crate::clock::now())))
}

impl TokenStatus {
    /// Token `row`'s state at `now`.
    pub(super) fn of(row: crate::db::TokenRow, now: OffsetDateTime) -> Self {
        Self {
            state: row.state_at_time(now),
            jti: row.jti,
            state_at: row.state_at,
            dc: row.dc,
        }
    }
}

/// Where a repair token is.
#[derive(Serialize, ToSchema)]
pub struct TokenStatus {
    jti: String,
    /// `expired`: pending past its expiry.
    state: TokenState,
    /// When it reached that state (for `expired`: when it was minted, still pending).
    #[serde(with = "time::serde::rfc3339")]
    state_at: OffsetDateTime,
    /// The DC the password was set on, once redeemed.
    dc: Option<String>,
}

/// `POST /tokens/{jti}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Path(jti): Path<String>,
    Csrf(staff, NoFields {}): Csrf<NoFields>,
) -> Result<Response, AppError> {
    let asking = Asking::new(&state, &staff, &origin);
    let (row, _) = revoke_jti(&asking, &jti).await?;
    Ok(Redirect::to(&computer_path(row.computer_name())).into_response())
}

/// Revoke token `jti` for `asking`'s person: the policy's grant of `revoke_token` on the
/// computer it was minted for, then the capability. The row as it was before, and whether this
/// call revoked it (`false`: it was no longer pending).
pub(super) async fn revoke_jti(
    asking: &Asking<'_>,
    jti: &str,
) -> Result<(crate::db::TokenRow, bool), AppError> {
    let state = asking.state;
    let row = state
        .store
        .token_by_jti(jti)
        .await?
        .ok_or(AppError::NotFound)?;
    let grant = super::repair_gate::minted_for::<crate::policy::RevokeToken>(asking, &row).await?;
    let (actor, now) = (asking.staff.actor(), crate::clock::now());
    let revoked =
        repair::revoke_token(&grant, &state.repairs, &actor, asking.origin, &row, now).await?;
    Ok((row, revoked))
}
