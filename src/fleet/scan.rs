//! One fleet scan: a paged pass over every computer in the configured scopes on one DC, the
//! same pure [`diagnose`](crate::diagnostics::diagnose) as the computer page, and other DCs read only where the cause needs
//! them.
//!
//! Which objects need the other DCs:
//! - every object whose one-DC diagnosis is anything but a clean `healthy` (a later logon on
//!   another DC can clear `password_set_after_last_logon`; failures there raise confidence);
//! - every object changed on one DC after the point the other has replicated up to: from each
//!   DC's up-to-dateness vector (`replUpToDateVector`) and `uSNChanged`. Objects outside that
//!   set are identical on both DCs as far as replication goes, so replication lag cannot hide
//!   in them. Without a cursor (a DC never replicated), every object is read from that DC.
//!
//! A DC failing mid-scan starts the scan over on the next DC (rows so far are dropped); when
//! none is left the report fails. Either way a partial report is never marked complete.

use std::collections::HashSet;
use std::sync::Arc;

use ldap3::Ldap;
use time::OffsetDateTime;
use uuid::Uuid;

use super::tally::Tally;
use crate::db::{Store, StoreError};
use crate::diagnostics::DiagnosisSettings;
use crate::directory::computers::dc_label;
use crate::directory::scan::{changed_since, count_computers, repl_state};
use crate::directory::{Directory, DirectoryError};
use crate::policy::{Grant, Policy, RunFleetScan};

/// What a scan needs.
#[derive(Clone)]
pub struct ScanContext {
    /// The domains a report covers, scanned in turn.
    pub domains: Vec<DomainScan>,
    pub store: Store,
    pub policy: Arc<Policy>,
    pub settings: DiagnosisSettings,
    pub page_size: u32,
}

/// One domain of a scan: its directory and the subtrees to scan there, none inside another.
#[derive(Clone)]
pub struct DomainScan {
    pub directory: Arc<Directory>,
    pub scopes: Vec<String>,
}

/// What the progress display hears.
#[derive(Debug, Clone)]
pub enum Update {
    /// Scanning (again) from this DC; `estimate` computers expected.
    Start {
        dc: String,
        estimate: Option<u64>,
    },
    Scanned(u64),
    /// The DC failed; starting over on the next one.
    Restart {
        failed_dc: String,
        error: String,
    },
}

/// A completed scan.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub dc: String,
    pub scanned: u64,
    pub at_risk: u64,
    pub restarts: u32,
    pub notes: Vec<String>,
    pub tally: Tally,
    /// Each domain's part, in the order scanned.
    pub domains: Vec<DomainOutcome>,
}

/// What a scan did in one domain.
#[derive(Debug, Clone)]
pub struct DomainOutcome {
    pub domain: String,
    pub dc: String,
    pub scanned: u64,
    /// From the first connection to the last row stored, the restarts included.
    pub elapsed: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the report could not be stored: {0}")]
    Store(#[from] StoreError),
    #[error("no domain controller completed the scan: {0}")]
    AllDcsFailed(String),
    /// Another instance found this scan's heartbeat stopped and failed its report.
    #[error(
        "this instance lost the scan's lease (its heartbeat did not reach the database in time); the report was failed"
    )]
    LeaseLost,
}

enum AttemptError {
    Dc(DirectoryError),
    Store(StoreError),
}

/// Another DC, read only for the objects that need it.
pub(super) struct Other {
    pub(super) label: String,
    pub(super) url: String,
    pub(super) conn: Option<Ldap>,
    pub(super) error: Option<String>,
    /// No replication cursor: read every object from it.
    pub(super) all: bool,
}

/// Run one scan into report `scan_id` (already `running`): every domain in turn, each on one of
/// its DCs. A domain whose every DC fails fails the report. The caller closes the report.
#[tracing::instrument(name = "fleet.scan", skip_all, fields(report = scan_id))]
pub async fn run(
    _grant: &Grant<RunFleetScan>,
    ctx: &ScanContext,
    scan_id: i64,
    now: OffsetDateTime,
    progress: &(dyn Fn(Update) + Sync),
) -> Result<Outcome, ScanError> {
    let several = ctx.domains.len() > 1;
    let mut all: Option<Outcome> = None;
    for d in &ctx.domains {
        let before = all.as_ref().map_or(0, |o| o.scanned);
        let started = std::time::Instant::now();
        let mut one = run_domain(ctx, d, scan_id, now, before, progress).await?;
        let domain = d.directory.dns_name().to_string();
        one.domains = vec![DomainOutcome {
            domain: domain.clone(),
            dc: one.dc.clone(),
            scanned: one.scanned,
            elapsed: started.elapsed(),
        }];
        if several {
            one.dc = format!("{} ({domain})", one.dc);
            for note in &mut one.notes {
                *note = format!("{domain}: {note}");
            }
        }
        all = Some(match all {
            None => one,
            Some(mut sum) => {
                sum.dc = format!("{}, {}", sum.dc, one.dc);
                sum.scanned += one.scanned;
                sum.at_risk += one.at_risk;
                sum.restarts += one.restarts;
                sum.notes.extend(one.notes);
                sum.tally.absorb(one.tally);
                sum.domains.extend(one.domains);
                sum
            }
        });
    }
    all.ok_or_else(|| ScanError::AllDcsFailed("no domain to scan".into()))
}

/// One domain of the scan, on the first of its DCs that completes it; `before` computers were
/// scanned in the domains before it.
async fn run_domain(
    ctx: &ScanContext,
    d: &DomainScan,
    scan_id: i64,
    now: OffsetDateTime,
    before: u64,
    progress: &(dyn Fn(Update) + Sync),
) -> Result<Outcome, ScanError> {
    let mut failures = Vec::new();
    // The preferred DCs, located through DNS first where `dns_srv` says so.
    let urls = d.directory.dc_urls().await;
    let n = urls.len();
    if n == 0 {
        let domain = d.directory.dns_name();
        return Err(ScanError::AllDcsFailed(format!(
            "{domain}: no domain controller could be located"
        )));
    }
    for (primary, url) in urls.iter().enumerate() {
        match attempt(ctx, d, scan_id, url, now, before, progress).await {
            Ok(mut outcome) => {
                outcome.restarts = u32::try_from(failures.len()).unwrap_or(u32::MAX);
                outcome.notes.extend(failures);
                return Ok(outcome);
            }
            Err(AttemptError::Store(e)) => return Err(e.into()),
            Err(AttemptError::Dc(e)) => {
                let dc = dc_label(url);
                tracing::warn!(dc = %dc, error = %e, "fleet scan failed on this DC");
                let domain = d.directory.dns_name();
                ctx.store.fleet_clear_domain(scan_id, domain).await?;
                if primary + 1 < n {
                    progress(Update::Restart {
                        failed_dc: dc.clone(),
                        error: e.to_string(),
                    });
                }
                failures.push(format!("{dc} failed, the scan started over: {e}"));
            }
        }
    }
    Err(ScanError::AllDcsFailed(failures.join("; ")))
}

async fn attempt(
    ctx: &ScanContext,
    d: &DomainScan,
    scan_id: i64,
    url: &str,
    now: OffsetDateTime,
    before: u64,
    progress: &(dyn Fn(Update) + Sync),
) -> Result<Outcome, AttemptError> {
    let dir = &d.directory;
    let mut pconn = dir.connect_url(url).await.map_err(AttemptError::Dc)?;
    let mut notes = Vec::new();
    let mut others = Vec::new();
    // Every DC of the domain, discovered ones included (the per-DC reads' set).
    for u in dir.per_dc_urls().await.into_iter().filter(|u| u != url) {
        let (conn, error) = match dir.connect_url(&u).await {
            Ok(l) => (Some(l), None),
            Err(e) => (None, Some(e.to_string())),
        };
        others.push(Other {
            label: dc_label(&u),
            url: u,
            conn,
            error,
            all: false,
        });
    }
    let changed = changed_between(d, url, &mut pconn, &mut others)
        .await
        .map_err(AttemptError::Dc)?;
    for o in &others {
        if let Some(e) = &o.error {
            notes.push(format!("{} unreachable: {e}", o.label));
        } else if o.all {
            notes.push(format!(
                "{}: no replication cursor; every object read",
                o.label
            ));
        }
    }
    let estimate = match ctx
        .store
        .fleet_latest(crate::db::FleetState::Complete)
        .await
    {
        Ok(Some(r)) => u64::try_from(r.scanned).ok(),
        _ => {
            let mut total = before;
            for base in &d.scopes {
                total += count_computers(&mut pconn, url, base)
                    .await
                    .map_err(AttemptError::Dc)?;
            }
            Some(total)
        }
    };
    let label = dc_label(url);
    progress(Update::Start {
        dc: label.clone(),
        estimate,
    });

    let mut out = Outcome {
        dc: label.clone(),
        scanned: 0,
        at_risk: 0,
        restarts: 0,
        notes,
        tally: Tally::default(),
        domains: Vec::new(),
    };
    let page = usize::try_from(ctx.page_size).unwrap_or(1000);
    for base in &d.scopes {
        // Read the next page while this one is diagnosed and stored.
        let mut scan = dir
            .scan_computers(url, base, i32::try_from(page).unwrap_or(1000))
            .await
            .map_err(AttemptError::Dc)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let reader = tokio::spawn(async move {
            loop {
                let chunk = scan.next_chunk(page).await;
                let end = matches!(&chunk, Ok(c) if c.is_empty()) || chunk.is_err();
                if tx.send(chunk).await.is_err() || end {
                    break;
                }
            }
        });
        let mut result = Ok(());
        while let Some(chunk) = rx.recv().await {
            let chunk = match chunk {
                Ok(c) if c.is_empty() => break,
                Ok(c) => c,
                Err(e) => {
                    result = Err(AttemptError::Dc(e));
                    break;
                }
            };
            let n = chunk.len() as u64;
            let rows = super::page::process(
                ctx,
                (d, &label),
                &mut others,
                &changed,
                chunk,
                now,
                &mut out,
            )
            .await;
            out.at_risk += rows.len() as u64;
            if let Err(e) = ctx.store.fleet_add_findings(scan_id, &rows).await {
                result = Err(AttemptError::Store(e));
                break;
            }
            out.scanned += n;
            progress(Update::Scanned(before + out.scanned));
        }
        reader.abort();
        result?;
    }
    for o in &others {
        if let (Some(e), false) = (&o.error, out.notes.iter().any(|n| n.starts_with(&o.label))) {
            out.notes
                .push(format!("{} failed during the scan: {e}", o.label));
        }
    }
    Ok(out)
}

/// The objects that may differ between the primary and another DC (see the module docs).
async fn changed_between(
    d: &DomainScan,
    url: &str,
    pconn: &mut Ldap,
    others: &mut [Other],
) -> Result<HashSet<Uuid>, DirectoryError> {
    let nc = d.directory.base_dn().to_string();
    let pstate = repl_state(pconn, url, &nc).await?;
    let mut changed = HashSet::new();
    for o in others.iter_mut() {
        let Some(conn) = o.conn.as_mut() else {
            continue;
        };
        let ostate = match repl_state(conn, &o.url, &nc).await {
            Ok(s) => s,
            Err(e) => {
                o.conn = None;
                o.error = Some(e.to_string());
                continue;
            }
        };
        let theirs_of_ours = pstate.invocation_id.and_then(|p| ostate.cursors.get(&p));
        let ours_of_theirs = ostate.invocation_id.and_then(|i| pstate.cursors.get(&i));
        let (Some(&theirs_of_ours), Some(&ours_of_theirs)) = (theirs_of_ours, ours_of_theirs)
        else {
            o.all = true;
            continue;
        };
        for base in &d.scopes {
            changed.extend(changed_since(pconn, url, base, theirs_of_ours).await?);
            match changed_since(conn, &o.url, base, ours_of_theirs).await {
                Ok(g) => changed.extend(g),
                Err(e) => {
                    o.error = Some(e.to_string());
                    break;
                }
            }
        }
        if o.error.is_some() {
            o.conn = None;
        }
    }
    Ok(changed)
}
