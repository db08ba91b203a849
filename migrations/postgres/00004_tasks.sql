-- +goose Up
CREATE TABLE tasks (
    organization_id bigint      NOT NULL REFERENCES organizations (id),
    id              bigserial,
    title           text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description     text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    status          text        NOT NULL CHECK (status IN ('CREATED', 'IN_PROGRESS', 'COMPLETED')),
    assignee_id     bigint      NULL,
    -- created_by is deliberately not a foreign key: the author may leave
    -- the organization later, and the task (and the record of who wrote
    -- it) must outlive them.
    created_by      bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- version is the optimistic-concurrency token behind ETag/If-Match.
    version         bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
    PRIMARY KEY (organization_id, id),
    -- The assignee must be a member of the task's own organization. The
    -- column list on SET NULL (PostgreSQL 15) clears assignee_id only:
    -- nulling organization_id too would orphan the task.
    CONSTRAINT tasks_assignee_fkey FOREIGN KEY (organization_id, assignee_id)
        REFERENCES users (organization_id, id) ON DELETE SET NULL (assignee_id)
);

-- The list queries read one organization's tasks newest first, optionally
-- filtered by status or by assignee. The unfiltered one is served by the
-- primary key, scanned backwards, so it needs no index of its own. The
-- assignee index also serves the foreign key's ON DELETE SET NULL.
CREATE INDEX tasks_org_status_id_idx ON tasks (organization_id, status, id DESC);
CREATE INDEX tasks_org_assignee_id_idx ON tasks (organization_id, assignee_id, id DESC);

-- +goose Down
DROP TABLE tasks;
