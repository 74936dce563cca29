-- Re-render jobs. A run keeps its recording (one tar in the artifact store, named by
-- `recording_key`, checked against `recording_sha256` when read back), so its videos can
-- be rendered again with other options without a browser.
ALTER TABLE runs ADD COLUMN recording_key TEXT;
ALTER TABLE runs ADD COLUMN recording_sha256 TEXT;

-- Artifacts come in generations: 0 is what the run itself made, N > 0 what render task
-- N of that run made (`render_job_id` names its job). A generation's rows are listed only
-- once its task succeeded, so a render cut short never shadows the one before it.
CREATE TABLE artifacts_by_generation (
    id             TEXT PRIMARY KEY,
    run_id         TEXT NOT NULL REFERENCES runs(id),
    name           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    storage_key    TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    generation     INTEGER NOT NULL DEFAULT 0,
    render_job_id  TEXT,
    UNIQUE (run_id, name, generation)
);
INSERT INTO artifacts_by_generation (id, run_id, name, content_type, size_bytes, sha256, storage_key, created_at)
    SELECT id, run_id, name, content_type, size_bytes, sha256, storage_key, created_at FROM artifacts;
DROP TABLE artifacts;
ALTER TABLE artifacts_by_generation RENAME TO artifacts;

CREATE TABLE IF NOT EXISTS render_jobs (
    id                TEXT PRIMARY KEY,
    -- Creation order: lists and cursors use it.
    seq               INTEGER NOT NULL UNIQUE,
    owner             TEXT NOT NULL REFERENCES api_keys(id),
    -- The new render's options as checked, an intro template pinned to name@version.
    options           TEXT NOT NULL,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS render_jobs_by_owner ON render_jobs(owner, seq DESC);

-- One run of a job: the unit a worker claims. A claim is a lease (`lease_owner` until
-- `lease_expires`) the worker renews while it renders; a task whose lease ran out is
-- claimed again (`attempts` counts the claims) until it has had its tries.
CREATE TABLE IF NOT EXISTS render_tasks (
    job_id         TEXT NOT NULL REFERENCES render_jobs(id),
    position       INTEGER NOT NULL,
    run_id         TEXT NOT NULL REFERENCES runs(id),
    owner          TEXT NOT NULL,
    generation     INTEGER NOT NULL,
    status         TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_expires  TEXT,
    not_before     TEXT NOT NULL,
    frames_done    INTEGER NOT NULL DEFAULT 0,
    frames_total   INTEGER NOT NULL DEFAULT 0,
    error_code     TEXT,
    error_message  TEXT,
    started_at     TEXT,
    finished_at    TEXT,
    PRIMARY KEY (job_id, position),
    UNIQUE (run_id, generation)
);
CREATE INDEX IF NOT EXISTS render_tasks_by_status ON render_tasks(status, not_before);
CREATE INDEX IF NOT EXISTS render_tasks_by_owner ON render_tasks(owner, status);
