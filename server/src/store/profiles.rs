//! Profiles: display names (with the skeletons that keep them from
//! passing as someone's handle) and the password notice.

use sqlx::Row as _;

use super::{name_key, now_ms, Result, Store, User};
use crate::names::confusable_key;

impl Store {
    /// Give skeletons to users that have none (rows from before the
    /// migration that added them). Run once at start; a no-op after.
    pub(super) async fn backfill_skeletons(&self) -> Result<()> {
        let rows = sqlx::query(
            &self.q("SELECT id, name, display_name FROM users WHERE handle_skeleton IS NULL"),
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let name: String = row.try_get("name")?;
            let display: String = row.try_get("display_name")?;
            sqlx::query(
                &self.q("UPDATE users SET handle_skeleton = ?, display_skeleton = ? WHERE id = ?"),
            )
            .bind(confusable_key(&name))
            .bind(confusable_key(&display))
            .bind(id)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Register `name`, shown as `display` (already cleaned); `None` when
    /// the name was taken meanwhile. The new user joins the lobby with
    /// nothing unread.
    pub async fn create_user_named(
        &self,
        name: &str,
        password_hash: &str,
        display: &str,
    ) -> Result<Option<User>> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let inserted = sqlx::query(&self.q(
            "INSERT INTO users (name, name_key, password_hash, created_at, display_name,
                                handle_skeleton, display_skeleton)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (name_key) DO NOTHING RETURNING id",
        ))
        .bind(name)
        .bind(name_key(name))
        .bind(password_hash)
        .bind(now)
        .bind(display)
        .bind(confusable_key(name))
        .bind(confusable_key(display))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = inserted else {
            return Ok(None);
        };
        let id: i64 = row.try_get("id")?;
        sqlx::query(
            &self.q("INSERT INTO members (conv_id, user_id, read_seq, joined_at)
             SELECT id, ?, last_seq, ? FROM conversations WHERE conv_key = 'room:lobby'"),
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(User {
            id,
            name: name.to_string(),
        }))
    }

    /// Does another user's handle look like `display` (or is it `display`)?
    pub async fn looks_like_a_handle(
        &self,
        display: &str,
        except_user: Option<i64>,
    ) -> Result<bool> {
        let row = sqlx::query(
            &self.q("SELECT 1 AS hit FROM users WHERE handle_skeleton = ? AND id <> ? LIMIT 1"),
        )
        .bind(confusable_key(display))
        .bind(except_user.unwrap_or(0))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Is `name` (a guest's) the same as, or confusable with, any
    /// registered user's handle or display name?
    pub async fn name_in_use(&self, name: &str) -> Result<bool> {
        let key = confusable_key(name);
        let row = sqlx::query(&self.q(
            "SELECT 1 AS hit FROM users WHERE handle_skeleton = ? OR display_skeleton = ? LIMIT 1",
        ))
        .bind(&key)
        .bind(&key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn set_display_name(&self, user_id: i64, display: &str) -> Result<()> {
        sqlx::query(
            &self.q("UPDATE users SET display_name = ?, display_skeleton = ? WHERE id = ?"),
        )
        .bind(display)
        .bind(confusable_key(display))
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user's display name, and why they must choose a new password
    /// if they must.
    pub async fn profile(&self, user_id: i64) -> Result<Option<(String, Option<String>)>> {
        let row =
            sqlx::query(&self.q("SELECT display_name, password_notice FROM users WHERE id = ?"))
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Ok((r.try_get("display_name")?, r.try_get("password_notice")?)))
            .transpose()
    }

    /// Every (handle, display name) pair where the two differ: what a node
    /// keeps in memory to name people on the wire.
    pub async fn custom_display_names(&self) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query(&self.q("SELECT name, display_name FROM users WHERE display_name <> name"))
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("display_name")?)))
            .collect()
    }

    pub async fn set_password_notice(&self, user_id: i64, notice: Option<&str>) -> Result<()> {
        sqlx::query(&self.q("UPDATE users SET password_notice = ? WHERE id = ?"))
            .bind(notice)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
