-- +goose Up
-- A session is one login. Access tokens name it (sid), so ending it ends
-- them at once; refresh tokens rotate inside it.
CREATE TABLE sessions (
    organization_id bigint      NOT NULL,
    id              bigserial,
    user_id         bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz NULL,
    PRIMARY KEY (organization_id, id),
    UNIQUE (id),
    -- A removed member's sessions go with them.
    CONSTRAINT sessions_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user_idx ON sessions (organization_id, user_id);

-- Refresh tokens are stored as SHA-256 hashes. A spent one keeps its row
-- (used_at set), so that presenting it again is recognised as reuse.
CREATE TABLE refresh_tokens (
    organization_id bigint      NOT NULL,
    id              bigserial,
    session_id      bigint      NOT NULL,
    token_hash      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    used_at         timestamptz NULL,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT refresh_tokens_session_fkey FOREIGN KEY (organization_id, session_id)
        REFERENCES sessions (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (organization_id, session_id);

-- Row-level security as for every tenant-owned table (see 00006). A
-- refresh token names its organization, so even the refresh exchange,
-- before any access token, runs scoped: no narrow path is needed here.
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions, refresh_tokens TO taskflow_app;
GRANT USAGE ON SEQUENCE sessions_id_seq, refresh_tokens_id_seq TO taskflow_app;

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE sessions;
