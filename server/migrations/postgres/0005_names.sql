-- Names people see, in any script. A user's handle (`name`) stays the id
-- that URLs, mentions and the protocol use; `display_name` is what people
-- see. A room's handle (`room_name`) stays in its URL; `title` is shown.
-- Existing users are shown by their handle and rooms by their name.
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
UPDATE users SET display_name = name;
ALTER TABLE conversations ADD COLUMN title TEXT NOT NULL DEFAULT '';
UPDATE conversations SET title = room_name WHERE kind = 'room';

-- UTS #39 skeletons (casefolded) of the handle and the display name, for
-- refusing names that look like someone's handle. Computed by the server
-- (the database cannot); rows migrated here get them at the next start.
ALTER TABLE users ADD COLUMN handle_skeleton TEXT;
ALTER TABLE users ADD COLUMN display_skeleton TEXT;
CREATE INDEX users_handle_skeleton ON users(handle_skeleton);
CREATE INDEX users_display_skeleton ON users(display_skeleton);

-- Why the account must choose a new password (its current one no longer
-- meets the policy), set at sign-in and cleared by a password change.
ALTER TABLE users ADD COLUMN password_notice TEXT;
