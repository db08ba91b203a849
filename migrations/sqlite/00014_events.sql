-- +goose Up
-- Events: the outbox (see migrations/postgres/00015_events.sql). Here the
-- one write transaction at a time already numbers events in commit order;
-- event_counters is the counter all the same, so that a rollback leaves
-- no hole and a purge does not reset the numbering.
CREATE TABLE event_counters (
    organization_id INTEGER NOT NULL PRIMARY KEY REFERENCES organizations (id),
    last_id         INTEGER NOT NULL
);

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
DROP TABLE event_counters;
