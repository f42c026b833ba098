-- Signed-in staff sessions by person and provider session, so that back-channel logout and
-- `trustdesk sessions revoke` can end them. The session itself lives in tower_sessions.
CREATE TABLE staff_logins (
    session_id    TEXT PRIMARY KEY,
    issuer        TEXT NOT NULL,
    sub           TEXT NOT NULL,
    sid           TEXT,
    name          TEXT,
    signed_in_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX staff_logins_by_sub ON staff_logins (issuer, sub);
CREATE INDEX staff_logins_by_sid ON staff_logins (issuer, sid);

-- Back-channel logout tokens already used (replays are refused until they would be stale).
CREATE TABLE oidc_logout_jtis (
    jti         TEXT PRIMARY KEY,
    expires_at  TEXT NOT NULL
);
