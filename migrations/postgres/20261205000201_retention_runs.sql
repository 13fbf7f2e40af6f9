-- Retention (issue 11), the runner's copies: a finished run's memoized step results (the
-- hydrated thread, the draft), its output and its event's data, and a processed event's
-- payload, are purged with the message bodies; the rows stay, with `purged_at`.
ALTER TABLE steps_runs ADD COLUMN purged_at BIGINT;
ALTER TABLE steps_events ADD COLUMN purged_at BIGINT;
CREATE INDEX steps_runs_unpurged ON steps_runs (ended_at) WHERE purged_at IS NULL;
CREATE INDEX steps_events_unpurged ON steps_events (processed_at) WHERE purged_at IS NULL;
