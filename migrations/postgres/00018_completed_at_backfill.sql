-- +goose Up
-- 00009_task_details.sql gave tasks COMPLETED before it their updated_at as
-- completed_at, but FORCE ROW LEVEL SECURITY binds the migrating owner too:
-- run by a non-superuser owner (the two-role set-up of the README), that
-- UPDATE saw no rows and backfilled nothing. This one lifts FORCE for its
-- statement, inside the migration's transaction, and gives every task that
-- is still COMPLETED without a completion time the same value. A task
-- completed since 00009 has its completed_at from the state machine and
-- is left alone.
ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY;
UPDATE tasks SET completed_at = updated_at WHERE status = 'COMPLETED' AND completed_at IS NULL;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;

-- +goose Down
-- Nothing to undo: the values are what 00009 meant to write.
SELECT 1;
