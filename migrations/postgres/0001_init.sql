-- Audit log: an append-only hash chain (see src/audit). `seq` orders the chain.
CREATE TABLE audit_events (
    seq          BIGINT      PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    actor_sub    TEXT,
    actor_name   TEXT,
    actor_email  TEXT,
    actor_roles  TEXT        NOT NULL DEFAULT '',
    source_ip    TEXT,
    user_agent   TEXT,
    request_id   TEXT,
    action       TEXT        NOT NULL,
    target_dn    TEXT,
    target_guid  TEXT,
    target_name  TEXT,
    outcome      TEXT        NOT NULL,
    reason       TEXT,
    ticket       TEXT,
    prev_hash    TEXT        NOT NULL,
    hash         TEXT        NOT NULL UNIQUE
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_target ON audit_events (target_name);

-- What earlier lookups saw of a computer: the history the diagnosis compares against.
CREATE TABLE observations (
    id                   BIGSERIAL   PRIMARY KEY,
    name                 TEXT        NOT NULL,
    observed_at          TIMESTAMPTZ NOT NULL,
    object_guid          TEXT        NOT NULL,
    unicode_pwd_version  BIGINT,
    originating_dc       TEXT,
    last_logon           TIMESTAMPTZ
);
CREATE INDEX observations_name ON observations (name, observed_at);
