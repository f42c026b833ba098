//! Fleet reports: one `fleet_scans` row per scan (running → complete | failed) and one
//! `fleet_findings` row per at-risk computer.

use sqlx::Row;
use time::OffsetDateTime;

use super::vocab::FleetState;
use super::{Store, StoreError, on_pool, on_write};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetScanRow {
    pub id: i64,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub started_by: String,
    pub state: FleetState,
    pub dc: Option<String>,
    pub scanned: i64,
    pub restarts: i64,
    pub error: Option<String>,
    pub notes: Option<String>,
    /// JSON of `fleet::tally::Tally` (complete reports only).
    pub tally: Option<String>,
    /// While running: the instance that runs it, its last heartbeat, and the estimate of
    /// the computers to scan (the progress every instance shows).
    pub holder: Option<String>,
    pub heartbeat_at: Option<OffsetDateTime>,
    pub estimate: Option<i64>,
}

/// How far a running scan has come, as its instance reports it with each heartbeat.
#[derive(Debug, Clone, Copy)]
pub struct FleetBeat<'a> {
    pub at: OffsetDateTime,
    pub dc: Option<&'a str>,
    pub scanned: i64,
    pub estimate: Option<i64>,
    pub restarts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FleetFindingRow {
    pub name: String,
    pub dn: String,
    /// Its domain's DNS name (none in reports from before several domains were scanned).
    pub domain: Option<String>,
    pub ou: String,
    pub object_guid: String,
    /// The headline cause's code.
    #[schema(value_type = crate::diagnostics::Cause)]
    pub cause: String,
    #[schema(value_type = crate::diagnostics::Confidence)]
    pub confidence: String,
    /// Every at-risk cause, comma-separated, headline first.
    pub causes: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub pwd_last_set: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_logon: Option<OffsetDateTime>,
    pub summary: String,
}

/// How a scan ended.
pub struct FleetEnd<'a> {
    pub state: FleetState,
    pub finished_at: OffsetDateTime,
    pub dc: Option<&'a str>,
    pub scanned: i64,
    pub restarts: i64,
    pub error: Option<&'a str>,
    pub notes: Option<&'a str>,
    pub tally: Option<&'a str>,
}

const SCAN_COLS: &str = "id, started_at, finished_at, started_by, state, dc, scanned, restarts, \
    error, notes, tally, holder, heartbeat_at, estimate";

/// Why a report the next instance found without a heartbeat was failed.
pub const STALE_SCAN: &str = "the portal instance running this scan stopped sending its \
    heartbeat (it stopped, or lost the database); the report is incomplete: scan again";

fn scan_row<R: Row>(r: &R) -> Result<FleetScanRow, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> OffsetDateTime: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(FleetScanRow {
        id: r.try_get("id")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        started_by: r.try_get("started_by")?,
        state: FleetState::decode(&r.try_get::<String, _>("state")?)?,
        dc: r.try_get("dc")?,
        scanned: r.try_get("scanned")?,
        restarts: r.try_get("restarts")?,
        error: r.try_get("error")?,
        notes: r.try_get("notes")?,
        tally: r.try_get("tally")?,
        holder: r.try_get("holder")?,
        heartbeat_at: r.try_get("heartbeat_at")?,
        estimate: r.try_get("estimate")?,
    })
}

impl Store {
    /// Open a report in state `running`, held by the instance `holder`. One report runs at a
    /// time, whichever instance opened it: while another runs, `Err(StoreError::Conflict)`.
    pub async fn fleet_begin(
        &self,
        started_at: OffsetDateTime,
        started_by: &str,
        holder: &str,
    ) -> Result<i64, StoreError> {
        let id = on_write!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO fleet_scans (started_at, started_by, state, holder, heartbeat_at) \
                 VALUES ($1, $2, $3, $4, $1) RETURNING id",
            )
            .bind(started_at)
            .bind(started_by)
            .bind(FleetState::Running.as_str())
            .bind(holder)
            .fetch_one(pool)
            .await
        });
        match id {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                "a fleet scan is already running".to_string(),
            )),
            other => Ok(other?),
        }
    }

    /// The heartbeat of the running report `scan_id` from its holder, with its progress:
    /// `false` when the report is no longer running under this holder (another instance
    /// found its heartbeat stopped and failed it), and the scan must stop.
    pub async fn fleet_beat(
        &self,
        scan_id: i64,
        holder: &str,
        beat: FleetBeat<'_>,
    ) -> Result<bool, StoreError> {
        let done = on_write!(self, |pool| sqlx::query(
            "UPDATE fleet_scans SET heartbeat_at = $3, dc = $4, scanned = $5, estimate = $6, \
             restarts = $7 WHERE id = $1 AND holder = $2 AND state = $8"
        )
        .bind(scan_id)
        .bind(holder)
        .bind(beat.at)
        .bind(beat.dc)
        .bind(beat.scanned)
        .bind(beat.estimate)
        .bind(beat.restarts)
        .bind(FleetState::Running.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Fail every running report whose last heartbeat is before `stale_before` ([`STALE_SCAN`]),
    /// its rows dropped (a failed report keeps none): the ids failed.
    pub async fn fleet_fail_stale(
        &self,
        stale_before: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<i64>, StoreError> {
        let running = FleetState::Running.as_str();
        let ids = on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "UPDATE fleet_scans SET state = $1, finished_at = $2, error = $3 \
                 WHERE state = $4 AND heartbeat_at < $5 RETURNING id",
            )
            .bind(FleetState::Failed.as_str())
            .bind(now)
            .bind(STALE_SCAN)
            .bind(running)
            .bind(stale_before)
            .fetch_all(&mut *tx)
            .await?;
            for id in &ids {
                sqlx::query("DELETE FROM fleet_findings WHERE scan_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await.map(|()| ids)
        })?;
        Ok(ids)
    }

    /// Add at-risk rows to a running report, in one transaction.
    pub async fn fleet_add_findings(
        &self,
        scan_id: i64,
        rows: &[FleetFindingRow],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        const SQL: &str = "INSERT INTO fleet_findings (scan_id, name, dn, ou, object_guid, cause, \
             confidence, causes, pwd_last_set, last_logon, summary, domain) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            for r in rows {
                sqlx::query(SQL)
                    .bind(scan_id)
                    .bind(&r.name)
                    .bind(&r.dn)
                    .bind(&r.ou)
                    .bind(&r.object_guid)
                    .bind(&r.cause)
                    .bind(&r.confidence)
                    .bind(&r.causes)
                    .bind(r.pwd_last_set)
                    .bind(r.last_logon)
                    .bind(&r.summary)
                    .bind(&r.domain)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Drop a running report's rows (the scan starts over on another DC).
    /// Drop a report's rows of one domain (its scan starts over on another DC).
    pub async fn fleet_clear_domain(&self, scan_id: i64, domain: &str) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "DELETE FROM fleet_findings WHERE scan_id = $1 AND domain = $2"
        )
        .bind(scan_id)
        .bind(domain)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    pub async fn fleet_clear_findings(&self, scan_id: i64) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "DELETE FROM fleet_findings WHERE scan_id = $1"
        )
        .bind(scan_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Close a running report.
    pub async fn fleet_finish(&self, scan_id: i64, end: &FleetEnd<'_>) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "UPDATE fleet_scans SET state = $2, finished_at = $3, dc = $4, scanned = $5, \
             restarts = $6, error = $7, notes = $8, tally = $9 WHERE id = $1 AND state = $10"
        )
        .bind(scan_id)
        .bind(end.state.as_str())
        .bind(end.finished_at)
        .bind(end.dc)
        .bind(end.scanned)
        .bind(end.restarts)
        .bind(end.error)
        .bind(end.notes)
        .bind(end.tally)
        .bind(FleetState::Running.as_str())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The newest report in `state`, if any.
    pub async fn fleet_latest(
        &self,
        state: FleetState,
    ) -> Result<Option<FleetScanRow>, StoreError> {
        self.fleet_one(
            "state = $1 ORDER BY id DESC LIMIT 1",
            state.as_str().to_string(),
        )
        .await
    }

    /// The newest report, in whatever state (every id is above the 0 that `fleet_one` binds).
    pub async fn fleet_newest(&self) -> Result<Option<FleetScanRow>, StoreError> {
        self.fleet_one(
            "id > CAST($1 AS BIGINT) ORDER BY id DESC LIMIT 1",
            "0".to_string(),
        )
        .await
    }

    /// The newest report `started_by` opened (the schedule's, say).
    pub async fn fleet_latest_by(
        &self,
        started_by: &str,
    ) -> Result<Option<FleetScanRow>, StoreError> {
        self.fleet_one(
            "started_by = $1 ORDER BY id DESC LIMIT 1",
            started_by.to_string(),
        )
        .await
    }

    /// One report by id.
    pub async fn fleet_scan(&self, id: i64) -> Result<Option<FleetScanRow>, StoreError> {
        self.fleet_one("id = CAST($1 AS BIGINT)", id.to_string())
            .await
    }

    async fn fleet_one(
        &self,
        clause: &str,
        arg: String,
    ) -> Result<Option<FleetScanRow>, StoreError> {
        let sql = format!("SELECT {SCAN_COLS} FROM fleet_scans WHERE {clause}");
        let row = on_pool!(self, |pool| match sqlx::query(&sql)
            .bind(&arg)
            .fetch_optional(pool)
            .await?
        {
            Some(r) => scan_row(&r).map(Some),
            None => Ok(None),
        })?;
        Ok(row)
    }

    /// A report's at-risk rows, by cause then name.
    pub async fn fleet_findings(&self, scan_id: i64) -> Result<Vec<FleetFindingRow>, StoreError> {
        let sql = "SELECT name, dn, domain, ou, object_guid, cause, confidence, causes, \
                   pwd_last_set, last_logon, summary FROM fleet_findings WHERE scan_id = $1 \
                   ORDER BY cause, name";
        let rows = on_pool!(self, |pool| sqlx::query(sql)
            .bind(scan_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok::<_, sqlx::Error>(FleetFindingRow {
                    name: r.try_get("name")?,
                    dn: r.try_get("dn")?,
                    domain: r.try_get("domain")?,
                    ou: r.try_get("ou")?,
                    object_guid: r.try_get("object_guid")?,
                    cause: r.try_get("cause")?,
                    confidence: r.try_get("confidence")?,
                    causes: r.try_get("causes")?,
                    pwd_last_set: r.try_get("pwd_last_set")?,
                    last_logon: r.try_get("last_logon")?,
                    summary: r.try_get("summary")?,
                })
            })
            .collect::<Result<Vec<_>, _>>())?;
        Ok(rows)
    }
}
