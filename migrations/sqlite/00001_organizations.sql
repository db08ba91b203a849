-- +goose Up
-- The schema of migrations/postgres in SQLite's dialect: the same tables,
-- keys, checks and indexes, and the same constraint names where the store
-- matches errors on them.
--
-- Times are TIMESTAMP columns holding UTC text such as
-- '2030-01-02 03:04:05.123456+00:00' (the driver's _time_format=sqlite,
-- set by the adapter), which the driver reads back as times and which
-- sorts in time order. Ids are INTEGER PRIMARY KEY AUTOINCREMENT: the
-- rowid, never reused after a delete, as a Postgres sequence never is.
CREATE TABLE organizations (
    id         INTEGER   PRIMARY KEY AUTOINCREMENT,
    name       TEXT      NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
);

-- +goose Down
DROP TABLE organizations;
