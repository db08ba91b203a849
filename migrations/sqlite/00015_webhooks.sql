-- +goose Up
-- Webhooks and their deliveries log (see migrations/postgres/00016_webhooks.sql).
-- One process serves a SQLite file, so the dispatcher's claim needs no
-- SKIP LOCKED: its write transaction excludes every other.
CREATE TABLE webhooks (
    organization_id     INTEGER   NOT NULL REFERENCES organizations (id),
    id                  INTEGER   PRIMARY KEY AUTOINCREMENT,
    url                 TEXT      NOT NULL,
    events              TEXT      NOT NULL,
    description         TEXT      NOT NULL DEFAULT '',
    active              BOOLEAN   NOT NULL DEFAULT 1,
    disabled_reason     TEXT      NOT NULL DEFAULT '',
    secret              BLOB      NOT NULL,
    previous_secret     BLOB      NULL,
    previous_expires_at TIMESTAMP NULL,
    event_cursor        INTEGER   NOT NULL DEFAULT 0,
    attempt             INTEGER   NOT NULL DEFAULT 0,
    next_attempt_at     TIMESTAMP NOT NULL,
    failures            INTEGER   NOT NULL DEFAULT 0,
    claim_token         TEXT      NOT NULL DEFAULT '',
    claimed_until       TIMESTAMP NULL,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    UNIQUE (organization_id, id)
);
CREATE INDEX webhooks_due_idx ON webhooks (next_attempt_at) WHERE active;

CREATE TABLE webhook_deliveries (
    organization_id INTEGER   NOT NULL,
    webhook_id      INTEGER   NOT NULL,
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    event_id        INTEGER   NULL,
    event_type      TEXT      NOT NULL,
    attempt         INTEGER   NOT NULL,
    status_code     INTEGER   NULL,
    error           TEXT      NOT NULL DEFAULT '',
    duration_ms     INTEGER   NOT NULL,
    delivered_at    TIMESTAMP NOT NULL,
    FOREIGN KEY (organization_id, webhook_id) REFERENCES webhooks (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_hook_idx ON webhook_deliveries (organization_id, webhook_id, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
