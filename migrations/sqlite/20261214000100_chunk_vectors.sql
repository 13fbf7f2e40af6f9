-- Stored chunk vectors (the knowledge base's dense side): an embedder's vector of a chunk's
-- exact embedded text, keyed by (model, dims, SHA-256 of the text), as little-endian f32 bytes,
-- so no rebuild embeds an unchanged chunk again. `skill kb reindex` deletes the rows no
-- current chunk uses.
CREATE TABLE chunk_vectors (
    model TEXT NOT NULL,
    dims BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, dims, content_hash)
);
CREATE INDEX chunk_vectors_hash ON chunk_vectors (content_hash);
