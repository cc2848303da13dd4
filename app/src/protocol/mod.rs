//! Wire types shared by the browser client and the server.
//!
//! Every WebSocket text frame on `/api/ws` is one JSON object whose `type`
//! field names the frame. [`ClientFrame`] flows browser → server,
//! [`ServerFrame`] flows server → browser. `docs/protocol.md` shows each
//! frame with an example; the tests at the bottom keep the two in step.

use serde::{Deserialize, Serialize};

pub mod mentions;
mod rooms;
mod server_frame_de;

pub use rooms::*;

/// The protocol version a client announces in [`ClientFrame::Hello`].
pub const PROTOCOL_VERSION: u32 = 1;

/// The room every user belongs to and nobody can leave.
pub const LOBBY: &str = "lobby";

/// Longest message body, in bytes of UTF-8.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Longest client-chosen message id.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// Most messages one `history` answer carries.
pub const MAX_HISTORY_PAGE: u32 = 200;

/// Most results one `search_results` page carries.
pub const MAX_SEARCH_PAGE: u32 = 50;

/// Messages on each side of the one a `window` is `around`.
pub const WINDOW_SIDE: u32 = 25;

/// Most distinct emoji under one message.
pub const MAX_REACTIONS: usize = 20;

/// Longest reaction, in bytes of UTF-8 (one emoji, however many code
/// points it is made of: flags, skin tones, families).
pub const MAX_EMOJI_BYTES: usize = 32;

/// Characters of the original a reply's quote carries.
pub const QUOTE_CHARS: usize = 200;

/// A conversation as one side sees it.
///
/// A direct conversation is named by the *other* participant, so the same
/// stored conversation is `{"dm":"bob"}` for alice and `{"dm":"alice"}` for
/// bob. `guest` names a guest of the seed endpoint `/ws/{username}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conv {
    Room(String),
    Dm(String),
    Guest(String),
}

impl Conv {
    /// The room or user name inside the conversation id.
    pub fn name(&self) -> &str {
        match self {
            Conv::Room(n) | Conv::Dm(n) | Conv::Guest(n) => n,
        }
    }

    /// The same kind of conversation with another name (another spelling).
    pub fn with_name(&self, name: impl Into<String>) -> Conv {
        let name = name.into();
        match self {
            Conv::Room(_) => Conv::Room(name),
            Conv::Dm(_) => Conv::Dm(name),
            Conv::Guest(_) => Conv::Guest(name),
        }
    }
}

/// "I hold everything in `conv` up to and including `seq`."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub conv: Conv,
    pub seq: i64,
}

/// The most names a [`ServerFrame::Members`] answer lists.
pub const MAX_MEMBER_NAMES: usize = 500;

/// Frames the browser sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame of every connection. `cursors` lists, per conversation,
    /// the last sequence the client already holds; the server sends what
    /// follows each of them before any live traffic.
    Hello {
        version: u32,
        #[serde(default)]
        cursors: Vec<Cursor>,
    },
    /// Post a message. `client_id` is the client's own id for it: a resend
    /// with the same id is acknowledged again and never stored twice.
    Send {
        client_id: String,
        conv: Conv,
        body: String,
        /// The `seq` of the message (in the same conversation) this one
        /// answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
    },
    /// Replace the text of your message at `seq`. Idempotent by
    /// `client_id`, like `send`; answered with an `ack` of the change.
    Edit {
        client_id: String,
        conv: Conv,
        seq: i64,
        body: String,
    },
    /// Delete your message at `seq`: it becomes a tombstone for everyone
    /// and its text (every version of it) is erased.
    Delete {
        client_id: String,
        conv: Conv,
        seq: i64,
    },
    /// Add your `emoji` reaction to the message at `seq`.
    React {
        client_id: String,
        conv: Conv,
        seq: i64,
        emoji: String,
    },
    /// Take your `emoji` reaction off the message at `seq`.
    Unreact {
        client_id: String,
        conv: Conv,
        seq: i64,
        emoji: String,
    },
    /// The earlier versions of your message at `seq`; answered with
    /// [`ServerFrame::Versions`].
    EditHistory {
        conv: Conv,
        seq: i64,
    },
    /// Page backwards: up to `limit` messages with `seq < before`
    /// (the newest ones when `before` is absent).
    History {
        conv: Conv,
        #[serde(default)]
        before: Option<i64>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// A piece of a conversation's history for a view away from its
    /// newest messages (a search result's context): the message at
    /// `around` with [`WINDOW_SIDE`] on each side, or up to `limit`
    /// messages just `before` or just `after` a seq. Answered with
    /// [`ServerFrame::Window`].
    Window {
        conv: Conv,
        #[serde(default)]
        around: Option<i64>,
        #[serde(default)]
        before: Option<i64>,
        #[serde(default)]
        after: Option<i64>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Full-text search over every conversation you are in; answered with
    /// [`ServerFrame::SearchResults`]. `query` takes words, `"phrases"`,
    /// `word*`, `from:user`, `in:#room`, `in:@user`, `before:YYYY-MM-DD`
    /// and `after:YYYY-MM-DD` (days in the zone `tz` minutes east of UTC).
    Search {
        query: String,
        #[serde(default)]
        order: SearchOrder,
        /// The `cursor` of the page before, for the next one.
        #[serde(default)]
        cursor: Option<i64>,
        #[serde(default)]
        limit: Option<u32>,
        #[serde(default)]
        tz: i32,
    },
    /// Create a room and become its owner.
    CreateRoom {
        room: String,
        /// What the room is shown as, in any script (empty: its name).
        #[serde(default)]
        title: String,
        #[serde(default)]
        topic: String,
        /// Unlisted, and joined by invitation only.
        #[serde(default)]
        private: bool,
    },
    /// Public rooms whose name or topic holds `query`, by name, after the
    /// room named `after`; answered with [`ServerFrame::Directory`].
    Directory {
        #[serde(default)]
        query: String,
        #[serde(default)]
        after: Option<String>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// An owner's or moderator's action (or declining an invitation).
    /// Stored in the room's log like a message and acknowledged by
    /// `client_id`.
    RoomAction {
        client_id: String,
        room: String,
        action: RoomAction,
    },
    /// The room's moderation log, newest first (owners and moderators).
    ModerationLog {
        room: String,
    },
    /// Refuse `user`'s direct messages and hide them from your online
    /// list; answered with [`ServerFrame::Blocked`] to all your connections.
    Block {
        user: String,
    },
    Unblock {
        user: String,
    },
    JoinRoom {
        room: String,
    },
    LeaveRoom {
        room: String,
    },
    ListRooms {},
    /// Who is in `room` (a room you are in); answered with
    /// [`ServerFrame::Members`].
    Members {
        room: String,
    },
    /// Everything up to `seq` in `conv` has been read (clears its unread count).
    Read {
        conv: Conv,
        seq: i64,
    },
    Typing {
        conv: Conv,
    },
    /// Choose what you are notified of in `conv`; answered with
    /// [`ServerFrame::Notify`] to all your connections.
    Notify {
        conv: Conv,
        level: NotifyLevel,
    },
    /// Application-level heartbeat; answered with [`ServerFrame::Pong`].
    Ping {
        nonce: u64,
    },
}

/// A stored message, as relayed and as found in history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Server id, unique across all conversations.
    pub id: i64,
    pub conv: Conv,
    /// Position in the conversation: 1, 2, 3, … with no gaps.
    pub seq: i64,
    pub sender: String,
    /// The sender's display name, when it is not their handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    pub body: String,
    /// Milliseconds since the Unix epoch, server clock.
    pub ts: i64,
    /// The sender's own id for the message, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The message this one answers, in its current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Quote>,
    /// When the text was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// When it was deleted: a tombstone, whose `body` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<i64>,
    /// Reactions, in the order each emoji was first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The `seq` of the last [`Change`] this state includes (0: none). A
    /// change at or below it is already applied and must be skipped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rev: i64,
    /// A system line (someone joined, was muted, …): `body` is the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<RoomEvent>,
    /// Deleted by a moderator rather than by its author.
    #[serde(default, skip_serializing_if = "is_false")]
    pub moderated: bool,
    /// The handles its text mentions (see [`mentions`]); `room` for
    /// `@room`, everyone in the room.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The order of search results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchOrder {
    #[default]
    Newest,
    Relevance,
}

/// One message a search found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Its conversation, as the searcher sees it.
    pub conv: Conv,
    pub id: i64,
    pub seq: i64,
    pub sender: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    pub ts: i64,
    /// Its text, cut around the first match when long (`…` where cut).
    pub excerpt: String,
    /// The matching parts of `excerpt`, as byte ranges `[start, end)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<(u32, u32)>,
}

/// The message a reply answers, as it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub seq: i64,
    pub sender: String,
    /// The start of its text (at most [`QUOTE_CHARS`] characters); empty
    /// when it was deleted.
    pub body: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

/// One emoji under a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    /// Who reacted with it, in the order they did.
    pub users: Vec<String>,
    /// Whether the reader is one of them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub me: bool,
}

/// What a [`Change`] does to the message it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Edit,
    Delete,
    React,
    Unreact,
}

/// A change to a stored message: itself an entry of the conversation's
/// log, with the next `seq`, so it is resumed, relayed and ordered like a
/// message and always comes after the message it changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Server id of the log entry.
    pub id: i64,
    pub conv: Conv,
    /// The change's own position in the conversation's log.
    pub seq: i64,
    /// Who made it.
    pub sender: String,
    pub ts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The `seq` of the message it changes.
    pub target: i64,
    pub kind: ChangeKind,
    /// The new text, for `edit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The emoji, for `react` and `unreact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// Who the new text mentions, for `edit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

/// One version of an edited message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub body: String,
    /// When this version was written.
    pub ts: i64,
}

/// One conversation in the [`ServerFrame::Welcome`] list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    pub conv: Conv,
    pub last_seq: i64,
    pub read_seq: i64,
    pub unread: i64,
    /// Member count, for rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<u32>,
    /// Your role, for rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// You may not send before this time (ms since the epoch), for rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub private: bool,
    /// What it is shown as when that is not its handle: a room's title, a
    /// direct conversation's other person's display name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Unread messages that mention you (or `@room`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mentions: i64,
    /// What you are notified of here.
    #[serde(default, skip_serializing_if = "NotifyLevel::is_default")]
    pub notify: NotifyLevel,
}

/// What someone is notified of in a conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    /// Every message.
    All,
    /// Messages that mention you, and every message of a direct conversation.
    #[default]
    Mentions,
    Nothing,
}

impl NotifyLevel {
    pub fn is_default(&self) -> bool {
        *self == NotifyLevel::Mentions
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::Nothing => "nothing",
        }
    }
}

/// Someone's display name, where it is not their handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub user: String,
    pub display: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub room: String,
    /// Its title, when that is not its name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    pub members: u32,
    pub joined: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub private: bool,
}

/// Stable error codes of [`ServerFrame::Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON, or not a JSON object.
    MalformedJson,
    /// The `type` field is missing or names no frame.
    UnknownType,
    /// A known frame with missing, extra or mistyped fields.
    InvalidFrame,
    UnsupportedVersion,
    /// Only `hello` is accepted before the handshake.
    HelloRequired,
    /// `hello` was already sent on this connection.
    AlreadyGreeted,
    UnknownUser,
    UnknownRoom,
    /// The guest named by a `guest` conversation is not connected.
    GuestOffline,
    NotMember,
    RoomExists,
    InvalidName,
    InvalidMessage,
    CannotLeaveLobby,
    RateLimited,
    /// A configured limit (rooms per user, …) is reached.
    LimitReached,
    /// Only the author may edit or delete a message.
    NotAuthor,
    /// No message has that `seq` in that conversation.
    UnknownMessage,
    /// The message was deleted.
    MessageDeleted,
    /// The message has [`MAX_REACTIONS`] distinct reactions already.
    TooManyReactions,
    /// You already reacted with that emoji.
    AlreadyReacted,
    /// You have no reaction with that emoji to take off.
    NotReacted,
    /// A reaction that is not one emoji.
    InvalidReaction,
    /// Your role in the room does not allow that.
    NotPermitted,
    /// You are (or that user is) banned from the room.
    Banned,
    /// You are muted in the room.
    Muted,
    /// The room is private and you have no invitation (only to those who
    /// already know it exists; others get `unknown_room`).
    NotInvited,
    /// That user is already in the room or invited to it.
    AlreadyMember,
    /// The action would change nothing (already banned, not muted, …).
    NoChange,
    /// The person you write to blocked you.
    Blocked,
    /// The room is archived: it can be read, not written to.
    Archived,
    /// A search the server cannot run (empty, too long, a bad date, …).
    InvalidQuery,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidFrame => "invalid_frame",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::AlreadyGreeted => "already_greeted",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::UnknownRoom => "unknown_room",
            ErrorCode::GuestOffline => "guest_offline",
            ErrorCode::NotMember => "not_member",
            ErrorCode::RoomExists => "room_exists",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::CannotLeaveLobby => "cannot_leave_lobby",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::LimitReached => "limit_reached",
            ErrorCode::NotAuthor => "not_author",
            ErrorCode::UnknownMessage => "unknown_message",
            ErrorCode::MessageDeleted => "message_deleted",
            ErrorCode::TooManyReactions => "too_many_reactions",
            ErrorCode::AlreadyReacted => "already_reacted",
            ErrorCode::NotReacted => "not_reacted",
            ErrorCode::InvalidReaction => "invalid_reaction",
            ErrorCode::NotPermitted => "not_permitted",
            ErrorCode::Banned => "banned",
            ErrorCode::Muted => "muted",
            ErrorCode::NotInvited => "not_invited",
            ErrorCode::AlreadyMember => "already_member",
            ErrorCode::NoChange => "no_change",
            ErrorCode::Blocked => "blocked",
            ErrorCode::Archived => "archived",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::Internal => "internal",
        }
    }
}

/// Frames the server sends.
///
/// Decoded by hand (`server_frame_de`) rather than by serde's internally
/// tagged enum support, which buffers every frame and costs the web app
/// about 15 KiB of its compressed size; the wire format is the same.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// `welcome` is the largest; frames are built, encoded once and dropped.
#[allow(clippy::large_enum_variant)]
pub enum ServerFrame {
    /// Answer to `hello`: who you are, your conversations, who is online.
    Welcome {
        version: u32,
        user: String,
        conversations: Vec<ConversationInfo>,
        online: Vec<String>,
        /// Your display name, when it is not your handle.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<String>,
        /// The display names (where they differ from the handle) of the
        /// people online and of your direct conversations.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<Named>,
        /// Invitations waiting for an answer.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        invites: Vec<Invitation>,
        /// The people you blocked.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        blocked: Vec<String>,
    },
    /// The people you block now (after a `block` or `unblock`).
    Blocked {
        users: Vec<String>,
    },
    /// The backlog the cursors asked for has been sent; live traffic follows.
    Synced {},
    Message {
        message: Message,
    },
    /// A stored message was edited, deleted or reacted to.
    Change {
        change: Change,
    },
    /// The versions of a message, oldest first; the last is the current one.
    Versions {
        conv: Conv,
        seq: i64,
        versions: Vec<Version>,
    },
    /// Your message (or change) `client_id` is stored as `id`, at `seq` in `conv`.
    Ack {
        client_id: String,
        id: i64,
        conv: Conv,
        seq: i64,
        ts: i64,
    },
    History {
        conv: Conv,
        messages: Vec<Message>,
        /// Older messages exist before the first one here.
        has_more: bool,
    },
    /// A piece of a conversation's history (see [`ClientFrame::Window`]),
    /// oldest first.
    Window {
        conv: Conv,
        messages: Vec<Message>,
        /// Messages exist before the first one here.
        has_older: bool,
        /// Messages exist after the last one here.
        has_newer: bool,
    },
    /// A page of search results; `cursor` asks for the next page.
    SearchResults {
        query: String,
        hits: Vec<SearchHit>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<i64>,
    },
    Rooms {
        rooms: Vec<RoomInfo>,
    },
    /// You joined (or created) `room`; its state is in `info`.
    Joined {
        info: ConversationInfo,
    },
    /// You are no longer in `room`: you left, or were removed (`reason`)
    /// by `by`.
    Left {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<LeftReason>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A page of the room directory; `next` is the `after` of the next page.
    Directory {
        query: String,
        rooms: Vec<RoomInfo>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// You were invited to a room.
    Invited {
        invitation: Invitation,
    },
    /// A room's moderation log, newest first.
    ModerationLog {
        room: String,
        entries: Vec<ModEntry>,
    },
    /// Someone joined or left a room you are in.
    Member {
        room: String,
        user: String,
        joined: bool,
        members: u32,
        /// The joiner's display name, when it is not their handle.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<String>,
    },
    /// Who is in `room`, by name (the first [`MAX_MEMBER_NAMES`] in name
    /// order); `total` counts everyone.
    Members {
        room: String,
        users: Vec<String>,
        total: u32,
        /// The owner and the moderators.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        staff: Vec<Staff>,
        /// Members who are muted now.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        muted: Vec<Muted>,
        /// The listed members' display names, where not their handles.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<Named>,
    },
    /// Someone came online or went offline.
    Presence {
        user: String,
        online: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<String>,
    },
    Typing {
        conv: Conv,
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<String>,
    },
    /// `user` is now shown as `display` (their handle, when empty).
    Profile {
        user: String,
        display: String,
    },
    Read {
        conv: Conv,
        seq: i64,
        unread: i64,
        /// Unread messages that mention you, after this read.
        #[serde(default, skip_serializing_if = "is_zero")]
        mentions: i64,
    },
    /// What you are notified of in `conv` changed (on one of your devices).
    Notify {
        conv: Conv,
        level: NotifyLevel,
    },
    Pong {
        nonce: u64,
    },
    Error {
        code: ErrorCode,
        message: String,
        /// The `client_id` of the refused `send` (or edit, delete, react,
        /// unreact), when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// The conversation the refused frame named, when it named one
        /// (`send`, `history`, `read`, `typing`, and the room frames).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conv: Option<Conv>,
    },
}

impl ClientFrame {
    /// `create_room` for a public room with no topic.
    pub fn create_room(room: impl Into<String>) -> ClientFrame {
        ClientFrame::CreateRoom {
            room: room.into(),
            title: String::new(),
            topic: String::new(),
            private: false,
        }
    }
}

/// Why a client frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
}

const CLIENT_TYPES: &[&str] = &[
    "hello",
    "send",
    "edit",
    "delete",
    "react",
    "unreact",
    "edit_history",
    "history",
    "window",
    "search",
    "create_room",
    "join_room",
    "leave_room",
    "list_rooms",
    "directory",
    "room_action",
    "moderation_log",
    "block",
    "unblock",
    "members",
    "read",
    "typing",
    "notify",
    "ping",
];

/// Decode one client text frame, telling malformed JSON, an unknown `type`
/// and a known frame with bad fields apart.
pub fn decode_client(text: &str) -> Result<ClientFrame, DecodeError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| DecodeError {
        code: ErrorCode::MalformedJson,
        message: format!("frame is not valid JSON: {e}"),
    })?;
    let Some(object) = value.as_object() else {
        return Err(DecodeError {
            code: ErrorCode::MalformedJson,
            message: "frame must be a JSON object".into(),
        });
    };
    let kind = match object.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(_) => {
            return Err(DecodeError {
                code: ErrorCode::UnknownType,
                message: "field `type` must be a string".into(),
            })
        }
        None => {
            return Err(DecodeError {
                code: ErrorCode::UnknownType,
                message: "frame has no `type` field".into(),
            })
        }
    };
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        return Err(DecodeError {
            code: ErrorCode::UnknownType,
            message: format!("unknown frame type `{}`", truncate(&kind, 40)),
        });
    }
    serde_json::from_value(value).map_err(|e| DecodeError {
        code: ErrorCode::InvalidFrame,
        message: format!("invalid `{kind}` frame: {e}"),
    })
}

/// Decode one server frame (used by the browser client and by tests).
pub fn decode_server(text: &str) -> Result<ServerFrame, serde_json::Error> {
    serde_json::from_str(text)
}

/// Encode any frame as JSON text.
pub fn encode<T: Serialize>(frame: &T) -> String {
    // Serializing these plain data types cannot fail: every map key is a string.
    serde_json::to_string(frame).unwrap_or_else(|_| String::from("{}"))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Is `c` a pictographic symbol of the kind emoji are made of.
fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF
        | 0x2190..=0x21FF
        | 0x2300..=0x23FF
        | 0x25A0..=0x27BF
        | 0x2900..=0x297F
        | 0x2B00..=0x2BFF
        | 0x3030 | 0x303D | 0x3297 | 0x3299
        | 0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139)
}

/// Zero-width joiner, variation selectors, the keycap mark and tags: the
/// glue inside one emoji.
fn is_emoji_glue(c: char) -> bool {
    matches!(
        c as u32,
        0x200D | 0xFE0E | 0xFE0F | 0x20E3 | 0xE0020..=0xE007F
    )
}

/// Does `run` (no spaces) hold an emoji: a pictograph or a keycap.
fn emoji_run(run: &str) -> bool {
    run.chars().any(is_pictograph) || run.contains('\u{20E3}')
}

/// Is every character of `run` part of an emoji.
fn emoji_chars_only(run: &str) -> bool {
    let keycap = run.contains('\u{20E3}');
    run.chars().all(|c| {
        is_pictograph(c) || is_emoji_glue(c) || (keycap && matches!(c, '0'..='9' | '#' | '*'))
    })
}

/// Is `emoji` acceptable as a reaction: one short run of emoji (with the
/// joiners, selectors and keycaps they are made of), and nothing else.
pub fn valid_emoji(emoji: &str) -> bool {
    !emoji.is_empty()
        && emoji.len() <= MAX_EMOJI_BYTES
        && emoji_run(emoji)
        && emoji_chars_only(emoji)
}

/// Does this text consist of a few emoji and nothing else, so that it is
/// shown larger?
pub fn only_emoji(text: &str) -> bool {
    let trimmed = text.trim();
    !trimmed.is_empty()
        && trimmed.len() <= 8 * MAX_EMOJI_BYTES
        && trimmed
            .split_whitespace()
            .all(|run| emoji_run(run) && emoji_chars_only(run))
}

/// The start of `text`, at most `max` characters.
pub fn clip(text: &str, max: usize) -> &str {
    truncate(text, max)
}

/// Is `name` a valid user or room name: 1 to 32 ASCII letters, digits, `_` or `-`.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Body of `POST /api/session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub username: String,
    pub password: String,
    /// The display name to register with (the handle when absent or
    /// empty); ignored when signing in to an existing account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Create an account: refused with `name_taken` when the name is
    /// registered (otherwise signing in to a free name registers it too).
    #[serde(default, skip_serializing_if = "is_false")]
    pub register: bool,
}

/// Body of `PUT /api/profile`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileUpdate {
    pub display_name: String,
}

/// The password rule, as the sign-in page states it before anyone types.
pub const PASSWORD_RULE: &str = "At least 8 characters: a few unrelated words work well. \
     Spaces, emoji and any script are welcome; common or easily guessed \
     passwords, and your own name, are refused.";

/// Longest display name or room title, in characters.
pub const MAX_DISPLAY_CHARS: usize = 64;

/// Answer of `POST /api/session` and `GET /api/session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub username: String,
    /// The name people see (the handle unless one was chosen).
    #[serde(default)]
    pub display_name: String,
    /// Why the account must choose a new password before going on, when
    /// its password no longer meets the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_notice: Option<String>,
    /// True when this sign-in registered the name.
    #[serde(default)]
    pub registered: bool,
    /// A server admin (who may open `/admin`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub admin: bool,
}

/// Body of `POST /api/password`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

/// One signed-in device, in `GET /api/sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// A short id of the session (never its token).
    pub id: String,
    /// When it signed in, ms since the epoch.
    pub created_at: i64,
    pub expires_at: i64,
    /// The browser it signed in with, as it named itself.
    pub user_agent: String,
    /// The session making this request.
    pub current: bool,
}

/// A user, as `GET /api/admin/users` lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUser {
    pub name: String,
    /// Their display name, when it is not their handle.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    pub created_at: i64,
    pub disabled: bool,
    pub online: bool,
}

/// A room, as `GET /api/admin/rooms` lists them (private ones too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRoom {
    pub room: String,
    pub topic: String,
    pub private: bool,
    pub archived: bool,
    pub members: u32,
}

/// One node's numbers, in `GET /api/admin/nodes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    pub node: String,
    pub connections: u64,
    pub guests: u64,
    pub users_online: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub changes_in: u64,
    pub rate_limited: u64,
    pub slow_consumers: u64,
}

/// Body of `POST /api/admin/users/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUpdate {
    pub disabled: bool,
}

/// Body of `POST /api/admin/rooms/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomUpdate {
    pub archived: bool,
}

/// JSON body of every HTTP error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
    pub error: String,
    pub message: String,
}

/// The seed document's direct-chat frame (`/ws/{username}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedFrame {
    pub sender: String,
    pub receiver: String,
    pub data: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_client(frame: ClientFrame) {
        let text = encode(&frame);
        assert_eq!(decode_client(&text), Ok(frame), "{text}");
    }

    fn round_trip_server(frame: ServerFrame) {
        let text = encode(&frame);
        assert_eq!(decode_server(&text).ok(), Some(frame), "{text}");
    }

    fn message() -> Message {
        Message {
            mentions: Default::default(),
            id: 7,
            conv: Conv::Room("lobby".into()),
            seq: 3,
            sender: "alice".into(),
            display: Some("Alice 小明".into()),
            body: "hi <b>there</b> \u{1F600}".into(),
            ts: 1_764_000_000_000,
            client_id: Some("c-1".into()),
            reply: None,
            edited_at: None,
            deleted_at: None,
            reactions: vec![],
            rev: 0,
            event: None,
            moderated: false,
        }
    }

    fn info() -> ConversationInfo {
        ConversationInfo {
            mentions: Default::default(),
            notify: Default::default(),
            conv: Conv::Dm("bob".into()),
            last_seq: 4,
            read_seq: 2,
            unread: 2,
            members: None,
            role: None,
            muted_until: None,
            topic: String::new(),
            private: false,
            title: "محمد".into(),
        }
    }

    #[test]
    fn every_client_frame_round_trips() {
        for frame in [
            ClientFrame::Hello {
                version: PROTOCOL_VERSION,
                cursors: vec![Cursor {
                    conv: Conv::Room("lobby".into()),
                    seq: 9,
                }],
            },
            ClientFrame::Send {
                client_id: "c-1".into(),
                conv: Conv::Dm("bob".into()),
                body: "hello".into(),
                reply_to: None,
            },
            ClientFrame::History {
                conv: Conv::Guest("carol".into()),
                before: Some(10),
                limit: Some(50),
            },
            ClientFrame::History {
                conv: Conv::Room("lobby".into()),
                before: None,
                limit: None,
            },
            ClientFrame::Window {
                conv: Conv::Room("lobby".into()),
                around: Some(40),
                before: None,
                after: None,
                limit: None,
            },
            ClientFrame::Search {
                query: "消息 from:ming".into(),
                order: SearchOrder::Relevance,
                cursor: Some(20),
                limit: Some(20),
                tz: -300,
            },
            ClientFrame::create_room("rust"),
            ClientFrame::JoinRoom {
                room: "rust".into(),
            },
            ClientFrame::LeaveRoom {
                room: "rust".into(),
            },
            ClientFrame::ListRooms {},
            ClientFrame::Members {
                room: "rust".into(),
            },
            ClientFrame::Read {
                conv: Conv::Room("rust".into()),
                seq: 4,
            },
            ClientFrame::Typing {
                conv: Conv::Dm("bob".into()),
            },
            ClientFrame::Ping { nonce: 42 },
            ClientFrame::Send {
                client_id: "c-2".into(),
                conv: Conv::Room("lobby".into()),
                body: "yes".into(),
                reply_to: Some(3),
            },
            ClientFrame::Edit {
                client_id: "e-1".into(),
                conv: Conv::Room("lobby".into()),
                seq: 3,
                body: "fixed".into(),
            },
            ClientFrame::Delete {
                client_id: "d-1".into(),
                conv: Conv::Dm("bob".into()),
                seq: 3,
            },
            ClientFrame::React {
                client_id: "r-1".into(),
                conv: Conv::Room("lobby".into()),
                seq: 3,
                emoji: "\u{1F44D}".into(),
            },
            ClientFrame::Unreact {
                client_id: "r-2".into(),
                conv: Conv::Room("lobby".into()),
                seq: 3,
                emoji: "\u{1F44D}".into(),
            },
            ClientFrame::EditHistory {
                conv: Conv::Room("lobby".into()),
                seq: 3,
            },
            ClientFrame::CreateRoom {
                room: "ops".into(),
                title: "技术讨论".into(),
                topic: "Deploys".into(),
                private: true,
            },
            ClientFrame::Directory {
                query: "ru".into(),
                after: Some("rust".into()),
                limit: Some(20),
            },
            ClientFrame::RoomAction {
                client_id: "a-1".into(),
                room: "ops".into(),
                action: RoomAction::Mute {
                    user: "bob".into(),
                    minutes: 10,
                },
            },
            ClientFrame::RoomAction {
                client_id: "a-2".into(),
                room: "ops".into(),
                action: RoomAction::SetRole {
                    user: "bob".into(),
                    role: Role::Moderator,
                },
            },
            ClientFrame::RoomAction {
                client_id: "a-3".into(),
                room: "ops".into(),
                action: RoomAction::Decline {},
            },
            ClientFrame::ModerationLog { room: "ops".into() },
            ClientFrame::Block {
                user: "mallory".into(),
            },
            ClientFrame::Unblock {
                user: "mallory".into(),
            },
        ] {
            round_trip_client(frame);
        }
    }

    #[test]
    fn every_server_frame_round_trips() {
        for frame in [
            ServerFrame::Welcome {
                version: PROTOCOL_VERSION,
                user: "alice".into(),
                conversations: vec![info()],
                online: vec!["alice".into(), "bob".into()],
                display: Some("Zoë Müller".into()),
                names: vec![Named {
                    user: "bob".into(),
                    display: "Bob 🎸".into(),
                }],
                invites: vec![],
                blocked: vec!["mallory".into()],
            },
            ServerFrame::Profile {
                user: "bob".into(),
                display: "小明".into(),
            },
            ServerFrame::Blocked {
                users: vec!["mallory".into()],
            },
            ServerFrame::Synced {},
            ServerFrame::Message { message: message() },
            ServerFrame::Message {
                message: Message {
                    client_id: None,
                    ..message()
                },
            },
            ServerFrame::Ack {
                client_id: "c-1".into(),
                id: 7,
                conv: Conv::Room("lobby".into()),
                seq: 3,
                ts: 1,
            },
            ServerFrame::History {
                conv: Conv::Room("lobby".into()),
                messages: vec![message()],
                has_more: true,
            },
            ServerFrame::Window {
                conv: Conv::Room("lobby".into()),
                messages: vec![message()],
                has_older: true,
                has_newer: false,
            },
            ServerFrame::SearchResults {
                query: "消息".into(),
                hits: vec![SearchHit {
                    conv: Conv::Dm("ming".into()),
                    id: 9,
                    seq: 4,
                    sender: "ming".into(),
                    display: Some("小明".into()),
                    ts: 5,
                    excerpt: "离线消息盒子".into(),
                    marks: vec![(6, 12)],
                }],
                cursor: Some(9),
            },
            ServerFrame::SearchResults {
                query: "x".into(),
                hits: vec![],
                cursor: None,
            },
            ServerFrame::Rooms {
                rooms: vec![RoomInfo {
                    room: "lobby".into(),
                    title: String::new(),
                    members: 3,
                    joined: true,
                    topic: String::new(),
                    private: false,
                }],
            },
            ServerFrame::Joined {
                info: ConversationInfo {
                    conv: Conv::Room("rust".into()),
                    members: Some(2),
                    ..info()
                },
            },
            ServerFrame::Left {
                room: "rust".into(),
                reason: None,
                by: None,
            },
            ServerFrame::Left {
                room: "rust".into(),
                reason: Some(LeftReason::Banned),
                by: Some("alice".into()),
            },
            ServerFrame::Directory {
                query: "ru".into(),
                rooms: vec![RoomInfo {
                    room: "rust".into(),
                    title: "Rust 中文".into(),
                    members: 3,
                    joined: false,
                    topic: "crabs".into(),
                    private: false,
                }],
                next: Some("rust".into()),
            },
            ServerFrame::Invited {
                invitation: Invitation {
                    room: "ops".into(),
                    title: String::new(),
                    by: "alice".into(),
                    topic: String::new(),
                    private: true,
                },
            },
            ServerFrame::ModerationLog {
                room: "ops".into(),
                entries: vec![ModEntry {
                    id: 1,
                    ts: 2,
                    room: "ops".into(),
                    event: RoomEvent {
                        by: Some("alice".into()),
                        user: Some("bob".into()),
                        ..RoomEvent::new(EventKind::Kicked)
                    },
                    text: "bob was removed by alice".into(),
                }],
            },
            ServerFrame::Message {
                message: Message {
                    sender: String::new(),
                    body: "bob joined".into(),
                    event: Some(RoomEvent {
                        user: Some("bob".into()),
                        ..RoomEvent::new(EventKind::Joined)
                    }),
                    ..message()
                },
            },
            ServerFrame::Member {
                room: "rust".into(),
                user: "bob".into(),
                joined: true,
                members: 2,
                display: Some("Bob 🎸".into()),
            },
            ServerFrame::Presence {
                user: "bob".into(),
                online: false,
                display: None,
            },
            ServerFrame::Presence {
                user: "ming".into(),
                online: true,
                display: Some("小明".into()),
            },
            ServerFrame::Typing {
                conv: Conv::Dm("alice".into()),
                user: "alice".into(),
                display: Some("ليلى".into()),
            },
            ServerFrame::Read {
                mentions: Default::default(),
                conv: Conv::Dm("bob".into()),
                seq: 4,
                unread: 0,
            },
            ServerFrame::Members {
                room: "rust".into(),
                users: vec!["alice".into(), "bob".into()],
                total: 2,
                staff: vec![Staff {
                    user: "alice".into(),
                    role: Role::Owner,
                }],
                muted: vec![Muted {
                    user: "bob".into(),
                    until: 5,
                }],
                names: vec![Named {
                    user: "alice".into(),
                    display: "Alice".into(),
                }],
            },
            ServerFrame::Pong { nonce: 42 },
            ServerFrame::Message {
                message: Message {
                    reply: Some(Quote {
                        seq: 1,
                        sender: "bob".into(),
                        body: String::new(),
                        deleted: true,
                    }),
                    edited_at: Some(5),
                    deleted_at: None,
                    reactions: vec![Reaction {
                        emoji: "\u{1F389}".into(),
                        users: vec!["bob".into(), "alice".into()],
                        me: true,
                    }],
                    rev: 9,
                    ..message()
                },
            },
            ServerFrame::Change {
                change: Change {
                    mentions: Default::default(),
                    id: 12,
                    conv: Conv::Room("lobby".into()),
                    seq: 9,
                    sender: "alice".into(),
                    ts: 2,
                    client_id: Some("e-1".into()),
                    target: 3,
                    kind: ChangeKind::Edit,
                    body: Some("fixed".into()),
                    emoji: None,
                },
            },
            ServerFrame::Change {
                change: Change {
                    mentions: Default::default(),
                    id: 13,
                    conv: Conv::Dm("bob".into()),
                    seq: 10,
                    sender: "bob".into(),
                    ts: 3,
                    client_id: None,
                    target: 3,
                    kind: ChangeKind::React,
                    body: None,
                    emoji: Some("\u{2764}\u{FE0F}".into()),
                },
            },
            ServerFrame::Versions {
                conv: Conv::Room("lobby".into()),
                seq: 3,
                versions: vec![
                    Version {
                        body: "fist".into(),
                        ts: 1,
                    },
                    Version {
                        body: "first".into(),
                        ts: 2,
                    },
                ],
            },
            ServerFrame::Error {
                code: ErrorCode::NotMember,
                message: "you are not in room rust".into(),
                client_id: Some("c-2".into()),
                conv: Some(Conv::Room("rust".into())),
            },
        ] {
            round_trip_server(frame);
        }
    }

    #[test]
    fn wire_shape_matches_the_documentation() {
        let frame = ClientFrame::Send {
            client_id: "c-1".into(),
            conv: Conv::Room("lobby".into()),
            body: "hi".into(),
            reply_to: None,
        };
        assert_eq!(
            encode(&frame),
            r#"{"type":"send","client_id":"c-1","conv":{"room":"lobby"},"body":"hi"}"#
        );
        let error = ServerFrame::Error {
            code: ErrorCode::MalformedJson,
            message: "x".into(),
            client_id: None,
            conv: None,
        };
        assert_eq!(
            encode(&error),
            r#"{"type":"error","code":"malformed_json","message":"x"}"#
        );
    }

    #[test]
    fn error_code_names_match_serde() {
        for code in [
            ErrorCode::MalformedJson,
            ErrorCode::UnknownType,
            ErrorCode::InvalidFrame,
            ErrorCode::UnsupportedVersion,
            ErrorCode::HelloRequired,
            ErrorCode::AlreadyGreeted,
            ErrorCode::UnknownUser,
            ErrorCode::UnknownRoom,
            ErrorCode::GuestOffline,
            ErrorCode::NotMember,
            ErrorCode::RoomExists,
            ErrorCode::InvalidName,
            ErrorCode::InvalidMessage,
            ErrorCode::CannotLeaveLobby,
            ErrorCode::RateLimited,
            ErrorCode::LimitReached,
            ErrorCode::NotAuthor,
            ErrorCode::UnknownMessage,
            ErrorCode::MessageDeleted,
            ErrorCode::TooManyReactions,
            ErrorCode::AlreadyReacted,
            ErrorCode::NotReacted,
            ErrorCode::InvalidReaction,
            ErrorCode::NotPermitted,
            ErrorCode::Banned,
            ErrorCode::Muted,
            ErrorCode::NotInvited,
            ErrorCode::AlreadyMember,
            ErrorCode::NoChange,
            ErrorCode::Blocked,
            ErrorCode::Archived,
            ErrorCode::InvalidQuery,
            ErrorCode::Internal,
        ] {
            assert_eq!(encode(&code), format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn malformed_json_is_rejected() {
        for text in ["{", "not json", "", "[1,2]", "\"hello\"", "42"] {
            let err = decode_client(text).expect_err(text);
            assert_eq!(err.code, ErrorCode::MalformedJson, "{text}");
        }
    }

    #[test]
    fn unknown_or_missing_type_is_rejected() {
        for text in [
            r#"{"type":"shout","body":"x"}"#,
            r#"{"body":"x"}"#,
            r#"{"type":7}"#,
            r#"{"type":"Send"}"#,
        ] {
            let err = decode_client(text).expect_err(text);
            assert_eq!(err.code, ErrorCode::UnknownType, "{text}");
        }
    }

    #[test]
    fn missing_or_bad_fields_are_rejected() {
        for text in [
            r#"{"type":"send","conv":{"room":"lobby"},"body":"x"}"#,
            r#"{"type":"send","client_id":"c","body":"x"}"#,
            r#"{"type":"send","client_id":"c","conv":{"planet":"x"},"body":"x"}"#,
            r#"{"type":"send","client_id":1,"conv":{"room":"lobby"},"body":"x"}"#,
            r#"{"type":"hello"}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"ping","nonce":-1}"#,
            r#"{"type":"join_room","room":"a","extra":1}"#,
        ] {
            let err = decode_client(text).expect_err(text);
            assert_eq!(err.code, ErrorCode::InvalidFrame, "{text}");
            assert!(err.message.contains("invalid"), "{}", err.message);
        }
    }

    #[test]
    fn hello_cursors_default_to_empty() {
        assert_eq!(
            decode_client(r#"{"type":"hello","version":1}"#),
            Ok(ClientFrame::Hello {
                version: 1,
                cursors: vec![]
            })
        );
    }

    #[test]
    fn names_are_checked() {
        for ok in ["a", "alice", "Bob_2", "x-y", &"z".repeat(32)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a b", "é", "a/b", "<script>", &"z".repeat(33)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn reactions_are_one_emoji() {
        for ok in [
            "\u{1F44D}",
            "\u{1F44D}\u{1F3FD}",
            "\u{2764}\u{FE0F}",
            "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
            "\u{1F1E8}\u{1F1F3}",
            "1\u{FE0F}\u{20E3}",
            "\u{2705}",
        ] {
            assert!(valid_emoji(ok), "{ok:?}");
        }
        for bad in [
            "",
            "a",
            "1",
            "+1",
            "\u{1F44D} ",
            "\u{1F44D}x",
            "<b>",
            "\u{6D88}",
            "\u{0}",
            &"\u{1F600}".repeat(9),
        ] {
            assert!(!valid_emoji(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_emoji_messages_are_told_apart() {
        assert!(only_emoji("\u{1F389}"));
        assert!(only_emoji(" \u{1F389} \u{1F44D}\u{1F3FD} "));
        assert!(!only_emoji("yes \u{1F389}"));
        assert!(!only_emoji("123"));
        assert!(!only_emoji("\u{6D88}\u{606F}"));
        assert!(!only_emoji(""));
    }

    #[test]
    fn unknown_type_message_is_truncated() {
        let long = "x".repeat(1000);
        let err = decode_client(&format!(r#"{{"type":"{long}"}}"#)).unwrap_err();
        assert!(err.message.len() < 100);
    }
}
