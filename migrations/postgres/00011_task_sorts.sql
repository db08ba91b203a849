-- +goose Up
-- One index per list sort, each led by organization_id and ending in the
-- sort's tie-break (id DESC), so a page of any sort is a range of one
-- index read in order: no Sort node, and a keyset cursor starts the range
-- where the previous page ended. The creation sorts are id order, which
-- the primary key (organization_id, id) already serves both ways.
-- "updated" (updated_at ascending, id descending) mixes directions, so
-- it cannot be the backward scan of the "-updated" index and has its own.
-- "due" puts tasks without a due date last, as the index does.
CREATE INDEX tasks_org_updated_desc_idx ON tasks (organization_id, updated_at DESC, id DESC);
CREATE INDEX tasks_org_updated_asc_idx  ON tasks (organization_id, updated_at ASC, id DESC);
CREATE INDEX tasks_org_due_idx          ON tasks (organization_id, due_at ASC NULLS LAST, id DESC);
CREATE INDEX tasks_org_priority_idx     ON tasks (organization_id, priority DESC, id DESC);

-- +goose Down
DROP INDEX tasks_org_priority_idx;
DROP INDEX tasks_org_due_idx;
DROP INDEX tasks_org_updated_asc_idx;
DROP INDEX tasks_org_updated_desc_idx;
