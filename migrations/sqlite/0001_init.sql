-- demoreel's state: API keys (hashes only), runs, artifacts, credentials, feedback.
-- Times are RFC 3339 UTC strings with milliseconds (they sort as text).
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    id                  TEXT PRIMARY KEY,
    -- Creation order (times can tie within a millisecond): lists and cursors use it.
    seq                 INTEGER NOT NULL UNIQUE,
    owner               TEXT NOT NULL REFERENCES api_keys(id),
    status              TEXT NOT NULL,
    progress_stage      TEXT,
    target_url          TEXT NOT NULL,
    goal                TEXT NOT NULL,
    options             TEXT NOT NULL,
    awaiting_prompt     TEXT,
    awaiting_requested  TEXT,
    awaiting_expires    TEXT,
    error_code          TEXT,
    error_message       TEXT,
    recording_started   INTEGER NOT NULL DEFAULT 0,
    cancel_requested    INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    started_at          TEXT,
    finished_at         TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_owner ON runs(owner, seq DESC);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, seq);

CREATE TABLE IF NOT EXISTS artifacts (
    id            TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL REFERENCES runs(id),
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    storage_key   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (run_id, name)
);

CREATE TABLE IF NOT EXISTS credentials (
    id                   TEXT PRIMARY KEY,
    owner                TEXT NOT NULL REFERENCES api_keys(id),
    label                TEXT NOT NULL,
    domain               TEXT NOT NULL,
    email                TEXT NOT NULL,
    password_sealed      BLOB,
    is_default           INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credentials_by_owner ON credentials(owner, domain);

CREATE TABLE IF NOT EXISTS feedback (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL REFERENCES api_keys(id),
    feedback    TEXT NOT NULL,
    run_ids     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
