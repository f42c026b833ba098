//! The lookup and diagnosis API (`/api/v1/computers…`): the pages' twins in JSON, through the
//! same steps (`computers.rs`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::authorize::Asking;
use super::computers::{Answer, SearchQuery, authorized_report, listed, parse};
use super::error::ErrorBody;
use super::extract::{CurrentStaff, RequestOrigin};
use super::locate::{Choices, ComputerPath};
use super::{AppError, AppState};
use crate::directory::computers::ComputerMatch;
use crate::directory::filter::MatchMode;
use crate::lookup::Report;

/// `GET /api/v1/computers?prefix=[&match=contains]`: the matches as JSON (the first
/// [`MAX_MATCHES`](crate::directory::computers::MAX_MATCHES) by name); the count in
/// `X-Total-Count`, and `X-Total-Exact: false` when there are more than that.
#[utoipa::path(
    get,
    path = "/api/v1/computers",
    operation_id = "search_computers",
    tag = "computers",
    summary = "Computers whose name starts with (or, with match=contains, contains) the text, within the caller's lookup scope: the first 50 by name",
    description = "Audited as a lookup. Names outside the caller's scopes are never listed, and \
        nothing says whether they exist.",
    params(
        ("prefix" = String, Query, max_length = 253,
            description = "The start of a NetBIOS name, sAMAccountName or DNS host name \
                (`q` is read when `prefix` is absent)"),
        ("match" = inline(Option<MatchMode>), Query,
            description = "`contains` to match anywhere in the name; `prefix` (the default) \
                otherwise"),
    ),
    responses(
        (status = 200, description = "Matches: at most 50, sorted by name",
            body = Vec<ComputerMatch>,
            headers(
                ("X-Total-Count" = u64, description = "How many computers the caller may look \
                    up match (a lower bound when X-Total-Exact is false); more than the body \
                    lists when the list was cut"),
                ("X-Total-Exact" = bool, description = "`false` when a scope's search stopped \
                    at its limit: there are more matches than X-Total-Count"),
            )),
        (status = 400, description = "Not a valid computer name", body = ErrorBody<'_>),
        (status = 401, description = "No session or API key", body = ErrorBody<'_>),
        (status = 403, description = "The policy refuses", body = ErrorBody<'_>),
        (status = 503, description = "No domain controller answered", body = ErrorBody<'_>),
    )
)]
pub async fn api_search(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Query(sq): Query<SearchQuery>,
) -> Result<([(&'static str, String); 2], Json<Vec<ComputerMatch>>), AppError> {
    let mode = MatchMode::parse(sq.mode.as_deref());
    let q = parse(&sq.prefix.or(sq.q).unwrap_or_default())?;
    let m = listed(&Asking::new(&state, &staff, &origin), &q, mode).await?;
    let headers = [
        ("x-total-count", m.total.to_string()),
        ("x-total-exact", (!m.more).to_string()),
    ];
    Ok((headers, Json(m.shown)))
}

/// `GET /api/v1/computers/{name}`: the diagnosis as JSON.
#[utoipa::path(
    get,
    path = "/api/v1/computers/{name}",
    operation_id = "diagnose_computer",
    tag = "computers",
    summary = "The diagnosis of one computer (NetBIOS name, sAMAccountName with or without $, DOMAIN\\NAME or DNS host name), looked for in every managed domain it may be in",
    description = "Audited as a diagnosis. The cause and finding codes are stable: see the \
        `Cause` and `FindingCode` schemas. A name in several managed domains the caller may \
        look up in answers 300 with the choices (audited as a lookup); \
        `/api/v1/computers/{domain}/{name}` names the domain.",
    params(("name" = String, Path, description = "NetBIOS name, sAMAccountName (with or \
        without `$`), `DOMAIN\\NAME` or DNS host name")),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 300, description = "The name is in several domains: choose one",
            body = Choices),
        (status = 400, description = "Not a valid computer name", body = ErrorBody<'_>),
        (status = 401, description = "No session or API key", body = ErrorBody<'_>),
        (status = 403, description = "Outside the caller's scope (or, for a role that hides \
            them, no such computer in it)", body = ErrorBody<'_>),
        (status = 503, description = "No domain controller answered", body = ErrorBody<'_>),
    )
)]
pub async fn api_show(
    state: State<AppState>,
    staff: CurrentStaff,
    origin: RequestOrigin,
    path: Path<ComputerPath>,
) -> Result<Response, AppError> {
    diagnosis_json(state, staff, origin, path).await
}

/// `GET /api/v1/computers/{domain}/{name}`: the diagnosis as JSON, in the named domain.
#[utoipa::path(
    get,
    path = "/api/v1/computers/{domain}/{name}",
    operation_id = "diagnose_computer_in_domain",
    tag = "computers",
    summary = "The diagnosis of one computer in one managed domain",
    description = "Audited as a diagnosis. The same report as `/api/v1/computers/{name}`, \
        looked for only in `domain`.",
    params(
        ("domain" = String, Path, description = "The domain's DNS name (as in a report's \
            `domain`) or NetBIOS name"),
        ("name" = String, Path, description = "NetBIOS name or sAMAccountName"),
    ),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "Not a valid computer name, or no managed domain of \
            that name", body = ErrorBody<'_>),
        (status = 401, description = "No session or API key", body = ErrorBody<'_>),
        (status = 403, description = "Outside the caller's scope (or, for a role that hides \
            them, no such computer in it)", body = ErrorBody<'_>),
        (status = 503, description = "No domain controller answered", body = ErrorBody<'_>),
    )
)]
pub async fn api_show_in(
    state: State<AppState>,
    staff: CurrentStaff,
    origin: RequestOrigin,
    path: Path<ComputerPath>,
) -> Result<Response, AppError> {
    diagnosis_json(state, staff, origin, path).await
}

/// A report as JSON, written straight into a buffer sized for it: a report is about 8.5 kB,
/// and axum's `Json` starts at 128 bytes and grows through `BytesMut`'s writer, a call per
/// fragment. Serialising was a fifth of a lookup's instructions (BENCHMARKS.md, session 19).
fn report_json(report: &Report) -> Result<Response, AppError> {
    let body = report_body(report)
        .map_err(|e| AppError::internal(format!("the report could not be written as JSON: {e}")))?;
    let json = axum::http::HeaderValue::from_static("application/json");
    Ok(([(axum::http::header::CONTENT_TYPE, json)], body).into_response())
}

/// The report's JSON, through `sonic_rs`: the same bytes as `serde_json` writes (tested
/// below), but it finds the characters to escape 16 bytes at a time, where `serde_json` looks
/// at each byte. A report is mostly prose (a fix's steps and pitfalls, twice): escaping it
/// was 78,000 instructions, and a lookup took 1,016,789 with `serde_json` against 954,371 with
/// `sonic_rs` (callgrind, BENCHMARKS.md, session 23).
fn report_body(report: &Report) -> Result<Vec<u8>, sonic_rs::Error> {
    let mut body = Vec::with_capacity(16 * 1024);
    sonic_rs::to_writer(&mut body, report)?;
    Ok(body)
}

async fn diagnosis_json(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Path(path): Path<ComputerPath>,
) -> Result<Response, AppError> {
    let q = parse(&path.typed())?;
    let asking = Asking::new(&state, &staff, &origin);
    Ok(match authorized_report(&asking, &q).await? {
        Answer::Report(r) => report_json(&r)?,
        Answer::Choose(choices) => (
            StatusCode::MULTIPLE_CHOICES,
            Json(Choices::of(q.display(), choices)),
        )
            .into_response(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// Every character JSON must escape, and the ones it must not, come out as `serde_json`
    /// writes them: the API's bytes do not depend on which serialiser wrote them. Each is tried
    /// at every offset of a 16-byte block (`sonic_rs` scans 16 bytes at a time).
    #[test]
    fn a_report_is_written_as_serde_json_writes_it() {
        let controls: String = (0u8..0x20).map(char::from).collect();
        let awkward = format!(
            "{controls} \"quoted\" back\\slash / </script> \u{7f} \u{80} \u{2028}\u{2029} é ü 名前 🖥️ \u{10ffff}"
        );
        for shift in 0..=32 {
            let text = format!("{}{awkward}", "x".repeat(shift));
            let mut report = crate::web::computers::tests::report();
            if let Some(a) = report.account.as_mut() {
                a.operating_system = Some(text.clone());
            }
            report.name = text.clone();
            report.dc_names.insert(uuid::Uuid::from_u128(7), text);
            let ours = super::report_body(&report).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&report).unwrap(),
                "shifted by {shift}"
            );
        }
    }
}
