//! A stored fleet report as one viewer may see it: only the OUs and computers their `diagnose`
//! scope covers (totals and plots included: the rows carry diagnoses, which the computer page
//! keeps behind `diagnose` too; security review L-5), or everything for the service itself.

use crate::db::{FleetFindingRow, FleetScanRow, Store, StoreError};
use crate::policy::{Action, Policy};

use super::tally::{OuStats, Tally};

/// Who is looking.
pub enum Viewer<'a> {
    /// Staff with these roles.
    Staff {
        policy: &'a Policy,
        roles: &'a [String],
    },
    /// The service (CLI, schedule): everything.
    Service,
}

impl Viewer<'_> {
    fn sees(&self, dn: &str) -> bool {
        match self {
            Viewer::Staff { policy, roles } => policy.in_scope(roles, Action::Diagnose, dn),
            Viewer::Service => true,
        }
    }
}

/// A report, cut to what the viewer may see.
pub struct ReportView {
    pub scan: FleetScanRow,
    pub counts: OuStats,
    /// OUs the viewer sees with at least one at-risk computer, most at risk first.
    pub at_risk_ous: Vec<(String, u64)>,
    pub rows: Vec<FleetFindingRow>,
}

/// Report `id`, or the newest complete one, for this viewer.
pub async fn load(
    store: &Store,
    viewer: &Viewer<'_>,
    id: Option<i64>,
) -> Result<Option<ReportView>, StoreError> {
    let scan = match id {
        Some(id) => store.fleet_scan(id).await?,
        None => store.fleet_latest(crate::db::FleetState::Complete).await?,
    };
    let Some(scan) = scan else {
        return Ok(None);
    };
    let tally: Tally = scan
        .tally
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let counts = tally.merged(|ou| viewer.sees(ou));
    let mut at_risk_ous: Vec<(String, u64)> = tally
        .per_ou
        .iter()
        .filter(|(ou, s)| s.at_risk > 0 && viewer.sees(ou))
        .map(|(ou, s)| (ou.clone(), s.at_risk))
        .collect();
    at_risk_ous.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rows = store
        .fleet_findings(scan.id)
        .await?
        .into_iter()
        .filter(|r| viewer.sees(&r.dn))
        .collect();
    Ok(Some(ReportView {
        scan,
        counts,
        at_risk_ous,
        rows,
    }))
}
