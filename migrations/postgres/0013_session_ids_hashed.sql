-- Sessions are stored under a hash of their id from now on (M-5; src/auth/sessions.rs). The
-- rows stored before are keyed by the cookie's id in clear, and no cookie reaches them any
-- more: they are dropped, with their logins. Everyone signed in signs in again once.
-- The table is the one tower-sessions-sqlx-store creates (created here first on a new database).
CREATE SCHEMA IF NOT EXISTS tower_sessions;
CREATE TABLE IF NOT EXISTS tower_sessions.session
(
    id text primary key not null,
    data bytea not null,
    expiry_date timestamptz not null
);
DELETE FROM tower_sessions.session;
DELETE FROM staff_logins;
