-- One-time repair tokens: only the SHA-256 of a token is stored, never the token.
-- state: pending -> redeemed -> completed | failed; or revoked (expiry is read from expires_at).
CREATE TABLE repair_tokens (
    jti             TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    kid             TEXT NOT NULL,
    computer_guid   TEXT NOT NULL,
    computer_sam    TEXT NOT NULL,
    computer_dn     TEXT NOT NULL,
    issued_by_sub   TEXT NOT NULL,
    issued_by_name  TEXT,
    issuer_roles    TEXT NOT NULL,
    ticket          TEXT,
    issued_at       TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    state           TEXT NOT NULL,
    state_at        TEXT NOT NULL,
    dc              TEXT,
    detail          TEXT
);
CREATE INDEX repair_tokens_computer ON repair_tokens (computer_guid, issued_at);
CREATE INDEX repair_tokens_issuer ON repair_tokens (issued_by_sub, issued_at);
