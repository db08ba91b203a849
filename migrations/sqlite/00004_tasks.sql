-- +goose Up
CREATE TABLE tasks (
    organization_id INTEGER   NOT NULL REFERENCES organizations (id),
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    title           TEXT      NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description     TEXT      NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    status          TEXT      NOT NULL CHECK (status IN ('CREATED', 'IN_PROGRESS', 'COMPLETED')),
    assignee_id     INTEGER   NULL,
    -- created_by is deliberately not a foreign key: the author may leave
    -- the organization later, and the task (and the record of who wrote
    -- it) must outlive them.
    created_by      INTEGER   NOT NULL,
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    updated_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    -- version is the optimistic-concurrency token behind ETag/If-Match.
    version         INTEGER   NOT NULL DEFAULT 1 CHECK (version >= 1),
    UNIQUE (organization_id, id),
    -- The assignee must be a member of the task's own organization. No ON
    -- DELETE action: SQLite's SET NULL has no column list and would null
    -- organization_id too. The store unassigns a member's tasks itself
    -- before removing them (moving their version on, which SET NULL would
    -- not do either), and this key refuses a removal that skipped that.
    CONSTRAINT tasks_assignee_fkey FOREIGN KEY (organization_id, assignee_id)
        REFERENCES users (organization_id, id)
);

-- The list queries read one organization's tasks newest first, optionally
-- filtered by status or by assignee; the unfiltered one is served by the
-- (organization_id, id) unique index. The assignee index also serves the
-- foreign key's check when a member is removed.
CREATE INDEX tasks_org_status_id_idx ON tasks (organization_id, status, id DESC);
CREATE INDEX tasks_org_assignee_id_idx ON tasks (organization_id, assignee_id, id DESC);

-- +goose Down
DROP TABLE tasks;
