-- Approvals are looked up by their action (the approval of an action, and retention's check
-- that every approval of an action was decided before its cutoff).
CREATE INDEX approvals_action ON approvals (action_id, created_at);
