-- Four eyes (#18): a change a role may only ask for waits here for a second person.
-- state: pending → approved → used, or pending → denied; "expired" is never stored (a pending
-- or approved request past expires_at shows so). No secret: a token is minted only when its
-- requester collects it, and shown once.
CREATE TABLE approvals (
    id               TEXT PRIMARY KEY,
    action           TEXT NOT NULL,
    computer_guid    TEXT NOT NULL,
    computer_sam     TEXT NOT NULL,
    computer_dn      TEXT NOT NULL,
    requester_iss    TEXT NOT NULL,
    requester_sub    TEXT NOT NULL,
    requester_name   TEXT,
    requester_roles  TEXT NOT NULL,
    ticket           TEXT,
    lifetime_minutes BIGINT,
    approvers        TEXT NOT NULL,
    state            TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    decided_at       TEXT,
    decider_iss      TEXT,
    decider_sub      TEXT,
    decider_name     TEXT,
    used_at          TEXT,
    detail           TEXT
);
CREATE INDEX approvals_state ON approvals (state, created_at);
CREATE INDEX approvals_requester ON approvals (requester_sub, created_at);

-- A token minted through an approval names it: its redeem re-checks the minter's roles with
-- the approval standing in for the one the rule asks.
ALTER TABLE repair_tokens ADD COLUMN approval_id TEXT;
