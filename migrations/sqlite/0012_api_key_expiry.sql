-- API keys may expire (`api-key create --expires-days`); the time each was last used is kept,
-- so `api-key list` shows the keys nobody uses any more.
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
