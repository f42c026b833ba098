//! `GET /api/v1/audit`: the audit log page's rows (`audit::viewed`: the same permission, view
//! and filters) as JSON, for the ticketing system and the security team's tools.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::audit::{FilterForm, viewed};
use super::error::ErrorBody;
use super::extract::{CurrentStaff, RequestOrigin};
use super::{AppError, AppState};
use crate::db::AuditRow;

/// A page of the audit log, as the API answers it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditRows {
    /// Newest first, at most 50, only those the caller's view shows.
    rows: Vec<AuditRow>,
    /// Pass as `before` for the next, older page; null when there is none.
    next: Option<i64>,
}

/// `GET /api/v1/audit`: the audit log page's rows as JSON.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "audit_rows",
    tag = "audit",
    summary = "Audit events, newest first, 50 a page, with the audit page's filters",
    description = "The same rows the audit page shows the caller (`view_audit`; a role with \
        scopes sees the events about its scopes and its own). Filters: `actor` (a `sub`, exactly), \
        `target`, `action`, `outcome`, `from` and `to` (`YYYY-MM-DD`, UTC); `before` \
        continues from a page's `next`. Each row carries its `prev_hash` and `hash`: \
        `trustdesk audit verify` checks the chain.",
    params(FilterForm),
    responses(
        (status = 200, description = "A page of events", body = AuditRows),
        (status = 400, description = "A filter that cannot be read (a date not YYYY-MM-DD)", body = ErrorBody<'_>),
        (status = 401, description = "No session or API key", body = ErrorBody<'_>),
        (status = 403, description = "The policy refuses (no view_audit)", body = ErrorBody<'_>),
    )
)]
pub async fn api_rows(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(f): Query<FilterForm>,
) -> Result<Json<AuditRows>, AppError> {
    let (rows, next) = viewed(&state, &staff, &origin, &f).await?;
    Ok(Json(AuditRows { rows, next }))
}
