-- The learning loop: signals are append-only observations of how our drafts fared (outcomes,
-- ratings, bad outcomes) and trust_cache keeps the last trust computed per app x category
-- (support_core::trust::trust_at over the signals is the truth).
CREATE TABLE signals (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    category TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value REAL NOT NULL,
    weight REAL NOT NULL,
    at BIGINT NOT NULL,
    run_id TEXT,
    source TEXT NOT NULL,
    actor TEXT,
    note TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX signals_app_category ON signals (app, category, at);
CREATE INDEX signals_conversation ON signals (conversation_id, at);

CREATE TABLE trust_cache (
    app TEXT NOT NULL,
    category TEXT NOT NULL,
    score REAL NOT NULL,
    effective_samples REAL NOT NULL,
    signals BIGINT NOT NULL,
    trend REAL NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (app, category)
);
