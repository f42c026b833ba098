//! The audit review page (`view_audit`) and its streamed CSV / JSON Lines export
//! (`export_audit`).

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use super::authorize::{About, Asking};
use super::extract::{CurrentStaff, RequestOrigin};
use super::{AppError, AppState};
use crate::audit::{self, Origin};
use crate::auth::Staff;
use crate::db::{AuditFilter, AuditRow, NewAuditRow, Store};
use crate::policy::{Action, AuditView};

const PAGE: i64 = 50;
const EXPORT_PAGE: i64 = 1000;

/// The filter's drop-downs: every action and outcome the code writes (`audit::Action::ALL`,
/// `audit::Outcome::ALL`).
fn known<T: Copy>(all: &[T], text: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| text(*v)).collect()
}

/// One `<option>` of a filter's drop-down.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The options for a filter field: "any" (the empty value), then `known`. The current value
/// is selected case-insensitively, as the filter matches; one that is not known (an old link,
/// a hand-made URL) is kept as an option of its own, so the page shows the filter it applies.
fn choices(known: &[&str], current: &str) -> Vec<Choice> {
    let current = field(current);
    let is = |v: &str| {
        current
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(v))
    };
    let mut out = vec![Choice {
        value: String::new(),
        label: "any".into(),
        selected: current.is_none(),
    }];
    if let Some(c) = current
        .as_deref()
        .filter(|c| !known.iter().any(|k| k.eq_ignore_ascii_case(c)))
    {
        out.push(Choice {
            value: c.to_string(),
            label: format!("{c} (not a known value)"),
            selected: true,
        });
    }
    out.extend(known.iter().map(|k| Choice {
        value: k.to_string(),
        label: k.to_string(),
        selected: is(k),
    }));
    out
}

/// The filter as the form sends it: empty fields mean "any", dates are `YYYY-MM-DD` (UTC).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterForm {
    /// A person's `sub`, exactly (never the display name, which is theirs to edit).
    #[serde(default)]
    actor: String,
    /// A computer's name.
    #[serde(default)]
    target: String,
    /// An action (`reset_account`, `mint_token`, …).
    #[serde(default)]
    action: String,
    /// An outcome (`success`, `denied`, …).
    #[serde(default)]
    outcome: String,
    /// The first day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    from: String,
    /// The last day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    to: String,
    /// Only events before this `seq` (a page's `next`).
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
    pub(super) staff: Option<Staff>,
    pub(super) f: FilterForm,
    pub(super) rows: Vec<AuditRow>,
    pub(super) head: Option<(i64, String)>,
    /// The newest chain head signed with the audit key.
    pub(super) signed: Option<crate::audit::key::SignedHead>,
    /// The sign-in provider the actors' `sub`s are from.
    pub(super) issuer: String,
    pub(super) older: Option<i64>,
    pub(super) query: String,
    pub(super) can_export: bool,
    /// Where ticket references link (`ticket_url_template`); none: they stay text.
    pub(super) ticket_url: Option<crate::config::TicketUrlTemplate>,
}

impl AuditPage {
    /// A row's time, exact (UTC; the browser's local time with `localtime.js`).
    fn stamp(&self, t: &OffsetDateTime) -> super::format::When {
        super::format::at(*t)
    }
    fn actions(&self) -> Vec<Choice> {
        choices(
            &known(audit::Action::ALL, audit::Action::as_str),
            &self.f.action,
        )
    }
    fn outcomes(&self) -> Vec<Choice> {
        choices(
            &known(audit::Outcome::ALL, audit::Outcome::as_str),
            &self.f.outcome,
        )
    }
}

/// The newest `PAGE` rows before `before` that `view` lets `sub` see, read in batches (at most
/// 20 of them, so a scoped viewer's page stays bounded), and the seq to continue from when more
/// may follow.
async fn visible_page(
    store: &Store,
    filter: &AuditFilter,
    view: &AuditView,
    sub: &str,
    before: Option<i64>,
) -> Result<(Vec<AuditRow>, Option<i64>), AppError> {
    let mut before = before.unwrap_or(i64::MAX);
    let mut rows = Vec::new();
    for _ in 0..20 {
        let batch = store.audit_query(filter, before, PAGE).await?;
        let full = batch.len() as i64 == PAGE;
        for r in batch {
            before = r.seq;
            if rows.len() as i64 == PAGE {
                return Ok((rows, Some(before + 1)));
            }
            if view.sees(
                sub,
                r.event.actor_sub.as_deref(),
                r.event.target_dn.as_deref(),
            ) {
                rows.push(r);
            }
        }
        if !full {
            return Ok((rows, None));
        }
    }
    Ok((rows, Some(before)))
}

/// The page of rows `f` asks for that `staff` may see (`view_audit`, cut to their view), and
/// the seq to continue from: what the page and the API show.
pub(super) async fn viewed(
    state: &AppState,
    staff: &Staff,
    origin: &Origin,
    f: &FilterForm,
) -> Result<(Vec<AuditRow>, Option<i64>), AppError> {
    Asking::new(state, staff, origin)
        .permitted(Action::ViewAudit, About::Nothing)
        .await?;
    let filter = f.filter()?;
    let view = state.policy.audit_view(&staff.roles, Action::ViewAudit);
    visible_page(&state.store, &filter, &view, &staff.sub, f.before).await
}

/// `GET /audit`: filters, newest first, 50 a page, the chain head.
pub async fn page(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(f): Query<FilterForm>,
) -> Result<AuditPage, AppError> {
    let (rows, more) = viewed(&state, &staff, &origin, &f).await?;
    let head = state
        .store
        .audit_recent(1)
        .await?
        .into_iter()
        .next()
        .map(|r| (r.seq, r.hash));
    let signed = state.store.latest_signed_head().await?;
    let older = more;
    Ok(AuditPage {
        can_export: state.policy.allows(&staff.roles, Action::ExportAudit),
        query: f.query_string(),
        staff: Some(staff),
        f,
        rows,
        head,
        signed,
        issuer: state.config.oidc.issuer.clone(),
        ticket_url: state.config.ticket_url_template.clone(),
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

/// Where the export stream stands.
enum Step {
    /// The CSV header (if any) is next.
    Start,
    /// The page of rows older than this `seq` is next.
    Rows(i64),
    /// Every row was sent: the success is recorded next (nothing, if a failure already was).
    Finish,
}

/// The export's audit event, written exactly once: by [`Pending::finish`] when the body
/// ended (or a page failed), else when dropped, which means the client went away first.
struct Pending {
    store: Store,
    event: Option<NewAuditRow>,
}

impl Pending {
    /// The event with its outcome, stamped now: the export happened when its body ended.
    fn outcome(&mut self, outcome: audit::Outcome, cause: Option<String>) -> Option<NewAuditRow> {
        let mut e = self.event.take()?;
        e.at = crate::clock::now();
        e.outcome = outcome.as_str().to_string();
        if let Some(cause) = cause {
            let filter = e.reason.take().unwrap_or_default();
            e.reason = Some(format!("{cause} (filter: {filter})"));
        }
        Some(e)
    }

    /// Write the event in a task of its own, so that it is written even when the body is
    /// dropped while it is being written.
    fn write(&mut self, outcome: audit::Outcome, cause: Option<String>) -> Option<JoinHandle<()>> {
        let e = self.outcome(outcome, cause)?;
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => Some(rt.spawn(write_outcome(self.store.clone(), e))),
            Err(_) => {
                tracing::error!(
                    target: "audit",
                    outcome = %e.outcome,
                    reason = ?e.reason,
                    "export_audit outcome not recorded: no runtime"
                );
                None
            }
        }
    }

    /// Record the outcome; the body ends only once it is written.
    async fn finish(&mut self, outcome: audit::Outcome, cause: Option<String>) {
        if let Some(task) = self.write(outcome, cause) {
            // The task only logs its errors; a join error means it panicked, logged too.
            let _ = task.await;
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let cause = "the client went away before the export was complete".to_string();
        drop(self.write(audit::Outcome::Failure, Some(cause)));
    }
}

/// Record the export's outcome. The body is already sent, so a failure here can only be
/// logged.
async fn write_outcome(store: Store, event: NewAuditRow) {
    if let Err(e) = audit::record(&store, &event).await {
        tracing::error!(
            target: "audit",
            error = %e,
            outcome = %event.outcome,
            "export_audit outcome not recorded"
        );
    }
}

/// The rows of `filter`, newest first, fetched a page at a time as the client reads: memory
/// stays at one page whatever the size of the log. `event` (the export's, without outcome)
/// is recorded once the body has ended: `success` only when every row was produced.
///
/// The stream is fused: hyper and tower-http's compression (through tokio-util's
/// `StreamReader`) poll a body again after it ended, and `Unfold` panics when polled after
/// it returned `Ready(None)`.
/// Who reads an export: what they may see of it.
struct Reader {
    view: AuditView,
    sub: String,
}

fn rows_stream(
    store: Store,
    filter: AuditFilter,
    fmt: Format,
    event: NewAuditRow,
    reader: Reader,
) -> Body {
    let reader = std::sync::Arc::new(reader);
    let pending = Pending {
        store: store.clone(),
        event: Some(event),
    };
    let first = match fmt {
        Format::Csv => Step::Start,
        Format::JsonLines => Step::Rows(i64::MAX),
    };
    let rows = stream::unfold((first, pending), move |(step, mut pending)| {
        let (store, filter, reader) = (store.clone(), filter.clone(), reader.clone());
        async move {
            let before = match step {
                Step::Start => {
                    let header = Ok(CSV_HEADER.to_string());
                    return Some((header, (Step::Rows(i64::MAX), pending)));
                }
                Step::Rows(before) => before,
                Step::Finish => {
                    pending.finish(audit::Outcome::Success, None).await;
                    return None;
                }
            };
            match store.audit_query(&filter, before, EXPORT_PAGE).await {
                Ok(rows) => {
                    let next = (rows.len() as i64 == EXPORT_PAGE)
                        .then(|| rows.last().map(|r| r.seq))
                        .flatten()
                        .map_or(Step::Finish, Step::Rows);
                    let chunk: String = rows
                        .iter()
                        .filter(|r| {
                            reader.view.sees(
                                &reader.sub,
                                r.event.actor_sub.as_deref(),
                                r.event.target_dn.as_deref(),
                            )
                        })
                        .map(|r| line(fmt, r))
                        .collect();
                    Some((Ok(chunk), (next, pending)))
                }
                Err(e) => {
                    let cause = format!("reading the audit log failed: {e}");
                    pending.finish(audit::Outcome::Failure, Some(cause)).await;
                    // The body ends with this error: hyper aborts the response, so the
                    // client sees an incomplete download, never a short "complete" one.
                    Some((Err(std::io::Error::other(e)), (Step::Finish, pending)))
                }
            }
        }
    });
    Body::from_stream(rows.fuse())
}

async fn export(
    state: AppState,
    staff: Staff,
    origin: Origin,
    f: FilterForm,
    fmt: Format,
) -> Result<Response, AppError> {
    Asking::new(&state, &staff, &origin)
        .permitted(Action::ExportAudit, About::Nothing)
        .await?;
    let filter = f.filter()?;
    // An export is a read: its event is written when the body has ended, with the outcome.
    let event = audit::event(
        audit::Action::ExportAudit,
        audit::Outcome::Started,
        crate::clock::now(),
    )
    .actor(&staff.actor())
    .origin(&origin)
    .reason(f.query_string());
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
        rows_stream(
            state.store.clone(),
            filter,
            fmt,
            event,
            Reader {
                view: state.policy.audit_view(&staff.roles, Action::ExportAudit),
                sub: staff.sub.clone(),
            },
        ),
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::io::Read;

    use axum::Router;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_http::compression::CompressionLayer;

    use super::*;
    use askama::Template;

    async fn store_with(rows: usize) -> (Store, tempfile::TempDir) {
        let (store, dir) = crate::db::temp_sqlite().await;
        for i in 0..rows {
            let e = audit::event(
                audit::Action::Lookup,
                audit::Outcome::Success,
                crate::clock::now(),
            )
            .target_name(&format!("PC{i:05}"));
            audit::record(&store, &e).await.unwrap();
        }
        (store, dir)
    }

    /// The export behind tower-http's compression, as the portal serves it to browsers.
    async fn get_compressed(store: &Store, fmt: Format) -> Response {
        let store = store.clone();
        let app = Router::new()
            .route(
                "/",
                get(move || async move {
                    let event = audit::event(
                        audit::Action::ExportAudit,
                        audit::Outcome::Started,
                        crate::clock::now(),
                    )
                    .reason("q");
                    let reader = Reader {
                        view: AuditView::All,
                        sub: String::new(),
                    };
                    rows_stream(store, AuditFilter::default(), fmt, event, reader)
                }),
            )
            .layer(CompressionLayer::new());
        let req = Request::builder()
            .uri("/")
            .header("accept-encoding", "gzip")
            .body(Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.headers()["content-encoding"], "gzip");
        resp
    }

    async fn exports(store: &Store) -> Vec<AuditRow> {
        let filter = AuditFilter {
            action: Some("export_audit".into()),
            ..AuditFilter::default()
        };
        store.audit_query(&filter, i64::MAX, 100).await.unwrap()
    }

    /// Compression polls the body after it ended: the export must neither panic nor cut
    /// short, over more than one page, and it records exactly one success after the body.
    #[tokio::test]
    async fn compressed_export_is_complete_and_recorded_once_as_success() {
        let rows = EXPORT_PAGE as usize + 5;
        let (store, _dir) = store_with(rows).await;
        // The second export also lists the first one's event.
        for (fmt, rows) in [(Format::Csv, rows), (Format::JsonLines, rows + 1)] {
            let resp = get_compressed(&store, fmt).await;
            let gz = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            let mut text = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .unwrap();
            let lines: Vec<&str> = text.lines().collect();
            match fmt {
                Format::Csv => {
                    assert_eq!(lines[0], CSV_HEADER.trim_end());
                    assert_eq!(lines.len(), rows + 1);
                }
                Format::JsonLines => {
                    assert_eq!(lines.len(), rows);
                    for l in &lines {
                        serde_json::from_str::<serde_json::Value>(l).unwrap();
                    }
                }
            }
        }
        let events = exports(&store).await;
        assert_eq!(events.len(), 2, "one event per export");
        assert!(events.iter().all(|r| r.event.outcome == "success"));
    }

    /// A client that goes away mid-body leaves one `failure` event, never a success.
    #[tokio::test]
    async fn abandoned_export_is_recorded_as_failure() {
        let (store, _dir) = store_with(3).await;
        let resp = get_compressed(&store, Format::Csv).await;
        drop(resp);
        let mut events = Vec::new();
        for _ in 0..100 {
            events = exports(&store).await;
            if !events.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(exports(&store).await.len(), 1, "exactly one event");
        assert_eq!(events[0].event.outcome, "failure");
        let reason = events[0].event.reason.as_deref().unwrap();
        assert!(
            reason.contains("went away") && reason.contains("q"),
            "{reason}"
        );
    }

    /// Every policy action is audited under a known action, and the drop-down lists each
    /// once, alphabetically (the vocabulary's own test checks the texts).
    #[test]
    fn the_drop_downs_list_the_vocabulary() {
        let actions = known(audit::Action::ALL, audit::Action::as_str);
        for a in [
            Action::Lookup,
            Action::Diagnose,
            Action::MintToken,
            Action::RevokeToken,
            Action::ResetAccount,
            Action::ViewAudit,
            Action::ExportAudit,
            Action::ViewPolicy,
            Action::RunFleetScan,
            Action::OverrideDiagnosis,
        ] {
            assert!(actions.contains(&audit::Action::from(a).as_str()), "{a:?}");
        }
        for a in ["fleet_view", "fleet_export", "sign_in", "repair_watch"] {
            assert!(actions.contains(&a));
        }
        let mut sorted = actions.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, actions, "alphabetical, once each");
    }

    #[test]
    fn filter_choices_keep_the_current_value_in_any_case() {
        let actions = known(audit::Action::ALL, audit::Action::as_str);
        let outcomes = known(audit::Outcome::ALL, audit::Outcome::as_str);
        let selected = |c: &[Choice]| -> Vec<String> {
            c.iter()
                .filter(|c| c.selected)
                .map(|c| c.value.clone())
                .collect()
        };
        let any = choices(&actions, " ");
        assert_eq!((any[0].value.as_str(), any[0].label.as_str()), ("", "any"));
        assert_eq!(selected(&any), [""]);
        assert_eq!(any.len(), actions.len() + 1);
        // The filter matches in any case; the drop-down shows the known value.
        let upper = choices(&actions, "SIGN_IN");
        assert_eq!(selected(&upper), ["sign_in"]);
        assert_eq!(upper.len(), actions.len() + 1);
        // An unknown value (an old link) stays selected, as its own option.
        let old = choices(&outcomes, "aborted");
        assert_eq!(selected(&old), ["aborted"]);
        assert_eq!(old[1].label, "aborted (not a known value)");
        assert_eq!(old.len(), outcomes.len() + 2);
    }

    #[test]
    fn audit_page_renders_drop_downs_and_local_times() {
        let f = FilterForm {
            action: "RESET_ACCOUNT".into(),
            ..FilterForm::default()
        };
        let mut event = audit::event(
            audit::Action::ResetAccount,
            audit::Outcome::Denied,
            crate::clock::now(),
        )
        .target(
            "CN=PC01,OU=Paris,DC=forest2,DC=example,DC=test",
            "00000000-0000-0000-0000-000000000001",
            "PC01",
        )
        .actor(&audit::Actor {
            sub: "4f1c-sub".into(),
            name: Some("Alice Senior".into()),
            email: None,
            roles: vec!["senior".into()],
        });
        event.at = time::macros::datetime!(2026-11-24 09:30:05 UTC);
        let page = AuditPage {
            staff: None,
            query: f.query_string(),
            f,
            rows: vec![AuditRow {
                seq: 7,
                event,
                prev_hash: "p".into(),
                hash: "h".into(),
            }],
            ticket_url: None,
            head: Some((7, "h".into())),
            signed: Some(crate::audit::key::SignedHead {
                seq: 5,
                hash: "h5".into(),
                signed_at: time::macros::datetime!(2026-11-24 09:30:00 UTC),
                key_id: "0123456789abcdef".into(),
                signature: "s".into(),
            }),
            issuer: "https://idp.example".into(),
            older: None,
            can_export: false,
        };
        let html = page.render().unwrap();
        // #16 L-9: the sub (and its issuer) beside the name the person may edit.
        assert!(
            html.contains(
                r#"Alice Senior <code class="sub" title="sub at https://idp.example">4f1c-sub</code> <span class="muted">(senior)</span>"#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"row <strong id="signed-seq">5</strong>, hash <code>h5</code>"#)
                && html.contains(r#"audit key <code id="signed-key">0123456789abcdef</code>"#)
                && html.contains("audit verify --key PUB"),
            "{html}"
        );
        assert!(
            html.contains(r#"<option value="reset_account" selected>reset_account</option>"#),
            "{html}"
        );
        assert!(html.contains(r#"<select name="outcome" id="filter-outcome">"#));
        assert!(html.contains(r#"<option value="" selected>any</option>"#));
        assert!(html.contains(
            r#"<time datetime="2026-11-24T09:30:05Z" title="2026-11-24 09:30:05 UTC" data-local>2026-11-24 09:30:05 UTC</time>"#
        ), "{html}");
        assert!(html.contains(r#"<script src="/static/localtime.js"></script>"#));
        // The target links to its page in the domain its DN names, and names that domain.
        assert!(
            html.contains(r#"<a href="/computers/forest2.example.test/PC01" title="CN=PC01,"#)
                && html.contains(r#"<span class="muted domain">forest2.example.test</span>"#),
            "{html}"
        );
    }
}
