//! Several portal instances on one database: the running scan is held by a lease.
//!
//! The instance that opens a report holds it (`FleetJobs::holder`, drawn at start) and moves
//! its heartbeat, with the progress, every [`HEARTBEAT`]; every instance shows that progress.
//! A report whose heartbeat is older than [`LEASE`] is failed by the next instance that
//! looks (a start, a progress read), so a scan whose instance died is never complete, and
//! the database's one-running index lets one scan run at a time. The instance that lost its
//! lease (paused, or cut off from the database, past [`LEASE`]) stops at its next heartbeat
//! and cannot close the report: closing needs it still running. The schedule starts a scan
//! only when no instance's schedule started one within the period ([`schedule_due`]).
//!
//! Heartbeats carry the holder's clock and are judged by the reader's: the instances' clocks
//! must agree to well within [`LEASE`] (NTP does; a domain's own time service does too).

use std::time::Duration;

use time::OffsetDateTime;

use super::{FleetJobs, Outcome, Progress, ScanError, State};
use crate::db::{FleetBeat, FleetScanRow, Store};

/// How often the holder of a running scan reports that it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A heartbeat older than this: the holder is gone. Six heartbeats, so that a busy database
/// or a slow beat does not cost a running scan its lease.
pub const LEASE: Duration = Duration::from_secs(30);

/// Fail the reports whose holder stopped beating, as of `now`.
pub(super) async fn fail_stale(store: &Store, now: OffsetDateTime) {
    match store.fleet_fail_stale(now - LEASE, now).await {
        Ok(ids) if !ids.is_empty() => {
            tracing::warn!(reports = ?ids, "fleet reports failed: their instance stopped its heartbeat");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not look for fleet scans without a heartbeat"),
    }
}

/// Run `scan` for report `id`, beating every [`HEARTBEAT`] with the progress `jobs` holds;
/// a lost lease ends it with [`ScanError::LeaseLost`]. A beat the database does not take is
/// logged and the scan goes on: the lease outlasts several.
///
/// The beats run in a task of their own. Awaited beside the scan in one `select!` arm, a beat
/// stopped the scan from being polled while it waited for the database's write lock, which
/// the scan held mid-write: both waited for good (the scan's report stayed `running`).
pub(super) async fn holding(
    jobs: &FleetJobs,
    store: &Store,
    id: i64,
    scan: impl Future<Output = Result<Outcome, ScanError>>,
) -> Result<Outcome, ScanError> {
    let mut beats = tokio::spawn(beating(jobs.clone(), store.clone(), id));
    let result = tokio::select! {
        result = scan => result,
        // The task ends only when the database refused a beat: the lease is lost.
        _ = &mut beats => Err(ScanError::LeaseLost),
    };
    beats.abort();
    result
}

/// Beat every [`HEARTBEAT`] until the database refuses a beat (the lease is lost).
async fn beating(jobs: FleetJobs, store: Store, id: i64) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; the report was opened with a beat
    loop {
        tick.tick().await;
        let Some(p) = jobs.progress().filter(|p| p.scan_id == id) else {
            continue;
        };
        match store
            .fleet_beat(id, jobs.holder(), beat(&p, crate::clock::now()))
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(report = id, error = %e, "fleet scan heartbeat not stored"),
        }
    }
}

/// What a heartbeat stores of `p`.
fn beat(p: &Progress, at: OffsetDateTime) -> FleetBeat<'_> {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    FleetBeat {
        at,
        dc: p.dc.as_deref(),
        scanned: count(p.scanned),
        estimate: p.estimate.map(count),
        restarts: i64::from(p.restarts),
    }
}

/// The progress of a report as stored (another instance's scan, or an ended one): the rate
/// over the time from its start to its last heartbeat.
pub(super) fn progress_of(row: &FleetScanRow) -> Progress {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut p = Progress::new(row.id, row.started_at, &row.started_by);
    p.state = row.state;
    p.dc.clone_from(&row.dc);
    p.scanned = count(row.scanned);
    p.estimate = row.estimate.map(count);
    p.restarts = u32::try_from(row.restarts).unwrap_or(u32::MAX);
    p.error.clone_from(&row.error);
    let secs = row
        .heartbeat_at
        .map_or(0.0, |t| (t - row.started_at).as_seconds_f64());
    if row.state == State::Running && secs > 0.0 {
        p.rate = p.scanned as f64 / secs;
        p.eta_secs = p
            .estimate
            .filter(|_| p.rate > 0.0)
            .map(|total| (total.saturating_sub(p.scanned) as f64 / p.rate).ceil() as u64);
    }
    p
}

impl FleetJobs {
    /// The running scan, whichever instance runs it, or else the newest report: this
    /// instance's live progress while it runs one, otherwise what the database holds (a
    /// running report whose instance stopped its heartbeat is failed first, so it is never
    /// shown as running on). When the database cannot be read, this instance's own.
    pub async fn current(&self, store: &Store) -> Option<Progress> {
        let mine = self.progress();
        if mine.as_ref().is_some_and(|p| p.state == State::Running) {
            return mine;
        }
        let now = crate::clock::now();
        let mut newest = store.fleet_newest().await;
        // A write only when there is something to fail: pages poll this every second.
        if let Ok(Some(row)) = &newest
            && row.state == State::Running
            && row.heartbeat_at.is_none_or(|t| t < now - LEASE)
        {
            fail_stale(store, now).await;
            newest = store.fleet_newest().await;
        }
        match newest {
            Ok(Some(row)) => Some(progress_of(&row)),
            Ok(None) => mine,
            Err(e) => {
                tracing::warn!(error = %e, "fleet progress unread from the database; this instance's own shown");
                mine
            }
        }
    }
}

/// Whether the schedule's next scan is due: none of the instances on this database started
/// one within the last nine tenths of a `period` (their timers need not be in step; one
/// start each period is the aim, and two due at once meet the one-running index). When the
/// database cannot say, it is due: the start meets the same index.
pub(super) async fn schedule_due(store: &Store, period: Duration, schedule: &str) -> bool {
    match store.fleet_latest_by(schedule).await {
        Ok(Some(last)) => {
            let since = crate::clock::now() - last.started_at;
            since >= period.mul_f64(0.9)
        }
        Ok(None) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not read when the schedule last scanned");
            true
        }
    }
}
