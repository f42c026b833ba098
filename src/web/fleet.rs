//! The fleet page (`lookup`, cut to the viewer's scope), its CSV export and JSON twin, the
//! live progress of a scan, and starting one (`run_fleet_scan`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use super::authorize::{About, Asking};
use super::error::ErrorBody;
use super::extract::{Csrf, CurrentStaff, NoFields, RequestOrigin};
use super::{AppError, AppState};
use crate::audit::{self, Origin};
use crate::auth::Staff;
use crate::db::FleetFindingRow;
use crate::fleet::export::JsonReport as FleetReport;
use crate::fleet::plots::{Bar, hbar_svg, histogram_svg};
use crate::fleet::report::{ReportView, Viewer, load};
use crate::fleet::tally::{BINS, DAY_BINS, OuStats};
use crate::fleet::{Progress, StartError, Starter};
use crate::policy::{Action, RunFleetScan};

/// The table's filter and order, from the query string; anything unknown is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct TableQuery {
    #[serde(default)]
    cause: String,
    /// Name or OU contains this (case-insensitive).
    #[serde(default)]
    q: String,
    /// Only this domain's computers (its DNS name).
    #[serde(default)]
    domain: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    desc: bool,
}

impl TableQuery {
    fn apply(&self, rows: &mut Vec<FleetFindingRow>) {
        let q = super::format::form_text(&self.q, 100).map(|q| q.to_lowercase());
        let cause = super::format::form_text(&self.cause, 64);
        let domain = super::format::form_text(&self.domain, 253);
        rows.retain(|r| {
            cause.as_deref().is_none_or(|c| r.cause == c)
                && domain
                    .as_deref()
                    .is_none_or(|d| row_domain(r).eq_ignore_ascii_case(d))
                && q.as_deref().is_none_or(|q| {
                    r.name.to_lowercase().contains(q) || r.ou.to_lowercase().contains(q)
                })
        });
        match self.sort.as_str() {
            "name" => rows.sort_by(|a, b| a.name.cmp(&b.name)),
            "ou" => rows.sort_by(|a, b| a.ou.cmp(&b.ou).then(a.name.cmp(&b.name))),
            "pwd" => rows.sort_by_key(|r| r.pwd_last_set),
            "logon" => rows.sort_by_key(|r| r.last_logon),
            _ => rows.sort_by(|a, b| a.cause.cmp(&b.cause).then(a.name.cmp(&b.name))),
        }
        if self.desc {
            rows.reverse();
        }
    }

    fn query_string(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("cause", &self.cause)
            .append_pair("q", &self.q)
            .append_pair("domain", &self.domain)
            .finish()
    }
}

/// A row's domain: as stored, else (a report from before domains were stored) its DN's.
fn row_domain(r: &FleetFindingRow) -> String {
    r.domain
        .clone()
        .or_else(|| crate::ad::dn::dn_domain(&r.dn))
        .unwrap_or_default()
        .to_ascii_lowercase()
}

async fn require(state: &AppState, staff: &Staff, origin: &Origin) -> Result<(), AppError> {
    Asking::new(state, staff, origin)
        .permitted(Action::Lookup, About::Nothing)
        .await
}

async fn report(state: &AppState, staff: &Staff) -> Result<Option<ReportView>, AppError> {
    let viewer = Viewer::Staff {
        policy: &state.policy,
        roles: &staff.roles,
    };
    Ok(load(&state.store, &viewer, None).await?)
}

async fn audit_view(
    state: &AppState,
    staff: &Staff,
    origin: &Origin,
    action: audit::Action,
    v: &Option<ReportView>,
) -> Result<(), AppError> {
    let mut event = audit::event(action, audit::Outcome::Success, crate::clock::now())
        .actor(&staff.actor())
        .origin(origin);
    if let Some(v) = v {
        event = event.target_name(&format!("fleet report {}", v.scan.id));
    }
    audit::record(&state.store, &event).await?;
    Ok(())
}

/// The most rows the page's table shows (the CSV export has every row of the filter).
const TABLE_ROWS: usize = 500;

#[derive(Template, WebTemplate)]
#[template(path = "fleet.html")]
pub struct FleetPage {
    /// Rows matching the filter, before the table's cut.
    pub(super) matching: usize,
    pub(super) staff: Option<Staff>,
    pub(super) report: Option<ReportView>,
    pub(super) rows: Vec<FleetFindingRow>,
    pub(super) causes: Vec<(String, u64)>,
    pub(super) plots: Vec<(&'static str, String)>,
    pub(super) progress: Option<Progress>,
    pub(super) can_run: bool,
    pub(super) t: TableQuery,
    pub(super) query: String,
    /// Redeems whose password may still be valid (the post-repair watch), in the viewer's
    /// diagnose scope.
    pub(super) exposed: Vec<crate::db::WatchRow>,
    /// The managed domains' DNS names, for the domain filter (shown when there are several).
    pub(super) domains: Vec<String>,
}

impl FleetPage {
    /// A row's computer page, in its domain.
    fn computer_link(&self, r: &FleetFindingRow) -> String {
        super::format::computer_path_in(&row_domain(r), &r.name)
    }

    fn when(&self, t: &Option<OffsetDateTime>) -> super::format::When {
        super::format::when(crate::clock::now(), *t)
    }

    fn when_at(&self, t: &OffsetDateTime) -> super::format::When {
        self.when(&Some(*t))
    }

    fn sort_link(&self, key: &str) -> String {
        let desc = self.t.sort == key && !self.t.desc;
        format!("?{}&sort={key}&desc={desc}", self.query)
    }
}

fn bars(labels: impl Iterator<Item = String>, counts: &[u64; BINS]) -> Vec<Bar> {
    labels
        .zip(counts.iter())
        .map(|(label, value)| Bar {
            label,
            value: *value,
            href: None,
        })
        .collect()
}

fn plots(counts: &OuStats, at_risk_ous: &[(String, u64)]) -> Vec<(&'static str, String)> {
    let labels = || {
        DAY_BINS
            .iter()
            .map(|(l, _)| l.to_string())
            .chain(std::iter::once("never".to_string()))
    };
    let ous: Vec<Bar> = at_risk_ous
        .iter()
        .take(20)
        .map(|(ou, n)| Bar {
            label: ou.split(',').next().unwrap_or(ou).to_string(),
            value: *n,
            href: Some(format!(
                "/fleet?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("q", ou)
                    .finish()
            )),
        })
        .collect();
    const PWD: &str = "Password age (days since pwdLastSet)";
    const LOGON: &str = "Days since the last logon";
    const OUS: &str = "At-risk computers per OU";
    vec![
        (
            PWD,
            histogram_svg(PWD, "days", &bars(labels(), &counts.pwd_age)),
        ),
        (
            LOGON,
            histogram_svg(LOGON, "days", &bars(labels(), &counts.logon_age)),
        ),
        (OUS, hbar_svg(OUS, &ous)),
    ]
}

/// `GET /fleet`
/// The post-repair watches that ended `exposed` in the last 30 days, on computers the viewer
/// may diagnose.
async fn exposed_in_scope(
    state: &AppState,
    staff: &Staff,
) -> Result<Vec<crate::db::WatchRow>, AppError> {
    let since = crate::clock::now() - time::Duration::days(30);
    Ok(state
        .store
        .exposed_watches(200)
        .await?
        .into_iter()
        .filter(|w| w.redeemed_at >= since)
        .filter(|w| {
            state
                .policy
                .in_scope(&staff.roles, Action::Diagnose, &w.computer_dn)
        })
        .collect())
}

pub async fn page(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(t): Query<TableQuery>,
) -> Result<FleetPage, AppError> {
    require(&state, &staff, &origin).await?;
    let report = report(&state, &staff).await?;
    audit_view(&state, &staff, &origin, audit::Action::FleetView, &report).await?;
    let (mut rows, causes, plots) = match &report {
        Some(v) => {
            let mut causes: Vec<(String, u64)> = v
                .counts
                .causes
                .iter()
                .map(|(c, n)| (c.clone(), *n))
                .collect();
            causes.sort_by_key(|c| std::cmp::Reverse(c.1));
            (v.rows.clone(), causes, plots(&v.counts, &v.at_risk_ous))
        }
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    t.apply(&mut rows);
    let matching = rows.len();
    // A page of a few hundred rows stays readable and fast; the CSV has them all.
    rows.truncate(TABLE_ROWS);
    let exposed = exposed_in_scope(&state, &staff).await?;
    Ok(FleetPage {
        exposed,
        matching,
        can_run: state.policy.allows(&staff.roles, Action::RunFleetScan),
        progress: progress_for(&state, &staff).await,
        query: t.query_string(),
        domains: state
            .lookups
            .domains
            .iter()
            .map(|d| d.dns_name().to_string())
            .collect(),
        staff: Some(staff),
        report,
        rows,
        causes,
        plots,
        t,
    })
}

/// `GET /fleet/export.csv`: the table as filtered.
pub async fn export_csv(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(t): Query<TableQuery>,
) -> Result<Response, AppError> {
    require(&state, &staff, &origin).await?;
    let report = report(&state, &staff).await?;
    audit_view(&state, &staff, &origin, audit::Action::FleetExport, &report).await?;
    let mut rows = report.map(|v| v.rows).unwrap_or_default();
    t.apply(&mut rows);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"trustdesk-fleet.csv\"",
            ),
        ],
        crate::fleet::export::csv(&rows),
    )
        .into_response())
}

/// `GET /api/v1/fleet`: the newest complete report, cut to the caller's scope.
#[utoipa::path(
    get,
    path = "/api/v1/fleet",
    operation_id = "fleet_report",
    tag = "fleet",
    summary = "The newest complete fleet report, cut to the caller's lookup scope: counts per cause, histograms, and the at-risk computers",
    description = "Audited as a fleet view.",
    responses(
        (status = 200, description = "The report", body = FleetReport<'_>),
        (status = 401, description = "No session or API key", body = ErrorBody<'_>),
        (status = 403, description = "The policy refuses (no lookup right)", body = ErrorBody<'_>),
        (status = 404, description = "No complete report yet", body = ErrorBody<'_>),
    )
)]
pub async fn api_report(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
) -> Result<Response, AppError> {
    require(&state, &staff, &origin).await?;
    let report = report(&state, &staff).await?;
    audit_view(&state, &staff, &origin, audit::Action::FleetView, &report).await?;
    let Some(v) = report else {
        return Err(AppError::NotFound);
    };
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        crate::fleet::export::json(&v.scan, &v.counts, &v.rows),
    )
        .into_response())
}

/// The running scan, whichever instance runs it, or the last one; in full for those who may
/// run one, else redacted.
async fn progress_for(state: &AppState, staff: &Staff) -> Option<Progress> {
    let p = state.fleet.current(&state.store).await?;
    Some(if state.policy.allows(&staff.roles, Action::RunFleetScan) {
        p
    } else {
        p.redacted()
    })
}

/// `GET /api/v1/fleet/progress`: the running (or last) scan, whichever instance runs it.
#[utoipa::path(
    get,
    path = "/api/v1/fleet/progress",
    operation_id = "fleet_progress",
    tag = "fleet",
    summary = "The running (or last) fleet scan, whichever portal instance runs it; null when none ran",
    description = "Who may not run scans sees it redacted: `scanned` is a share of 100 \
        (`estimate` 100), `started_by` is empty, `dc` null, `restarts` 0, and an error is only \
        \"the scan failed\".",
    responses(
        (status = 200, description = "Progress, or null", body = Option<Progress>),
        (status = 401, description = "No session or API key", body = ErrorBody<'_>),
        (status = 403, description = "The policy refuses (no lookup right)", body = ErrorBody<'_>),
    )
)]
pub async fn api_progress(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
) -> Result<Json<Option<Progress>>, AppError> {
    require(&state, &staff, &origin).await?;
    Ok(Json(progress_for(&state, &staff).await))
}

/// `POST /fleet/scans`: start a scan in the background (the start is audited by `fleet`).
pub async fn start(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Csrf(staff, NoFields {}): Csrf<NoFields>,
) -> Result<Redirect, AppError> {
    let grant = Asking::new(&state, &staff, &origin)
        .authorize_nameless::<RunFleetScan>(About::Nothing)
        .await?;
    let who = staff.actor();
    let by = Starter {
        name: staff.display_name().to_string(),
        person: Some((&who, &origin)),
        reason: None,
    };
    match state
        .fleet
        .start_audited(grant, state.scan.clone(), by)
        .await
    {
        Ok(_) => Ok(Redirect::to("/fleet")),
        Err(StartError::AlreadyRunning(id)) => Err(AppError::Conflict(format!(
            "A fleet scan is already running (report {id}); its progress is on the fleet page."
        ))),
        Err(StartError::Store(e)) => Err(e.into()),
    }
}
