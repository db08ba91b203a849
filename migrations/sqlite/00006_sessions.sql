-- +goose Up
-- A session is one login. Access tokens name it (sid), so ending it ends
-- them at once; refresh tokens rotate inside it.
CREATE TABLE sessions (
    organization_id INTEGER   NOT NULL,
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER   NOT NULL,
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    expires_at      TIMESTAMP NOT NULL,
    revoked_at      TIMESTAMP NULL,
    UNIQUE (organization_id, id),
    -- A removed member's sessions go with them.
    CONSTRAINT sessions_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user_idx ON sessions (organization_id, user_id);

-- Refresh tokens are stored as SHA-256 hashes. A spent one keeps its row
-- (used_at set), so that presenting it again is recognised as reuse.
CREATE TABLE refresh_tokens (
    organization_id INTEGER   NOT NULL,
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    session_id      INTEGER   NOT NULL,
    token_hash      TEXT      NOT NULL UNIQUE,
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    used_at         TIMESTAMP NULL,
    CONSTRAINT refresh_tokens_session_fkey FOREIGN KEY (organization_id, session_id)
        REFERENCES sessions (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (organization_id, session_id);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE sessions;
