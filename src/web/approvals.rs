//! Four eyes at the web edge: the approvals queue page and the `/api/v1/approvals` routes.
//! A person sees the requests they made and those they may decide (`approval_flow::sees`);
//! deciding and collecting go through `approval_flow`, the same for the page and the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::approval_flow::{self, Decided};
use super::authorize::Asking;
use super::error::ErrorBody;
use super::extract::{ApiCaller, Csrf, CurrentStaff, NoFields, RequestOrigin};
use super::format::{When, at};
use super::repair::{approval_page, show_once};
use super::{AppError, AppState};
use crate::approvals::{Decision, named};
use crate::auth::Staff;
use crate::db::{ApprovalRow, ApprovalState};

/// The newest requests a queue reads before it keeps those the person may see.
const READ: i64 = 200;

/// One request as the queue shows it to one person.
pub struct Line {
    pub row: ApprovalRow,
    pub state: ApprovalState,
    pub created: When,
    pub expires: When,
    /// This person may approve or deny it now.
    pub can_decide: bool,
    /// This person asked for it, and may collect its token now.
    pub can_collect: bool,
    pub requester: String,
    pub decider: Option<String>,
}

fn line(state: &AppState, staff: &Staff, row: ApprovalRow, now: OffsetDateTime) -> Line {
    let st = row.state_at_time(now);
    let pending = st == ApprovalState::Pending;
    let mint = row.action == crate::audit::Action::MintToken;
    Line {
        can_decide: pending && approval_flow::may_decide(state, staff, &row),
        can_collect: mint
            && st == ApprovalState::Approved
            && approval_flow::own(state, staff, &row),
        requester: named(row.requester_name.as_deref(), &row.requester_sub),
        decider: row
            .decider_sub
            .as_deref()
            .map(|sub| named(row.decider_name.as_deref(), sub)),
        created: at(row.created_at),
        expires: at(row.expires_at),
        state: st,
        row,
    }
}

/// The requests `staff` may see, newest first; only those still open when `waiting`.
async fn seen(
    state: &AppState,
    staff: &Staff,
    waiting: bool,
) -> Result<Vec<ApprovalRow>, AppError> {
    let rows = state.store.approvals(waiting, READ).await?;
    let now = crate::clock::now();
    Ok(rows
        .into_iter()
        .filter(|row| approval_flow::sees(state, staff, row))
        .map(|row| as_of(row, now))
        .filter(|row| !waiting || row.state != ApprovalState::Expired)
        .collect())
}

/// `row` with the state people should see at `now` (`expired` past its expiry, unused).
fn as_of(mut row: ApprovalRow, now: OffsetDateTime) -> ApprovalRow {
    row.state = row.state_at_time(now);
    row
}

#[derive(Template, WebTemplate)]
#[template(path = "approvals.html")]
pub struct ApprovalsPage {
    pub(super) staff: Option<Staff>,
    pub(super) lines: Vec<Line>,
    /// One request's page (`/approvals/{id}`), else the queue.
    pub(super) single: bool,
    pub(super) ticket_url: Option<crate::config::TicketUrlTemplate>,
}

impl ApprovalsPage {
    fn code(&self, s: &ApprovalState) -> &'static str {
        s.as_str()
    }
}

/// `GET /approvals`: the requests waiting that this person may decide, and their own.
pub async fn page(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
) -> Result<ApprovalsPage, AppError> {
    let now = crate::clock::now();
    let rows = seen(&state, &staff, false).await?;
    let lines = rows
        .into_iter()
        .map(|r| line(&state, &staff, r, now))
        .collect();
    Ok(ApprovalsPage {
        lines,
        single: false,
        ticket_url: state.config.ticket_url_template.clone(),
        staff: Some(staff),
    })
}

/// `GET /approvals/{id}`: one request, to its requester or a person who may decide it.
pub async fn one(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path(id): Path<String>,
) -> Result<ApprovalsPage, AppError> {
    let row = approval_flow::visible(&state, &staff, &id).await?;
    let line = line(&state, &staff, row, crate::clock::now());
    Ok(ApprovalsPage {
        lines: vec![line],
        single: true,
        ticket_url: state.config.ticket_url_template.clone(),
        staff: Some(staff),
    })
}

/// `POST /approvals/{id}/approve` and `…/deny` (forms).
async fn decide_form(
    state: &AppState,
    staff: &Staff,
    origin: &crate::audit::Origin,
    id: &str,
    decision: Decision,
) -> Result<Redirect, AppError> {
    let asking = Asking::new(state, staff, origin);
    approval_flow::decide(&asking, id, decision).await?;
    Ok(Redirect::to(&approval_page(id)))
}

pub async fn approve(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    Csrf(staff, NoFields {}): Csrf<NoFields>,
) -> Result<Redirect, AppError> {
    decide_form(&state, &staff, &origin, &id, Decision::Approve).await
}

pub async fn deny(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    Csrf(staff, NoFields {}): Csrf<NoFields>,
) -> Result<Redirect, AppError> {
    decide_form(&state, &staff, &origin, &id, Decision::Deny).await
}

/// `POST /approvals/{id}/token` (form): the requester collects the approved token, shown once
/// on the page the mint redirects to.
pub async fn collect(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    Csrf(staff, NoFields {}): Csrf<NoFields>,
) -> Result<Redirect, AppError> {
    let asking = Asking::new(&state, &staff, &origin);
    let (_, minted) = approval_flow::collect(&asking, &id).await?;
    Ok(Redirect::to(&show_once(&state, &staff, minted)))
}

/// `GET /api/v1/approvals` filters.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only requests still open (pending, or approved and not yet used).
    #[serde(default)]
    waiting: bool,
}

/// The requests a caller may see.
#[derive(Serialize, ToSchema)]
pub struct Approvals {
    /// Newest first: the caller's own, and those the caller may decide.
    approvals: Vec<ApprovalRow>,
}

#[utoipa::path(
    get,
    path = "/api/v1/approvals",
    operation_id = "approvals",
    tag = "approvals",
    summary = "Requests for approval the caller made or may decide, newest first",
    params(ListQuery),
    responses(
        (status = 200, description = "The requests", body = Approvals),
        (status = 401, description = "No session or API key", body = ErrorBody<'_>),
    )
)]
pub async fn api_list(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Query(q): Query<ListQuery>,
) -> Result<Json<Approvals>, AppError> {
    let approvals = seen(&state, &staff, q.waiting).await?;
    Ok(Json(Approvals { approvals }))
}

#[utoipa::path(
    get,
    path = "/api/v1/approvals/{id}",
    operation_id = "approval",
    tag = "approvals",
    summary = "One request for approval, to its requester or a person who may decide it",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = ApprovalRow),
        (status = 401, description = "No session or API key", body = ErrorBody<'_>),
        (status = 404, description = "No such request that the caller may see", body = ErrorBody<'_>),
    )
)]
pub async fn api_one(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path(id): Path<String>,
) -> Result<Json<ApprovalRow>, AppError> {
    let row = approval_flow::visible(&state, &staff, &id).await?;
    Ok(Json(as_of(row, crate::clock::now())))
}

/// A decision taken.
#[derive(Serialize, ToSchema)]
pub struct DecisionTaken {
    approval: ApprovalRow,
    /// An approved reset ran: the DC that took the new password.
    dc: Option<String>,
}

async fn decide_api(
    state: &AppState,
    staff: &Staff,
    origin: &crate::audit::Origin,
    id: &str,
    decision: Decision,
) -> Result<Json<DecisionTaken>, AppError> {
    let asking = Asking::new(state, staff, origin);
    let (approval, decided) = approval_flow::decide(&asking, id, decision).await?;
    let dc = match decided {
        Decided::Reset { dc } => Some(dc),
        Decided::Recorded => None,
    };
    Ok(Json(DecisionTaken { approval, dc }))
}

#[utoipa::path(
    post,
    path = "/api/v1/approvals/{id}/approve",
    operation_id = "approve",
    tag = "approvals",
    summary = "Approve a request (API key only; never one's own)",
    description = "An approved reset runs now, under the requester's grant re-checked now. An \
        approved mint waits for its requester to collect the token.",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "Approved", body = DecisionTaken),
        (status = 401, description = "No API key, or not a valid one", body = ErrorBody<'_>),
        (status = 403, description = "One's own request, or not an approver of it", body = ErrorBody<'_>),
        (status = 404, description = "No such request", body = ErrorBody<'_>),
        (status = 409, description = "Expired, or decided already", body = ErrorBody<'_>),
    ),
    security(("apiKey" = []))
)]
pub async fn api_approve(
    State(state): State<AppState>,
    ApiCaller(staff): ApiCaller,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> Result<Json<DecisionTaken>, AppError> {
    decide_api(&state, &staff, &origin, &id, Decision::Approve).await
}

#[utoipa::path(
    post,
    path = "/api/v1/approvals/{id}/deny",
    operation_id = "deny",
    tag = "approvals",
    summary = "Deny a request (API key only; never one's own)",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "Denied", body = DecisionTaken),
        (status = 401, description = "No API key, or not a valid one", body = ErrorBody<'_>),
        (status = 403, description = "One's own request, or not an approver of it", body = ErrorBody<'_>),
        (status = 404, description = "No such request", body = ErrorBody<'_>),
        (status = 409, description = "Expired, or decided already", body = ErrorBody<'_>),
    ),
    security(("apiKey" = []))
)]
pub async fn api_deny(
    State(state): State<AppState>,
    ApiCaller(staff): ApiCaller,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> Result<Json<DecisionTaken>, AppError> {
    decide_api(&state, &staff, &origin, &id, Decision::Deny).await
}

#[utoipa::path(
    post,
    path = "/api/v1/approvals/{id}/token",
    operation_id = "collect_token",
    tag = "approvals",
    summary = "Collect the token of an approved mint (its requester's API key only)",
    description = "Minted now, under the requester's grant re-checked now, and in this answer \
        once.",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 201, description = "The token, shown once", body = super::repair_api::MintedToken),
        (status = 401, description = "No API key, or not a valid one", body = ErrorBody<'_>),
        (status = 403, description = "The policy or the diagnosis refuses it now", body = ErrorBody<'_>),
        (status = 404, description = "No such request of the caller's", body = ErrorBody<'_>),
        (status = 409, description = "Not approved, expired, or collected already", body = ErrorBody<'_>),
    ),
    security(("apiKey" = []))
)]
pub async fn api_collect(
    State(state): State<AppState>,
    ApiCaller(staff): ApiCaller,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let asking = Asking::new(&state, &staff, &origin);
    let (_, minted) = approval_flow::collect(&asking, &id).await?;
    Ok(super::repair_api::created(minted).into_response())
}
