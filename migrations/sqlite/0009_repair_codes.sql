-- Short repair codes (`K7QF-M2XD-9PWA`): one per minted token, while it can still be used.
-- Only the SHA-256 of the code is kept, and the token's public claims (the JSON its payload
-- carries), from which the portal signs the same token again when the client sends the code
-- with the right computer name. A row is deleted when its code is used or locked (three wrong
-- names), and expired rows when the next token is minted. Nothing here is a secret: the code
-- is hashed and the claims are what every token shows in clear.
CREATE TABLE repair_codes (
    code_hash   TEXT PRIMARY KEY,
    jti         TEXT NOT NULL REFERENCES repair_tokens (jti),
    claims      TEXT NOT NULL,
    misses      INTEGER NOT NULL DEFAULT 0,
    expires_at  TEXT NOT NULL
);
CREATE INDEX repair_codes_expires ON repair_codes (expires_at);
