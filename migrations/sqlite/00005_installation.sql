-- +goose Up
-- One row naming this database. Caches shared by several deployments
-- (one Redis, several databases) prefix their keys with it, so that
-- organization 1 of one database never reads organization 1 of another.
CREATE TABLE installation (
    id         TEXT      NOT NULL PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    singleton  INTEGER   NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1),
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);
INSERT INTO installation DEFAULT VALUES;

-- +goose Down
DROP TABLE installation;
