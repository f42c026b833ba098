-- API keys for ticketing automation: each bound to one role, stored as a SHA-256 hash.
CREATE TABLE api_keys (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
