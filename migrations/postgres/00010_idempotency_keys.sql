-- +goose Up
-- The Idempotency-Key of each caller, and the answer to the first request
-- that used it, kept for 24 hours (expires_at) so that a retry on any
-- replica is answered the same. The key is the caller's own: the primary
-- key leads with the organization, as every tenant-owned table's, then
-- the caller ("user:7") and the key as the client sent it.
--
-- A row is in progress (status NULL) from the request's first statement
-- until the transaction that writes the resource completes it; token
-- tells the request that holds it from one that took it over after
-- lease_until (the holder crashed). header is a JSON array of [name,
-- value] pairs; body the answer's bytes, which may hold a secret shown
-- once (an invite code): the row is read by that caller only.
CREATE TABLE idempotency_keys (
    organization_id bigint      NOT NULL REFERENCES organizations (id),
    caller          text        NOT NULL,
    key             text        NOT NULL,
    fingerprint     text        NOT NULL,
    token           text        NOT NULL,
    lease_until     timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    status          integer     NULL,
    header          text        NULL,
    body            bytea       NULL,
    PRIMARY KEY (organization_id, caller, key)
);
-- The lazy purge deletes an organization's expired keys.
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (organization_id, expires_at);

-- Row-level security as for every tenant-owned table (see 00006).
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO taskflow_app;

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- +goose Down
DROP TABLE idempotency_keys;
