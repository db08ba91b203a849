-- +goose Up
-- Who made each invite, so that a member's unused invites can end with
-- their membership or their ADMIN role: a removed ADMIN must not keep a
-- way back in. NULL: made with the organization (its first ADMIN's), or
-- before this column existed.
ALTER TABLE invites ADD COLUMN created_by bigint NULL;

-- The application revokes a leaving member's unused invites itself, in
-- the removal's transaction. The cascade is the backstop for an invite
-- whose insert races the removal: the insert's key-share lock on the
-- member's row makes the removal wait for it, and then takes it along;
-- an insert that comes second fails the check. Used invites go too:
-- nothing else refers to them.
ALTER TABLE invites ADD CONSTRAINT invites_created_by_fkey FOREIGN KEY (organization_id, created_by)
    REFERENCES users (organization_id, id) ON DELETE CASCADE;
CREATE INDEX invites_created_by_idx ON invites (organization_id, created_by);

-- Sign-up's narrow path (00006) returns the invite's columns, now one
-- more. Its rights are granted again as 00006 granted them.
DROP FUNCTION taskflow_invite_by_code_hash(text);
-- +goose StatementBegin
CREATE FUNCTION taskflow_invite_by_code_hash(p_code_hash text)
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
REVOKE ALL ON FUNCTION taskflow_invite_by_code_hash(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION taskflow_invite_by_code_hash(text) TO taskflow_app;

-- +goose Down
DROP FUNCTION taskflow_invite_by_code_hash(text);
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
REVOKE ALL ON FUNCTION taskflow_invite_by_code_hash(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION taskflow_invite_by_code_hash(text) TO taskflow_app;

DROP INDEX invites_created_by_idx;
ALTER TABLE invites DROP CONSTRAINT invites_created_by_fkey;
ALTER TABLE invites DROP COLUMN created_by;
