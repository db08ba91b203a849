-- +goose Up
CREATE TABLE users (
    organization_id INTEGER   NOT NULL REFERENCES organizations (id),
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    email           TEXT      NOT NULL CHECK (octet_length(email) BETWEEN 3 AND 254),
    password_hash   TEXT      NOT NULL,
    role            TEXT      NOT NULL CHECK (role IN ('ADMIN', 'USER')),
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    -- The composite key is what tenant-owned rows (tasks) reference, so a
    -- task can only be assigned to a member of its own organization. The
    -- id is the rowid, so the composite key is a UNIQUE constraint here
    -- rather than the primary key.
    UNIQUE (organization_id, id)
);

-- An email is one account across the whole service, whatever its case:
-- login looks users up by email before any organization is known.
-- (SQLite's lower() folds ASCII only; the domain stores emails already
-- lower-cased, so the index sees them folded in full.)
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- +goose Down
DROP TABLE users;
