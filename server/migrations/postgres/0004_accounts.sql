-- The same as migrations/sqlite/0004_accounts.sql, in PostgreSQL's words.
-- People one has blocked: their direct messages are refused.
CREATE TABLE blocks (
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked_id BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
);

-- What a signed-in device is, for the account's list of devices.
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';

-- An account an admin disabled cannot sign in; a room an admin archived
-- is read-only.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE conversations ADD COLUMN archived_at BIGINT;
