"""The SQLite journal's tables. Bump SCHEMA_VERSION and add a migration when they change.

``fences``, ``charges`` and ``idempotency_keys`` were added without a bump: ``CREATE TABLE IF NOT
EXISTS`` adds them to an older file, and an older engine that ignores them still reads and writes
every other table correctly.
"""

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    key             TEXT PRIMARY KEY,
    model           TEXT NOT NULL,
    spec_version    TEXT NOT NULL,
    params          TEXT NOT NULL,             -- JSON: model parameters only, never headers or keys
    state           TEXT NOT NULL,             -- JournalState
    provider_id     TEXT,
    provider_status TEXT,                      -- JSON
    result          TEXT,                      -- JSON ResultRecord
    error           TEXT,
    created_at      TEXT NOT NULL,             -- ISO 8601 wall clock, UTC
    updated_at      TEXT NOT NULL,
    seq             INTEGER NOT NULL           -- creation order, for stable listings
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_provider_id ON jobs (model, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS history (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_key TEXT NOT NULL REFERENCES jobs (key),
    at      TEXT NOT NULL,
    event   TEXT NOT NULL,
    state   TEXT,
    detail  TEXT NOT NULL                      -- JSON object
);
CREATE INDEX IF NOT EXISTS history_by_job ON history (job_key, id);
CREATE TABLE IF NOT EXISTS sinks (
    job_key    TEXT NOT NULL REFERENCES jobs (key),
    name       TEXT NOT NULL,
    position   INTEGER NOT NULL,
    config     TEXT NOT NULL,                  -- JSON SinkConfig: plugin, options, secret env var *names*
    state      TEXT NOT NULL,                  -- DeliveryState
    location   TEXT,
    sha256     TEXT,
    size       INTEGER,
    error      TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (job_key, name)
);
CREATE TABLE IF NOT EXISTS leases (
    job_key    TEXT PRIMARY KEY REFERENCES jobs (key),
    owner      TEXT NOT NULL,
    expires_at REAL NOT NULL                   -- epoch seconds (real time: leases are between processes)
);
CREATE TABLE IF NOT EXISTS fences (
    job_key TEXT PRIMARY KEY REFERENCES jobs (key),
    epoch   INTEGER NOT NULL                   -- +1 each time the job changes hands, and writes carry the one they hold
);
CREATE TABLE IF NOT EXISTS charges (
    job_key        TEXT PRIMARY KEY REFERENCES jobs (key),
    tags           TEXT,                       -- JSON array of labels
    estimate_usd   REAL,                       -- from the spec's pricing block: an estimate, never a bill
    estimate_basis TEXT,
    usd            REAL,                       -- what the provider reported, in US dollars
    figures        TEXT,                       -- JSON object: every cost figure the provider reported
    updated_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    name        TEXT PRIMARY KEY,              -- the caller's key: the primary key is what makes a key atomic
    token       TEXT NOT NULL,                 -- random per submit: the row's holder sends, others wait
    fingerprint TEXT NOT NULL,                 -- SHA-256 of model + parameters
    model       TEXT NOT NULL,
    params      TEXT NOT NULL,                 -- JSON, to name what differs when a key is reused
    state       TEXT NOT NULL,                 -- pending | submitted | unknown
    provider_id TEXT,
    created_at  REAL NOT NULL,                 -- epoch seconds, wall clock
    expires_at  REAL NOT NULL
);
"""
