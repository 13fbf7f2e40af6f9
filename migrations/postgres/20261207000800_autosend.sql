-- Automatic sending (issue 16): the mode of each app x category with its last demotion, eval
-- certificates (pass/fail and the hash of their inputs), kill switches ('*' or an app slug), and
-- each automatic send's intent, recorded before the message goes to Front.
CREATE TABLE autosend_modes (
    app TEXT NOT NULL,
    category TEXT NOT NULL,
    mode TEXT NOT NULL,
    reason TEXT,
    changed_by TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    demoted_at BIGINT,
    demotion_reason TEXT,
    PRIMARY KEY (app, category)
);

CREATE TABLE autosend_certificates (
    app TEXT NOT NULL,
    category TEXT NOT NULL,
    passed BIGINT NOT NULL,
    inputs_hash TEXT NOT NULL,
    scenarios BIGINT NOT NULL,
    failures TEXT NOT NULL,
    certified_at BIGINT NOT NULL,
    PRIMARY KEY (app, category)
);

CREATE TABLE autosend_switches (
    scope TEXT PRIMARY KEY,
    enabled BIGINT NOT NULL,
    reason TEXT,
    changed_by TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);

CREATE TABLE autosend_sends (
    run_id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    category TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    marker TEXT NOT NULL,
    status TEXT NOT NULL,
    front_message TEXT,
    gate TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX autosend_sends_conversation ON autosend_sends (conversation_id, created_at);
