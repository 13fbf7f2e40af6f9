-- The dashboard's conversations (issue 13): the drafts we write, each conversation's latest
-- route decision (so the list can filter on it), and the indexes of the list's keyset pages.

-- One row per draft the inbound workflow wrote to Front (one per run): the text, the run that
-- wrote it, the knowledge it used (a JSON array) and, once known, what was actually sent.
CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    app TEXT,
    run_id TEXT NOT NULL UNIQUE,
    front_draft_id TEXT,
    body_text TEXT NOT NULL,
    body_html TEXT,
    knowledge_sources TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_text TEXT,
    sent_at BIGINT
);
CREATE INDEX drafts_conversation ON drafts (conversation_id, created_at);

-- The latest route decision of a conversation (written by the route step). Flags are stored
-- as `,angry,legal,` so one flag is matched with LIKE '%,angry,%'.
ALTER TABLE conversations ADD COLUMN route_action TEXT;
ALTER TABLE conversations ADD COLUMN route_category TEXT;
ALTER TABLE conversations ADD COLUMN route_flags TEXT;

-- The list: newest activity first, keyset on (updated_at, id), alone or after one equality
-- filter.
CREATE INDEX conversations_recent ON conversations (updated_at, id);
CREATE INDEX conversations_app_recent ON conversations (app, updated_at, id);
CREATE INDEX conversations_status_recent ON conversations (status, updated_at, id);
CREATE INDEX conversations_action_recent ON conversations (route_action, updated_at, id);
CREATE INDEX conversations_category_recent ON conversations (route_category, updated_at, id);
CREATE INDEX conversations_escalation_recent ON conversations (escalation, updated_at, id);
CREATE INDEX conversations_email_recent ON conversations (customer_email, updated_at, id);
-- The overview: volume per day.
CREATE INDEX conversations_created ON conversations (created_at);
-- The overview: open dead letters, failed runs.
CREATE INDEX dead_letters_open ON dead_letters (created_at) WHERE resolved_at IS NULL;
CREATE INDEX steps_runs_status_ended ON steps_runs (status, ended_at);
