//! Accounts: blocks, passwords, signed-in devices, and what admins see
//! and change (disabled accounts, archived and deleted rooms).

use sqlx::Row as _;

use super::{name_key, now_ms, Result, Store, User};

/// A signed-in device (a session) of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The session's token hash (the session's id; never the token).
    pub session: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub user_agent: String,
}

/// A user as the admin page lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub display_name: String,
    pub created_at: i64,
    pub disabled: bool,
}

/// A room as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRoomRow {
    pub conv_id: i64,
    pub name: String,
    pub topic: String,
    pub private: bool,
    pub archived: bool,
    pub members: u32,
}

/// `text`, lowercased, with LIKE's wildcards (and the escape itself)
/// taken literally, in `%…%`: "contains `text`" for `LIKE … ESCAPE '\'`.
pub(super) fn contains_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Store {
    // ---- blocks ------------------------------------------------------------

    /// `user_id` blocks `blocked_id`; false if they already had.
    pub async fn block(&self, user_id: i64, blocked_id: i64) -> Result<bool> {
        let done = sqlx::query(&self.q(
            "INSERT INTO blocks (user_id, blocked_id, created_at) VALUES (?, ?, ?)
             ON CONFLICT (user_id, blocked_id) DO NOTHING",
        ))
        .bind(user_id)
        .bind(blocked_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Undo a block; false if there was none.
    pub async fn unblock(&self, user_id: i64, blocked_id: i64) -> Result<bool> {
        let done = sqlx::query(&self.q("DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?"))
            .bind(user_id)
            .bind(blocked_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The names `user_id` has blocked, by name.
    pub async fn blocked_names(&self, user_id: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(&self.q(
            "SELECT u.name FROM blocks b JOIN users u ON u.id = b.blocked_id
              WHERE b.user_id = ? ORDER BY u.name_key",
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    /// Every block: (who blocked, whom).
    pub async fn all_blocks(&self) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query("SELECT user_id, blocked_id FROM blocks")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("user_id")?, r.try_get("blocked_id")?)))
            .collect()
    }

    // ---- passwords and devices --------------------------------------------

    pub async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()> {
        sqlx::query(
            &self.q("UPDATE users SET password_hash = ?, password_notice = NULL WHERE id = ?"),
        )
        .bind(password_hash)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user's live sessions, newest first.
    pub async fn devices(&self, user_id: i64) -> Result<Vec<Device>> {
        let rows = sqlx::query(&self.q(
            "SELECT token_hash, created_at, expires_at, user_agent FROM sessions
              WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC",
        ))
        .bind(user_id)
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Device {
                    session: r.try_get("token_hash")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    user_agent: r.try_get("user_agent")?,
                })
            })
            .collect()
    }

    /// Delete the user's sessions (all, or all but `keep`); the deleted
    /// ones' hashes, to close their sockets and forget them everywhere.
    pub async fn delete_sessions_of(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(&self.q("SELECT token_hash FROM sessions WHERE user_id = ?"))
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
        let mut gone = Vec::new();
        for row in rows {
            let hash: String = row.try_get("token_hash")?;
            if Some(hash.as_str()) == keep {
                continue;
            }
            sqlx::query(&self.q("DELETE FROM sessions WHERE token_hash = ?"))
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
            gone.push(hash);
        }
        tx.commit().await?;
        for hash in &gone {
            self.forget_session(hash);
        }
        Ok(gone)
    }

    // ---- admins -----------------------------------------------------------

    /// Users whose handle or display name holds `query`, by handle, at
    /// most `limit`.
    pub async fn search_users(&self, query: &str, limit: u32) -> Result<Vec<UserRow>> {
        let pattern = contains_pattern(query);
        let rows = sqlx::query(&self.q(
            "SELECT name, display_name, created_at, disabled_at FROM users
              WHERE name_key LIKE ? ESCAPE '\\' OR lower(display_name) LIKE ? ESCAPE '\\'
              ORDER BY name_key LIMIT ?",
        ))
        .bind(&pattern)
        .bind(&pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UserRow {
                    name: r.try_get("name")?,
                    display_name: r.try_get("display_name")?,
                    created_at: r.try_get("created_at")?,
                    disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                })
            })
            .collect()
    }

    /// Disable (or enable) an account; the user, if there is one.
    pub async fn set_disabled(&self, name: &str, disabled: bool) -> Result<Option<User>> {
        let when = disabled.then(now_ms);
        sqlx::query(&self.q("UPDATE users SET disabled_at = ? WHERE name_key = ?"))
            .bind(when)
            .bind(name_key(name))
            .execute(&self.pool)
            .await?;
        Ok(self.find_user(name).await?.map(|(user, _)| user))
    }

    /// Has an admin disabled this account?
    pub async fn is_disabled(&self, user_id: i64) -> Result<bool> {
        let row = sqlx::query(&self.q("SELECT disabled_at FROM users WHERE id = ?"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
            None => false,
        })
    }

    /// Rooms (public and private) whose name or topic holds `query`.
    pub async fn search_rooms(&self, query: &str, limit: u32) -> Result<Vec<AdminRoomRow>> {
        let pattern = contains_pattern(query);
        let rows = sqlx::query(&self.q(
            "SELECT c.id, c.room_name, c.topic, c.private, c.archived_at,
                    (SELECT count(*) FROM members m WHERE m.conv_id = c.id) AS members
               FROM conversations c
              WHERE c.kind = 'room'
                AND (c.room_name LIKE ? ESCAPE '\\' OR lower(c.topic) LIKE ? ESCAPE '\\')
              ORDER BY c.room_name LIMIT ?",
        ))
        .bind(&pattern)
        .bind(&pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdminRoomRow {
                    conv_id: r.try_get("id")?,
                    name: r.try_get("room_name")?,
                    topic: r.try_get("topic")?,
                    private: r.try_get::<i64, _>("private")? != 0,
                    archived: r.try_get::<Option<i64>, _>("archived_at")?.is_some(),
                    members: r.try_get::<i64, _>("members")? as u32,
                })
            })
            .collect()
    }

    /// Archive (read-only) or unarchive a room; its id, if there is one.
    pub async fn set_archived(&self, name: &str, archived: bool) -> Result<Option<i64>> {
        let when = archived.then(now_ms);
        let row = sqlx::query(
            &self.q("UPDATE conversations SET archived_at = ? WHERE conv_key = ? RETURNING id"),
        )
        .bind(when)
        .bind(format!("room:{}", name_key(name)))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Every archived room.
    pub async fn archived_rooms(&self) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM conversations WHERE archived_at IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// Is the room archived?
    pub async fn is_archived(&self, conv_id: i64) -> Result<bool> {
        let row = sqlx::query(&self.q("SELECT archived_at FROM conversations WHERE id = ?"))
            .bind(conv_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<i64>, _>("archived_at")?.is_some(),
            None => false,
        })
    }

    /// Delete a room and everything in it; its id and the ids of its
    /// members then, if there was one.
    pub async fn delete_room(&self, name: &str) -> Result<Option<(i64, Vec<i64>)>> {
        let mut tx = self.begin().await?;
        let key = format!("room:{}", name_key(name));
        let row = sqlx::query(&self.q("SELECT id FROM conversations WHERE conv_key = ?"))
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.try_get("id")?;
        let members = sqlx::query(&self.q("SELECT user_id FROM members WHERE conv_id = ?"))
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("user_id"))
            .collect::<std::result::Result<Vec<i64>, _>>()?;
        // The room's words leave the search index with it (PostgreSQL's
        // foreign key does the same; SQLite's FTS5 table has none, and
        // would otherwise lend them to a later message given a freed id).
        let unindex = match self.backend() {
            super::Backend::Sqlite => {
                "DELETE FROM message_search WHERE rowid IN (SELECT id FROM messages WHERE conv_id = ?)"
            }
            super::Backend::Postgres => {
                "DELETE FROM message_search WHERE id IN (SELECT id FROM messages WHERE conv_id = ?)"
            }
        };
        for table in [
            unindex,
            "DELETE FROM reactions WHERE conv_id = ?",
            "DELETE FROM message_versions WHERE conv_id = ?",
            "DELETE FROM mentions WHERE conv_id = ?",
            "DELETE FROM notify_settings WHERE conv_id = ?",
            "DELETE FROM messages WHERE conv_id = ?",
            "DELETE FROM members WHERE conv_id = ?",
            "DELETE FROM room_access WHERE conv_id = ?",
            "DELETE FROM conversations WHERE id = ?",
        ] {
            sqlx::query(&self.q(table))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some((id, members)))
    }

    /// The server-wide moderation log, newest first.
    pub async fn moderation_log_all(&self, limit: u32) -> Result<Vec<app::protocol::ModEntry>> {
        let rows = sqlx::query(&self.q(
            "SELECT id, room_name, event, created_at FROM moderation_log ORDER BY id DESC LIMIT ?",
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::rooms::mod_entry).collect()
    }

    /// Record an admin's action on the server-wide moderation log.
    pub async fn log_admin(&self, room: &str, event: &app::protocol::RoomEvent) -> Result<()> {
        let kind = event.kind.map(|k| k.as_str()).unwrap_or("unknown");
        sqlx::query(&self.q(
            "INSERT INTO moderation_log (conv_id, room_name, kind, event, created_at)
             VALUES (NULL, ?, ?, ?, ?)",
        ))
        .bind(room)
        .bind(kind)
        .bind(serde_json::to_string(event).unwrap_or_default())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
