//! Persistence: users, sessions, conversations, members and messages.
//!
//! SQLite is the embedded default; PostgreSQL is for several nodes sharing
//! one store. Every write that must be durable before it
//! is acknowledged goes through [`Store::commit_batch`], which the relay calls
//! with a group of messages so that one commit covers many of them.

mod accounts;
mod changes;
mod commit;
mod exec;
mod mentions;
mod profiles;
mod rooms;
mod search;
mod sessions;
mod sql;
mod sqlite_writer;

use std::time::{SystemTime, UNIX_EPOCH};

pub use accounts::{AdminRoomRow, Device, UserRow};
pub use changes::{ChangeOp, ChangeOutcome, LogEntry, NewChange, StoredChange, TargetFacts};
pub use rooms::{room_op, Action, ActionOutcome, AppliedAction, DirectoryRow, Effect, NewAction};
pub use search::{Found, Order, Page, Search};
pub use sql::{Backend, Store};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How durable a SQLite commit is before it returns (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteSync {
    /// Survives a power cut: an fsync per commit.
    #[default]
    Full,
    /// Survives a crash of the process; a power cut may lose the last commits.
    Normal,
}

impl SqliteSync {
    fn pragma(self) -> &'static str {
        match self {
            SqliteSync::Full => "PRAGMA synchronous = FULL",
            SqliteSync::Normal => "PRAGMA synchronous = NORMAL",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url `{0}` (expected sqlite://FILE or postgres://…)")]
    UnsupportedUrl(String),
    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("SQLite writer: {0}")]
    Writer(String),
    #[error("the database disagrees with itself: {0}")]
    Inconsistent(String),
}

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
}

/// What kind of conversation a row is, with what the wire name needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvKind {
    Room {
        name: String,
    },
    /// `peer` is the other participant as seen by the user the row was read for.
    Dm {
        peer: String,
    },
    Guest {
        guest: String,
    },
}

/// One conversation of a user, with read position and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub conv_id: i64,
    pub kind: ConvKind,
    pub last_seq: i64,
    pub read_seq: i64,
    /// Messages after `read_seq` (changes are not counted).
    pub unread: i64,
    pub members: u32,
    /// In a room: their role, the room's topic and visibility, and the end
    /// of their mute if one is running.
    pub role: app::protocol::Role,
    pub topic: String,
    /// A room's title (its name, unless one was set).
    pub title: String,
    pub private: bool,
    pub muted_until: Option<i64>,
    /// Unread messages that mention them (or `@room`).
    pub mentions: i64,
    /// What they are notified of here.
    pub notify: app::protocol::NotifyLevel,
}

/// A room as listed to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    pub conv_id: i64,
    pub name: String,
    pub members: u32,
    pub joined: bool,
}

/// A stored message, as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredMessage {
    pub id: i64,
    pub conv_id: i64,
    pub seq: i64,
    pub sender_id: Option<i64>,
    pub sender_name: String,
    pub client_id: Option<String>,
    pub body: String,
    pub ts: i64,
    /// Replies, edits, deletes and reactions (all empty for a plain new
    /// message; absent from cluster events of older nodes).
    #[serde(default)]
    pub state: MessageState,
}

/// What has become of a message since it was sent, and what it answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageState {
    pub reply: Option<StoredQuote>,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// Reactions in the order they were made.
    pub reactions: Vec<StoredReaction>,
    /// The seq of the last change applied (0: none).
    pub rev: i64,
    /// A system line's event (its `body` is the event's sentence).
    #[serde(default)]
    pub event: Option<Box<app::protocol::RoomEvent>>,
    /// Deleted by a moderator rather than its author.
    #[serde(default)]
    pub moderated: bool,
    /// The handles it mentions (`room`: everyone in the room).
    #[serde(default)]
    pub mentions: Vec<String>,
}

/// Who a message mentions, as resolved when it was sent or edited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// (user id, handle) of each person, each once.
    pub users: Vec<(i64, String)>,
    /// `@room`, by someone allowed to notify everyone.
    pub room: bool,
}

impl Mentions {
    /// The handles, as the wire and `messages.mentions` hold them.
    pub fn handles(&self) -> Vec<String> {
        let mut out: Vec<String> = self.users.iter().map(|(_, n)| n.clone()).collect();
        if self.room {
            out.push(app::protocol::mentions::ROOM.to_owned());
        }
        out
    }

    /// `messages.mentions`: the handles, space-separated.
    pub fn column(&self) -> String {
        self.handles().join(" ")
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && !self.room
    }
}

/// The handles of a `messages.mentions` value.
pub fn mentions_of_column(column: &str) -> Vec<String> {
    column.split_whitespace().map(str::to_owned).collect()
}

/// The message a reply answers, as it was when read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredQuote {
    pub seq: i64,
    pub sender: String,
    /// The start of its text; empty when deleted.
    pub body: String,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredReaction {
    pub emoji: String,
    pub user_id: i64,
    pub user_name: String,
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conv_id: i64,
    /// `None` for a guest of the seed endpoint.
    pub sender_id: Option<i64>,
    pub sender_name: String,
    pub client_id: Option<String>,
    pub body: String,
    /// The message it answers, as it was when checked.
    pub reply: Option<StoredQuote>,
    /// What the search index holds for it
    /// (`crate::search::terms::index_text` of its body), worked out
    /// before it reaches the store's one writer.
    pub terms: String,
    /// Who it mentions.
    pub mentions: Mentions,
}

impl NewMessage {
    /// A message with the search terms of its body.
    pub fn new(
        conv_id: i64,
        sender_id: Option<i64>,
        sender_name: String,
        client_id: Option<String>,
        body: String,
        reply: Option<StoredQuote>,
    ) -> NewMessage {
        Self::new_with_index(
            conv_id,
            sender_id,
            sender_name,
            client_id,
            body,
            reply,
            true,
        )
    }

    /// [`NewMessage::new`], with the search terms only when `index` (the
    /// server keeps the search index, `--search-index`).
    pub fn new_with_index(
        conv_id: i64,
        sender_id: Option<i64>,
        sender_name: String,
        client_id: Option<String>,
        body: String,
        reply: Option<StoredQuote>,
        index: bool,
    ) -> NewMessage {
        NewMessage {
            terms: if index {
                crate::search::terms::index_text(&body)
            } else {
                String::new()
            },
            mentions: Mentions::default(),
            conv_id,
            sender_id,
            sender_name,
            client_id,
            body,
            reply,
        }
    }
}

/// What became of one [`NewMessage`] in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Stored now.
    Stored(StoredMessage),
    /// The sender already sent this client id; nothing was stored.
    Duplicate(StoredMessage),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The key that makes a user or room name unique without regard to case.
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}
