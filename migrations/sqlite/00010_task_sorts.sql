-- +goose Up
-- One index per list sort, as on Postgres
-- (migrations/postgres/00011_task_sorts.sql, which explains them). SQLite
-- indexes cannot say NULLS LAST; "due" orders by due_at ASC NULLS LAST,
-- which the index still serves for the dated tasks.
CREATE INDEX tasks_org_updated_desc_idx ON tasks (organization_id, updated_at DESC, id DESC);
CREATE INDEX tasks_org_updated_asc_idx  ON tasks (organization_id, updated_at ASC, id DESC);
CREATE INDEX tasks_org_due_idx          ON tasks (organization_id, due_at ASC, id DESC);
CREATE INDEX tasks_org_priority_idx     ON tasks (organization_id, priority DESC, id DESC);

-- +goose Down
DROP INDEX tasks_org_priority_idx;
DROP INDEX tasks_org_due_idx;
DROP INDEX tasks_org_updated_asc_idx;
DROP INDEX tasks_org_updated_desc_idx;
