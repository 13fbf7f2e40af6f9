-- SLA policies (issue 18). Policies are per app and kept whole as JSON (`body`, a
-- support_core::sla::SlaPolicy) beside the columns they are listed by; schedules likewise.
-- sla_clocks: each conversation's clock (its events, policy, priority and a generation every
-- change bumps); sla_alarms: the warnings and breaches that fired, one row per key, so each
-- fires once (claimed by the run
-- that carries it out).
CREATE TABLE sla_schedules (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sla_policies (
    app TEXT NOT NULL,
    id TEXT NOT NULL,
    position BIGINT NOT NULL,
    schedule_id TEXT,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app, id)
);

CREATE TABLE sla_clocks (
    conversation_id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    policy_id TEXT,
    priority TEXT NOT NULL,
    priority_set_by TEXT,
    events TEXT NOT NULL,
    generation BIGINT NOT NULL,
    due_at BIGINT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sla_alarms (
    conversation_id TEXT NOT NULL,
    alarm_key TEXT NOT NULL,
    fired_at BIGINT NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (conversation_id, alarm_key)
);

-- The dashboard's "at risk" list: conversations by due time.
CREATE INDEX conversations_sla_due ON conversations (sla_due_at);
