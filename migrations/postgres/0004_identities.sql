-- Identities: a named login (a username and a password for one site) that a demonstration
-- signs in with before the person arrives, and that the task it makes replays with. The
-- password is sealed with the operator's key (AES-256-GCM), like a credential's.
CREATE TABLE identities (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL REFERENCES api_keys(id),
    name             TEXT NOT NULL,
    -- The login page, and the host its password may be typed on.
    source           TEXT NOT NULL,
    domain           TEXT NOT NULL,
    username         TEXT NOT NULL,
    password_sealed  BYTEA NOT NULL,
    -- unverified, then verified or login_failed after each sign-in that used it.
    status           TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX identities_by_owner ON identities(owner, created_at);

-- false: a demonstration whose identity cannot sign in fails (login_failed) rather than
-- leaving the person to sign in.
ALTER TABLE demonstrations ADD COLUMN identity_skip_validation BIGINT NOT NULL DEFAULT 1;

-- One task per name and key: a demonstration of a name the key has adds a version to its
-- task, and two at once must not make two tasks. Names that a race already doubled keep
-- the oldest task's; the others get their creation number appended.
UPDATE tasks SET name = name || ' (' || seq || ')'
    WHERE EXISTS (SELECT 1 FROM tasks AS older WHERE older.owner = tasks.owner AND older.name = tasks.name AND older.seq < tasks.seq);
CREATE UNIQUE INDEX tasks_by_owner_and_name ON tasks(owner, name);
