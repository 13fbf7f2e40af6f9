-- The SDK endpoint health of each app (issue #13, docs/bench/dashboard.md): the seq of its
-- newest successful and newest failed `tool.called` audit entry, kept up to date by the store
-- in the same transaction that appends the entry. The overview and the Apps pages read two
-- rows by primary key instead of scanning thousands of `tool.called` entries per app for
-- `"ok":true` / `"ok":false` (p95 754 ms on 10M audit rows).
CREATE TABLE sdk_endpoint_health (
    app TEXT PRIMARY KEY,
    ok_seq BIGINT,
    failed_seq BIGINT
);

-- What the trail already holds (one pass over the `tool.called` entries; none on a new
-- database). The data column is canonical JSON: keys sorted, no spaces.
INSERT INTO sdk_endpoint_health (app, ok_seq, failed_seq)
SELECT app,
       MAX(CASE WHEN data LIKE '%"ok":true%' THEN seq END),
       MAX(CASE WHEN data LIKE '%"ok":false%' THEN seq END)
FROM audit_log
WHERE kind = 'tool.called' AND app IS NOT NULL
GROUP BY app;
