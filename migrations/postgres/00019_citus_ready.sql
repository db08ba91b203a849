-- +goose Up
-- A schema Citus can distribute by organization (docs/SCALING.md).
--
-- Citus enforces a unique key of a distributed table only when the key
-- contains the distribution column, organization_id. Every primary key
-- here does already; these unique keys did not, and go:
--
--   users          UNIQUE (id), UNIQUE INDEX (lower(email))
--   invites        UNIQUE (code_hash)
--   sessions       UNIQUE (id)
--   refresh_tokens UNIQUE (token_hash)   -> UNIQUE (organization_id, token_hash)
--   api_keys       UNIQUE (id), UNIQUE (key_hash)
--
-- Nothing refers to the single-column ones (every foreign key names the
-- organization too), and the refresh exchange already knows its
-- organization (the refresh token names it), so it keeps a per-tenant key.
--
-- The three lookups made before the tenant is known (login by email,
-- sign-up by invite code, a request signed with an API key) go through a
-- lookup table each instead, keyed by the normalized email, the code's
-- hash, the key's hash, holding only (key, organization_id, id): in Citus
-- small reference tables, copied to every node. The key is the primary
-- key, so the lookup table, not a scan of a distributed table, decides
-- that an email is taken in any organization. The stores write each
-- lookup row in the transaction that writes its user, invite or key, and
-- delete it in the one that deletes them. The lookup tables have no
-- foreign keys: Citus allows none from a reference table to a
-- distributed one.
CREATE TABLE user_email_lookup (
    -- lower(email), as the unique index it replaces folded it.
    email           text   NOT NULL PRIMARY KEY,
    organization_id bigint NOT NULL,
    user_id         bigint NOT NULL
);
CREATE TABLE invite_code_lookup (
    code_hash       text   NOT NULL PRIMARY KEY,
    organization_id bigint NOT NULL,
    invite_id       bigint NOT NULL
);
CREATE TABLE api_key_lookup (
    key_hash        text   NOT NULL PRIMARY KEY,
    organization_id bigint NOT NULL,
    api_key_id      bigint NOT NULL
);

-- Row-level security as for every tenant-owned table (00006): a tenant
-- sees and writes its own lookup rows only. The narrow paths below open
-- one row each, read only, keyed on the settings 00006 and 00012 use.
GRANT SELECT, INSERT, DELETE ON user_email_lookup, invite_code_lookup, api_key_lookup TO taskflow_app;

ALTER TABLE user_email_lookup ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_email_lookup FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_email_lookup
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);
CREATE POLICY login_lookup ON user_email_lookup FOR SELECT
    USING (email = NULLIF(current_setting('app.login_email', true), ''));

ALTER TABLE invite_code_lookup ENABLE ROW LEVEL SECURITY;
ALTER TABLE invite_code_lookup FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invite_code_lookup
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);
CREATE POLICY signup_lookup ON invite_code_lookup FOR SELECT
    USING (code_hash = NULLIF(current_setting('app.invite_code_hash', true), ''));

ALTER TABLE api_key_lookup ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_lookup FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_key_lookup
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);
CREATE POLICY key_lookup ON api_key_lookup FOR SELECT
    USING (key_hash = NULLIF(current_setting('app.api_key_hash', true), ''));

-- The backfill, in this migration's transaction: its first ALTER TABLEs
-- lock users, invites and api_keys until the migration commits, so
-- requests on them wait for it (the downtime is the migration's own) and
-- no row is written between the copy and the stores that keep it up. FORCE binds
-- the migrating owner too: lifted for these statements (as 00013 does),
-- so that the copy sees every tenant's rows rather than none.
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE invites NO FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY;
ALTER TABLE user_email_lookup NO FORCE ROW LEVEL SECURITY;
ALTER TABLE invite_code_lookup NO FORCE ROW LEVEL SECURITY;
ALTER TABLE api_key_lookup NO FORCE ROW LEVEL SECURITY;
INSERT INTO user_email_lookup (email, organization_id, user_id)
    SELECT lower(email), organization_id, id FROM users;
INSERT INTO invite_code_lookup (code_hash, organization_id, invite_id)
    SELECT code_hash, organization_id, id FROM invites;
INSERT INTO api_key_lookup (key_hash, organization_id, api_key_id)
    SELECT key_hash, organization_id, id FROM api_keys;
ALTER TABLE api_key_lookup FORCE ROW LEVEL SECURITY;
ALTER TABLE invite_code_lookup FORCE ROW LEVEL SECURITY;
ALTER TABLE user_email_lookup FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
ALTER TABLE invites FORCE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;

-- The keys without organization_id go.
ALTER TABLE users DROP CONSTRAINT users_id_key;
DROP INDEX users_email_lower_key;
ALTER TABLE invites DROP CONSTRAINT invites_code_hash_key;
ALTER TABLE sessions DROP CONSTRAINT sessions_id_key;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_token_hash_key;
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_token_hash_key UNIQUE (organization_id, token_hash);
ALTER TABLE api_keys DROP CONSTRAINT api_keys_id_key;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_key_hash_key;

-- The narrow paths keep their names, arguments and results; each now
-- finds the row's organization and id in its lookup table, then reads the
-- row by its primary key (organization_id, id): in Citus a reference
-- table read and then a single-shard one. The tenant table's own narrow
-- policy (00006, 00012) still decides that the row shows: its key must
-- match the setting too.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION taskflow_user_by_email(p_email text)
RETURNS TABLE (organization_id bigint, id bigint, email text, password_hash text, role text, created_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org bigint;
    v_id  bigint;
BEGIN
    PERFORM set_config('app.login_email', lower(p_email), true);
    SELECT l.organization_id, l.user_id INTO v_org, v_id
        FROM public.user_email_lookup l WHERE l.email = lower(p_email);
    IF FOUND THEN
        RETURN QUERY
            SELECT u.organization_id, u.id, u.email, u.password_hash, u.role, u.created_at
            FROM public.users u
            WHERE u.organization_id = v_org AND u.id = v_id AND lower(u.email) = lower(p_email);
    END IF;
    PERFORM set_config('app.login_email', '', true);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION taskflow_invite_by_code_hash(p_code_hash text)
RETURNS TABLE (organization_id bigint, id bigint, code_hash text, role text, email text,
               expires_at timestamptz, created_at timestamptz, used_at timestamptz, created_by bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org bigint;
    v_id  bigint;
BEGIN
    PERFORM set_config('app.invite_code_hash', p_code_hash, true);
    SELECT l.organization_id, l.invite_id INTO v_org, v_id
        FROM public.invite_code_lookup l WHERE l.code_hash = p_code_hash;
    IF FOUND THEN
        RETURN QUERY
            SELECT i.organization_id, i.id, i.code_hash, i.role, i.email, i.expires_at, i.created_at, i.used_at,
                   i.created_by
            FROM public.invites i
            WHERE i.organization_id = v_org AND i.id = v_id AND i.code_hash = p_code_hash;
    END IF;
    PERFORM set_config('app.invite_code_hash', '', true);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION taskflow_api_key_by_hash(p_key_hash text)
RETURNS TABLE (organization_id bigint, id bigint, user_id bigint, name text, prefix text, key_hash text,
               read_only boolean, created_at timestamptz, expires_at timestamptz, last_used_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org bigint;
    v_id  bigint;
BEGIN
    PERFORM set_config('app.api_key_hash', p_key_hash, true);
    SELECT l.organization_id, l.api_key_id INTO v_org, v_id
        FROM public.api_key_lookup l WHERE l.key_hash = p_key_hash;
    IF FOUND THEN
        RETURN QUERY
            SELECT k.organization_id, k.id, k.user_id, k.name, k.prefix, k.key_hash,
                   k.read_only, k.created_at, k.expires_at, k.last_used_at
            FROM public.api_keys k
            WHERE k.organization_id = v_org AND k.id = v_id AND k.key_hash = p_key_hash;
    END IF;
    PERFORM set_config('app.api_key_hash', '', true);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION taskflow_api_key_by_hash(p_key_hash text)
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION taskflow_invite_by_code_hash(p_code_hash text)
RETURNS TABLE (organization_id bigint, id bigint, code_hash text, role text, email text,
               expires_at timestamptz, created_at timestamptz, used_at timestamptz, created_by bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('app.invite_code_hash', p_code_hash, true);
    RETURN QUERY
        SELECT i.organization_id, i.id, i.code_hash, i.role, i.email, i.expires_at, i.created_at, i.used_at,
               i.created_by
        FROM public.invites i
        WHERE i.code_hash = p_code_hash;
    PERFORM set_config('app.invite_code_hash', '', true);
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION taskflow_user_by_email(p_email text)
RETURNS TABLE (organization_id bigint, id bigint, email text, password_hash text, role text, created_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('app.login_email', lower(p_email), true);
    RETURN QUERY
        SELECT u.organization_id, u.id, u.email, u.password_hash, u.role, u.created_at
        FROM public.users u
        WHERE lower(u.email) = lower(p_email);
    PERFORM set_config('app.login_email', '', true);
END
$$;
-- +goose StatementEnd

ALTER TABLE api_keys ADD CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash);
ALTER TABLE api_keys ADD CONSTRAINT api_keys_id_key UNIQUE (id);
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_token_hash_key;
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash);
ALTER TABLE sessions ADD CONSTRAINT sessions_id_key UNIQUE (id);
ALTER TABLE invites ADD CONSTRAINT invites_code_hash_key UNIQUE (code_hash);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
ALTER TABLE users ADD CONSTRAINT users_id_key UNIQUE (id);

DROP TABLE api_key_lookup;
DROP TABLE invite_code_lookup;
DROP TABLE user_email_lookup;
