-- The reply drafted with an approval request, so the Slack Edit modal (and the dashboard) can
-- show it and let the approver change it before deciding.
ALTER TABLE approvals ADD COLUMN draft TEXT;
