-- The audit write path, measured (the lookup benchmark and a probe of single appends):
--
-- 1. The diagnosis reads trustdesk's own resets and repairs of one object (by objectGUID).
--    Every lookup of the object also writes an audit row with its objectGUID, so an index on
--    (target_guid, at) alone made that read walk every earlier lookup of the object. A partial
--    index holds only the writes. Its predicate is the query's own `action IN (…)` term,
--    character for character (`db/audit.rs` `portal_writes_sql`), so both databases use it.
-- 2. `hash` loses its UNIQUE index: a B-tree keyed by random SHA-256 hex, written on every
--    append (about a third of an append's cost here) and read by nothing. The chain's
--    integrity never rested on it: `seq` is the primary key (a second row at a position
--    fails), and `trustdesk audit verify` recomputes every hash and link.
--
-- SQLite cannot drop a constraint, so the table is rebuilt: every row is copied as it is
-- (the chain verifies the same afterwards), and the other indexes are made again.
DROP INDEX audit_events_target_guid;

CREATE TABLE audit_events_new (
    seq          INTEGER PRIMARY KEY,
    at           TEXT    NOT NULL,
    actor_sub    TEXT,
    actor_name   TEXT,
    actor_email  TEXT,
    actor_roles  TEXT    NOT NULL DEFAULT '',
    source_ip    TEXT,
    user_agent   TEXT,
    request_id   TEXT,
    action       TEXT    NOT NULL,
    target_dn    TEXT,
    target_guid  TEXT,
    target_name  TEXT,
    outcome      TEXT    NOT NULL,
    reason       TEXT,
    ticket       TEXT,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL
);
INSERT INTO audit_events_new SELECT seq, at, actor_sub, actor_name, actor_email, actor_roles,
    source_ip, user_agent, request_id, action, target_dn, target_guid, target_name, outcome,
    reason, ticket, prev_hash, hash FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;

CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_target ON audit_events (target_name);
CREATE INDEX audit_events_actor_at ON audit_events (actor_sub, at);
CREATE INDEX audit_events_portal_writes ON audit_events (target_guid, at)
    WHERE action IN ('reset_account', 'redeem_token', 'repair_outcome');
