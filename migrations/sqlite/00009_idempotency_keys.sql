-- +goose Up
-- The Idempotency-Key of each caller and the answer to the first request
-- that used it; see migrations/postgres/00010_idempotency_keys.sql for
-- the columns. The primary key leads with the organization.
CREATE TABLE idempotency_keys (
    organization_id INTEGER   NOT NULL REFERENCES organizations (id),
    caller          TEXT      NOT NULL,
    key             TEXT      NOT NULL,
    fingerprint     TEXT      NOT NULL,
    token           TEXT      NOT NULL,
    lease_until     TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    status          INTEGER   NULL,
    header          TEXT      NULL,
    body            BLOB      NULL,
    PRIMARY KEY (organization_id, caller, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (organization_id, expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
