-- demoreel's state on PostgreSQL: the schema the SQLite migrations 0001-0004 build, in one
-- step. Columns keep SQLite's types where both read the same: times are RFC 3339 UTC
-- text with milliseconds (fixed width, so they sort as text whatever the collation),
-- flags are 0/1 integers, every integer is 64-bit. Creation order (`seq`) comes from a
-- sequence, since concurrent inserts from several processes would read the same MAX.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);

CREATE SEQUENCE runs_seq;
CREATE TABLE runs (
    id                  TEXT PRIMARY KEY,
    seq                 BIGINT NOT NULL UNIQUE,
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
    recording_started   BIGINT NOT NULL DEFAULT 0,
    cancel_requested    BIGINT NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    started_at          TEXT,
    finished_at         TEXT,
    recording_key       TEXT,
    recording_sha256    TEXT
);
CREATE INDEX runs_by_owner ON runs(owner, seq DESC);
CREATE INDEX runs_by_status ON runs(status, seq);

CREATE TABLE artifacts (
    id             TEXT PRIMARY KEY,
    run_id         TEXT NOT NULL REFERENCES runs(id),
    name           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size_bytes     BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    storage_key    TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    generation     BIGINT NOT NULL DEFAULT 0,
    render_job_id  TEXT,
    UNIQUE (run_id, name, generation)
);

CREATE TABLE credentials (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL REFERENCES api_keys(id),
    label            TEXT NOT NULL,
    domain           TEXT NOT NULL,
    email            TEXT NOT NULL,
    password_sealed  BYTEA,
    is_default       BIGINT NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL
);
CREATE INDEX credentials_by_owner ON credentials(owner, domain);

CREATE TABLE feedback (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL REFERENCES api_keys(id),
    feedback    TEXT NOT NULL,
    run_ids     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE templates (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL REFERENCES api_keys(id),
    name         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    description  TEXT NOT NULL,
    files        TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    created_at   TEXT NOT NULL,
    deleted_at   TEXT,
    UNIQUE (owner, name, version)
);

CREATE SEQUENCE render_jobs_seq;
CREATE TABLE render_jobs (
    id                TEXT PRIMARY KEY,
    seq               BIGINT NOT NULL UNIQUE,
    owner             TEXT NOT NULL REFERENCES api_keys(id),
    options           TEXT NOT NULL,
    cancel_requested  BIGINT NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX render_jobs_by_owner ON render_jobs(owner, seq DESC);

CREATE TABLE render_tasks (
    job_id         TEXT NOT NULL REFERENCES render_jobs(id),
    position       BIGINT NOT NULL,
    run_id         TEXT NOT NULL REFERENCES runs(id),
    owner          TEXT NOT NULL,
    generation     BIGINT NOT NULL,
    status         TEXT NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_expires  TEXT,
    not_before     TEXT NOT NULL,
    frames_done    BIGINT NOT NULL DEFAULT 0,
    frames_total   BIGINT NOT NULL DEFAULT 0,
    error_code     TEXT,
    error_message  TEXT,
    started_at     TEXT,
    finished_at    TEXT,
    PRIMARY KEY (job_id, position),
    UNIQUE (run_id, generation)
);
CREATE INDEX render_tasks_by_status ON render_tasks(status, not_before);
CREATE INDEX render_tasks_by_owner ON render_tasks(owner, status);
