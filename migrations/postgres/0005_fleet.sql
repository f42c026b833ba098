-- Fleet health reports. A report is 'running' until its scan completes ('complete') or
-- fails ('failed'); pages show the newest complete report, so a re-run replaces nothing
-- until it completes. 'tally' is the per-OU counts (JSON, see src/fleet/tally.rs).
CREATE TABLE fleet_scans (
    id            BIGSERIAL PRIMARY KEY,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    started_by    TEXT NOT NULL,
    state         TEXT NOT NULL,
    dc            TEXT,
    scanned       BIGINT NOT NULL DEFAULT 0,
    restarts      BIGINT NOT NULL DEFAULT 0,
    error         TEXT,
    notes         TEXT,
    tally         TEXT
);
CREATE INDEX fleet_scans_state ON fleet_scans (state, id);

-- One row per at-risk computer of a report.
CREATE TABLE fleet_findings (
    scan_id       BIGINT NOT NULL REFERENCES fleet_scans (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    dn            TEXT NOT NULL,
    ou            TEXT NOT NULL,
    object_guid   TEXT NOT NULL,
    cause         TEXT NOT NULL,
    confidence    TEXT NOT NULL,
    causes        TEXT NOT NULL,
    pwd_last_set  TIMESTAMPTZ,
    last_logon    TIMESTAMPTZ,
    summary       TEXT NOT NULL
);
CREATE INDEX fleet_findings_scan ON fleet_findings (scan_id, cause, name);
