-- +goose Up
-- Webhooks: endpoints an organization's ADMIN registered to receive its
-- events, with the state of their delivery, and the log of attempts.
--
-- Delivery state, per hook: event_cursor is the last event the hook is
-- done with (delivered, exhausted, or not matching its patterns); the
-- event being delivered is the first matching one after it. attempt and
-- next_attempt_at say where its retries stand, failures counts exhausted
-- events in a row. A dispatcher claims a hook (claim_token, claimed_until:
-- a lease) so that the HTTP call runs outside any transaction and each
-- attempt is made by exactly one replica.
--
-- secret and previous_secret are sealed (AES-GCM under a key derived from
-- SECRET_KEY): the service must read them back to sign.
CREATE TABLE webhooks (
    organization_id     bigint      NOT NULL REFERENCES organizations (id),
    id                  bigserial,
    url                 text        NOT NULL,
    events              text        NOT NULL,
    description         text        NOT NULL DEFAULT '',
    active              boolean     NOT NULL DEFAULT true,
    disabled_reason     text        NOT NULL DEFAULT '',
    secret              bytea       NOT NULL,
    previous_secret     bytea       NULL,
    previous_expires_at timestamptz NULL,
    event_cursor        bigint      NOT NULL DEFAULT 0,
    attempt             integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL,
    failures            integer     NOT NULL DEFAULT 0,
    claim_token         text        NOT NULL DEFAULT '',
    claimed_until       timestamptz NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    -- Keyed by organization first, like every tenant table, so that the
    -- table can be distributed by organization (docs/SCALING.md).
    PRIMARY KEY (organization_id, id)
);
-- The dispatcher's claim: active hooks by due time.
CREATE INDEX webhooks_due_idx ON webhooks (next_attempt_at) WHERE active;

-- The last attempts per hook (bounded by the store: the newest 100).
CREATE TABLE webhook_deliveries (
    organization_id bigint      NOT NULL,
    webhook_id      bigint      NOT NULL,
    id              bigserial,
    event_id        bigint      NULL,
    event_type      text        NOT NULL,
    attempt         integer     NOT NULL,
    status_code     integer     NULL,
    error           text        NOT NULL DEFAULT '',
    duration_ms     bigint      NOT NULL,
    delivered_at    timestamptz NOT NULL,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT webhook_deliveries_webhook_fkey FOREIGN KEY (organization_id, webhook_id)
        REFERENCES webhooks (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_hook_idx ON webhook_deliveries (organization_id, webhook_id, id);

GRANT SELECT, INSERT, UPDATE, DELETE ON webhooks TO taskflow_app;
GRANT SELECT, INSERT, DELETE ON webhook_deliveries TO taskflow_app;
GRANT USAGE ON SEQUENCE webhooks_id_seq, webhook_deliveries_id_seq TO taskflow_app;

ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhooks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhooks
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- The dispatcher works across organizations: it must find the hooks that
-- are due, whichever tenant they belong to. One more narrow path like
-- those of 00006, 00012 and 00015 (not a role of its own, which every
-- deployment would have to create and grant; not SECURITY DEFINER alone,
-- which FORCE defeats): policies keyed on a setting that only
-- taskflow_claim_webhooks sets, for its one statement. They show the
-- webhooks rows and let update them (the claim columns are all the
-- function writes), and show the events rows, read only, to tell which
-- hooks have events after their cursor (the function returns nothing of
-- them). Nothing else: no insert, no delete, no delivery log. Everything
-- after the claim (reading the events, settling the attempt) runs
-- confined to the hook's organization, under tenant_isolation.
CREATE POLICY dispatch_claim_read ON webhooks FOR SELECT
    USING (current_setting('app.webhook_dispatch', true) = 'on');
CREATE POLICY dispatch_claim_update ON webhooks FOR UPDATE
    USING      (current_setting('app.webhook_dispatch', true) = 'on')
    WITH CHECK (current_setting('app.webhook_dispatch', true) = 'on');
CREATE POLICY dispatch_claim_read ON events FOR SELECT
    USING (current_setting('app.webhook_dispatch', true) = 'on');

-- +goose StatementBegin
CREATE FUNCTION taskflow_claim_webhooks(p_now timestamptz, p_until timestamptz, p_token text, p_limit integer)
RETURNS TABLE (organization_id bigint, id bigint, url text, events text, description text, active boolean,
               disabled_reason text, secret bytea, previous_secret bytea, previous_expires_at timestamptz,
               event_cursor bigint, attempt integer, next_attempt_at timestamptz, failures integer,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('app.webhook_dispatch', 'on', true);
    RETURN QUERY
        UPDATE public.webhooks w SET claim_token = p_token, claimed_until = p_until
        WHERE (w.organization_id, w.id) IN (
            SELECT d.organization_id, d.id
            FROM public.webhooks d
            WHERE d.active AND d.next_attempt_at <= p_now
              AND (d.claimed_until IS NULL OR d.claimed_until <= p_now)
              AND EXISTS (SELECT 1 FROM public.events e
                          WHERE e.organization_id = d.organization_id AND e.id > d.event_cursor)
            ORDER BY d.next_attempt_at
            LIMIT p_limit
            FOR UPDATE OF d SKIP LOCKED)
        RETURNING w.organization_id, w.id, w.url, w.events, w.description, w.active,
                  w.disabled_reason, w.secret, w.previous_secret, w.previous_expires_at,
                  w.event_cursor, w.attempt, w.next_attempt_at, w.failures, w.created_at, w.updated_at;
    PERFORM set_config('app.webhook_dispatch', '', true);
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION taskflow_claim_webhooks(timestamptz, timestamptz, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION taskflow_claim_webhooks(timestamptz, timestamptz, text, integer) TO taskflow_app;

-- +goose Down
DROP FUNCTION taskflow_claim_webhooks(timestamptz, timestamptz, text, integer);
DROP POLICY dispatch_claim_read ON events;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
