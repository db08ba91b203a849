-- +goose Up
CREATE TABLE users (
    organization_id bigint      NOT NULL REFERENCES organizations (id),
    id              bigserial,
    email           text        NOT NULL CHECK (octet_length(email) BETWEEN 3 AND 254),
    password_hash   text        NOT NULL,
    role            text        NOT NULL CHECK (role IN ('ADMIN', 'USER')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- The composite key is what tenant-owned rows (tasks) reference, so a
    -- task can only be assigned to a member of its own organization.
    PRIMARY KEY (organization_id, id),
    UNIQUE (id)
);

-- An email is one account across the whole service, whatever its case:
-- login looks users up by email before any organization is known.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- +goose Down
DROP TABLE users;
