//! One page of a fleet scan: each computer diagnosed on the scanning DC's view, the other DCs
//! read (all at once) only for the objects that need them (see `scan.rs`), counted, and the
//! at-risk ones made report rows.

use std::collections::HashSet;

use time::OffsetDateTime;
use uuid::Uuid;

use super::scan::{DomainScan, Other, Outcome, ScanContext};
use super::tally::{Headline, headline, parent_of};
use crate::ad::{DcOutcome, DcView, Snapshot};
use crate::db::FleetFindingRow;
use crate::diagnostics::{Cause, Confidence, Diagnosis, Severity, diagnose};
use crate::directory::DirectoryError;
use crate::directory::scan::{Scanned, Undecodable, views_by_guid};
use crate::policy::Target;

/// Whether a one-DC diagnosis is final: a clean `healthy` with nothing to warn about.
fn settled(d: &Diagnosis) -> bool {
    d.likely_causes
        .iter()
        .all(|c| c.cause == Cause::Healthy && c.confidence == Confidence::High)
        && d.findings.iter().all(|f| f.severity < Severity::Warning)
}

/// Diagnose one page of domain `d`, read on the DC `primary`; count everything; return the
/// at-risk rows.
pub(super) async fn process(
    ctx: &ScanContext,
    (d, primary): (&DomainScan, &str),
    others: &mut [Other],
    changed: &HashSet<Uuid>,
    chunk: Vec<Result<Scanned, Undecodable>>,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Vec<FleetFindingRow> {
    let mut items: Vec<(Snapshot, Diagnosis)> = Vec::with_capacity(chunk.len());
    for entry in chunk {
        match entry {
            Ok(s) => {
                let snapshot = snapshot_of(ctx, primary, s);
                let d = diagnose(&snapshot, &ctx.settings, now);
                items.push((snapshot, d));
            }
            Err(u) => {
                tracing::warn!(dn = %u.dn, error = %u.error, "fleet scan: entry not decodable");
                out.tally.undecodable += 1;
            }
        }
    }
    let guid = |s: &Snapshot| s.account.as_ref().map(|a| a.object_guid);
    let needs: HashSet<Uuid> = items
        .iter()
        .filter(|(s, d)| !settled(d) || guid(s).is_some_and(|g| changed.contains(&g)))
        .filter_map(|(s, _)| guid(s))
        .collect();
    let all: Vec<Uuid> = items.iter().filter_map(|(s, _)| guid(s)).collect();
    let base = d.directory.base_dn().to_string();
    // Read what the other DCs hold of the objects that need them, from every DC at once.
    let reads = others.iter_mut().map(|o| {
        let wanted: Vec<Uuid> = if o.all {
            all.clone()
        } else {
            all.iter().filter(|g| needs.contains(g)).copied().collect()
        };
        let base = base.clone();
        async move {
            let views = match (&mut o.conn, wanted.is_empty()) {
                (_, true) => Ok(Default::default()),
                (Some(conn), false) => views_by_guid(conn, &o.url, &base, &wanted).await,
                (None, false) => Err(DirectoryError::Protocol(
                    o.error.clone().unwrap_or_else(|| "not connected".into()),
                )),
            };
            if let Err(e) = &views {
                o.conn = None;
                o.error.get_or_insert_with(|| e.to_string());
            }
            (
                o.label.clone(),
                wanted.into_iter().collect::<HashSet<_>>(),
                views,
            )
        }
    });
    let reads = futures_util::future::join_all(reads).await;
    let mut rows = Vec::new();
    for (mut snapshot, mut d) in items {
        let Some(g) = guid(&snapshot) else { continue };
        let mut extra = false;
        for (label, wanted, views) in &reads {
            if !wanted.contains(&g) {
                continue;
            }
            extra = true;
            let outcome = match views {
                Ok(map) => match map.get(&g) {
                    Some(Ok(v)) => DcOutcome::Found(v.clone()),
                    Some(Err(e)) => DcOutcome::Unreachable { error: e.clone() },
                    None => DcOutcome::NotFound,
                },
                Err(e) => DcOutcome::Unreachable {
                    error: e.to_string(),
                },
            };
            snapshot.per_dc.push(DcView {
                dc: label.clone(),
                outcome,
            });
        }
        if extra {
            d = diagnose(&snapshot, &ctx.settings, now);
        }
        let h = headline(&d);
        let latest = latest_logon(&snapshot);
        let Some(account) = snapshot.account.as_ref() else {
            continue;
        };
        out.tally.add(account, latest, &h, now);
        if h.at_risk {
            rows.push(row(account, latest, &h));
        }
    }
    rows
}

fn snapshot_of(ctx: &ScanContext, primary: &str, s: Scanned) -> Snapshot {
    let protected_ou = ctx
        .policy
        .protection(&Target {
            dn: &s.account.dn,
            account: None,
        })
        .is_some();
    Snapshot {
        name_queried: s.account.netbios_name().to_string(),
        per_dc: vec![DcView {
            dc: primary.to_string(),
            outcome: DcOutcome::Found(s.view),
        }],
        account: Some(s.account),
        tombstones: Vec::new(),
        coverage: Default::default(),
        tombstone_check: Default::default(),
        portal_writes: Vec::new(),
        history: Vec::new(),
        redeems: Vec::new(),
        protected_ou,
    }
}

/// The latest logon any DC read showed, or `lastLogonTimestamp`.
fn latest_logon(s: &Snapshot) -> Option<OffsetDateTime> {
    let per_dc = s.per_dc.iter().filter_map(|v| match &v.outcome {
        DcOutcome::Found(a) => a.last_logon,
        _ => None,
    });
    per_dc
        .chain(s.account.as_ref().and_then(|a| a.last_logon_timestamp))
        .max()
}

fn row(
    a: &crate::ad::ComputerAccount,
    last_logon: Option<OffsetDateTime>,
    h: &Headline,
) -> FleetFindingRow {
    FleetFindingRow {
        name: a.netbios_name().to_string(),
        dn: a.dn.clone(),
        domain: crate::ad::dn::dn_domain(&a.dn).map(|d| d.to_ascii_lowercase()),
        ou: parent_of(&a.dn),
        object_guid: a.object_guid.to_string(),
        cause: h.cause.as_str().to_string(),
        confidence: format!("{:?}", h.confidence).to_lowercase(),
        causes: h
            .causes
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(","),
        pwd_last_set: a.pwd_last_set,
        last_logon,
        summary: h.summary.clone(),
    }
}
