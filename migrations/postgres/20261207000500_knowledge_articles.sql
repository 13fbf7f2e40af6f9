-- The knowledge base (issue 15): articles per app, every edit a new version (never
-- overwritten), chunks tied to their version, and the article versions each draft used.

-- An article as it is now: the current version's fields, the import's key (app, source) and
-- its content hash (an unchanged re-import writes nothing). removed_at hides it.
CREATE TABLE kb_articles (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    source TEXT,
    title TEXT NOT NULL,
    tags TEXT NOT NULL,
    visibility TEXT NOT NULL,
    url TEXT,
    current_version BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT
);
CREATE UNIQUE INDEX kb_articles_source ON kb_articles (app, source);
CREATE INDEX kb_articles_app ON kb_articles (app, title);

CREATE TABLE kb_article_versions (
    article_id TEXT NOT NULL REFERENCES kb_articles (id),
    version BIGINT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL,
    visibility TEXT NOT NULL,
    url TEXT,
    content_hash TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (article_id, version)
);

CREATE TABLE kb_article_chunks (
    id TEXT PRIMARY KEY,
    article_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    app TEXT NOT NULL,
    ordinal BIGINT NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    FOREIGN KEY (article_id, version) REFERENCES kb_article_versions (article_id, version)
);
CREATE INDEX kb_article_chunks_version ON kb_article_chunks (article_id, version, ordinal);

-- The article versions a draft (by its run) used; stale_at is set when the article changes
-- (or is removed) while the draft is not yet sent.
CREATE TABLE kb_draft_sources (
    run_id TEXT NOT NULL,
    article_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    stale_at BIGINT,
    PRIMARY KEY (run_id, article_id, version)
);
CREATE INDEX kb_draft_sources_article ON kb_draft_sources (article_id, version);
