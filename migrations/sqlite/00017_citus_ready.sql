-- +goose Up
-- The lookup tables of migrations/postgres/00019_citus_ready.sql, so that
-- the one store code writes and reads them on both databases: login by
-- email, sign-up by invite code and API key authentication find the
-- row's organization and id here, and the email lookup's primary key is
-- what makes an email taken in any organization. (SQLite is never
-- distributed; its other unique keys stay as they are, since dropping a
-- column's UNIQUE here means rebuilding the table.)
CREATE TABLE user_email_lookup (
    -- lower(email), as the unique index it replaces folded it.
    email           TEXT    NOT NULL PRIMARY KEY,
    organization_id INTEGER NOT NULL,
    user_id         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE invite_code_lookup (
    code_hash       TEXT    NOT NULL PRIMARY KEY,
    organization_id INTEGER NOT NULL,
    invite_id       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE api_key_lookup (
    key_hash        TEXT    NOT NULL PRIMARY KEY,
    organization_id INTEGER NOT NULL,
    api_key_id      INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO user_email_lookup (email, organization_id, user_id)
    SELECT lower(email), organization_id, id FROM users;
INSERT INTO invite_code_lookup (code_hash, organization_id, invite_id)
    SELECT code_hash, organization_id, id FROM invites;
INSERT INTO api_key_lookup (key_hash, organization_id, api_key_id)
    SELECT key_hash, organization_id, id FROM api_keys;

DROP INDEX users_email_lower_key;

-- +goose Down
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
DROP TABLE api_key_lookup;
DROP TABLE invite_code_lookup;
DROP TABLE user_email_lookup;
