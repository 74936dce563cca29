-- Intro templates uploaded by a key: each upload is a new, immutable version. `files`
-- holds the template's files (manifest.json, scene.svg, assets/NAME) as one JSON object
-- of base64 strings, so any worker reading the database can draw the template. A deleted
-- version keeps its row without files (`deleted_at` set), so its number is never reused.
CREATE TABLE IF NOT EXISTS templates (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL REFERENCES api_keys(id),
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    description  TEXT NOT NULL,
    files        TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    deleted_at   TEXT,
    UNIQUE (owner, name, version)
);
