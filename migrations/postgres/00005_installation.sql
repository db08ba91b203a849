-- +goose Up
-- One row naming this database. Caches shared by several deployments
-- (one Redis, several databases) prefix their keys with it, so that
-- organization 1 of one database never reads organization 1 of another.
CREATE TABLE installation (
    id         text        PRIMARY KEY DEFAULT gen_random_uuid()::text,
    singleton  boolean     NOT NULL DEFAULT true UNIQUE CHECK (singleton),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO installation DEFAULT VALUES;

-- +goose Down
DROP TABLE installation;
