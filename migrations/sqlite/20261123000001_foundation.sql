-- Foundation schema (SQLite). Timestamps are Unix milliseconds; JSON is stored as TEXT.

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    front_inbox_ids TEXT NOT NULL,
    sdk_base_url TEXT NOT NULL,
    secrets_enc TEXT NOT NULL,
    stripe_account TEXT,
    policy TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('connected', 'disconnected')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE app_inboxes (
    inbox_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    front_id TEXT NOT NULL UNIQUE,
    app TEXT,
    customer_email TEXT,
    subject TEXT,
    status TEXT NOT NULL CHECK (status IN ('new', 'open', 'pending', 'on_hold', 'solved', 'closed')),
    escalation TEXT,
    escalation_reason TEXT,
    assignee TEXT,
    sla_due_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_app ON conversations (app, updated_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    front_id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    author TEXT,
    body TEXT,
    raw_body TEXT,
    sent_at BIGINT NOT NULL,
    purged_at BIGINT
);
CREATE INDEX messages_conversation ON messages (conversation_id, sent_at);

CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    conversation_id TEXT,
    app TEXT,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    category TEXT,
    confidence REAL,
    reasoning TEXT,
    risk TEXT NOT NULL CHECK (risk IN ('read', 'low_impact', 'approval_required')),
    status TEXT NOT NULL CHECK (status IN ('proposed', 'pending_approval', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed')),
    idempotency_key TEXT NOT NULL UNIQUE,
    result TEXT,
    error TEXT,
    trace_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX actions_conversation ON actions (conversation_id, created_at);

CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    action_id TEXT NOT NULL REFERENCES actions (id),
    channel TEXT NOT NULL CHECK (channel IN ('slack', 'dashboard', 'cli')),
    slack_channel TEXT,
    slack_ts TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    decided_by TEXT,
    reason TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX approvals_status ON approvals (status, created_at);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    app TEXT,
    conversation_id TEXT,
    actor TEXT NOT NULL,
    trace_id TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_conversation ON audit_log (conversation_id, seq);
CREATE INDEX audit_log_app ON audit_log (app, seq);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE trust_scores (
    app TEXT NOT NULL,
    category TEXT NOT NULL,
    score REAL NOT NULL,
    samples BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app, category)
);

CREATE TABLE kb_documents (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE kb_chunks (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES kb_documents (id) ON DELETE CASCADE,
    app TEXT NOT NULL,
    ordinal BIGINT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX kb_chunks_app ON kb_chunks (app);

CREATE TABLE canned_responses (
    id TEXT PRIMARY KEY,
    app TEXT,
    name TEXT NOT NULL,
    trigger_pattern TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT,
    role TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'viewer')),
    password_hash TEXT,
    slack_user_id TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'viewer')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('started', 'completed')),
    result TEXT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);

CREATE TABLE webhook_receipts (
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, event_id)
);

CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    error TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    resolved_at BIGINT
);

-- The audit log is append-only.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
