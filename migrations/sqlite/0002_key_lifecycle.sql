-- A key may expire, and may be revoked; either ends it at once (no cache holds keys).
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;
