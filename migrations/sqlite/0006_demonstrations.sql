-- Demonstrations: a person drives a live browser through a share link; finishing makes a
-- version of the demonstration's task. A task exists from the demonstration's creation
-- (its id is answered then); its versions hold the workflow (steps as JSON, docs/steps.md).
CREATE TABLE IF NOT EXISTS tasks (
    id           TEXT PRIMARY KEY,
    seq          INTEGER NOT NULL UNIQUE,
    owner        TEXT NOT NULL REFERENCES api_keys(id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    tool_id      TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks(owner, seq DESC);

CREATE TABLE IF NOT EXISTS task_versions (
    id          TEXT PRIMARY KEY,
    task_id     TEXT NOT NULL REFERENCES tasks(id),
    version     INTEGER NOT NULL,
    start_url   TEXT NOT NULL,
    steps       TEXT NOT NULL,
    parameters  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (task_id, version)
);

CREATE TABLE IF NOT EXISTS demonstrations (
    id                TEXT PRIMARY KEY,
    seq               INTEGER NOT NULL UNIQUE,
    owner             TEXT NOT NULL REFERENCES api_keys(id),
    task_id           TEXT NOT NULL REFERENCES tasks(id),
    user_name         TEXT,
    start_url         TEXT NOT NULL,
    identity_id       TEXT,
    max_duration_s    INTEGER NOT NULL,
    idle_timeout_s    INTEGER NOT NULL,
    -- recording → processing → completed | failed, or stopped.
    status            TEXT NOT NULL,
    task_version_id   TEXT,
    -- The run that holds the session's recording and videos (its artifacts), once made.
    run_id            TEXT,
    error             TEXT,
    -- The process holding the live browser: a restarted one ends only its own sessions.
    holder            TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    ended_at          TEXT
);
CREATE INDEX IF NOT EXISTS demonstrations_by_owner ON demonstrations(owner, seq DESC);
