-- +goose Up
-- The "due" sort orders by the due date or 'infinity' when there is none,
-- then id descending, as on Postgres
-- (migrations/postgres/00014_task_due_cursor.sql, which explains it).
-- Times are stored as UTC text ('2006-01-02 15:04:05...', years 1 to
-- 9999), so the text 'infinity' sorts after every one of them: undated
-- tasks come last, and a cursor anywhere, in the dated part or in the
-- undated tail, is one range of this index. The index of 00010 could not
-- say NULLS LAST, so that order needed a sort.
DROP INDEX tasks_org_due_idx;
CREATE INDEX tasks_org_due_key_idx
    ON tasks (organization_id, (CASE WHEN due_at IS NULL THEN 'infinity' ELSE due_at END), id DESC);

-- +goose Down
DROP INDEX tasks_org_due_key_idx;
CREATE INDEX tasks_org_due_idx ON tasks (organization_id, due_at ASC, id DESC);
