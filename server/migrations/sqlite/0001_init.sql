-- Users who signed in with a password. `name_key` is the lowercase name,
-- which makes names unique without regard to case.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    name_key      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Sign-in sessions; the cookie holds a random token, the table its SHA-256.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Every conversation: rooms, direct pairs and guest pairs.
-- `conv_key` is 'room:NAME', 'dm:LOWID:HIGHID' or 'guest:USERID:GUESTKEY'.
-- `last_seq` is bumped in the transaction that stores a message, which keeps
-- sequence numbers gap-free per conversation.
CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY,
    conv_key   TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('room', 'dm', 'guest')),
    room_name  TEXT,
    guest_name TEXT,
    last_seq   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- Who is in which conversation, and how far they have read.
CREATE TABLE members (
    conv_id   INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    read_seq  INTEGER NOT NULL DEFAULT 0,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (conv_id, user_id)
);
CREATE INDEX members_user ON members(user_id);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    conv_id     INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    sender_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    sender_name TEXT    NOT NULL,
    client_id   TEXT,
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (conv_id, seq)
);
-- A resend with the same client id is found here and never stored twice.
CREATE UNIQUE INDEX messages_client_id ON messages(sender_id, client_id)
    WHERE client_id IS NOT NULL AND sender_id IS NOT NULL;

INSERT INTO conversations (conv_key, kind, room_name, created_at)
VALUES ('room:lobby', 'room', 'lobby', 0);
