-- Webhook deliveries (src/webhooks): the audit log is the outbox. A dispatcher plans a
-- delivery per (hook, audit row, event) after the cursor and moves the cursor in the same
-- transaction; a sender POSTs the due ones, retrying with backoff.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    hook             TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    audit_seq        BIGINT NOT NULL,
    body             TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    last_error       TEXT,
    last_status      BIGINT,
    created_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ
);
-- One delivery per hook, row and event, whoever plans it.
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (hook, audit_seq, event_type);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);

-- How far into the audit log deliveries have been planned (one row, made at the audit head
-- on the first start with webhooks: history is not replayed).
CREATE TABLE webhook_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    audit_seq  BIGINT NOT NULL
);
