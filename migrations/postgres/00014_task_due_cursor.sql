-- +goose Up
-- The "due" sort orders by one key, the due date or 'infinity' when there
-- is none: tasks without a due date sort after every real date (the
-- domain allows years 1 to 9999 only), then by id descending. A keyset
-- cursor is then one bound on that key, whether it points at a dated task
-- or into the undated tail, and the index range starts at the cursor. The
-- index of 00011, (organization_id, due_at ASC NULLS LAST, id DESC),
-- served the order but not the cursor: "due_at >= ? OR due_at IS NULL" is
-- no range, so a deep page filtered every row before it.
-- The key is a CASE, not COALESCE(due_at, 'infinity'): under row-level
-- security (00006) the planner makes a condition an index condition only
-- if it cannot leak, and it takes every COALESCE for leaky (CASE, IS NULL
-- and the timestamptz comparisons are not), which left the bound a filter.
-- SQLite has the same key (migrations/sqlite/00013).
DROP INDEX tasks_org_due_idx;
CREATE INDEX tasks_org_due_key_idx
    ON tasks (organization_id, (CASE WHEN due_at IS NULL THEN 'infinity' ELSE due_at END), id DESC);

-- +goose Down
DROP INDEX tasks_org_due_key_idx;
CREATE INDEX tasks_org_due_idx ON tasks (organization_id, due_at ASC NULLS LAST, id DESC);
