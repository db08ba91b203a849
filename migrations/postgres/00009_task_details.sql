-- +goose Up
-- Priority, due date, labels and completion time of tasks. Existing tasks
-- become MEDIUM, with no due date and no labels.
--
-- priority is stored as its rank (LOW 1, MEDIUM 2, HIGH 3, URGENT 4, as
-- domain.Priority.Rank), not as text: a "-priority" sort is then a plain
-- descending order that an index (organization_id, priority DESC, id DESC)
-- can serve, URGENT first, without a CASE over names.
ALTER TABLE tasks
    ADD COLUMN priority     smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    ADD COLUMN due_at       timestamptz NULL,
    ADD COLUMN completed_at timestamptz NULL;

-- completed_at is set by the state machine from now on. A task that was
-- COMPLETED before this migration gets its updated_at: nothing older
-- recorded the moment, and updated_at is that moment or later (a task may
-- still be edited after it is completed), so it never claims an earlier
-- completion than the true one.
UPDATE tasks SET completed_at = updated_at WHERE status = 'COMPLETED';

-- Labels live in a table of their own, one row per label, rather than in
-- an array on the task: a label filter is then an index seek led by the
-- organization, (organization_id, label, task_id), the same on Postgres
-- and SQLite, where an array (or SQLite's JSON) could be searched only by
-- a GIN index that cannot lead with organization_id without btree_gin, or
-- not at all. The primary key serves reading a task's labels, and makes
-- the set a set. Labels are stored normalised (trimmed, lower-cased);
-- the check is the domain's limit per label, the count per task (20) is
-- the domain's alone.
CREATE TABLE task_labels (
    organization_id bigint NOT NULL,
    task_id         bigint NOT NULL,
    label           text   NOT NULL CHECK (char_length(label) BETWEEN 1 AND 50),
    PRIMARY KEY (organization_id, task_id, label),
    CONSTRAINT task_labels_task_fkey FOREIGN KEY (organization_id, task_id)
        REFERENCES tasks (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX task_labels_org_label_task_idx ON task_labels (organization_id, label, task_id DESC);

-- Row-level security as for tasks (00006): the service's role reads and
-- writes only its tenant's labels.
GRANT SELECT, INSERT, DELETE ON task_labels TO taskflow_app;
ALTER TABLE task_labels ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_labels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON task_labels
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- +goose Down
DROP TABLE task_labels;
ALTER TABLE tasks
    DROP COLUMN completed_at,
    DROP COLUMN due_at,
    DROP COLUMN priority;
