-- +goose Up
CREATE TABLE invites (
    organization_id INTEGER   NOT NULL REFERENCES organizations (id),
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    -- Only a hash of the code is kept; it is unique so that sign-up can
    -- find the invite (and so its organization) from the code alone.
    code_hash       TEXT      NOT NULL UNIQUE,
    role            TEXT      NOT NULL CHECK (role IN ('ADMIN', 'USER')),
    -- NULL: anyone holding the code may use it.
    email           TEXT      NULL,
    expires_at      TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    used_at         TIMESTAMP NULL,
    UNIQUE (organization_id, id)
);

-- +goose Down
DROP TABLE invites;
