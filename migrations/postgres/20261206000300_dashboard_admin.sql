-- The dashboard's admin pages (approvals queue, audit search and export, dead letters) read
-- keyset pages; these indexes serve them (see support_core::store::AdminStore).
-- Audit filters by kind and actor, each in seq order (app and conversation already have theirs).
CREATE INDEX audit_log_kind ON audit_log (kind, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
-- A date range becomes a seq range: the first row written at or after a time.
CREATE INDEX audit_log_at ON audit_log (at, seq);
-- Decided approvals, most recently decided first.
CREATE INDEX approvals_decided ON approvals (decided_at, id);
-- Dead letters, newest first.
CREATE INDEX dead_letters_created ON dead_letters (created_at, id);
