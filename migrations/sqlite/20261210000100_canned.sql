-- Canned responses people manage (issue 15): every edit a new version (never overwritten),
-- the article versions a version cites, and stale_at, set when a cited article changes or is
-- removed (the router does not answer with a stale response). removed_at hides a response.
ALTER TABLE canned_responses ADD COLUMN current_version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE canned_responses ADD COLUMN stale_at BIGINT;
ALTER TABLE canned_responses ADD COLUMN removed_at BIGINT;

CREATE TABLE canned_versions (
    canned_id TEXT NOT NULL REFERENCES canned_responses (id),
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    trigger_pattern TEXT NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (canned_id, version)
);

-- The responses written before versions existed become their version 1.
INSERT INTO canned_versions (canned_id, version, name, trigger_pattern, body, author, created_at)
    SELECT id, 1, name, trigger_pattern, body, 'system', updated_at FROM canned_responses;

CREATE TABLE canned_sources (
    canned_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    article_id TEXT NOT NULL,
    article_version BIGINT NOT NULL,
    PRIMARY KEY (canned_id, version, article_id),
    FOREIGN KEY (canned_id, version) REFERENCES canned_versions (canned_id, version),
    FOREIGN KEY (article_id, article_version) REFERENCES kb_article_versions (article_id, version)
);
CREATE INDEX canned_sources_article ON canned_sources (article_id, article_version);
