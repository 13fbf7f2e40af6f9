-- The Front sidebar plugin: one-time link tickets (keyed by the hash of the plugin's state,
-- redeemed once) and the agents' ratings of our drafts (a signal for the trust work).
CREATE TABLE front_plugin_tickets (
    state_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    teammate_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT
);

CREATE TABLE draft_ratings (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    run_id TEXT,
    rating TEXT NOT NULL,
    note TEXT,
    teammate_id TEXT,
    user_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX draft_ratings_conversation ON draft_ratings (conversation_id, created_at);
