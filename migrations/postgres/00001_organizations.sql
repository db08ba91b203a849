-- +goose Up
-- Organizations are the tenants. Every tenant-owned table below carries
-- organization_id in its primary key, so that a row can only ever point at
-- rows of its own organization, and row-level security can be added later
-- with one policy per table.
CREATE TABLE organizations (
    id         bigserial   PRIMARY KEY,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE organizations;
