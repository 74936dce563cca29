-- A run at work is held by the process recording it: `lease_owner` until `lease_expires`,
-- renewed every second while it works, so processes sharing the database tell a run in
-- progress elsewhere from one whose process died (its lease runs out; rows from before
-- this migration have none and count as run out).
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_expires TEXT;

-- A value for a run awaiting input that records in another process: sealed with the
-- operator's key (AES-256-GCM), kept only until its runner takes it or its window ends.
CREATE TABLE IF NOT EXISTS run_inputs (
    run_id        TEXT PRIMARY KEY REFERENCES runs(id),
    value_sealed  BYTEA NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
