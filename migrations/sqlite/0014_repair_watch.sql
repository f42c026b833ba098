-- The address a token was minted from: a redeem from the same address is flagged (H-1).
ALTER TABLE repair_tokens ADD COLUMN minted_from TEXT;

-- The watch after each redeem: the key version the redeem's write left, and whether the
-- client's two rotations followed within repair_watch_secs (rotated), or not (exposed: the
-- password that crossed the network may still be valid).
CREATE TABLE repair_watch (
    jti             TEXT PRIMARY KEY,
    computer_guid   TEXT NOT NULL,
    computer_sam    TEXT NOT NULL,
    computer_dn     TEXT NOT NULL,
    redeemed_at     TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    key_version     BIGINT NOT NULL,
    state           TEXT NOT NULL,
    seen_version    BIGINT,
    checked_at      TEXT
);
CREATE INDEX repair_watch_due ON repair_watch (state, due_at);
CREATE INDEX repair_watch_computer ON repair_watch (computer_guid, redeemed_at);
