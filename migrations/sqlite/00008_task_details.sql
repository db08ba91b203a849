-- +goose Up
-- Priority, due date, labels and completion time of tasks, as on Postgres
-- (migrations/postgres/00009_task_details.sql, which explains the
-- choices): priority as its rank (LOW 1 to URGENT 4), labels in a table
-- of their own whose index (organization_id, label, task_id) will serve a
-- label filter. Existing tasks become MEDIUM, with no due date and no
-- labels; those already COMPLETED get their updated_at as completed_at,
-- the only time recorded that is not earlier than their completion.
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4);
ALTER TABLE tasks ADD COLUMN due_at TIMESTAMP NULL;
ALTER TABLE tasks ADD COLUMN completed_at TIMESTAMP NULL;
UPDATE tasks SET completed_at = updated_at WHERE status = 'COMPLETED';

CREATE TABLE task_labels (
    organization_id INTEGER NOT NULL,
    task_id         INTEGER NOT NULL,
    label           TEXT    NOT NULL CHECK (length(label) BETWEEN 1 AND 50),
    PRIMARY KEY (organization_id, task_id, label),
    CONSTRAINT task_labels_task_fkey FOREIGN KEY (organization_id, task_id)
        REFERENCES tasks (organization_id, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX task_labels_org_label_task_idx ON task_labels (organization_id, label, task_id DESC);

-- +goose Down
DROP TABLE task_labels;
ALTER TABLE tasks DROP COLUMN completed_at;
ALTER TABLE tasks DROP COLUMN due_at;
ALTER TABLE tasks DROP COLUMN priority;
