//! A fleet report as CSV or JSON: the page's export and the CLI's output.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::csv::field;
use crate::db::{FleetFindingRow, FleetScanRow, FleetState};

use super::tally::OuStats;

pub const CSV_HEADER: &str =
    "name,cause,confidence,causes,ou,dn,object_guid,pwd_last_set,last_logon,summary\n";

/// One at-risk computer as a CSV line.
pub fn csv_line(r: &FleetFindingRow) -> String {
    let t = |v: Option<time::OffsetDateTime>| {
        v.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
    };
    [
        field(&r.name),
        field(&r.cause),
        field(&r.confidence),
        field(&r.causes),
        field(&r.ou),
        field(&r.dn),
        field(&r.object_guid),
        field(&t(r.pwd_last_set)),
        field(&t(r.last_logon)),
        field(&r.summary),
    ]
    .join(",")
        + "\n"
}

/// The whole report as CSV.
pub fn csv(rows: &[FleetFindingRow]) -> String {
    let mut out = String::from(CSV_HEADER);
    for r in rows {
        out.push_str(&csv_line(r));
    }
    out
}

/// The report as one JSON document: when, from where, the counts, and the at-risk computers.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = FleetReport)]
pub struct JsonReport<'a> {
    /// The report's (the scan's) number.
    pub report: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<time::OffsetDateTime>,
    pub state: FleetState,
    /// The DC the scan read.
    pub dc: Option<&'a str>,
    /// How many computer accounts the scan read.
    pub scanned: i64,
    /// What the scan counted in the OUs the caller may look up.
    pub counts: &'a OuStats,
    /// The at-risk computers in those OUs.
    pub at_risk: &'a [FleetFindingRow],
}

pub fn json(scan: &FleetScanRow, counts: &OuStats, rows: &[FleetFindingRow]) -> String {
    let doc = JsonReport {
        report: scan.id,
        started_at: scan.started_at,
        finished_at: scan.finished_at,
        state: scan.state,
        dc: scan.dc.as_deref(),
        scanned: scan.scanned,
        counts,
        at_risk: rows,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
