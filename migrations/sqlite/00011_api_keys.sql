-- +goose Up
-- API keys: a member's personal credentials for scripts and integrations.
-- Only the SHA-256 of the secret is stored; prefix is its first
-- characters, for recognition in a list.
CREATE TABLE api_keys (
    organization_id INTEGER   NOT NULL,
    id              INTEGER   PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER   NOT NULL,
    name            TEXT      NOT NULL,
    prefix          TEXT      NOT NULL,
    key_hash        TEXT      NOT NULL UNIQUE,
    read_only       BOOLEAN   NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
    expires_at      TIMESTAMP NULL,
    last_used_at    TIMESTAMP NULL,
    UNIQUE (organization_id, id),
    -- A removed member's keys go with them.
    CONSTRAINT api_keys_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_user_idx ON api_keys (organization_id, user_id);

-- +goose Down
DROP TABLE api_keys;
