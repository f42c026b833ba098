-- The per-client rate limits of the routes anyone can reach (limits.redeem_*, limits.signin_*)
-- kept where every portal instance on this database sees them: per limit and client key, the
-- GCRA's theoretical arrival time (the bucket is full again then). A row whose time has
-- passed says nothing a missing row would not, and is swept. SQLite (one instance) keeps
-- these buckets in its process instead, so it has no such table.
CREATE TABLE rate_buckets (
    limit_name TEXT NOT NULL,
    client     TEXT NOT NULL,
    tat        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (limit_name, client)
);
CREATE INDEX rate_buckets_tat ON rate_buckets (tat);
