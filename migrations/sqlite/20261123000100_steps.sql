-- Durable step runner (support-steps). Timestamps are Unix milliseconds; JSON is stored as TEXT.

CREATE TABLE steps_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    ts BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    processed_at BIGINT,
    lease_owner TEXT,
    lease_expires_at BIGINT
);
CREATE INDEX steps_events_unprocessed ON steps_events (processed_at, seq);
CREATE INDEX steps_events_name ON steps_events (name, seq);

CREATE TABLE steps_runs (
    id TEXT PRIMARY KEY,
    function_id TEXT NOT NULL,
    event TEXT NOT NULL,
    event_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'sleeping', 'waiting', 'completed', 'failed', 'cancelled')),
    attempt BIGINT NOT NULL DEFAULT 0,
    available_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    woken BIGINT NOT NULL DEFAULT 0,
    concurrency_key TEXT,
    concurrency_limit BIGINT,
    idempotency_key TEXT,
    debounce_key TEXT,
    parent_run_id TEXT,
    output TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    updated_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE UNIQUE INDEX steps_runs_idempotency ON steps_runs (function_id, idempotency_key);
CREATE INDEX steps_runs_due ON steps_runs (status, available_at);
CREATE INDEX steps_runs_concurrency ON steps_runs (concurrency_key, status);
CREATE INDEX steps_runs_event ON steps_runs (event_id);
CREATE INDEX steps_runs_created ON steps_runs (created_at);

CREATE TABLE steps_steps (
    run_id TEXT NOT NULL REFERENCES steps_runs (id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'failed', 'retrying')),
    result TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, hash)
);

CREATE TABLE steps_waits (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES steps_runs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('sleep', 'event', 'invoke', 'cancel')),
    hash TEXT,
    step_name TEXT,
    event_name TEXT,
    expr TEXT,
    correlation TEXT,
    after_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX steps_waits_event ON steps_waits (event_name);
CREATE INDEX steps_waits_run ON steps_waits (run_id);
CREATE INDEX steps_waits_correlation ON steps_waits (correlation);

CREATE TABLE steps_apps (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    sdk TEXT,
    framework TEXT,
    functions TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
