-- Messages that live: edits, deletes, replies and reactions.
--
-- A change is itself a row of `messages`, with the next `seq` of its
-- conversation: `kind` 1 edit (`body` is the new text), 2 delete, 3 react,
-- 4 unreact (`body` is the emoji); `target` is the seq of the message it
-- changes. Plain messages are `kind` 0, as every existing row becomes.
-- The message's own row also holds its current state (text, when edited
-- or deleted, `rev`: the seq of the last change applied), so history is
-- read without replaying the log.
ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN target INTEGER;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;

-- Unread counts leave changes out: they are counted with this index.
CREATE INDEX messages_changes ON messages(conv_id, seq) WHERE kind <> 0;
-- A delete erases the text of the message's edits, found with this one.
CREATE INDEX messages_edits ON messages(conv_id, target) WHERE kind = 1;

-- The earlier versions of edited messages (the current one is the
-- message's own `body`); erased when the message is deleted.
CREATE TABLE message_versions (
    id         INTEGER PRIMARY KEY,
    conv_id    INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX message_versions_message ON message_versions(conv_id, seq);

-- Who reacted to which message with what; one row per person and emoji.
CREATE TABLE reactions (
    id         INTEGER PRIMARY KEY,
    conv_id    INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    emoji      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (conv_id, seq, user_id, emoji)
);
