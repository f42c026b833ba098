-- Several portal instances on one database: a running report is held by the instance that
-- runs it (holder: an id the instance draws at start), which moves heartbeat_at and the
-- progress (scanned, estimate, dc) while it runs, so every instance can show it. A running
-- report whose heartbeat stopped is failed by the next instance to look, so a scan whose
-- instance died is never shown as complete; one report at a time may be running, whoever
-- starts it. SQLite serves one instance, and keeps the same rules.
-- A report still open now was opened before leases existed: nothing would ever move it on.
UPDATE fleet_scans SET state = 'failed',
    error = 'still running when trustdesk began to hold scans by lease; scan again'
    WHERE state = 'running';
ALTER TABLE fleet_scans ADD COLUMN holder TEXT;
ALTER TABLE fleet_scans ADD COLUMN heartbeat_at TIMESTAMPTZ;
ALTER TABLE fleet_scans ADD COLUMN estimate BIGINT;
CREATE UNIQUE INDEX fleet_scans_one_running ON fleet_scans (state) WHERE state = 'running';
