//! What the browser knows about every conversation, as plain data.
//!
//! Server frames fold into a [`Chat`] with [`Chat::apply`], which answers
//! with the frames to send back. Nothing here touches the browser, so the
//! logic is tested natively.
//!
//! Sending is at-least-once: a message waits in the outbox until the server
//! acknowledges its `client_id`, and everything still waiting is sent again
//! after each reconnect (the server stores a repeated `client_id` only once).
//! Receiving is exactly-once on screen: messages are kept by `seq` and `id`,
//! and each reconnect resumes every conversation after the last `seq` held.

// Small sorted `Vec`s rather than `BTreeSet`s where lists are short: every
// B-tree key type costs the web app about 2 KiB compressed.
use std::collections::BTreeMap;

use crate::protocol::{
    ClientFrame, Conv, ConversationInfo, Cursor, ErrorCode, Message, RoomInfo, ServerFrame, LOBBY,
    MAX_BODY_BYTES, PROTOCOL_VERSION,
};

/// How many messages to ask for per history page.
pub const HISTORY_PAGE: u32 = 50;

/// How long a `typing` notice lasts, in milliseconds.
pub const TYPING_MS: f64 = 5_000.0;

/// Where a message on screen stands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Stored by the server.
    Sent,
    /// Waiting for the server's acknowledgement.
    Sending,
    /// Refused by the server, with its reason.
    Failed(String),
}

impl Delivery {
    /// The machine name, used for the `data-status` attribute.
    pub fn as_str(&self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Sending => "sending",
            Delivery::Failed(_) => "failed",
        }
    }
}

/// One row of the timeline, ready to render.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Stable while the row's message keeps its state.
    pub key: String,
    pub sender: String,
    pub body: String,
    /// Server time in milliseconds; absent until stored.
    pub ts: Option<i64>,
    /// Sent by the signed-in user.
    pub mine: bool,
    pub delivery: Delivery,
}

/// Why a message cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DraftError {
    Empty,
    TooLong,
}

impl std::fmt::Display for DraftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DraftError::Empty => f.write_str("Write something first."),
            DraftError::TooLong => write!(f, "Messages are at most {} KiB.", MAX_BODY_BYTES / 1024),
        }
    }
}

/// Conversation ids compare without regard to case (names are unique that way).
pub fn key_of(conv: &Conv) -> Conv {
    conv.with_name(conv.name().to_ascii_lowercase())
}

/// What we know of one conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Thread {
    /// The name as the server spells it.
    pub display: String,
    /// Stored messages, ordered by `seq`, each `seq` and `id` once.
    pub messages: Vec<Message>,
    pub unread: i64,
    pub members: Option<u32>,
    /// Who is in the room, by name, once the server has said
    /// (`members` frames, kept current by `member` events).
    pub member_names: Option<Vec<String>>,
    /// Older messages exist on the server (unknown until asked: `true`).
    pub has_more: bool,
    /// A history page was asked for and has not arrived.
    pub loading: bool,
    /// We asked for its history at least once on this page.
    pub fetched: bool,
    /// Why the conversation cannot be used (unknown room, not a member, …).
    pub problem: Option<(ErrorCode, String)>,
    /// Who is typing, with when the notice expires (ms).
    pub typing: Vec<(String, i64)>,
}

/// A message written here and not yet acknowledged; kept across reloads
/// (see [`Chat::outbox`] and [`Chat::restore_outbox`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outgoing {
    client_id: String,
    conv: Conv,
    body: String,
    /// Why the server refused it, once it has.
    #[serde(default)]
    error: Option<String>,
}

/// Every conversation as this browser sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chat {
    /// The signed-in user, once the server has said who we are.
    user: Option<String>,
    threads: BTreeMap<Conv, Thread>,
    outbox: Vec<Outgoing>,
    /// Sorted, each name once.
    online: Vec<String>,
    /// The conversation on screen (key form).
    viewing: Option<Conv>,
    /// The page is visible (reading clears unread counts only then).
    hidden: bool,
    /// The server answered `hello` on the current connection.
    greeted: bool,
    /// The backlog after `welcome` has arrived (its messages are already
    /// counted in the welcome's unread numbers).
    synced: bool,
    /// The last error the server reported that belongs to no message.
    notice: Option<String>,
    /// The answer to the last `list_rooms`.
    rooms: Vec<RoomInfo>,
}

impl Chat {
    /// The first frame of a connection: resume every conversation after the
    /// last stored message we hold.
    pub fn hello(&self) -> ClientFrame {
        let cursors = self
            .threads
            .values()
            .filter_map(|t| {
                t.messages.last().map(|m| Cursor {
                    conv: m.conv.clone(),
                    seq: m.seq,
                })
            })
            .collect();
        ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            cursors,
        }
    }

    /// The connection closed: nothing can be sent until the next `welcome`.
    pub fn disconnected(&mut self) {
        self.greeted = false;
        self.synced = false;
        self.online.clear();
        for thread in self.threads.values_mut() {
            thread.loading = false;
            thread.typing.clear();
        }
    }

    pub fn greeted(&self) -> bool {
        self.greeted
    }

    /// Show `conv`; returns the frames to send (history, read).
    pub fn view(&mut self, conv: Option<Conv>) -> Vec<ClientFrame> {
        self.viewing = conv.as_ref().map(key_of);
        let Some(conv) = conv else {
            return Vec::new();
        };
        let key = key_of(&conv);
        let thread = self.threads.entry(key.clone()).or_insert_with(|| Thread {
            display: conv.name().to_owned(),
            has_more: true,
            ..Thread::default()
        });
        // A problem is worth asking about again when we come back.
        if thread.problem.is_some() {
            thread.problem = None;
            thread.fetched = false;
        }
        let mut replies = Vec::new();
        if self.greeted {
            replies.extend(self.first_page(&key));
            replies.extend(self.members_frame(&key, false));
            replies.extend(self.read_frame(&key));
        }
        replies
    }

    /// `conv` leaves the screen (unless another view has taken over already).
    pub fn unview(&mut self, conv: &Conv) {
        if self.viewing.as_ref() == Some(&key_of(conv)) {
            self.viewing = None;
        }
    }

    /// The page became visible or hidden.
    pub fn set_hidden(&mut self, hidden: bool) -> Vec<ClientFrame> {
        self.hidden = hidden;
        match (&self.viewing, self.greeted, hidden) {
            (Some(key), true, false) => self.read_frame(&key.clone()).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Ask for the page before the oldest message held in the conversation on screen.
    pub fn older(&mut self) -> Option<ClientFrame> {
        let key = self.viewing.clone()?;
        if !self.greeted {
            return None;
        }
        let thread = self.threads.get_mut(&key)?;
        if thread.loading || !thread.has_more || thread.problem.is_some() {
            return None;
        }
        let first = thread.messages.first()?;
        thread.loading = true;
        Some(ClientFrame::History {
            conv: first.conv.clone(),
            before: Some(first.seq),
            limit: Some(HISTORY_PAGE),
        })
    }

    /// Put a message in the outbox. Returns the frame to send now, or
    /// `None` when the connection is not ready (it goes out on the next
    /// `welcome`).
    pub fn queue(
        &mut self,
        client_id: String,
        conv: Conv,
        body: &str,
    ) -> Result<Option<ClientFrame>, DraftError> {
        let body = check_body(body)?;
        let outgoing = Outgoing {
            client_id,
            conv,
            body: body.to_owned(),
            error: None,
        };
        let frame = self.greeted.then(|| send_frame(&outgoing));
        self.outbox.push(outgoing);
        Ok(frame)
    }

    /// The messages waiting for an acknowledgement (or refused), oldest first.
    pub fn outbox(&self) -> &[Outgoing] {
        &self.outbox
    }

    /// Put back messages saved from an earlier page (before a reload). They
    /// go first, keep their client ids (so a message the server already
    /// stored is not stored twice) and are sent after the next `welcome`.
    /// Returns the frames to send now (when the connection is ready).
    pub fn restore_outbox(&mut self, saved: Vec<Outgoing>) -> Vec<ClientFrame> {
        let mut restored: Vec<Outgoing> = saved
            .into_iter()
            .filter(|o| !self.outbox.iter().any(|h| h.client_id == o.client_id))
            .filter(|o| check_body(&o.body).is_ok())
            .collect();
        let frames = if self.greeted {
            send_frames(&restored).collect()
        } else {
            Vec::new()
        };
        restored.append(&mut self.outbox);
        self.outbox = restored;
        frames
    }

    /// Drop a refused message from the outbox.
    pub fn discard(&mut self, client_id: &str) {
        self.outbox.retain(|o| o.client_id != client_id);
    }

    /// Fold one server frame in at time `now` (ms); returns the frames to send in reply.
    pub fn apply(&mut self, frame: ServerFrame, now: i64) -> Vec<ClientFrame> {
        let mut replies = Vec::new();
        match frame {
            ServerFrame::Welcome {
                user,
                conversations,
                online,
                ..
            } => {
                self.user = Some(user);
                self.online = online;
                self.online.sort();
                self.online.dedup();
                self.greeted = true;
                self.synced = false;
                self.notice = None;
                // Rooms we no longer belong to drop out of the list.
                let listed: Vec<Conv> = conversations.iter().map(|i| key_of(&i.conv)).collect();
                self.threads.retain(|k, t| {
                    !matches!(k, Conv::Room(_))
                        || listed.contains(k)
                        || Some(k) == self.viewing.as_ref()
                        || t.problem.is_some()
                });
                for info in conversations {
                    self.upsert(info);
                }
                if let Some(key) = self.viewing.clone() {
                    replies.extend(self.first_page(&key));
                    // Who is in the room may have changed while we were away.
                    replies.extend(self.members_frame(&key, true));
                }
                replies.extend(send_frames(&self.outbox));
            }
            ServerFrame::Synced {} => {
                self.synced = true;
                if let Some(key) = self.viewing.clone() {
                    replies.extend(self.read_frame(&key));
                }
            }
            ServerFrame::Message { message } => {
                let key = key_of(&message.conv);
                let fresh = self.insert(message.clone());
                if fresh {
                    let mine = Some(message.sender.as_str()) == self.user.as_deref();
                    if let Some(thread) = self.threads.get_mut(&key) {
                        thread.typing.retain(|(user, _)| *user != message.sender);
                        if !mine && self.synced {
                            thread.unread += 1;
                        }
                    }
                    if Some(&key) == self.viewing.as_ref() {
                        replies.extend(self.read_frame(&key));
                    }
                }
            }
            ServerFrame::History {
                conv,
                messages,
                has_more,
            } => {
                let key = key_of(&conv);
                let thread = self.thread(&conv);
                thread.loading = false;
                thread.has_more = has_more;
                thread.problem = None;
                for message in messages {
                    self.insert(message);
                }
                if Some(&key) == self.viewing.as_ref() {
                    replies.extend(self.read_frame(&key));
                }
            }
            ServerFrame::Ack {
                client_id,
                id,
                conv,
                seq,
                ts,
            } => {
                if let Some(at) = self.outbox.iter().position(|o| o.client_id == client_id) {
                    let outgoing = self.outbox.remove(at);
                    let sender = self.user.clone().unwrap_or_default();
                    self.insert(Message {
                        id,
                        conv,
                        seq,
                        sender,
                        body: outgoing.body,
                        ts,
                        client_id: Some(client_id),
                        reply: None,
                        edited_at: None,
                        deleted_at: None,
                        reactions: Vec::new(),
                        rev: 0,
                    });
                }
            }
            ServerFrame::Rooms { rooms } => self.rooms = rooms,
            ServerFrame::Joined { info } => {
                self.upsert(info.clone());
                let key = key_of(&info.conv);
                if Some(&key) == self.viewing.as_ref() && self.greeted {
                    if let Some(thread) = self.threads.get_mut(&key) {
                        thread.fetched = false;
                        thread.problem = None;
                    }
                    replies.extend(self.first_page(&key));
                    replies.extend(self.members_frame(&key, true));
                }
                if let Some(room) = self
                    .rooms
                    .iter_mut()
                    .find(|r| r.room.eq_ignore_ascii_case(info.conv.name()))
                {
                    room.joined = true;
                }
            }
            ServerFrame::Left { room } => {
                let key = key_of(&Conv::Room(room.clone()));
                if Some(&key) == self.viewing.as_ref() {
                    if let Some(thread) = self.threads.get_mut(&key) {
                        thread.problem = Some((
                            ErrorCode::NotMember,
                            format!("You left #{room}. Join it again to read and write here."),
                        ));
                    }
                } else {
                    self.threads.remove(&key);
                }
                if let Some(r) = self
                    .rooms
                    .iter_mut()
                    .find(|r| r.room.eq_ignore_ascii_case(&room))
                {
                    r.joined = false;
                }
            }
            ServerFrame::Member {
                room,
                user,
                joined,
                members,
            } => {
                let key = key_of(&Conv::Room(room));
                if let Some(thread) = self.threads.get_mut(&key) {
                    thread.members = Some(members);
                    if let Some(names) = &mut thread.member_names {
                        names.retain(|n| !n.eq_ignore_ascii_case(&user));
                        if joined {
                            let at = names.partition_point(|n| {
                                n.to_ascii_lowercase() < user.to_ascii_lowercase()
                            });
                            names.insert(at, user);
                        }
                    }
                }
            }
            ServerFrame::Members { room, users, total } => {
                let key = key_of(&Conv::Room(room));
                if let Some(thread) = self.threads.get_mut(&key) {
                    thread.members = Some(total);
                    thread.member_names = Some(users);
                }
            }
            ServerFrame::Presence { user, online } => {
                match (self.online.binary_search(&user), online) {
                    (Err(at), true) => self.online.insert(at, user),
                    (Ok(at), false) => {
                        self.online.remove(at);
                    }
                    _ => {}
                }
            }
            ServerFrame::Typing { conv, user } => {
                if Some(user.as_str()) != self.user.as_deref() {
                    let key = key_of(&conv);
                    if let Some(thread) = self.threads.get_mut(&key) {
                        let until = now + TYPING_MS as i64;
                        match thread.typing.iter_mut().find(|(u, _)| *u == user) {
                            Some(entry) => entry.1 = until,
                            None => thread.typing.push((user, until)),
                        }
                    }
                }
            }
            ServerFrame::Read { conv, unread, .. } => {
                if let Some(thread) = self.threads.get_mut(&key_of(&conv)) {
                    thread.unread = unread.max(0);
                }
            }
            ServerFrame::Error {
                message,
                client_id: Some(client_id),
                ..
            } => {
                if let Some(o) = self.outbox.iter_mut().find(|o| o.client_id == client_id) {
                    o.error = Some(message);
                }
            }
            ServerFrame::Error {
                code,
                message,
                conv,
                ..
            } => match (code, conv) {
                // Answers to asking for a conversation (its history, joining
                // it): the conversation cannot be shown.
                (
                    ErrorCode::UnknownRoom
                    | ErrorCode::UnknownUser
                    | ErrorCode::NotMember
                    | ErrorCode::GuestOffline,
                    Some(conv),
                ) => match self.threads.get_mut(&key_of(&conv)) {
                    Some(thread) if thread.loading || thread.messages.is_empty() => {
                        thread.loading = false;
                        thread.problem = Some((code, message));
                    }
                    _ => self.notice = Some(message),
                },
                _ => self.notice = Some(message),
            },
            ServerFrame::Pong { .. }
            | ServerFrame::Change { .. }
            | ServerFrame::Versions { .. } => {}
        }
        replies
    }

    /// The rows of a conversation: stored messages by `seq`, then its outbox.
    pub fn entries(&self, conv: &Conv) -> Vec<Entry> {
        let me = self.user.as_deref();
        let key = key_of(conv);
        let stored = self
            .threads
            .get(&key)
            .map(|t| t.messages.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|m| Entry {
                key: format!("m{}", m.id),
                sender: m.sender.clone(),
                body: m.body.clone(),
                ts: Some(m.ts),
                mine: Some(m.sender.as_str()) == me,
                delivery: Delivery::Sent,
            });
        let waiting = self
            .outbox
            .iter()
            .filter(|o| key_of(&o.conv) == key)
            .map(|o| Entry {
                key: format!("c{}", o.client_id),
                sender: me.unwrap_or_default().to_owned(),
                body: o.body.clone(),
                ts: None,
                mine: true,
                delivery: match &o.error {
                    Some(reason) => Delivery::Failed(reason.clone()),
                    None => Delivery::Sending,
                },
            });
        stored.chain(waiting).collect()
    }

    /// The conversations for the sidebar (problems left out).
    pub fn threads(&self) -> impl Iterator<Item = (&Conv, &Thread)> {
        self.threads.iter().filter(|(_, t)| t.problem.is_none())
    }

    pub fn thread_of(&self, conv: &Conv) -> Option<&Thread> {
        self.threads.get(&key_of(conv))
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub fn is_online(&self, user: &str) -> bool {
        self.online.iter().any(|u| u.eq_ignore_ascii_case(user))
    }

    /// Who is online, by name.
    pub fn online(&self) -> impl Iterator<Item = &str> {
        self.online.iter().map(String::as_str)
    }

    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    pub fn clear_notice(&mut self) {
        self.notice = None;
    }

    pub fn rooms(&self) -> &[RoomInfo] {
        &self.rooms
    }

    /// Messages written and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.outbox.iter().filter(|o| o.error.is_none()).count()
    }

    /// The highest `seq` held in `conv`.
    pub fn last_seq(&self, conv: &Conv) -> Option<i64> {
        self.thread_of(conv)
            .and_then(|t| t.messages.last())
            .map(|m| m.seq)
    }

    /// Some typing notice has expired by `now`.
    pub fn typing_expired(&self, now: i64) -> bool {
        self.threads
            .values()
            .any(|t| t.typing.iter().any(|(_, until)| *until <= now))
    }

    /// Drop expired typing notices; true when something changed.
    pub fn expire_typing(&mut self, now: i64) -> bool {
        let mut changed = false;
        for thread in self.threads.values_mut() {
            let before = thread.typing.len();
            thread.typing.retain(|(_, until)| *until > now);
            changed |= thread.typing.len() != before;
        }
        changed
    }

    fn thread(&mut self, conv: &Conv) -> &mut Thread {
        self.threads.entry(key_of(conv)).or_insert_with(|| Thread {
            display: conv.name().to_owned(),
            has_more: true,
            ..Thread::default()
        })
    }

    fn upsert(&mut self, info: ConversationInfo) {
        let thread = self.thread(&info.conv);
        thread.display = info.conv.name().to_owned();
        thread.unread = info.unread.max(0);
        if info.members.is_some() {
            thread.members = info.members;
        }
        thread.problem = None;
    }

    /// The newest page, once per conversation and page.
    fn first_page(&mut self, key: &Conv) -> Option<ClientFrame> {
        let thread = self.threads.get_mut(key)?;
        if thread.fetched || thread.loading {
            return None;
        }
        thread.fetched = true;
        thread.loading = true;
        Some(ClientFrame::History {
            conv: key.with_name(thread.display.as_str()),
            before: None,
            limit: Some(HISTORY_PAGE),
        })
    }

    /// Ask who is in a room: when it has no list yet, or `again`.
    fn members_frame(&self, key: &Conv, again: bool) -> Option<ClientFrame> {
        let thread = self.threads.get(key)?;
        let wanted = matches!(key, Conv::Room(_))
            && thread.problem.is_none()
            && (again || thread.member_names.is_none());
        wanted.then(|| ClientFrame::Members {
            room: thread.display.clone(),
        })
    }

    /// Mark the conversation read up to its newest message, when it has unread ones.
    fn read_frame(&mut self, key: &Conv) -> Option<ClientFrame> {
        if self.hidden || !self.greeted {
            return None;
        }
        let thread = self.threads.get_mut(key)?;
        let last = thread.messages.last()?;
        if thread.unread == 0 {
            return None;
        }
        thread.unread = 0;
        Some(ClientFrame::Read {
            conv: last.conv.clone(),
            seq: last.seq,
        })
    }

    /// Keep a message once; true when it was new.
    fn insert(&mut self, message: Message) -> bool {
        // Our own message, stored before we saw its ack (the connection
        // dropped in between): it is no longer waiting.
        if let Some(client_id) = &message.client_id {
            if self.user.as_deref() == Some(message.sender.as_str()) {
                self.outbox.retain(|o| &o.client_id != client_id);
            }
        }
        let display = message.conv.name().to_owned();
        let thread = self.thread(&message.conv);
        if thread.display.is_empty() {
            thread.display = display;
        }
        if thread.messages.iter().any(|m| m.id == message.id) {
            return false;
        }
        match thread
            .messages
            .binary_search_by_key(&message.seq, |m| m.seq)
        {
            Ok(_) => false,
            Err(at) => {
                thread.messages.insert(at, message);
                true
            }
        }
    }
}

/// A draft as it is sent: trimmed, not empty, not too long.
fn check_body(body: &str) -> Result<&str, DraftError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(DraftError::Empty);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(DraftError::TooLong);
    }
    Ok(body)
}

/// The `send` frames of the messages the server has not refused.
fn send_frames(outbox: &[Outgoing]) -> impl Iterator<Item = ClientFrame> + '_ {
    outbox.iter().filter(|o| o.error.is_none()).map(send_frame)
}

fn send_frame(outgoing: &Outgoing) -> ClientFrame {
    ClientFrame::Send {
        client_id: outgoing.client_id.clone(),
        conv: outgoing.conv.clone(),
        body: outgoing.body.clone(),
        reply_to: None,
    }
}

/// The lobby conversation.
pub fn lobby() -> Conv {
    Conv::Room(LOBBY.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn welcome(user: &str) -> ServerFrame {
        ServerFrame::Welcome {
            version: PROTOCOL_VERSION,
            user: user.into(),
            conversations: vec![ConversationInfo {
                conv: lobby(),
                last_seq: 0,
                read_seq: 0,
                unread: 0,
                members: Some(1),
            }],
            online: vec![user.into()],
        }
    }

    fn message(conv: Conv, seq: i64, sender: &str, body: &str, client_id: Option<&str>) -> Message {
        Message {
            id: 100 + seq,
            conv,
            seq,
            sender: sender.into(),
            body: body.into(),
            ts: 1_000 * seq,
            client_id: client_id.map(Into::into),
            reply: None,
            edited_at: None,
            deleted_at: None,
            reactions: Vec::new(),
            rev: 0,
        }
    }

    fn bodies(chat: &Chat, conv: &Conv) -> Vec<(String, &'static str)> {
        chat.entries(conv)
            .into_iter()
            .map(|e| (e.body, e.delivery.as_str()))
            .collect()
    }

    #[test]
    fn viewing_asks_for_history_once() {
        let mut chat = Chat::default();
        assert!(chat.view(Some(lobby())).is_empty());
        let replies = chat.apply(welcome("alice"), 0);
        assert_eq!(
            replies,
            vec![
                ClientFrame::History {
                    conv: lobby(),
                    before: None,
                    limit: Some(HISTORY_PAGE)
                },
                ClientFrame::Members { room: LOBBY.into() }
            ]
        );
        chat.apply(
            ServerFrame::Members {
                room: LOBBY.into(),
                users: vec!["alice".into()],
                total: 1,
            },
            0,
        );
        assert!(chat.view(Some(lobby())).is_empty());
    }

    #[test]
    fn messages_are_ordered_and_kept_once_and_resumed() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"), 0);
        chat.apply(ServerFrame::Synced {}, 0);
        let bob = Conv::Dm("bob".into());
        chat.apply(
            ServerFrame::Message {
                message: message(lobby(), 3, "bob", "three", None),
            },
            0,
        );
        chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages: vec![
                    message(lobby(), 1, "bob", "one", None),
                    message(lobby(), 3, "bob", "three", None),
                ],
                has_more: false,
            },
            0,
        );
        chat.apply(
            ServerFrame::Message {
                message: message(bob.clone(), 7, "bob", "psst", None),
            },
            0,
        );
        assert_eq!(
            bodies(&chat, &lobby()),
            [("one".into(), "sent"), ("three".into(), "sent")]
        );
        assert_eq!(chat.thread_of(&bob).map(|t| t.unread), Some(1));
        chat.disconnected();
        let ClientFrame::Hello { cursors, .. } = chat.hello() else {
            panic!()
        };
        assert_eq!(
            cursors,
            vec![
                Cursor {
                    conv: lobby(),
                    seq: 3
                },
                Cursor { conv: bob, seq: 7 },
            ]
        );
    }

    #[test]
    fn outbox_waits_for_welcome_and_ack() {
        let mut chat = Chat::default();
        assert_eq!(chat.queue("c-1".into(), lobby(), "  hi "), Ok(None));
        assert_eq!(bodies(&chat, &lobby()), [("hi".into(), "sending")]);
        let replies = chat.apply(welcome("alice"), 0);
        assert!(replies.contains(&ClientFrame::Send {
            client_id: "c-1".into(),
            conv: lobby(),
            body: "hi".into(),
            reply_to: None,
        }));
        chat.apply(
            ServerFrame::Ack {
                client_id: "c-1".into(),
                id: 5,
                conv: lobby(),
                seq: 1,
                ts: 9,
            },
            0,
        );
        assert_eq!(bodies(&chat, &lobby()), [("hi".into(), "sent")]);
        assert_eq!(
            chat.queue("c-2".into(), lobby(), "  "),
            Err(DraftError::Empty)
        );
    }

    #[test]
    fn member_lists_follow_joins_and_leaves() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"), 0);
        chat.view(Some(lobby()));
        let member = |user: &str, joined, members| ServerFrame::Member {
            room: LOBBY.into(),
            user: user.into(),
            joined,
            members,
        };
        // Before the list arrives, events only move the count.
        chat.apply(member("zed", true, 2), 0);
        assert_eq!(chat.thread_of(&lobby()).unwrap().member_names, None);
        chat.apply(
            ServerFrame::Members {
                room: LOBBY.into(),
                users: vec!["alice".into(), "zed".into()],
                total: 2,
            },
            0,
        );
        chat.apply(member("Bob", true, 3), 0);
        chat.apply(member("zed", false, 2), 0);
        chat.apply(member("bob", true, 2), 0);
        let thread = chat.thread_of(&lobby()).unwrap();
        assert_eq!(
            thread.member_names,
            Some(vec!["alice".into(), "bob".into()])
        );
        assert_eq!(thread.members, Some(2));
    }

    #[test]
    fn a_hidden_page_marks_nothing_read_until_shown() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"), 0);
        chat.apply(ServerFrame::Synced {}, 0);
        chat.view(Some(lobby()));
        assert!(chat.set_hidden(true).is_empty());
        let replies = chat.apply(
            ServerFrame::Message {
                message: message(lobby(), 1, "bob", "while away", None),
            },
            0,
        );
        assert!(replies.is_empty(), "nothing read while hidden: {replies:?}");
        assert_eq!(chat.thread_of(&lobby()).map(|t| t.unread), Some(1));
        assert_eq!(
            chat.set_hidden(false),
            vec![ClientFrame::Read {
                conv: lobby(),
                seq: 1
            }]
        );
        assert_eq!(chat.thread_of(&lobby()).map(|t| t.unread), Some(0));
    }

    #[test]
    fn a_refusal_marks_the_conversation_it_names() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"), 0);
        let nope = Conv::Room("nope".into());
        chat.view(Some(nope.clone()));
        // The reader moved on before the answer came.
        chat.view(Some(lobby()));
        chat.apply(
            ServerFrame::Error {
                code: ErrorCode::UnknownRoom,
                message: "no room has that name".into(),
                client_id: None,
                conv: Some(nope.clone()),
            },
            0,
        );
        assert!(chat
            .thread_of(&nope)
            .and_then(|t| t.problem.as_ref())
            .is_some());
        assert_eq!(
            chat.thread_of(&lobby()).map(|t| t.problem.clone()),
            Some(None)
        );
        assert_eq!(chat.notice(), None);
    }

    #[test]
    fn the_outbox_survives_a_reload_and_is_sent_once_with_its_ids() {
        let mut before = Chat::default();
        before.queue("c-1".into(), lobby(), "first").unwrap();
        before.queue("c-2".into(), lobby(), "second").unwrap();
        let saved = serde_json::to_string(before.outbox()).unwrap();

        let mut after = Chat::default();
        after.queue("c-3".into(), lobby(), "third").unwrap();
        let restored: Vec<Outgoing> = serde_json::from_str(&saved).unwrap();
        // Not connected yet: nothing goes out before the handshake.
        assert!(after.restore_outbox(restored.clone()).is_empty());
        // Restoring twice changes nothing.
        assert!(after.restore_outbox(restored).is_empty());
        let replies = after.apply(welcome("alice"), 0);
        let sent: Vec<&str> = replies
            .iter()
            .filter_map(|f| match f {
                ClientFrame::Send { client_id, .. } => Some(client_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(sent, ["c-1", "c-2", "c-3"]);
        assert_eq!(
            bodies(&after, &lobby()),
            [
                ("first".into(), "sending"),
                ("second".into(), "sending"),
                ("third".into(), "sending")
            ]
        );
    }

    #[test]
    fn refusals_show_on_the_message_and_unknown_names_on_the_view() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"), 0);
        let ghost = Conv::Dm("ghost".into());
        chat.view(Some(ghost.clone()));
        chat.apply(
            ServerFrame::Error {
                code: ErrorCode::UnknownUser,
                message: "there is no user `ghost`".into(),
                client_id: None,
                conv: Some(ghost.clone()),
            },
            0,
        );
        assert!(chat.thread_of(&ghost).unwrap().problem.is_some());
        assert_eq!(chat.threads().count(), 1);
        chat.queue("c-9".into(), lobby(), "x").unwrap();
        chat.apply(
            ServerFrame::Error {
                code: ErrorCode::NotMember,
                message: "nope".into(),
                client_id: Some("c-9".into()),
                conv: Some(lobby()),
            },
            0,
        );
        assert_eq!(bodies(&chat, &lobby()), [("x".into(), "failed")]);
    }
}
