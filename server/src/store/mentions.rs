//! Mentions (who a message names) and notification settings: the store
//! side. Mention rows are written by the batch's transaction
//! (`commit.rs`) and by edits and deletes (`changes.rs`); counts are read
//! with the memberships (`sql.rs`, `UNREAD_MENTIONS`).

use sqlx::Row as _;

use super::{name_key, Result, Store};
use app::protocol::NotifyLevel;

impl Store {
    /// Which of `names` (handles, any case) are members of `conv_id`:
    /// (id, handle as registered).
    pub async fn members_named(
        &self,
        conv_id: i64,
        names: &[String],
    ) -> Result<Vec<(i64, String)>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT u.id, u.name FROM members m JOIN users u ON u.id = m.user_id
              WHERE m.conv_id = ? AND u.name_key IN ({})",
            vec!["?"; names.len()].join(", ")
        );
        let sql = self.q(&sql);
        let mut query = sqlx::query(&sql).bind(conv_id);
        for name in names {
            query = query.bind(name_key(name));
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("name")?)))
            .collect()
    }

    /// What `user_id` is notified of in `conv_id` from now on.
    pub async fn set_notify(&self, user_id: i64, conv_id: i64, level: NotifyLevel) -> Result<()> {
        let stored = match level {
            NotifyLevel::All => Some("all"),
            NotifyLevel::Nothing => Some("none"),
            NotifyLevel::Mentions => None,
        };
        match stored {
            Some(level) => {
                sqlx::query(&self.q(
                    "INSERT INTO notify_settings (user_id, conv_id, level) VALUES (?, ?, ?)
                     ON CONFLICT (user_id, conv_id) DO UPDATE SET level = excluded.level",
                ))
                .bind(user_id)
                .bind(conv_id)
                .bind(level)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query(
                    &self.q("DELETE FROM notify_settings WHERE user_id = ? AND conv_id = ?"),
                )
                .bind(user_id)
                .bind(conv_id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }
}
