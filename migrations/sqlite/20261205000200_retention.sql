-- Retention (issue 11): message bodies and decided approvals' payloads are purged after a
-- while (the rows stay, with `purged_at`), and the audit log is pruned only by an explicit,
-- audited archive that records the new start of the chain.

-- When an approval's payload (its draft and capability, and its action's params, reasoning
-- and result) was purged.
ALTER TABLE approvals ADD COLUMN purged_at BIGINT;

-- What the retention run scans: rows not purged yet, oldest first.
CREATE INDEX messages_unpurged ON messages (sent_at) WHERE purged_at IS NULL;
CREATE INDEX approvals_unpurged ON approvals (decided_at) WHERE purged_at IS NULL;

-- One row per `skill audit archive`: rows `from_seq..=through_seq` were exported and deleted;
-- the remaining chain starts after `through_seq`, whose hash is `through_hash` (the newest
-- row is the genesis `audit::verify` starts from).
CREATE TABLE audit_archives (
    through_seq BIGINT PRIMARY KEY,
    through_hash TEXT NOT NULL,
    from_seq BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    before_at BIGINT NOT NULL,
    archived_at BIGINT NOT NULL,
    actor TEXT NOT NULL
);

-- Archive records are append-only too.
CREATE TRIGGER audit_archives_no_update BEFORE UPDATE ON audit_archives
BEGIN
    SELECT RAISE(ABORT, 'audit_archives is append-only');
END;
CREATE TRIGGER audit_archives_no_delete BEFORE DELETE ON audit_archives
BEGIN
    SELECT RAISE(ABORT, 'audit_archives is append-only');
END;

-- The audit log stays append-only, except that rows covered by a recorded archive may be
-- deleted (the archive records first, then deletes, in one transaction).
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.seq > (SELECT COALESCE(MAX(through_seq), 0) FROM audit_archives)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
