//! Changes to stored messages (edits, deletes, reactions) as entries of
//! their conversation's log, and messages read back in their current
//! state.
//!
//! A change is a row of `messages` with the next `seq` of its conversation
//! (`kind` says which change, `target` names the message), stored in the
//! same transaction that applies it to the message's own row, its earlier
//! versions and its reactions. So a change is resumed, relayed and gap-filled
//! like a message, is idempotent by `client_id` like a message (the same
//! unique index), and always comes after the message it changes. The
//! message's row carries `rev`, the seq of the last change applied to it:
//! a client holding a state at `rev` skips the changes at or below it.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use app::protocol::{clip, ChangeKind, QUOTE_CHARS};

use super::exec::{Exec, Param, SqlxExec};
use super::rooms::{log_moderation, parse_event, system_line, KIND_EVENT};
use super::search;
use super::{
    mentions_of_column, now_ms, Backend, Mentions, MessageState, Result, Store, StoreError,
    StoredMessage, StoredQuote, StoredReaction,
};
use crate::authz::{self, Actor, Denial, Op};

const KIND_MESSAGE: i64 = 0;
const KIND_EDIT: i64 = 1;
const KIND_DELETE: i64 = 2;
const KIND_REACT: i64 = 3;
const KIND_UNREACT: i64 = 4;

/// What a change does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChangeOp {
    Edit { body: String },
    Delete,
    React { emoji: String },
    Unreact { emoji: String },
}

impl ChangeOp {
    fn kind(&self) -> i64 {
        match self {
            ChangeOp::Edit { .. } => KIND_EDIT,
            ChangeOp::Delete => KIND_DELETE,
            ChangeOp::React { .. } => KIND_REACT,
            ChangeOp::Unreact { .. } => KIND_UNREACT,
        }
    }

    /// What the log row's `body` holds: the new text, the emoji, or nothing.
    fn text(&self) -> &str {
        match self {
            ChangeOp::Edit { body } => body,
            ChangeOp::React { emoji } | ChangeOp::Unreact { emoji } => emoji,
            ChangeOp::Delete => "",
        }
    }

    fn emoji(&self) -> Option<&str> {
        match self {
            ChangeOp::React { emoji } | ChangeOp::Unreact { emoji } => Some(emoji),
            _ => None,
        }
    }

    fn authz(&self) -> Op {
        match self {
            ChangeOp::Edit { .. } => Op::Edit,
            ChangeOp::Delete => Op::Delete,
            ChangeOp::React { .. } => Op::React,
            ChangeOp::Unreact { .. } => Op::Unreact,
        }
    }

    pub fn wire_kind(&self) -> ChangeKind {
        match self {
            ChangeOp::Edit { .. } => ChangeKind::Edit,
            ChangeOp::Delete => ChangeKind::Delete,
            ChangeOp::React { .. } => ChangeKind::React,
            ChangeOp::Unreact { .. } => ChangeKind::Unreact,
        }
    }

    fn from_row(kind: i64, text: String) -> Option<ChangeOp> {
        Some(match kind {
            KIND_EDIT => ChangeOp::Edit { body: text },
            KIND_DELETE => ChangeOp::Delete,
            KIND_REACT => ChangeOp::React { emoji: text },
            KIND_UNREACT => ChangeOp::Unreact { emoji: text },
            _ => return None,
        })
    }
}

/// A change to store.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub conv_id: i64,
    pub sender_id: i64,
    pub sender_name: String,
    pub client_id: String,
    /// The seq of the message it changes.
    pub target: i64,
    pub op: ChangeOp,
    /// Whether the sender moderates the conversation.
    pub moderator: bool,
    /// Who the new text mentions, for an edit.
    pub mentions: Mentions,
}

/// A stored change, as relayed and as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredChange {
    pub id: i64,
    pub conv_id: i64,
    pub seq: i64,
    pub sender_name: String,
    pub client_id: Option<String>,
    pub target: i64,
    pub op: ChangeOp,
    pub ts: i64,
    /// Who the new text mentions, for an edit.
    #[serde(default)]
    pub mentions: Vec<String>,
}

/// What became of one [`NewChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    Stored(StoredChange),
    /// The sender already sent this client id: nothing was stored.
    Duplicate {
        id: i64,
        conv_id: i64,
        seq: i64,
        ts: i64,
    },
    Refused(Denial),
}

/// What the authorization needs to know of a message, read in the
/// transaction that changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFacts {
    /// A message, not a change.
    pub is_message: bool,
    /// Its sender (`None` for a guest of the seed endpoint).
    pub author: Option<i64>,
    pub deleted: bool,
    /// Different emoji under it.
    pub distinct_emoji: usize,
    /// The emoji asked about is one of them.
    pub emoji_used: bool,
    /// The asker reacted with that emoji.
    pub mine: bool,
}

/// One entry of a conversation's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Message(StoredMessage),
    Change(StoredChange),
}

impl LogEntry {
    pub fn seq(&self) -> i64 {
        match self {
            LogEntry::Message(m) => m.seq,
            LogEntry::Change(c) => c.seq,
        }
    }
}

/// Log rows with what their current state needs: the quoted message of a
/// reply is joined in.
const LOG_SELECT: &str = "SELECT m.id, m.conv_id, m.seq, m.sender_id, m.sender_name, m.client_id,
        m.body, m.created_at, m.kind, m.target, m.edited_at, m.deleted_at, m.rev, m.reply_to,
        m.moderated, m.mentions,
        r.sender_name AS quote_sender, r.body AS quote_body, r.deleted_at AS quote_deleted
   FROM messages m LEFT JOIN messages r ON r.conv_id = m.conv_id AND r.seq = m.reply_to";

fn entry_from_row(row: &AnyRow) -> Result<LogEntry> {
    let kind: i64 = row.try_get("kind")?;
    let id = row.try_get("id")?;
    let conv_id = row.try_get("conv_id")?;
    let seq = row.try_get("seq")?;
    let sender_name: String = row.try_get("sender_name")?;
    let client_id = row.try_get("client_id")?;
    let body: String = row.try_get("body")?;
    let ts = row.try_get("created_at")?;
    if kind == KIND_EVENT {
        return Ok(LogEntry::Message(system_line(
            id,
            conv_id,
            seq,
            row.try_get::<Option<i64>, _>("sender_id")?.unwrap_or(0),
            &sender_name,
            client_id,
            parse_event(&body),
            ts,
        )));
    }
    if kind != KIND_MESSAGE {
        let op = ChangeOp::from_row(kind, body).ok_or_else(|| {
            StoreError::Inconsistent(format!("log entry {id} has unknown kind {kind}"))
        })?;
        return Ok(LogEntry::Change(StoredChange {
            id,
            conv_id,
            seq,
            sender_name,
            client_id,
            target: row.try_get::<Option<i64>, _>("target")?.unwrap_or(0),
            op,
            ts,
            mentions: mentions_of_column(&row.try_get::<String, _>("mentions")?),
        }));
    }
    let reply = match row.try_get::<Option<i64>, _>("reply_to")? {
        Some(seq) => {
            let deleted = row.try_get::<Option<i64>, _>("quote_deleted")?.is_some();
            let body: Option<String> = row.try_get("quote_body")?;
            Some(StoredQuote {
                seq,
                sender: row
                    .try_get::<Option<String>, _>("quote_sender")?
                    .unwrap_or_default(),
                body: if deleted {
                    String::new()
                } else {
                    clip(body.as_deref().unwrap_or(""), QUOTE_CHARS).to_string()
                },
                deleted,
            })
        }
        None => None,
    };
    Ok(LogEntry::Message(StoredMessage {
        id,
        conv_id,
        seq,
        sender_id: row.try_get("sender_id")?,
        sender_name,
        client_id,
        body,
        ts,
        state: MessageState {
            reply,
            edited_at: row.try_get("edited_at")?,
            deleted_at: row.try_get("deleted_at")?,
            reactions: Vec::new(),
            rev: row.try_get("rev")?,
            event: None,
            moderated: row.try_get::<i64, _>("moderated")? != 0,
            mentions: mentions_of_column(&row.try_get::<String, _>("mentions")?),
        },
    }))
}

impl Store {
    /// The log of `conv_id` after `after`, oldest first, at most `limit`
    /// entries: messages in their current state, and the changes.
    pub async fn log_after(&self, conv_id: i64, after: i64, limit: u32) -> Result<Vec<LogEntry>> {
        let sql = format!("{LOG_SELECT} WHERE m.conv_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?");
        let rows = sqlx::query(&self.q(&sql))
            .bind(conv_id)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut entries = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut messages: Vec<&mut StoredMessage> = entries
            .iter_mut()
            .filter_map(|e| match e {
                LogEntry::Message(m) => Some(m),
                LogEntry::Change(_) => None,
            })
            .collect();
        self.attach_reactions(conv_id, &mut messages).await?;
        Ok(entries)
    }

    /// Messages (not changes) with `seq < before`, the newest `limit` of
    /// them, oldest first, in their current state.
    pub async fn history_before(
        &self,
        conv_id: i64,
        before: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>> {
        self.history_page(conv_id, "m.seq < ? ORDER BY m.seq DESC", before, limit)
            .await
    }

    /// Up to `limit` messages (and system lines) of a conversation after
    /// `after`, oldest first.
    pub async fn history_after(
        &self,
        conv_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>> {
        self.history_page(conv_id, "m.seq > ? ORDER BY m.seq", after, limit)
            .await
    }

    /// Messages and system lines of `conv_id` on one side of `seq`
    /// (`bound`: the condition on `m.seq` and its order), with their
    /// reactions, oldest first.
    async fn history_page(
        &self,
        conv_id: i64,
        bound: &str,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>> {
        let sql =
            format!("{LOG_SELECT} WHERE m.conv_id = ? AND m.kind IN (0, 5) AND {bound} LIMIT ?");
        let rows = sqlx::query(&self.q(&sql))
            .bind(conv_id)
            .bind(seq)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            if let LogEntry::Message(m) = entry_from_row(row)? {
                messages.push(m);
            }
        }
        messages.sort_by_key(|m| m.seq);
        let mut refs: Vec<&mut StoredMessage> = messages.iter_mut().collect();
        self.attach_reactions(conv_id, &mut refs).await?;
        Ok(messages)
    }

    /// Fill in the reactions of `messages` (oldest first) with one query,
    /// and only when one of them was ever changed.
    async fn attach_reactions(
        &self,
        conv_id: i64,
        messages: &mut [&mut StoredMessage],
    ) -> Result<()> {
        let changed: Vec<i64> = messages
            .iter()
            .filter(|m| m.state.rev > 0 && m.state.deleted_at.is_none())
            .map(|m| m.seq)
            .collect();
        let (Some(lo), Some(hi)) = (changed.first(), changed.last()) else {
            return Ok(());
        };
        let rows = sqlx::query(
            &self.q("SELECT r.seq, r.emoji, r.user_id, u.name FROM reactions r
               JOIN users u ON u.id = r.user_id
              WHERE r.conv_id = ? AND r.seq >= ? AND r.seq <= ? ORDER BY r.id"),
        )
        .bind(conv_id)
        .bind(*lo)
        .bind(*hi)
        .fetch_all(&self.pool)
        .await?;
        let at: HashMap<i64, usize> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.seq, i))
            .collect();
        for row in rows {
            let seq: i64 = row.try_get("seq")?;
            if let Some(i) = at.get(&seq) {
                messages[*i].state.reactions.push(StoredReaction {
                    emoji: row.try_get("emoji")?,
                    user_id: row.try_get("user_id")?,
                    user_name: row.try_get("name")?,
                });
            }
        }
        Ok(())
    }

    /// Decide whether `actor` may do `op` to the message at `seq` (replies
    /// and edit histories; changes are decided as they are stored), and
    /// quote the message.
    pub async fn authorize(
        &self,
        actor: Actor,
        op: Op,
        conv_id: i64,
        seq: i64,
    ) -> Result<Result<StoredQuote, Denial>> {
        let mut conn = self.pool.acquire().await?;
        let mut exec = SqlxExec {
            conn: &mut conn,
            backend: self.backend(),
        };
        let found = read_facts(&mut exec, conv_id, seq, actor.user_id, None).await?;
        let (facts, quote) = match found {
            Some((facts, quote)) => (Some(facts), Some(quote)),
            None => (None, None),
        };
        Ok(authz::decide(actor, op, facts.as_ref()).and_then(|()| {
            quote.ok_or_else(|| Denial {
                code: app::protocol::ErrorCode::UnknownMessage,
                message: "no message has that seq in this conversation".into(),
            })
        }))
    }

    /// Every version of the message at `seq`, oldest first, the current
    /// one last, as (text, when written).
    pub async fn versions(&self, conv_id: i64, seq: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(&self.q(
            "SELECT body, created_at FROM message_versions WHERE conv_id = ? AND seq = ? ORDER BY id",
        ))
        .bind(conv_id)
        .bind(seq)
        .fetch_all(&self.pool)
        .await?;
        let mut versions = rows
            .iter()
            .map(|r| Ok((r.try_get("body")?, r.try_get("created_at")?)))
            .collect::<Result<Vec<(String, i64)>>>()?;
        let current = sqlx::query(&self.q(
            "SELECT body, COALESCE(edited_at, created_at) AS at FROM messages
              WHERE conv_id = ? AND seq = ? AND kind = 0",
        ))
        .bind(conv_id)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = current {
            versions.push((row.try_get("body")?, row.try_get("at")?));
        }
        Ok(versions)
    }

    /// Store changes in one transaction, in order: each is checked
    /// ([`authz::decide`]) against the message as the changes before it
    /// left it, gets the next seq of its conversation, and is applied to
    /// the message. A resend of a stored `client_id` stores nothing. On a
    /// SQLite file this runs on the writer thread, in the transaction of
    /// whatever else it is writing (no second writer fights for the lock).
    pub async fn commit_changes(&self, batch: &[&NewChange]) -> Result<Vec<ChangeOutcome>> {
        if let (Backend::Sqlite, Some(writer)) = (self.backend(), self.sqlite_writer()) {
            return writer.changes(batch, self.search_index()).await;
        }
        let mut tx = self.begin().await?;
        let mut exec = SqlxExec {
            conn: &mut tx,
            backend: self.backend(),
        };
        let out = commit_changes_on(&mut exec, batch, now_ms(), self.search_index()).await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// What the authorization needs to know of the message at `seq`, with
/// `emoji` (if any) asked about for `user_id`; and its quote.
async fn read_facts<E: Exec>(
    exec: &mut E,
    conv_id: i64,
    seq: i64,
    user_id: i64,
    emoji: Option<&str>,
) -> Result<Option<(TargetFacts, StoredQuote)>> {
    let row = exec
        .fetch_optional(
            "SELECT kind, sender_id, sender_name, body, deleted_at FROM messages
              WHERE conv_id = ? AND seq = ?",
            &[Param::Int(conv_id), Param::Int(seq)],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let deleted = row.opt_int(4)?.is_some();
    let mut facts = TargetFacts {
        is_message: row.int(0)? == KIND_MESSAGE,
        author: row.opt_int(1)?,
        deleted,
        distinct_emoji: 0,
        emoji_used: false,
        mine: false,
    };
    if let Some(emoji) = emoji {
        let (c, s, e, u) = (
            Param::Int(conv_id),
            Param::Int(seq),
            Param::Text(emoji),
            Param::Int(user_id),
        );
        let counts = exec
            .fetch_optional(
                "SELECT
                   (SELECT count(DISTINCT emoji) FROM reactions WHERE conv_id = ? AND seq = ?),
                   (SELECT count(*) FROM reactions WHERE conv_id = ? AND seq = ? AND emoji = ?),
                   (SELECT count(*) FROM reactions
                     WHERE conv_id = ? AND seq = ? AND emoji = ? AND user_id = ?)",
                &[c, s, c, s, e, c, s, e, u],
            )
            .await?
            .ok_or_else(|| StoreError::Inconsistent("counting reactions gave no row".into()))?;
        facts.distinct_emoji = counts.int(0)? as usize;
        facts.emoji_used = counts.int(1)? > 0;
        facts.mine = counts.int(2)? > 0;
    }
    let quote = StoredQuote {
        seq,
        sender: row.text(2)?,
        body: if deleted {
            String::new()
        } else {
            clip(&row.text(3)?, QUOTE_CHARS).to_string()
        },
        deleted,
    };
    Ok(Some((facts, quote)))
}

/// [`Store::commit_changes`]'s transaction, written once for sqlx and for
/// SQLite's writer thread. `index`: the search index is kept (edits
/// reindex); without it edits and deletes only remove index rows.
pub(super) async fn commit_changes_on<E: Exec>(
    exec: &mut E,
    batch: &[&NewChange],
    now: i64,
    index: bool,
) -> Result<Vec<ChangeOutcome>> {
    let mut out: Vec<ChangeOutcome> = Vec::with_capacity(batch.len());
    let mut first_of: HashMap<(i64, &str), usize> = HashMap::new();
    for (at, change) in batch.iter().enumerate() {
        let key = (change.sender_id, change.client_id.as_str());
        if let Some(first) = first_of.get(&key) {
            let again = match &out[*first] {
                ChangeOutcome::Stored(c) => ChangeOutcome::Duplicate {
                    id: c.id,
                    conv_id: c.conv_id,
                    seq: c.seq,
                    ts: c.ts,
                },
                other => other.clone(),
            };
            out.push(again);
            continue;
        }
        first_of.insert(key, at);
        let earlier = exec
            .fetch_optional(
                "SELECT id, conv_id, seq, created_at FROM messages
                  WHERE sender_id = ? AND client_id = ?",
                &[Param::Int(change.sender_id), Param::Text(&change.client_id)],
            )
            .await?;
        if let Some(row) = earlier {
            out.push(ChangeOutcome::Duplicate {
                id: row.int(0)?,
                conv_id: row.int(1)?,
                seq: row.int(2)?,
                ts: row.int(3)?,
            });
            continue;
        }
        let facts = read_facts(
            exec,
            change.conv_id,
            change.target,
            change.sender_id,
            change.op.emoji(),
        )
        .await?
        .map(|(facts, _)| facts);
        let actor = Actor {
            user_id: change.sender_id,
            moderator: change.moderator,
        };
        if let Err(denial) = authz::decide(actor, change.op.authz(), facts.as_ref()) {
            out.push(ChangeOutcome::Refused(denial));
            continue;
        }
        let mentions_column = change.mentions.column();
        let seq = exec
            .fetch_optional(
                "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
                &[Param::Int(change.conv_id)],
            )
            .await?
            .ok_or_else(|| StoreError::Inconsistent(format!("no conversation {}", change.conv_id)))?
            .int(0)?;
        let id = exec
            .fetch_optional(
                "INSERT INTO messages
                   (conv_id, seq, sender_id, sender_name, client_id, body, created_at, kind, target,
                    mentions)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                &[
                    Param::Int(change.conv_id),
                    Param::Int(seq),
                    Param::Int(change.sender_id),
                    Param::Text(&change.sender_name),
                    Param::Text(&change.client_id),
                    Param::Text(change.op.text()),
                    Param::Int(now),
                    Param::Int(change.op.kind()),
                    Param::Int(change.target),
                    Param::Text(&mentions_column),
                ],
            )
            .await?
            .ok_or_else(|| StoreError::Inconsistent("the change's insert returned no id".into()))?
            .int(0)?;
        let moderated = change.op == ChangeOp::Delete
            && facts.as_ref().and_then(|f| f.author) != Some(change.sender_id);
        apply(exec, change, seq, now, index).await?;
        if moderated {
            exec.execute(
                "UPDATE messages SET moderated = 1 WHERE conv_id = ? AND seq = ?",
                &[Param::Int(change.conv_id), Param::Int(change.target)],
            )
            .await?;
            let author = exec
                .fetch_optional(
                    "SELECT sender_name FROM messages WHERE conv_id = ? AND seq = ?",
                    &[Param::Int(change.conv_id), Param::Int(change.target)],
                )
                .await?
                .map(|row| row.text(0))
                .transpose()?;
            let event = app::protocol::RoomEvent {
                by: Some(change.sender_name.clone()),
                user: author,
                ..app::protocol::RoomEvent::new(app::protocol::EventKind::DeletedMessage)
            };
            log_moderation(exec, change.conv_id, &event, now).await?;
        }
        out.push(ChangeOutcome::Stored(StoredChange {
            id,
            conv_id: change.conv_id,
            seq,
            sender_name: change.sender_name.clone(),
            client_id: Some(change.client_id.clone()),
            target: change.target,
            op: change.op.clone(),
            ts: now,
            mentions: change.mentions.handles(),
        }));
    }
    Ok(out)
}

/// Apply a change (stored at `seq`) to its message (`index`: and to the
/// search index).
async fn apply<E: Exec>(
    exec: &mut E,
    change: &NewChange,
    seq: i64,
    now: i64,
    index: bool,
) -> Result<()> {
    let (c, t) = (Param::Int(change.conv_id), Param::Int(change.target));
    let (seq, now) = (Param::Int(seq), Param::Int(now));
    let statements: Vec<(&'static str, Vec<Param<'_>>)> = match &change.op {
        ChangeOp::Edit { body } => vec![
            (
                "INSERT INTO message_versions (conv_id, seq, body, created_at)
                 SELECT conv_id, seq, body, COALESCE(edited_at, created_at) FROM messages
                  WHERE conv_id = ? AND seq = ?",
                vec![c, t],
            ),
            (
                "UPDATE messages SET body = ?, edited_at = ?, rev = ? WHERE conv_id = ? AND seq = ?",
                vec![Param::Text(body), now, seq, c, t],
            ),
        ],
        // The text goes, with every earlier version and the text of every
        // edit in the log; replies keep pointing at the tombstone.
        ChangeOp::Delete => vec![
            (
                "UPDATE messages SET body = '', deleted_at = ?, rev = ? WHERE conv_id = ? AND seq = ?",
                vec![now, seq, c, t],
            ),
            (
                "UPDATE messages SET body = '' WHERE conv_id = ? AND target = ? AND kind = 1",
                vec![c, t],
            ),
            (
                "DELETE FROM message_versions WHERE conv_id = ? AND seq = ?",
                vec![c, t],
            ),
            (
                "DELETE FROM reactions WHERE conv_id = ? AND seq = ?",
                vec![c, t],
            ),
        ],
        ChangeOp::React { emoji } => vec![
            (
                "INSERT INTO reactions (conv_id, seq, user_id, emoji, created_at)
                 VALUES (?, ?, ?, ?, ?)",
                vec![c, t, Param::Int(change.sender_id), Param::Text(emoji), now],
            ),
            (REV_UPDATE, vec![seq, c, t]),
        ],
        ChangeOp::Unreact { emoji } => vec![
            (
                "DELETE FROM reactions WHERE conv_id = ? AND seq = ? AND user_id = ? AND emoji = ?",
                vec![c, t, Param::Int(change.sender_id), Param::Text(emoji)],
            ),
            (REV_UPDATE, vec![seq, c, t]),
        ],
    };
    for (sql, params) in statements {
        exec.execute(sql, &params).await?;
    }
    // The index follows: an edited message is found by its new text only,
    // a deleted one not at all. So do its mentions. (With the index off, an
    // edit removes the message's row too: its old text is never found.)
    let backend = exec.backend();
    match &change.op {
        ChangeOp::Edit { body } => {
            let body = index.then_some(body.as_str());
            search::reindex(exec, backend, change.conv_id, change.target, body).await?;
            let sender = exec
                .fetch_optional(
                    "SELECT sender_id FROM messages WHERE conv_id = ? AND seq = ?",
                    &[c, t],
                )
                .await?
                .map(|row| row.opt_int(0))
                .transpose()?
                .flatten();
            set_mentions(
                exec,
                change.conv_id,
                change.target,
                sender,
                &change.mentions,
            )
            .await?;
        }
        ChangeOp::Delete => {
            search::reindex(exec, backend, change.conv_id, change.target, None).await?;
            set_mentions(
                exec,
                change.conv_id,
                change.target,
                None,
                &Mentions::default(),
            )
            .await?;
        }
        ChangeOp::React { .. } | ChangeOp::Unreact { .. } => {}
    }
    Ok(())
}

/// A message's mentions are now `mentions`: its column, and the rows the
/// mention counts are made of.
async fn set_mentions<E: Exec>(
    exec: &mut E,
    conv_id: i64,
    seq: i64,
    sender_id: Option<i64>,
    mentions: &Mentions,
) -> Result<()> {
    let (c, s) = (Param::Int(conv_id), Param::Int(seq));
    let column = mentions.column();
    exec.execute(
        "UPDATE messages SET mentions = ? WHERE conv_id = ? AND seq = ?",
        &[Param::Text(&column), c, s],
    )
    .await?;
    exec.execute(
        "DELETE FROM mentions WHERE conv_id = ? AND seq = ?",
        &[c, s],
    )
    .await?;
    let sender = sender_id.map_or(Param::NullInt, Param::Int);
    for (user_id, _) in &mentions.users {
        exec.execute(
            "INSERT INTO mentions (conv_id, seq, user_id, sender_id) VALUES (?, ?, ?, ?)",
            &[c, s, Param::Int(*user_id), sender],
        )
        .await?;
    }
    if mentions.room {
        exec.execute(
            "INSERT INTO mentions (conv_id, seq, user_id, sender_id) VALUES (?, ?, NULL, ?)",
            &[c, s, sender],
        )
        .await?;
    }
    Ok(())
}

const REV_UPDATE: &str = "UPDATE messages SET rev = ? WHERE conv_id = ? AND seq = ?";
