-- Private rooms, roles and moderation.
--
-- A room is public (listed, anyone may join) or private (unlisted, by
-- invitation); every existing room stays public. `members.role` is
-- 0 member, 1 moderator, 2 owner: each room's creator (its first member)
-- becomes its owner, and the lobby keeps no owner.
ALTER TABLE conversations ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE members ADD COLUMN role INTEGER NOT NULL DEFAULT 0;

UPDATE members SET role = 2
 WHERE conv_id IN (SELECT id FROM conversations WHERE kind = 'room' AND conv_key <> 'room:lobby')
   AND user_id = (SELECT f.user_id FROM members f WHERE f.conv_id = members.conv_id
                   ORDER BY f.joined_at, f.user_id LIMIT 1);

-- The directory lists public rooms by name.
CREATE INDEX conversations_directory ON conversations(kind, private, room_name);

-- A system line ("bob was muted by alice for 10 minutes") is a row of
-- `messages` with `kind` 5 and the event as JSON in `body`; a message a
-- moderator deleted has `moderated` 1.
ALTER TABLE messages ADD COLUMN moderated INTEGER NOT NULL DEFAULT 0;

-- What a user may do in a room beyond membership: an open invitation, a
-- ban, a mute. Kept apart from `members` so that leaving and rejoining
-- undoes none of them.
CREATE TABLE room_access (
    conv_id     INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    invited_by  TEXT,
    banned      INTEGER NOT NULL DEFAULT 0,
    muted_until INTEGER,
    PRIMARY KEY (conv_id, user_id)
);
CREATE INDEX room_access_user ON room_access(user_id);

-- Who did what to whom, when: per room for its owners and moderators, and
-- server-wide for admins. `event` is the system line's JSON.
CREATE TABLE moderation_log (
    id         INTEGER PRIMARY KEY,
    conv_id    INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
    room_name  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX moderation_log_room ON moderation_log(conv_id, id);
