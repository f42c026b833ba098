//! Lookup and diagnosis pages, and their JSON twins under `/api/v1`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use super::AppError;
use super::format::{code, when};
use super::meta::{RequestOrigin, actor};
use crate::audit::{self, Origin};
use crate::auth::{CurrentStaff, Staff};
use crate::directory::computers::{ComputerMatch, Matches};
use crate::directory::filter::{ComputerQuery, MatchMode};
use crate::lookup::{self, Report};
use crate::policy::{Action, Diagnose, Grant, Target};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    prefix: Option<String>,
    /// `contains` to match anywhere in the name; prefix otherwise.
    #[serde(rename = "match")]
    mode: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "computers.html")]
pub struct MatchesPage {
    staff: Option<Staff>,
    query: String,
    contains: bool,
    error: Option<String>,
    matches: Matches,
}

#[derive(Template, WebTemplate)]
#[template(path = "computer.html")]
pub struct ComputerPage {
    staff: Option<Staff>,
    r: Report,
    now: OffsetDateTime,
    can_mint: bool,
    can_reset: bool,
    can_revoke: bool,
    tokens: Vec<crate::db::TokenRow>,
}

impl ComputerPage {
    fn when(&self, t: &Option<OffsetDateTime>) -> super::format::When {
        when(self.now, *t)
    }
    fn at(&self, t: &OffsetDateTime) -> super::format::When {
        when(self.now, Some(*t))
    }
    fn code<T: serde::Serialize>(&self, v: &T) -> String {
        code(v)
    }
    fn token_state(&self, t: &crate::db::TokenRow) -> String {
        t.state_at_time(self.now).to_string()
    }
    fn dc_name(&self, id: &Option<uuid::Uuid>) -> String {
        id.map(|id| {
            self.r
                .dc_names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| id.to_string())
        })
        .unwrap_or_default()
    }
}

async fn audit_denied(
    state: &AppState,
    staff: &Staff,
    origin: &Origin,
    action: &str,
    target: &str,
    why: &str,
) -> Result<(), AppError> {
    super::guard::denied(state, staff, origin, action, why, |e| e.target_name(target)).await
}

/// Validate the name; a bad one is the user's to fix, and never reaches LDAP.
fn parse(input: &str) -> Result<ComputerQuery, AppError> {
    ComputerQuery::parse(input).map_err(|e| AppError::BadRequest(e.to_string()))
}

/// Look the name up and check the policy for a diagnosis.
async fn authorized_report(
    state: &AppState,
    staff: &Staff,
    origin: &Origin,
    q: &ComputerQuery,
) -> Result<Report, AppError> {
    let account = state.directory.find_computer(q).await?;
    let grant: Result<Grant<Diagnose>, _> = match &account {
        Some(a) => state.policy.authorize(
            &staff.roles,
            &Target {
                dn: &a.dn,
                account: Some(a),
            },
        ),
        None => state.policy.authorize_nameless(&staff.roles),
    };
    let grant = match grant {
        Ok(g) => g,
        Err(denied) => {
            audit_denied(
                state,
                staff,
                origin,
                "diagnose",
                q.display(),
                &denied.to_string(),
            )
            .await?;
            return Err(AppError::Forbidden(format!("Refused: {denied}.")));
        }
    };
    super::guard::rate_limit(state, staff, origin, Action::Diagnose).await?;
    let (report, remember) =
        lookup::report(&grant, state, q, account, OffsetDateTime::now_utc()).await?;
    let top = report
        .diagnosis
        .likely_causes
        .first()
        .map(|c| c.cause.as_str())
        .unwrap_or("none");
    let mut event = audit::event("diagnose", "success")
        .actor(&actor(staff))
        .origin(origin)
        .reason(format!("likely cause: {top}"));
    event = match &report.account {
        Some(a) => event.target(&a.dn, &a.object_guid.to_string(), &report.name),
        None => event.target_name(&report.name),
    };
    audit::record(&state.store, &event).await?;
    remember.spawn(&state.store);
    Ok(report)
}

/// The matches the caller may see, audited as a lookup.
async fn listed(
    state: &AppState,
    staff: &Staff,
    origin: &Origin,
    q: &ComputerQuery,
    mode: MatchMode,
) -> Result<Matches, AppError> {
    if !state.policy.allows(&staff.roles, Action::Lookup) {
        audit_denied(
            state,
            staff,
            origin,
            "lookup",
            q.display(),
            "lookup not granted",
        )
        .await?;
        return Err(AppError::Forbidden(
            "Refused: none of your roles grants 'lookup'.".into(),
        ));
    }
    super::guard::rate_limit(state, staff, origin, Action::Lookup).await?;
    let matches = lookup::matches(&state.directory, &state.policy, &staff.roles, q, mode).await?;
    audit::record(
        &state.store,
        &audit::event("lookup", "success")
            .actor(&actor(staff))
            .origin(origin)
            .target_name(q.display())
            .reason(format!(
                "{} of {}{} matches",
                matches.shown.len(),
                if matches.more { "more than " } else { "" },
                matches.total
            )),
    )
    .await?;
    Ok(matches)
}

/// `GET /computers?q=`: an exact match goes to its diagnosis; otherwise the prefix matches.
pub async fn search(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(sq): Query<SearchQuery>,
) -> Result<Response, AppError> {
    let input = sq.q.unwrap_or_default();
    let mode = MatchMode::parse(sq.mode.as_deref());
    let contains = mode == MatchMode::Contains;
    let q = match ComputerQuery::parse(&input) {
        Ok(q) => q,
        Err(e) => {
            let page = MatchesPage {
                staff: Some(staff),
                query: input.chars().take(64).collect(),
                contains,
                error: Some(e.to_string()),
                matches: Matches::default(),
            };
            return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    let matches = listed(&state, &staff, &origin, &q, mode).await?;
    let exact = matches.shown.iter().find(|m| {
        m.name.eq_ignore_ascii_case(q.display())
            || m.dns_host_name
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(q.display()))
    });
    if let Some(m) = exact {
        return Ok(Redirect::to(&super::format::computer_path(&m.name)).into_response());
    }
    Ok(MatchesPage {
        staff: Some(staff),
        query: q.display().to_string(),
        contains,
        error: None,
        matches,
    }
    .into_response())
}

/// `GET /computers/{name}`: the diagnosis page.
pub async fn show(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Path(name): Path<String>,
) -> Result<ComputerPage, AppError> {
    let q = parse(&name)?;
    let r = authorized_report(&state, &staff, &origin, &q).await?;
    let (mut can_mint, mut can_reset, mut can_revoke, mut tokens) =
        (false, false, false, Vec::new());
    if let Some(a) = &r.account {
        let t = Target {
            dn: &a.dn,
            account: Some(a),
        };
        can_mint = state
            .policy
            .authorize::<crate::policy::MintToken>(&staff.roles, &t)
            .is_ok();
        can_reset = state
            .policy
            .authorize::<crate::policy::ResetAccount>(&staff.roles, &t)
            .is_ok();
        can_revoke = state
            .policy
            .authorize::<crate::policy::RevokeToken>(&staff.roles, &t)
            .is_ok();
        tokens = state
            .store
            .tokens_where(Some(&a.object_guid.to_string()), None, 20)
            .await?;
    }
    Ok(ComputerPage {
        staff: Some(staff),
        now: r.generated_at,
        r,
        can_mint,
        can_reset,
        can_revoke,
        tokens,
    })
}

/// `GET /api/v1/computers?prefix=[&match=contains]`: the matches as JSON (the first
/// [`MAX_MATCHES`](crate::directory::computers::MAX_MATCHES) by name); the count in
/// `X-Total-Count`, and `X-Total-Exact: false` when there are more than that.
pub async fn api_search(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(sq): Query<SearchQuery>,
) -> Result<([(&'static str, String); 2], Json<Vec<ComputerMatch>>), AppError> {
    let mode = MatchMode::parse(sq.mode.as_deref());
    let q = parse(&sq.prefix.or(sq.q).unwrap_or_default())?;
    let m = listed(&state, &staff, &origin, &q, mode).await?;
    let headers = [
        ("x-total-count", m.total.to_string()),
        ("x-total-exact", (!m.more).to_string()),
    ];
    Ok((headers, Json(m.shown)))
}

/// `GET /api/v1/computers/{name}`: the diagnosis as JSON.
pub async fn api_show(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Path(name): Path<String>,
) -> Result<Json<Report>, AppError> {
    let q = parse(&name)?;
    Ok(Json(authorized_report(&state, &staff, &origin, &q).await?))
}
