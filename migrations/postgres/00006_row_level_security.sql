-- +goose Up
-- Row-level security: the database's own wall between tenants, behind the
-- organization_id filter every store statement carries already. The
-- service connects as a member of taskflow_app, a role that owns nothing
-- and so is bound by every policy below; these migrations run as the
-- owner (MIGRATION_DATABASE_URL, see the README's "Tenant isolation").
-- Each tenant-scoped transaction first runs
--   SELECT set_config('app.organization_id', '<id>', true)
-- (transaction-local: a pooled connection never carries a tenant into
-- the next request). Without it current_setting(..., true) is NULL, or ''
-- once the setting has been used in the session, and NULLIF(...)::bigint
-- is NULL, so the policies match no row and raise no error: fail closed.
--
-- Roles belong to the whole server, not to this database: taskflow_app is
-- created here when missing (the migrating role then needs CREATEROLE, or
-- an administrator creates it once beforehand), and Down leaves it.

-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'taskflow_app') THEN
        CREATE ROLE taskflow_app NOLOGIN;
    END IF;
EXCEPTION
    -- Another database's migration created it meanwhile: as good.
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'role taskflow_app does not exist and % may not create it', current_user
            USING HINT = 'As an administrator run CREATE ROLE taskflow_app NOLOGIN once, or grant CREATEROLE to the migrating role.';
END
$$;
-- +goose StatementEnd

-- What the stores run, and nothing more. Organizations get no INSERT (see
-- taskflow_create_organization) and no DELETE; UPDATE only because the
-- organization row lock (SELECT ... FOR NO KEY UPDATE) requires it.
GRANT USAGE ON SCHEMA public TO taskflow_app;
GRANT SELECT, UPDATE ON organizations TO taskflow_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, invites, tasks TO taskflow_app;
GRANT USAGE ON SEQUENCE users_id_seq, invites_id_seq, tasks_id_seq TO taskflow_app;
-- The installation id names the deployment; it is not tenant data.
GRANT SELECT ON installation TO taskflow_app;

-- FORCE makes the policies bind the tables' owner as well: a deployment
-- that connects the service as the owner still keeps tenants apart.
-- Superusers and BYPASSRLS roles are never bound; the service logs an
-- error at start-up when it connects as one.
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations
    USING      (id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

ALTER TABLE invites ENABLE ROW LEVEL SECURITY;
ALTER TABLE invites FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invites
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- The narrow paths, taken before the tenant is known, are open on purpose
-- and only this far:
--
--   login         one user, the one with the email being logged in with;
--   sign-up       one invite, the one whose code hash is being redeemed;
--   new tenant    inserting one new organization.
--
-- SECURITY DEFINER alone could not open them: FORCE binds the owner too,
-- and only superusers and BYPASSRLS roles escape policies, which this
-- schema must not require. So each lookup is a read-only policy keyed on
-- a setting of its own that only its function sets, transaction-locally,
-- for its one query, and clears right after (a function's SET clause would
-- restore it by itself, but needs superuser for a custom setting). The
-- login and sign-up policies are FOR SELECT: nothing can be written
-- through them.
CREATE POLICY login_lookup ON users FOR SELECT
    USING (lower(email) = NULLIF(current_setting('app.login_email', true), ''));
CREATE POLICY signup_lookup ON invites FOR SELECT
    USING (code_hash = NULLIF(current_setting('app.invite_code_hash', true), ''));

-- +goose StatementBegin
CREATE FUNCTION taskflow_user_by_email(p_email text)
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

-- +goose StatementBegin
CREATE FUNCTION taskflow_invite_by_code_hash(p_code_hash text)
RETURNS TABLE (organization_id bigint, id bigint, code_hash text, role text, email text,
               expires_at timestamptz, created_at timestamptz, used_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('app.invite_code_hash', p_code_hash, true);
    RETURN QUERY
        SELECT i.organization_id, i.id, i.code_hash, i.role, i.email, i.expires_at, i.created_at, i.used_at
        FROM public.invites i
        WHERE i.code_hash = p_code_hash;
    PERFORM set_config('app.invite_code_hash', '', true);
END
$$;
-- +goose StatementEnd

-- A new organization is its own tenant as soon as it has an id: the
-- function draws the id, makes it the tenant for its insert (so the
-- ordinary policy admits the row), and puts back the caller's tenant. It
-- runs with its owner's rights because the application role has neither
-- INSERT on organizations nor the sequence: this is its only way in.
-- +goose StatementBegin
CREATE FUNCTION taskflow_create_organization(p_name text, p_created_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id   bigint := nextval('public.organizations_id_seq');
    v_prev text   := current_setting('app.organization_id', true);
BEGIN
    PERFORM set_config('app.organization_id', v_id::text, true);
    INSERT INTO public.organizations (id, name, created_at) VALUES (v_id, p_name, p_created_at);
    PERFORM set_config('app.organization_id', coalesce(v_prev, ''), true);
    RETURN v_id;
END
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION taskflow_user_by_email(text), taskflow_invite_by_code_hash(text),
    taskflow_create_organization(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION taskflow_user_by_email(text), taskflow_invite_by_code_hash(text),
    taskflow_create_organization(text, timestamptz) TO taskflow_app;

-- +goose Down
DROP FUNCTION taskflow_create_organization(text, timestamptz);
DROP FUNCTION taskflow_invite_by_code_hash(text);
DROP FUNCTION taskflow_user_by_email(text);

DROP POLICY signup_lookup ON invites;
DROP POLICY login_lookup ON users;
DROP POLICY tenant_isolation ON tasks;
DROP POLICY tenant_isolation ON invites;
DROP POLICY tenant_isolation ON users;
DROP POLICY tenant_isolation ON organizations;
ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE invites NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE users NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE organizations NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;

-- The role stays (other databases on the server may use it); its rights
-- here go, so that it can be dropped once no database needs it.
REVOKE ALL ON installation, tasks, invites, users, organizations FROM taskflow_app;
REVOKE ALL ON SEQUENCE users_id_seq, invites_id_seq, tasks_id_seq FROM taskflow_app;
REVOKE USAGE ON SCHEMA public FROM taskflow_app;
