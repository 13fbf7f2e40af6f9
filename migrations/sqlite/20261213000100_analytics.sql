-- Analytics (issue 18): reporting events are append-only rows written as things happen (the id
-- is the writer's idempotency key, so a replayed step adds nothing); rollups hold one UTC day
-- per app x category (counters, escalation reasons and duration histograms as JSON), replaced
-- whole when a day is rolled up again; analytics_state keeps the rollup job's watermark.
CREATE TABLE reporting_events (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    category TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value BIGINT,
    at BIGINT NOT NULL,
    day BIGINT NOT NULL,
    reason TEXT,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX reporting_events_conversation ON reporting_events (conversation_id, at);
CREATE INDEX reporting_events_day ON reporting_events (day, at);
CREATE INDEX reporting_events_recorded ON reporting_events (recorded_at);

CREATE TABLE analytics_rollups (
    day BIGINT NOT NULL,
    app TEXT NOT NULL,
    category TEXT NOT NULL,
    data TEXT NOT NULL,
    rolled_at BIGINT NOT NULL,
    PRIMARY KEY (day, app, category)
);
CREATE INDEX analytics_rollups_app ON analytics_rollups (app, day);

CREATE TABLE analytics_state (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
