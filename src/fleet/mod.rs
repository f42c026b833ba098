//! Fleet health: scan every computer account, list the ones already broken or about to be,
//! and keep each scan as a report.
//!
//! - `scan.rs`: one scan (paged, streaming, other DCs only where needed, DC failover);
//! - `tally.rs`: what a report counts (pure);
//! - `plots.rs`: the report's SVG charts (pure);
//! - `lease.rs`: several instances on one database: the running scan held by one, its
//!   heartbeat and shared progress, the schedule's one start per period;
//! - this file: the one running job per process, its live progress, and the schedule.

pub mod export;
pub mod lease;
mod page;
pub mod plots;
pub mod report;
pub mod scan;
pub mod tally;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use time::OffsetDateTime;

use crate::ad::dn::{dn_within, normalize_dn};
use crate::audit::{self, Actor, Origin};
use crate::db::FleetEnd;
pub use crate::db::FleetState as State;
use crate::policy::{Grant, RunFleetScan};
pub use scan::{Outcome, ScanContext, ScanError, Update};

/// The live state of the scan this process runs (or ran last).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = FleetProgress)]
pub struct Progress {
    pub scan_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub started_by: String,
    pub state: State,
    pub dc: Option<String>,
    pub scanned: u64,
    pub estimate: Option<u64>,
    /// Computers per second since this DC's pass began.
    pub rate: f64,
    /// Seconds left at the current rate, when an estimate exists.
    pub eta_secs: Option<u64>,
    pub restarts: u32,
    pub error: Option<String>,
    #[serde(skip)]
    pass_started: Option<Instant>,
}

impl Progress {
    fn new(scan_id: i64, started_at: OffsetDateTime, started_by: &str) -> Self {
        Progress {
            scan_id,
            started_at,
            started_by: started_by.to_string(),
            state: State::Running,
            dc: None,
            scanned: 0,
            estimate: None,
            rate: 0.0,
            eta_secs: None,
            restarts: 0,
            error: None,
            pass_started: None,
        }
    }

    /// What someone who may not run scans sees (security review L-5): how far, as a share of
    /// 100, and the state; not the domain-wide counts, the DC, who started it or the error.
    pub fn redacted(&self) -> Progress {
        let percent = match self.estimate {
            Some(e) if e > 0 => (self.scanned.saturating_mul(100) / e).min(100),
            _ if self.state == State::Complete => 100,
            _ => 0,
        };
        Progress {
            scan_id: self.scan_id,
            started_at: self.started_at,
            started_by: String::new(),
            state: self.state,
            dc: None,
            scanned: percent,
            estimate: Some(100),
            rate: 0.0,
            eta_secs: self.eta_secs,
            restarts: 0,
            error: self.error.as_ref().map(|_| "the scan failed".to_string()),
            pass_started: None,
        }
    }

    /// The progress bar's maximum: the estimate, or what has been scanned when that is more.
    pub fn bar_max(&self) -> u64 {
        self.estimate.unwrap_or(0).max(self.scanned).max(1)
    }

    fn apply(&mut self, u: Update) {
        match u {
            Update::Start { dc, estimate } => {
                self.dc = Some(dc);
                self.estimate = estimate;
                self.scanned = 0;
                self.pass_started = Some(Instant::now());
            }
            Update::Scanned(n) => self.scanned = n,
            Update::Restart { failed_dc, error } => {
                self.restarts += 1;
                self.error = Some(format!("{failed_dc} failed ({error}); starting over"));
            }
        }
        let secs = self.pass_started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        self.rate = if secs > 0.0 {
            self.scanned as f64 / secs
        } else {
            0.0
        };
        self.eta_secs = match (self.estimate, self.rate > 0.0) {
            (Some(total), true) => {
                Some((total.saturating_sub(self.scanned) as f64 / self.rate).ceil() as u64)
            }
            _ => None,
        };
    }
}

/// Who starts a scan, for the report and the audit log.
pub struct Starter<'a> {
    /// As the report shows it.
    pub name: String,
    /// The person and where they asked from; `None` for the service (its schedule).
    pub person: Option<(&'a Actor, &'a Origin)>,
    pub reason: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a fleet scan is already running (report {0})")]
    AlreadyRunning(i64),
    #[error(transparent)]
    Store(#[from] crate::db::StoreError),
}

/// The one fleet job of this process.
#[derive(Clone)]
pub struct FleetJobs {
    current: Arc<Mutex<Option<Progress>>>,
    /// This instance, as the holder of the reports it runs (`lease.rs`).
    holder: Arc<str>,
}

impl Default for FleetJobs {
    fn default() -> Self {
        Self {
            current: Arc::default(),
            holder: uuid::Uuid::new_v4().to_string().into(),
        }
    }
}

impl FleetJobs {
    /// This instance's id as the holder of a running report.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The running or last scan's progress.
    pub fn progress(&self) -> Option<Progress> {
        self.current.lock().ok().and_then(|p| p.clone())
    }

    fn update(&self, u: Update) {
        if let Ok(mut p) = self.current.lock()
            && let Some(p) = p.as_mut()
        {
            p.apply(u);
        }
    }

    /// Open a report and claim the job slot; `None` in the slot means free.
    async fn claim(
        &self,
        ctx: &ScanContext,
        started_by: &str,
        now: OffsetDateTime,
    ) -> Result<i64, StartError> {
        {
            let slot = self.current.lock().ok();
            if let Some(p) = slot.as_ref().and_then(|s| s.as_ref())
                && p.state == State::Running
            {
                return Err(StartError::AlreadyRunning(p.scan_id));
            }
        }
        lease::fail_stale(&ctx.store, now).await;
        let id = match ctx.store.fleet_begin(now, started_by, &self.holder).await {
            Err(crate::db::StoreError::Conflict(_)) => {
                let running = ctx.store.fleet_latest(State::Running).await?;
                return Err(StartError::AlreadyRunning(running.map_or(0, |r| r.id)));
            }
            other => other?,
        };
        let lost_race = match self.current.lock() {
            Ok(mut slot) => {
                if slot.as_ref().is_some_and(|p| p.state == State::Running) {
                    true
                } else {
                    *slot = Some(Progress::new(id, now, started_by));
                    false
                }
            }
            Err(_) => false,
        };
        if lost_race {
            let end = end(State::Failed, now, None, Some("another scan started first"));
            ctx.store.fleet_finish(id, &end).await?;
            return Err(StartError::AlreadyRunning(id));
        }
        Ok(id)
    }

    /// Run a scan to its end here (the CLI); the report is closed either way.
    pub async fn run(
        &self,
        grant: &Grant<RunFleetScan>,
        ctx: &ScanContext,
        started_by: &str,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(i64, Result<Outcome, ScanError>), StartError> {
        let now = crate::clock::now();
        let id = self.claim(ctx, started_by, now).await?;
        let on_update = |u: Update| {
            self.update(u);
            if let Some(p) = self.progress() {
                progress(&p);
            }
        };
        let scan = scan::run(grant, ctx, id, now, &on_update);
        let result = lease::holding(self, &ctx.store, id, scan).await;
        self.close(ctx, id, &result).await?;
        Ok((id, result))
    }

    /// Start a scan in the background; returns the report id at once.
    pub async fn start(
        &self,
        grant: Grant<RunFleetScan>,
        ctx: ScanContext,
        started_by: String,
    ) -> Result<i64, StartError> {
        // Claim here so the caller hears "already running" synchronously.
        let now = crate::clock::now();
        let id = self.claim(&ctx, &started_by, now).await?;
        let jobs = self.clone();
        tokio::spawn(async move {
            let on_update = |u: Update| jobs.update(u);
            let scan = scan::run(&grant, &ctx, id, now, &on_update);
            let result = lease::holding(&jobs, &ctx.store, id, scan).await;
            // close() logs a failure to store; nothing else to do with it here.
            let closed = jobs.close(&ctx, id, &result).await.is_ok();
            audit_end(&ctx, id, &result, closed).await;
        });
        Ok(id)
    }

    /// [`Self::start`], then audit the start (`fleet_scan` / `started`, naming the report) as
    /// `by`. A start that cannot be audited is an error (the scan itself runs on).
    pub async fn start_audited(
        &self,
        grant: Grant<RunFleetScan>,
        ctx: ScanContext,
        by: Starter<'_>,
    ) -> Result<i64, StartError> {
        let store = ctx.store.clone();
        let id = self.start(grant, ctx, by.name).await?;
        let mut event = audit::event(
            audit::Action::FleetScan,
            audit::Outcome::Started,
            crate::clock::now(),
        )
        .target_name(&format!("fleet report {id}"));
        if let Some((actor, origin)) = by.person {
            event = event.actor(actor).origin(origin);
        }
        if let Some(reason) = by.reason {
            event = event.reason(reason);
        }
        audit::record(&store, &event).await?;
        Ok(id)
    }

    /// Close the report and the job slot; a report that cannot be closed reads as failed.
    async fn close(
        &self,
        ctx: &ScanContext,
        id: i64,
        result: &Result<Outcome, ScanError>,
    ) -> Result<(), crate::db::StoreError> {
        let finished = crate::clock::now();
        let (state, stored) = match result {
            Ok(o) => {
                let tally = serde_json::to_string(&o.tally).ok();
                let notes = (!o.notes.is_empty()).then(|| o.notes.join("\n"));
                let end = FleetEnd {
                    state: State::Complete,
                    finished_at: finished,
                    dc: Some(&o.dc),
                    scanned: i64::try_from(o.scanned).unwrap_or(i64::MAX),
                    restarts: i64::from(o.restarts),
                    error: None,
                    notes: notes.as_deref(),
                    tally: tally.as_deref(),
                };
                (State::Complete, ctx.store.fleet_finish(id, &end).await)
            }
            Err(e) => {
                // A failed report keeps no rows: nothing partial can be read from it.
                if let Err(e) = ctx.store.fleet_clear_findings(id).await {
                    tracing::warn!(report = id, error = %e, "could not drop a failed report's rows");
                }
                let msg = e.to_string();
                let end = end(State::Failed, finished, None, Some(&msg));
                (State::Failed, ctx.store.fleet_finish(id, &end).await)
            }
        };
        if let Err(e) = &stored {
            tracing::error!(report = id, error = %e, "fleet report could not be closed");
        }
        match result {
            Ok(o) => {
                tracing::info!(report = id, scanned = o.scanned, at_risk = o.at_risk, dc = %o.dc, "fleet scan complete")
            }
            Err(e) => tracing::warn!(report = id, error = %e, "fleet scan failed"),
        }
        if let Ok(mut slot) = self.current.lock()
            && let Some(p) = slot.as_mut()
        {
            p.state = if stored.is_ok() { state } else { State::Failed };
            if let Err(e) = result {
                p.error = Some(e.to_string());
            }
        }
        stored
    }
}

/// Audit how a background scan ended (`fleet_scan`, `success` for a stored report, else
/// `failure`), as the service: the report's webhook (`fleet.report`) is planned from this row.
/// The CLI audits its own scan's end (`main.rs`).
async fn audit_end(ctx: &ScanContext, id: i64, result: &Result<Outcome, ScanError>, closed: bool) {
    let reason = match result {
        Ok(o) if closed => format!(
            "{} computers scanned on {}, {} at risk",
            o.scanned, o.dc, o.at_risk
        ),
        Ok(_) => "the report could not be stored".to_string(),
        Err(e) => e.to_string(),
    };
    let event = audit::event(
        audit::Action::FleetScan,
        audit::Outcome::of(result.is_ok() && closed),
        crate::clock::now(),
    )
    .target_name(&format!("fleet report {id}"))
    .reason(reason);
    if let Err(e) = audit::record(&ctx.store, &event).await {
        tracing::error!(report = id, error = %e, "the end of a fleet scan was not audited");
    }
}

fn end<'a>(
    state: State,
    at: OffsetDateTime,
    dc: Option<&'a str>,
    error: Option<&'a str>,
) -> FleetEnd<'a> {
    FleetEnd {
        state,
        finished_at: at,
        dc,
        scanned: 0,
        restarts: 0,
        error,
        notes: None,
        tally: None,
    }
}

/// Each domain with its scopes: the configured ones inside it (default, when none is
/// configured: every domain whole), any scope inside another dropped. A domain left without
/// a scope is not scanned.
fn domain_scans(
    cfg: &crate::config::Config,
    domains: &crate::directory::Domains,
) -> Vec<scan::DomainScan> {
    domains
        .iter()
        .filter_map(|d| {
            let mut scopes: Vec<String> = if cfg.fleet.scopes.is_empty() {
                vec![d.base_dn().to_string()]
            } else {
                cfg.fleet
                    .scopes
                    .iter()
                    .filter(|s| {
                        domains
                            .of_dn(s)
                            .is_some_and(|o| std::sync::Arc::ptr_eq(o, d))
                    })
                    .cloned()
                    .collect()
            };
            scopes.sort_by_key(|s| normalize_dn(s).len());
            let mut kept: Vec<String> = Vec::new();
            for s in scopes {
                if !kept.iter().any(|k| dn_within(&s, k)) {
                    kept.push(s);
                }
            }
            (!kept.is_empty()).then(|| scan::DomainScan {
                directory: d.clone(),
                scopes: kept,
            })
        })
        .collect()
}

impl ScanContext {
    /// A fleet scan's context: every managed domain with its scopes, the lookups' store,
    /// policy and diagnosis settings, and the page size.
    pub fn new(cfg: &crate::config::Config, lookups: &crate::lookup::Lookups) -> Self {
        ScanContext {
            domains: domain_scans(cfg, &lookups.domains),
            store: lookups.store.clone(),
            policy: lookups.policy.clone(),
            settings: lookups.settings,
            page_size: cfg.fleet.page_size,
        }
    }
}

/// Scans every `fleet.schedule_hours` (none when 0), as the service.
pub fn spawn_schedule(jobs: &FleetJobs, ctx: &ScanContext, hours: u32) {
    if hours > 0 {
        spawn_every(
            jobs.clone(),
            ctx.clone(),
            std::time::Duration::from_secs(u64::from(hours) * 3600),
        );
    }
}

/// Start a scan as the service every `period`, the first one period from now, each audited.
/// A scan still running at the next tick is left alone (that tick starts none). Periods under
/// a second are taken as one second (a zero period would make `interval` panic).
pub fn spawn_every(
    jobs: FleetJobs,
    ctx: ScanContext,
    period: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let period = period.max(std::time::Duration::from_secs(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate: wait one period first
        loop {
            tick.tick().await;
            if !lease::schedule_due(&ctx.store, period, SCHEDULE).await {
                continue;
            }
            let by = Starter {
                name: SCHEDULE.into(),
                person: None,
                reason: Some("fleet.schedule_hours"),
            };
            match jobs
                .start_audited(Grant::for_service(), ctx.clone(), by)
                .await
            {
                Ok(id) => tracing::info!(report = id, "scheduled fleet scan started"),
                Err(e) => {
                    tracing::warn!(error = %e, "scheduled fleet scan not started (or its start not audited)")
                }
            }
        }
    })
}

/// Who the schedule's reports name as their starter.
const SCHEDULE: &str = "schedule";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn a_viewer_who_may_not_scan_sees_only_how_far_and_the_state() {
        let mut p = super::Progress::new(7, time::OffsetDateTime::UNIX_EPOCH, "erin");
        p.dc = Some("dc1.corp".into());
        p.scanned = 5_000;
        p.estimate = Some(20_000);
        p.error = Some("dc1.corp: timed out".into());
        let r = p.redacted();
        assert_eq!((r.scanned, r.estimate), (25, Some(100)));
        assert_eq!(r.started_by, "");
        assert_eq!(r.dc, None);
        assert_eq!(r.error.as_deref(), Some("the scan failed"));
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("erin") && !text.contains("dc1") && !text.contains("20000"));
    }

    #[test]
    fn progress_computes_rate_and_time_left() {
        let mut p = super::Progress::new(1, time::OffsetDateTime::UNIX_EPOCH, "t");
        p.apply(super::Update::Start {
            dc: "dc1".into(),
            estimate: Some(100),
        });
        p.pass_started = Some(std::time::Instant::now() - std::time::Duration::from_secs(2));
        p.apply(super::Update::Scanned(50));
        assert!(p.rate > 20.0 && p.rate <= 25.0, "{}", p.rate);
        assert!(matches!(p.eta_secs, Some(2..=3)), "{:?}", p.eta_secs);
        p.apply(super::Update::Restart {
            failed_dc: "dc1".into(),
            error: "gone".into(),
        });
        assert_eq!(p.restarts, 1);
        assert!(p.error.unwrap().contains("dc1"));
    }
}
