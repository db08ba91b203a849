-- +goose Up
CREATE TABLE invites (
    organization_id bigint      NOT NULL REFERENCES organizations (id),
    id              bigserial,
    -- Only a hash of the code is kept; it is unique so that sign-up can
    -- find the invite (and so its organization) from the code alone.
    code_hash       text        NOT NULL UNIQUE,
    role            text        NOT NULL CHECK (role IN ('ADMIN', 'USER')),
    -- NULL: anyone holding the code may use it.
    email           text        NULL,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    used_at         timestamptz NULL,
    PRIMARY KEY (organization_id, id)
);

-- +goose Down
DROP TABLE invites;
