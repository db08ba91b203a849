-- +goose Up
-- Events are numbered after their change commits, not in its transaction.
--
-- Until now Append took the organization's counter row (event_counters,
-- 00015) in the change's transaction and held its lock to COMMIT, so the
-- writers of one organization serialized on one disk flush each: with 32
-- concurrent writers in one organization, about 400 creates a second
-- where the same inserts without the counter make 2,000.
--
-- Now a change inserts its event into event_queue, which takes no lock
-- anyone else waits for, and commits. taskflow_number_events then moves
-- an organization's queued events into events, numbering them from the
-- counter, in a short transaction of its own. Ids still follow commit
-- order as readers see it: an event is in events (visible) only once its
-- numbering committed, and each numbering takes the counter row's lock,
-- so a later numbering hands out greater ids. A change that rolls back
-- leaves nothing in the queue; one that commits leaves its event there
-- until a numbering takes it (the replica that wrote it numbers at once,
-- and every replica sweeps the queue: see application.Publisher).
CREATE TABLE event_queue (
    organization_id  bigint      NOT NULL REFERENCES organizations (id),
    -- Queue order within an organization, the order ids are given in.
    seq              bigserial   NOT NULL,
    type             text        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor_user_id    bigint      NULL,
    actor_api_key_id bigint      NULL,
    request_id       text        NOT NULL DEFAULT '',
    subject_type     text        NOT NULL,
    subject_id       bigint      NOT NULL,
    data             json        NOT NULL,
    PRIMARY KEY (organization_id, seq)
);
GRANT SELECT, INSERT, DELETE ON event_queue TO taskflow_app;
GRANT USAGE ON SEQUENCE event_queue_seq_seq TO taskflow_app;

ALTER TABLE event_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_queue FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_queue
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- The sweep, across organizations: a narrow path like 00015's retention,
-- keyed on a setting only taskflow_queued_organizations sets, for its one
-- statement. It shows which organizations have queued events, and the
-- function returns nothing else.
CREATE POLICY queue_sweep ON event_queue FOR SELECT
    USING (current_setting('app.event_queue_sweep', true) = 'on');

-- Numbers the organization's queued events (the caller has confined the
-- transaction to p_org: every statement here is under its row-level
-- security) and returns the organization's last event id, 0 before the
-- first. With nothing queued it writes nothing and takes no lock.
-- +goose StatementBegin
CREATE FUNCTION taskflow_number_events(p_org bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_last bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.event_queue q WHERE q.organization_id = p_org) THEN
        SELECT c.last_id INTO v_last FROM public.event_counters c WHERE c.organization_id = p_org;
        RETURN COALESCE(v_last, 0);
    END IF;
    -- The counter row's lock, held to commit, orders numberings. The
    -- statements below each read a snapshot taken after it was granted,
    -- so they see every queued event a previous numbering left.
    INSERT INTO public.event_counters AS c (organization_id, last_id) VALUES (p_org, 0)
    ON CONFLICT (organization_id) DO UPDATE SET last_id = c.last_id
    RETURNING c.last_id INTO v_last;
    WITH queued AS (
        DELETE FROM public.event_queue q WHERE q.organization_id = p_org
        RETURNING q.*
    ), numbered AS (
        INSERT INTO public.events (organization_id, id, type, occurred_at, actor_user_id, actor_api_key_id,
                                   request_id, subject_type, subject_id, data)
        SELECT organization_id, v_last + row_number() OVER (ORDER BY seq), type, occurred_at, actor_user_id,
               actor_api_key_id, request_id, subject_type, subject_id, data
        FROM queued
        RETURNING id
    )
    SELECT COALESCE(max(id), v_last) INTO v_last FROM numbered;
    UPDATE public.event_counters SET last_id = v_last WHERE organization_id = p_org;
    RETURN v_last;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION taskflow_number_events(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION taskflow_number_events(bigint) TO taskflow_app;

-- +goose StatementBegin
CREATE FUNCTION taskflow_queued_organizations(p_limit integer)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('app.event_queue_sweep', 'on', true);
    RETURN QUERY SELECT DISTINCT q.organization_id FROM public.event_queue q ORDER BY 1 LIMIT p_limit;
    PERFORM set_config('app.event_queue_sweep', '', true);
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION taskflow_queued_organizations(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION taskflow_queued_organizations(integer) TO taskflow_app;

-- +goose Down
DROP FUNCTION taskflow_queued_organizations(integer);
DROP FUNCTION taskflow_number_events(bigint);
DROP TABLE event_queue;
