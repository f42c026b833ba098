-- Chain heads signed with the audit key (a key file, never in the database). A row here is
-- proof only through its signature, checked with a public key kept elsewhere
-- (`trustdesk audit verify --key PUB`). The README shows the REVOKE that makes
-- `audit_events` append-only for the portal's role.
CREATE TABLE audit_heads (
    seq        BIGINT      PRIMARY KEY,
    hash       TEXT        NOT NULL,
    signed_at  TIMESTAMPTZ NOT NULL,
    key_id     TEXT        NOT NULL,
    signature  TEXT        NOT NULL
);
