-- +goose Up
-- Events: the outbox (see migrations/postgres/00015_events.sql). Here the
-- one write transaction at a time already numbers events in commit order;
-- organizations.event_seq is the counter all the same, so that a
-- rollback leaves no hole and a purge does not reset the numbering.
ALTER TABLE organizations ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    organization_id  INTEGER   NOT NULL REFERENCES organizations (id),
    id               INTEGER   NOT NULL,
    type             TEXT      NOT NULL,
    occurred_at      TIMESTAMP NOT NULL,
    actor_user_id    INTEGER   NULL,
    actor_api_key_id INTEGER   NULL,
    request_id       TEXT      NOT NULL DEFAULT '',
    subject_type     TEXT      NOT NULL,
    subject_id       INTEGER   NOT NULL,
    data             TEXT      NOT NULL,
    PRIMARY KEY (organization_id, id)
);
CREATE INDEX events_subject_idx ON events (organization_id, subject_type, subject_id, id);
CREATE INDEX events_occurred_at_idx ON events (occurred_at);

-- +goose Down
DROP TABLE events;
ALTER TABLE organizations DROP COLUMN event_seq;
