-- Human in the loop: what an approval needs beyond its status. Timestamps are Unix
-- milliseconds; JSON is stored as TEXT.

-- How many different people must approve, the money at stake, and the single-use capability
-- minted when the approval completed (the executor verifies and consumes it).
ALTER TABLE approvals ADD COLUMN approvers_required BIGINT NOT NULL DEFAULT 1;
ALTER TABLE approvals ADD COLUMN amount_cents BIGINT;
ALTER TABLE approvals ADD COLUMN currency TEXT;
ALTER TABLE approvals ADD COLUMN capability TEXT;

-- One row per person who approved (partial approvals when two are needed). The primary key
-- makes a second approval by the same person a no-op.
CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    approver TEXT NOT NULL,
    actor TEXT NOT NULL,
    channel TEXT NOT NULL,
    voted_at BIGINT NOT NULL,
    PRIMARY KEY (approval_id, approver)
);

-- Consumed capability nonces: a capability runs at most once.
CREATE TABLE capability_uses (
    nonce TEXT PRIMARY KEY,
    action_id TEXT NOT NULL,
    used_at BIGINT NOT NULL
);
CREATE INDEX capability_uses_action ON capability_uses (action_id);
