-- +goose Up
-- Events: the outbox. Every write use case appends the event of its change
-- in the change's transaction. Ids are per organization and follow commit
-- order: event_counters holds each organization's last id, incremented
-- (under that row's lock, held to commit) by each append, so the next
-- writer of an organization numbers its event only once the previous one
-- has committed or rolled back (and a rollback rolls the counter back: no
-- holes). A sequence would number in the order of asking, not of commit.
--
-- The counter is a row of its own, not a column of organizations: the
-- changes that can remove an ADMIN lock the organization row first
-- (sqlstore lockOrg) and then members and tasks, while a task update
-- locks its task and then appends. Were the counter on the organization
-- row, a removal and an update of one of the member's tasks would wait for
-- each other. A transaction that holds its counter waits for nothing else
-- (appends come last), so the counter closes no cycle.
CREATE TABLE event_counters (
    organization_id bigint NOT NULL PRIMARY KEY REFERENCES organizations (id),
    last_id         bigint NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON event_counters TO taskflow_app;
ALTER TABLE event_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_counters
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- No foreign key to users, tasks or the rest: history outlives its
-- subjects (a deleted task's events stay readable until purged). data is
-- json, not jsonb, so that it is served with its keys in the order they
-- were written.
CREATE TABLE events (
    organization_id  bigint      NOT NULL REFERENCES organizations (id),
    id               bigint      NOT NULL,
    type             text        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor_user_id    bigint      NULL,
    actor_api_key_id bigint      NULL,
    request_id       text        NOT NULL DEFAULT '',
    subject_type     text        NOT NULL,
    subject_id       bigint      NOT NULL,
    data             json        NOT NULL,
    PRIMARY KEY (organization_id, id)
);
-- A task's history (GET /tasks/{id}/events), paged by id.
CREATE INDEX events_subject_idx ON events (organization_id, subject_type, subject_id, id);
-- The retention purge, across organizations.
CREATE INDEX events_occurred_at_idx ON events (occurred_at);

-- Events are never updated.
GRANT SELECT, INSERT, DELETE ON events TO taskflow_app;

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- Retention runs across organizations: one more narrow path, like those
-- of 00006. Keyed on a setting that only taskflow_purge_events sets, for
-- its one statement, these policies show and let delete the events older
-- than the cut-off, and nothing else (the DELETE reads the rows it
-- deletes, so it needs the SELECT policy too). Nothing can be inserted or
-- changed through them.
CREATE POLICY retention_read ON events FOR SELECT
    USING (occurred_at < NULLIF(current_setting('app.event_purge_before', true), '')::timestamptz);
CREATE POLICY retention_delete ON events FOR DELETE
    USING (occurred_at < NULLIF(current_setting('app.event_purge_before', true), '')::timestamptz);

-- One replica purges at a time: the function takes a transaction-level
-- advisory lock first, and a call that finds it held (by another
-- replica's purge) deletes nothing and returns 0, so that replica's job
-- waits for its next round.
-- +goose StatementBegin
CREATE FUNCTION taskflow_purge_events(p_before timestamptz, p_limit integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_deleted bigint;
BEGIN
    -- 0x7461736b666c6f77 is "taskflow" in ASCII.
    IF NOT pg_try_advisory_xact_lock(8386110886257651575) THEN
        RETURN 0;
    END IF;
    PERFORM set_config('app.event_purge_before', p_before::text, true);
    DELETE FROM public.events
    WHERE (organization_id, id) IN (
        SELECT e.organization_id, e.id FROM public.events e WHERE e.occurred_at < p_before LIMIT p_limit);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    PERFORM set_config('app.event_purge_before', '', true);
    RETURN v_deleted;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION taskflow_purge_events(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION taskflow_purge_events(timestamptz, integer) TO taskflow_app;

-- +goose Down
DROP FUNCTION taskflow_purge_events(timestamptz, integer);
DROP TABLE events;
DROP TABLE event_counters;
