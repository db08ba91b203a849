-- +goose Up
-- Who made each invite, so that a member's unused invites can end with
-- their membership or their ADMIN role: a removed ADMIN must not keep a
-- way back in. NULL: made with the organization (its first ADMIN's), or
-- before this column existed.
--
-- The table is rebuilt because SQLite adds a column with a one-column
-- foreign key only, and the creator must be a member of the invite's own
-- organization: (organization_id, created_by), as on Postgres. Nothing
-- refers to invites, so the rebuild is safe with foreign keys on.
-- The application revokes a leaving member's unused invites itself, in
-- the removal's transaction; the cascade is a backstop.
CREATE TABLE invites_new (
    organization_id INTEGER   NOT NULL REFERENCES organizations (id),
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    code_hash       TEXT      NOT NULL UNIQUE,
    role            TEXT      NOT NULL CHECK (role IN ('ADMIN', 'USER')),
    email           TEXT      NULL,
    expires_at      TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    used_at         TIMESTAMP NULL,
    created_by      INTEGER   NULL,
    UNIQUE (organization_id, id),
    CONSTRAINT invites_created_by_fkey FOREIGN KEY (organization_id, created_by)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);
INSERT INTO invites_new (organization_id, id, code_hash, role, email, expires_at, created_at, used_at)
    SELECT organization_id, id, code_hash, role, email, expires_at, created_at, used_at FROM invites;
DROP TABLE invites;
ALTER TABLE invites_new RENAME TO invites;
CREATE INDEX invites_created_by_idx ON invites (organization_id, created_by);

-- +goose Down
CREATE TABLE invites_old (
    organization_id INTEGER   NOT NULL REFERENCES organizations (id),
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    code_hash       TEXT      NOT NULL UNIQUE,
    role            TEXT      NOT NULL CHECK (role IN ('ADMIN', 'USER')),
    email           TEXT      NULL,
    expires_at      TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    used_at         TIMESTAMP NULL,
    UNIQUE (organization_id, id)
);
INSERT INTO invites_old (organization_id, id, code_hash, role, email, expires_at, created_at, used_at)
    SELECT organization_id, id, code_hash, role, email, expires_at, created_at, used_at FROM invites;
DROP TABLE invites;
ALTER TABLE invites_old RENAME TO invites;
