-- The computer page lists the recent actions that changed or tried to change one object (by
-- objectGUID): mints, revokes, code exchanges, resets, redeems and repair outcomes. Every
-- lookup and diagnosis of the object also writes a row with its objectGUID, so, as with
-- `audit_events_portal_writes` (0008), a partial index holds only these actions. Its predicate
-- is the query's own `action IN (…)` term, character for character (`db/audit.rs`
-- `RECENT_ACTIONS`), so both databases use it; appends of other actions do not write to it.
CREATE INDEX audit_events_recent_actions ON audit_events (target_guid, at)
    WHERE action IN ('mint_token', 'revoke_token', 'redeem_code', 'reset_account', 'redeem_token', 'repair_outcome');
