-- +goose Up
-- API keys: a member's personal credentials for scripts and integrations.
-- Only the SHA-256 of the secret is stored (the secret is 256 random bits,
-- so a fast hash is as safe as a slow one and keeps the per-request lookup
-- cheap); prefix is its first characters, for recognition in a list.
CREATE TABLE api_keys (
    organization_id bigint      NOT NULL,
    id              bigserial,
    user_id         bigint      NOT NULL,
    name            text        NOT NULL,
    prefix          text        NOT NULL,
    key_hash        text        NOT NULL,
    read_only       boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NULL,
    last_used_at    timestamptz NULL,
    PRIMARY KEY (organization_id, id),
    UNIQUE (id),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    -- A removed member's keys go with them.
    CONSTRAINT api_keys_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_user_idx ON api_keys (organization_id, user_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO taskflow_app;
GRANT USAGE ON SEQUENCE api_keys_id_seq TO taskflow_app;

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- The key names no organization, so the lookup runs before the tenant is
-- known: one more narrow path like taskflow_user_by_email (00006), a
-- read-only policy keyed on a setting that only this function sets, for
-- its one query. It shows the one key whose hash is presented, and no
-- other table.
CREATE POLICY key_lookup ON api_keys FOR SELECT
    USING (key_hash = NULLIF(current_setting('app.api_key_hash', true), ''));

-- +goose StatementBegin
CREATE FUNCTION taskflow_api_key_by_hash(p_key_hash text)
RETURNS TABLE (organization_id bigint, id bigint, user_id bigint, name text, prefix text, key_hash text,
               read_only boolean, created_at timestamptz, expires_at timestamptz, last_used_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('app.api_key_hash', p_key_hash, true);
    RETURN QUERY
        SELECT k.organization_id, k.id, k.user_id, k.name, k.prefix, k.key_hash,
               k.read_only, k.created_at, k.expires_at, k.last_used_at
        FROM public.api_keys k
        WHERE k.key_hash = p_key_hash;
    PERFORM set_config('app.api_key_hash', '', true);
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION taskflow_api_key_by_hash(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION taskflow_api_key_by_hash(text) TO taskflow_app;

-- +goose Down
DROP FUNCTION taskflow_api_key_by_hash(text);
DROP TABLE api_keys;
