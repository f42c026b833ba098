-- Chain heads signed with the audit key (a key file, never in the database). A row here is
-- proof only through its signature, checked with a public key kept elsewhere
-- (`trustdesk audit verify --key PUB`).
CREATE TABLE audit_heads (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT    NOT NULL,
    signed_at  TEXT    NOT NULL,
    key_id     TEXT    NOT NULL,
    signature  TEXT    NOT NULL
);

-- Defence in depth: nothing in trustdesk updates or deletes an audit row, so the database
-- refuses it. Whoever can write the file can drop these triggers; the signed heads are what
-- catch a rewrite then.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
