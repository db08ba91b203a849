-- Run once by the postgres image when its data directory is empty, as
-- POSTGRES_USER (taskflow_owner): that role owns the taskflow database,
-- and the service runs its migrations as it (MIGRATION_DATABASE_URL).
--
-- This creates the role the service connects as (DATABASE_URL): a login
-- role that owns nothing, is neither superuser nor BYPASSRLS, and so is
-- bound by row-level security. Its rights come from the group role
-- taskflow_app, to which the migrations grant exactly what the stores
-- need (migrations/postgres/00006_row_level_security.sql; they create
-- taskflow_app themselves when missing, but the membership needs it now).
--
-- The passwords are for local development: change them (here and in
-- docker-compose.yml) for anything else.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'taskflow_app') THEN
        CREATE ROLE taskflow_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'taskflow') THEN
        CREATE ROLE taskflow LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'taskflow';
    END IF;
END
$$;
GRANT taskflow_app TO taskflow;
