-- Mentions and notification settings.
--
-- `messages.mentions`: the handles a message mentions, space-separated,
-- as the server resolved them when it was stored or last edited (`room`
-- for @room); handles never change, so a rename cannot break one.
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '';

-- One row per person a message mentions (`user_id` NULL: @room, everyone
-- in the room), for each reader's mention count; removed when the message
-- is deleted, replaced when it is edited.
CREATE TABLE mentions (
    conv_id   INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    user_id   INTEGER REFERENCES users(id) ON DELETE CASCADE,
    sender_id INTEGER
);
CREATE INDEX mentions_user ON mentions(user_id, conv_id, seq);
CREATE INDEX mentions_message ON mentions(conv_id, seq);

-- What each person is notified of, per conversation: every message
-- ('all'), mentions and direct messages ('mentions', the default, kept as
-- no row), or nothing ('none').
CREATE TABLE notify_settings (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conv_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    level   TEXT NOT NULL CHECK (level IN ('all', 'none')),
    PRIMARY KEY (user_id, conv_id)
);
