-- Approver identity: API tokens belong to users, Slack user ids are linked to users
-- explicitly, and approval votes are counted per user (issue 11, item 4).

-- A deactivated user's tokens stop working and their Slack clicks are refused.
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
-- One Slack user id belongs to at most one user (NULLs are not compared).
CREATE UNIQUE INDEX users_slack_user_id ON users (slack_user_id);

-- The user a token acts for. Set for every token from now on (enforced by the code; SQLite
-- cannot add a NOT NULL column without a default).
ALTER TABLE api_tokens ADD COLUMN user_id TEXT REFERENCES users (id);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Existing tokens. The demo's token ("demo", seeded with the demo admin) belongs to the demo
-- admin. Nothing says which of the other tokens are the same person, so each gets a user of
-- its own (`usr_<token id>`, email `<token id>@tokens.invalid`, no password: it cannot log
-- in): they keep working and keep counting as the approvers they counted as before, and an
-- admin can move them to real users (`skill tokens create --user`, then revoke the old one).
UPDATE api_tokens SET user_id = (
    SELECT u.id FROM users u WHERE u.name = 'Demo admin' AND u.role = 'admin'
    ORDER BY u.created_at LIMIT 1
) WHERE name = 'demo' AND role = 'admin' AND user_id IS NULL;
INSERT INTO users (id, email, name, role, password_hash, slack_user_id, created_at)
SELECT 'usr_' || id, id || '@tokens.invalid', 'token ' || name, role, NULL, NULL, created_at
FROM api_tokens WHERE user_id IS NULL;
UPDATE api_tokens SET user_id = 'usr_' || id WHERE user_id IS NULL;

-- Votes are keyed by the voter (a user id, or `cli:<os user>` for the command line), no longer
-- by the approver's label, so one person with two tokens, or a token and a linked Slack id,
-- votes once. Votes recorded before keep their label as the voter.
CREATE TABLE approval_votes_v2 (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    voter TEXT NOT NULL,
    user_id TEXT,
    approver TEXT NOT NULL,
    actor TEXT NOT NULL,
    channel TEXT NOT NULL,
    voted_at BIGINT NOT NULL,
    PRIMARY KEY (approval_id, voter)
);
INSERT INTO approval_votes_v2 (approval_id, voter, user_id, approver, actor, channel, voted_at)
SELECT approval_id, approver, NULL, approver, actor, channel, voted_at FROM approval_votes;
DROP TABLE approval_votes;
ALTER TABLE approval_votes_v2 RENAME TO approval_votes;
