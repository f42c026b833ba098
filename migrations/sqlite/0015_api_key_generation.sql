-- One counter that every change to a key's standing moves on (revocation, expiry, role, hash,
-- deletion), so that a portal may keep the keys it has checked in memory and still refuse a
-- revoked one on the next request: it reads this one row (one read serves every request
-- waiting at that moment) instead of the key. Triggers keep it, whoever changes the table.
CREATE TABLE api_key_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO api_key_generation (id, generation) VALUES (1, 0);

CREATE TRIGGER api_key_standing_changed
AFTER UPDATE OF name, role, key_hash, revoked_at, expires_at ON api_keys
BEGIN
    UPDATE api_key_generation SET generation = generation + 1 WHERE id = 1;
END;

CREATE TRIGGER api_key_deleted
AFTER DELETE ON api_keys
BEGIN
    UPDATE api_key_generation SET generation = generation + 1 WHERE id = 1;
END;
