-- The audit write path (see the SQLite migration of the same number for the measurements):
-- 1. trustdesk's own writes to one object are read through a partial index that leaves out
--    the object's lookups; its predicate is the query's own `action IN (…)` term.
-- 2. `hash` loses its UNIQUE index, read by nothing and written on every append; `seq` is
--    the primary key, and `trustdesk audit verify` recomputes every hash and link.
DROP INDEX audit_events_target_guid;
CREATE INDEX audit_events_portal_writes ON audit_events (target_guid, at)
    WHERE action IN ('reset_account', 'redeem_token', 'repair_outcome');
ALTER TABLE audit_events DROP CONSTRAINT audit_events_hash_key;
