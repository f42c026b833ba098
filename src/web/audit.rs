//! The audit review page (`view_audit`) and its streamed CSV / JSON Lines export
//! (`export_audit`).

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;
use time::OffsetDateTime;

use super::AppError;
use super::meta::{RequestOrigin, actor};
use crate::audit::{self, Origin};
use crate::auth::{CurrentStaff, Staff};
use crate::db::{AuditFilter, AuditRow, Store};
use crate::policy::Action;
use crate::state::AppState;

const PAGE: i64 = 50;
const EXPORT_PAGE: i64 = 1000;

/// The filter as the form sends it: empty fields mean "any", dates are `YYYY-MM-DD` (UTC).
#[derive(Debug, Default, Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

fn field(s: &str) -> Option<String> {
    super::format::form_text(s, 200)
}

fn day(s: &str, key: &str) -> Result<Option<OffsetDateTime>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map(|d| Some(d.midnight().assume_utc()))
        .map_err(|_| AppError::BadRequest(format!("{key}: use a date like 2026-11-24")))
}

impl FilterForm {
    fn filter(&self) -> Result<AuditFilter, AppError> {
        Ok(AuditFilter {
            actor: field(&self.actor),
            target: field(&self.target),
            action: field(&self.action),
            outcome: field(&self.outcome),
            from: day(&self.from, "from")?,
            // "to" is inclusive of that day.
            to: day(&self.to, "to")?.map(|d| d + time::Duration::days(1)),
        })
    }

    fn query_string(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("actor", &self.actor)
            .append_pair("target", &self.target)
            .append_pair("action", &self.action)
            .append_pair("outcome", &self.outcome)
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .finish()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    staff: Option<Staff>,
    f: FilterForm,
    rows: Vec<AuditRow>,
    head: Option<(i64, String)>,
    older: Option<i64>,
    query: String,
    can_export: bool,
}

impl AuditPage {
    fn when(&self, t: &OffsetDateTime) -> String {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }
}

/// `GET /audit`: filters, newest first, 50 a page, the chain head.
pub async fn page(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(f): Query<FilterForm>,
) -> Result<AuditPage, AppError> {
    super::guard::require(&state, &staff, &origin, Action::ViewAudit).await?;
    let filter = f.filter()?;
    let rows = state
        .store
        .audit_query(&filter, f.before.unwrap_or(i64::MAX), PAGE)
        .await?;
    let head = state
        .store
        .audit_recent(1)
        .await?
        .into_iter()
        .next()
        .map(|r| (r.seq, r.hash));
    let older = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(AuditPage {
        can_export: state.policy.allows(&staff.roles, Action::ExportAudit),
        query: f.query_string(),
        staff: Some(staff),
        f,
        rows,
        head,
        older,
    })
}

#[derive(Clone, Copy)]
enum Format {
    Csv,
    JsonLines,
}

const CSV_HEADER: &str = "seq,at,actor_sub,actor_name,actor_email,actor_roles,source_ip,user_agent,request_id,action,target_dn,target_guid,target_name,outcome,reason,ticket,prev_hash,hash\n";

use crate::csv::field as csv;

fn line(fmt: Format, r: &AuditRow) -> String {
    match fmt {
        Format::JsonLines => serde_json::to_string(r)
            .map(|s| s + "\n")
            .unwrap_or_default(),
        Format::Csv => {
            let e = &r.event;
            let o = |v: &Option<String>| csv(v.as_deref().unwrap_or(""));
            let at =
                e.at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
            format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                r.seq,
                csv(&at),
                o(&e.actor_sub),
                o(&e.actor_name),
                o(&e.actor_email),
                csv(&e.actor_roles),
                o(&e.source_ip),
                o(&e.user_agent),
                o(&e.request_id),
                csv(&e.action),
                o(&e.target_dn),
                o(&e.target_guid),
                o(&e.target_name),
                csv(&e.outcome),
                o(&e.reason),
                o(&e.ticket),
                csv(&r.prev_hash),
                csv(&r.hash)
            )
        }
    }
}

/// The rows of `filter`, newest first, fetched a page at a time as the client reads: memory
/// stays at one page whatever the size of the log.
fn rows_stream(store: Store, filter: AuditFilter, fmt: Format) -> Body {
    let header = match fmt {
        Format::Csv => Some(CSV_HEADER.to_string()),
        Format::JsonLines => None,
    };
    let first = stream::iter(header.map(Ok::<_, std::io::Error>));
    let pages = stream::unfold(Some(i64::MAX), move |before| {
        let (store, filter) = (store.clone(), filter.clone());
        async move {
            let before = before?;
            match store.audit_query(&filter, before, EXPORT_PAGE).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = (rows.len() as i64 == EXPORT_PAGE)
                        .then(|| rows.last().map(|r| r.seq))
                        .flatten();
                    let chunk: String = rows.iter().map(|r| line(fmt, r)).collect();
                    Some((Ok(chunk), next))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    Body::from_stream(futures_util::StreamExt::chain(first, pages))
}

async fn export(
    state: AppState,
    staff: Staff,
    origin: Origin,
    f: FilterForm,
    fmt: Format,
) -> Result<Response, AppError> {
    super::guard::require(&state, &staff, &origin, Action::ExportAudit).await?;
    let filter = f.filter()?;
    audit::record(
        &state.store,
        &audit::event("export_audit", "success")
            .actor(&actor(&staff))
            .origin(&origin)
            .reason(f.query_string()),
    )
    .await?;
    let (ctype, name) = match fmt {
        Format::Csv => ("text/csv; charset=utf-8", "trustdesk-audit.csv"),
        Format::JsonLines => ("application/x-ndjson", "trustdesk-audit.jsonl"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        rows_stream(state.store.clone(), filter, fmt),
    )
        .into_response())
}

/// `GET /audit/export.csv`
pub async fn export_csv(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(f): Query<FilterForm>,
) -> Result<Response, AppError> {
    export(state, staff, origin, f, Format::Csv).await
}

/// `GET /audit/export.jsonl`
pub async fn export_jsonl(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(f): Query<FilterForm>,
) -> Result<Response, AppError> {
    export(state, staff, origin, f, Format::JsonLines).await
}
