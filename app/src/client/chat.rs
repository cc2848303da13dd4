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

use super::changes;
use super::rooms::{Directory, RoomState};
use super::search::{SearchState, Window};
use crate::protocol::{
    clip, mentions, valid_emoji, Change, ChangeKind, ClientFrame, Conv, ConversationInfo, Cursor,
    ErrorCode, Invitation, LeftReason, Message, NotifyLevel, Quote, Reaction, RoomInfo,
    SearchOrder, ServerFrame, Version, LOBBY, MAX_BODY_BYTES, MAX_HISTORY_PAGE, PROTOCOL_VERSION,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The row's message, however its state changes: `m{id}` once stored,
    /// `c{client_id}` while it waits in the outbox.
    pub key: String,
    /// Its place in the conversation, once stored.
    pub seq: Option<i64>,
    /// The sender's handle.
    pub sender: String,
    /// What the sender is shown as (their display name, or the handle).
    pub display: String,
    /// The text as written (empty once deleted).
    pub body: String,
    /// Server time in milliseconds; absent until stored.
    pub ts: Option<i64>,
    /// Sent by the signed-in user.
    pub mine: bool,
    pub delivery: Delivery,
    /// The message it answers, as that one is now.
    pub reply: Option<Quote>,
    pub edited_at: Option<i64>,
    /// A tombstone.
    pub deleted: bool,
    /// With our own reactions on their way already counted.
    pub reactions: Vec<Reaction>,
    /// An edit or deletion of ours waiting for the server (the edit is
    /// shown already).
    pub pending: Option<ChangeKind>,
    /// A system line ("bob joined"): `body` is its text.
    pub system: bool,
    /// Deleted by a moderator.
    pub moderated: bool,
    /// The handles its text mentions (`room`: everyone).
    pub mentions: Vec<String>,
    /// It mentions the reader (by name, or `@room` in a room), and is not theirs.
    pub mentions_me: bool,
}

/// Why a message cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DraftError {
    Empty,
    TooLong,
    /// A reaction that is not one emoji.
    NotEmoji,
}

impl std::fmt::Display for DraftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DraftError::Empty => f.write_str("Write something first."),
            DraftError::TooLong => write!(f, "Messages are at most {} KiB.", MAX_BODY_BYTES / 1024),
            DraftError::NotEmoji => f.write_str("A reaction is one emoji."),
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
    /// Unread messages that mention the reader.
    pub mentions: i64,
    /// What the reader is notified of here.
    pub notify: NotifyLevel,
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
    /// The highest `seq` received of a change (or ack of one of ours):
    /// the resume cursor covers changes as well as messages.
    pub last_change: i64,
    /// Changes to messages not held (yet): applied if the message arrives
    /// in a state that does not include them.
    orphans: Vec<Change>,
    /// The message a reply's quote asked to show, while it is being
    /// looked for (older pages are fetched until it is held).
    pub seek: Option<i64>,
    /// A room's access: your role and mute, topic, staff, log.
    pub room: RoomState,
}

/// Most changes kept for messages not held, per conversation.
const MAX_ORPHANS: usize = 500;

/// A message written here, or a change to one, not yet acknowledged;
/// kept across reloads (see [`Chat::outbox`] and [`Chat::restore_outbox`]).
/// Fields added since the first version default, so older saved outboxes
/// still load.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outgoing {
    client_id: String,
    conv: Conv,
    /// The message's text, or the new text of an edit.
    #[serde(default)]
    body: String,
    /// Why the server refused it, once it has.
    #[serde(default)]
    error: Option<String>,
    /// The message a new message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_to: Option<i64>,
    /// What a change does; `None` for a new message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    change: Option<ChangeKind>,
    /// The `seq` of the message a change changes.
    #[serde(default, skip_serializing_if = "is_zero")]
    target: i64,
    /// The emoji of a reaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    emoji: Option<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Outgoing {
    /// A change of `target` in `conv`, rather than a new message.
    pub fn change_of(&self) -> Option<(ChangeKind, &Conv, i64)> {
        self.change.map(|kind| (kind, &self.conv, self.target))
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }
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
    /// Why the server refused the last change of ours it refused.
    refusal: Option<String>,
    /// The last edit history received: conversation, `seq`, versions.
    versions: Option<(Conv, i64, Vec<Version>)>,
    /// Invitations waiting for an answer.
    invites: Vec<Invitation>,
    /// The people we block (left out of the online list).
    blocked: Vec<String>,
    /// The room directory as last asked for.
    directory: Directory,
    /// Display names that are not the handle: (lowercase handle, name),
    /// sorted by handle. (A sorted list rather than a map: the web app's
    /// size counts, and look-ups stay logarithmic.)
    names: Vec<(String, String)>,
    /// The last search, and its results.
    search: SearchState,
    /// A piece of history away from a conversation's newest messages,
    /// shown instead of them (a search result's context).
    window: Option<Window>,
}

impl Chat {
    /// The first frame of a connection: resume every conversation after the
    /// last stored message we hold.
    pub fn hello(&self) -> ClientFrame {
        let cursors = self
            .threads
            .iter()
            .filter_map(|(key, t)| {
                let last = t.messages.last();
                let seq = last.map_or(0, |m| m.seq).max(t.last_change);
                (seq > 0).then(|| Cursor {
                    conv: last
                        .map_or_else(|| key.with_name(t.display.as_str()), |m| m.conv.clone()),
                    seq,
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
        if self.window.as_ref().is_some_and(|w| w.conv != key) {
            self.window = None;
        }
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
        if let Some(window) = self.window.as_mut().filter(|w| w.conv == key) {
            return window.more(false);
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

    /// Put a message in the outbox, answering the message at `reply_to`
    /// if given. Returns the frame to send now, or `None` when the
    /// connection is not ready (it goes out on the next `welcome`).
    pub fn queue(
        &mut self,
        client_id: String,
        conv: Conv,
        body: &str,
        reply_to: Option<i64>,
    ) -> Result<Option<ClientFrame>, DraftError> {
        let body = check_body(body)?;
        self.enqueue(Outgoing {
            client_id,
            conv,
            body: body.to_owned(),
            error: None,
            reply_to,
            change: None,
            target: 0,
            emoji: None,
        })
    }

    /// Put a change to the message at `target` in the outbox: `arg` is the
    /// new text of an edit, or the emoji of a reaction (unused for a
    /// deletion). Like a message, it is sent now or after the next
    /// `welcome`, and again after each reconnect until acknowledged.
    pub fn queue_change(
        &mut self,
        client_id: String,
        conv: Conv,
        kind: ChangeKind,
        target: i64,
        arg: &str,
    ) -> Result<Option<ClientFrame>, DraftError> {
        let (body, emoji) = match kind {
            ChangeKind::Edit => (check_body(arg)?.to_owned(), None),
            ChangeKind::Delete => (String::new(), None),
            ChangeKind::React | ChangeKind::Unreact => {
                let emoji = arg.trim();
                if !valid_emoji(emoji) {
                    return Err(DraftError::NotEmoji);
                }
                (String::new(), Some(emoji.to_owned()))
            }
        };
        self.refusal = None;
        self.enqueue(Outgoing {
            client_id,
            conv,
            body,
            error: None,
            reply_to: None,
            change: Some(kind),
            target,
            emoji,
        })
    }

    fn enqueue(&mut self, outgoing: Outgoing) -> Result<Option<ClientFrame>, DraftError> {
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
            .filter(valid_outgoing)
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

    /// Look for the message at `seq` in `conv` (a reply's original), so
    /// that the page can show it: fetch older pages, the biggest the
    /// server gives, until it is held. Returns the frame to send.
    pub fn seek(&mut self, conv: &Conv, seq: i64) -> Option<ClientFrame> {
        let greeted = self.greeted;
        let thread = self.threads.get_mut(&key_of(conv))?;
        thread.seek = Some(seq);
        seek_frame(thread, greeted)
    }

    /// The message looked for with [`Chat::seek`] or [`Chat::jump`] is on
    /// screen.
    pub fn seek_done(&mut self, conv: &Conv) {
        let key = key_of(conv);
        if let Some(thread) = self.threads.get_mut(&key) {
            thread.seek = None;
        }
        if let Some(window) = self.window.as_mut().filter(|w| w.conv == key) {
            window.target = None;
        }
    }

    /// The message being looked for in `conv`, to show once it is here.
    pub fn seeking(&self, conv: &Conv) -> Option<i64> {
        let key = key_of(conv);
        match self.window.as_ref().filter(|w| w.conv == key) {
            Some(window) => window.target,
            None => self.threads.get(&key).and_then(|t| t.seek),
        }
    }

    /// Open `conv` at the message `seq` (a search result) with the history
    /// around it. Held, or a page or so older than what is held: one
    /// timeline, fetched back to it. Further back: a [`Window`] around it,
    /// shown instead of the newest messages until the reader goes back to
    /// them or reads up to them. Returns the frame to send.
    pub fn jump(&mut self, conv: &Conv, seq: i64) -> Option<ClientFrame> {
        let key = key_of(conv);
        let greeted = self.greeted;
        self.window = None;
        let thread = self.threads.entry(key.clone()).or_insert_with(|| Thread {
            display: conv.name().to_owned(),
            has_more: true,
            ..Thread::default()
        });
        if find(&thread.messages, seq).is_some() {
            thread.seek = Some(seq);
            return None;
        }
        let near = thread
            .messages
            .first()
            .is_some_and(|m| m.seq - seq <= i64::from(MAX_HISTORY_PAGE));
        if near && thread.has_more {
            thread.seek = Some(seq);
            return seek_frame(thread, greeted);
        }
        thread.seek = None;
        self.window = Some(Window::around(key, seq));
        Some(ClientFrame::Window {
            conv: conv.clone(),
            around: Some(seq),
            before: None,
            after: None,
            limit: None,
        })
    }

    /// The piece of history shown instead of `conv`'s newest messages.
    pub fn window_of(&self, conv: &Conv) -> Option<&Window> {
        let key = key_of(conv);
        self.window.as_ref().filter(|w| w.conv == key)
    }

    /// Ask for the messages after the window on screen, if there are some.
    pub fn newer(&mut self) -> Option<ClientFrame> {
        let key = self.viewing.clone()?;
        if !self.greeted {
            return None;
        }
        self.window.as_mut().filter(|w| w.conv == key)?.more(true)
    }

    /// Back to the newest messages.
    pub fn leave_window(&mut self) {
        self.window = None;
    }

    /// The last search and its results.
    pub fn search(&self) -> &SearchState {
        &self.search
    }

    /// Search for `query` (or its next page, `more`) in the reader's time
    /// zone (`tz` minutes east of UTC); the frame to send.
    pub fn search_frame(
        &mut self,
        query: &str,
        order: SearchOrder,
        more: bool,
        tz: i32,
    ) -> Option<ClientFrame> {
        self.search.ask(query, order, more, tz)
    }

    /// Why the server refused the last change of ours that it refused.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    pub fn clear_refusal(&mut self) {
        self.refusal = None;
    }

    /// The versions of the message at `seq` in `conv`, once they came.
    pub fn versions(&self, conv: &Conv, seq: i64) -> Option<&[Version]> {
        match &self.versions {
            Some((c, s, versions)) if key_of(c) == key_of(conv) && *s == seq => Some(versions),
            _ => None,
        }
    }

    /// The newest of our own messages in `conv` that can still be edited.
    pub fn last_editable(&self, conv: &Conv) -> Option<i64> {
        let me = self.user.as_deref()?;
        self.thread_of(conv)?
            .messages
            .iter()
            .rev()
            .find(|m| m.sender == me && m.deleted_at.is_none())
            .map(|m| m.seq)
    }

    /// Fold one server frame in at time `now` (ms); returns the frames to send in reply.
    pub fn apply(&mut self, frame: ServerFrame, now: i64) -> Vec<ClientFrame> {
        let mut replies = Vec::new();
        match frame {
            ServerFrame::Welcome {
                user,
                conversations,
                online,
                invites,
                blocked,
                display,
                names,
                ..
            } => {
                self.learn(&user, display);
                for named in names {
                    self.learn(&named.user, Some(named.display));
                }
                self.invites = invites;
                self.blocked = blocked;
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
                self.learn(&message.sender, message.display.clone());
                let key = key_of(&message.conv);
                let fresh = self.insert(message.clone());
                if fresh {
                    let mine = Some(message.sender.as_str()) == self.user.as_deref();
                    let me = self.user.clone();
                    let mut refresh = false;
                    if let Some(thread) = self.threads.get_mut(&key) {
                        if let Some(event) = &message.event {
                            refresh = thread.room.apply(event, me.as_deref());
                            if thread.room.log.is_some() {
                                replies.push(ClientFrame::ModerationLog {
                                    room: thread.display.clone(),
                                });
                            }
                        } else {
                            thread.typing.retain(|(user, _)| *user != message.sender);
                            if !mine && self.synced {
                                thread.unread += 1;
                                if mentions_me(&message, me.as_deref()) {
                                    thread.mentions += 1;
                                }
                            }
                        }
                    }
                    if refresh {
                        replies.extend(self.members_frame(&key, true));
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
                for m in &messages {
                    self.learn(&m.sender, m.display.clone());
                }
                let key = key_of(&conv);
                let thread = self.thread(&conv);
                thread.loading = false;
                thread.has_more = has_more;
                thread.problem = None;
                for message in messages {
                    self.insert(message);
                }
                let greeted = self.greeted;
                if let Some(thread) = self.threads.get_mut(&key) {
                    replies.extend(seek_frame(thread, greeted));
                }
                if Some(&key) == self.viewing.as_ref() {
                    replies.extend(self.read_frame(&key));
                }
            }
            ServerFrame::SearchResults {
                query,
                hits,
                cursor,
            } => {
                for hit in &hits {
                    self.learn(&hit.sender, hit.display.clone());
                }
                self.search.answer(query, hits, cursor);
            }
            ServerFrame::Window {
                conv,
                messages,
                has_older,
                has_newer,
            } => {
                for m in &messages {
                    self.learn(&m.sender, m.display.clone());
                }
                let key = key_of(&conv);
                if let Some(window) = self.window.as_mut().filter(|w| w.conv == key) {
                    window.merge(messages, has_older, has_newer);
                    if !window.has_newer {
                        // Read up to the newest: one timeline again.
                        if let Some(window) = self.window.take() {
                            for message in window.messages {
                                self.insert(message);
                            }
                            if let Some(thread) = self.threads.get_mut(&key) {
                                thread.seek = window.target;
                            }
                        }
                    }
                }
            }
            ServerFrame::Change { change } => {
                let mine = Some(change.sender.as_str()) == self.user.as_deref();
                if let (true, Some(client_id)) = (mine, &change.client_id) {
                    // Ours, stored before we saw its ack.
                    self.outbox.retain(|o| &o.client_id != client_id);
                }
                self.apply_to_window(&change);
                self.apply_change(change);
            }
            ServerFrame::Versions {
                conv,
                seq,
                versions,
            } => self.versions = Some((conv, seq, versions)),
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
                    match outgoing.change {
                        // Our own change: we know what it does.
                        Some(kind) => self.apply_change(Change {
                            id,
                            conv,
                            seq,
                            sender,
                            ts,
                            client_id: Some(client_id),
                            target: outgoing.target,
                            kind,
                            // Who the server found is not in the ack: the
                            // names written stand in until a reload.
                            mentions: if kind == ChangeKind::Edit {
                                mentions::mentioned(&outgoing.body)
                            } else {
                                Vec::new()
                            },
                            body: (kind == ChangeKind::Edit).then_some(outgoing.body),
                            emoji: outgoing.emoji,
                        }),
                        None => {
                            let reply = outgoing.reply_to.and_then(|target| {
                                self.thread_of(&conv)
                                    .and_then(|t| find(&t.messages, target))
                                    .map(changes::quote_of)
                            });
                            self.insert(Message {
                                id,
                                conv,
                                seq,
                                display: None,
                                sender,
                                mentions: mentions::mentioned(&outgoing.body),
                                body: outgoing.body,
                                ts,
                                client_id: Some(client_id),
                                reply,
                                edited_at: None,
                                deleted_at: None,
                                reactions: Vec::new(),
                                rev: 0,
                                event: None,
                                moderated: false,
                            });
                        }
                    }
                }
            }
            ServerFrame::Rooms { rooms } => self.rooms = rooms,
            ServerFrame::Joined { info } => {
                self.invites
                    .retain(|i| !i.room.eq_ignore_ascii_case(info.conv.name()));
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
            ServerFrame::Left { room, reason, by } => {
                let key = key_of(&Conv::Room(room.clone()));
                if Some(&key) == self.viewing.as_ref() {
                    if let Some(thread) = self.threads.get_mut(&key) {
                        let by = by.unwrap_or_else(|| "a moderator".into());
                        thread.problem = Some(match reason {
                            None => (
                                ErrorCode::NotMember,
                                format!("You left #{room}. Join it again to read and write here."),
                            ),
                            Some(LeftReason::Kicked) => (
                                ErrorCode::NotMember,
                                format!("{by} removed you from #{room}."),
                            ),
                            Some(LeftReason::Banned) => {
                                (ErrorCode::Banned, format!("{by} banned you from #{room}."))
                            }
                            Some(LeftReason::Deleted) => (
                                ErrorCode::UnknownRoom,
                                format!("#{room} was deleted by an admin."),
                            ),
                        });
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
                display,
            } => {
                if joined {
                    self.learn(&user, display);
                }
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
            ServerFrame::Directory { query, rooms, next } => {
                let more = self.directory.loading && self.directory.next.is_some();
                self.directory.page(query, rooms, next, more);
            }
            ServerFrame::Blocked { users } => self.blocked = users,
            ServerFrame::Invited { invitation } => {
                self.invites
                    .retain(|i| !i.room.eq_ignore_ascii_case(&invitation.room));
                self.invites.push(invitation);
            }
            ServerFrame::ModerationLog { room, entries } => {
                if let Some(thread) = self.threads.get_mut(&key_of(&Conv::Room(room))) {
                    thread.room.log = Some(entries);
                }
            }
            ServerFrame::Members {
                room,
                users,
                total,
                staff,
                muted,
                names,
            } => {
                for named in names {
                    self.learn(&named.user, Some(named.display));
                }
                let key = key_of(&Conv::Room(room));
                if let Some(thread) = self.threads.get_mut(&key) {
                    thread.members = Some(total);
                    thread.member_names = Some(users);
                    thread.room.staff = staff;
                    thread.room.muted = muted;
                }
            }
            ServerFrame::Profile { user, display } => self.learn(&user, Some(display)),
            ServerFrame::Presence {
                user,
                online,
                display,
            } => {
                self.learn(&user, display);
                match (self.online.binary_search(&user), online) {
                    (Err(at), true) => self.online.insert(at, user),
                    (Ok(at), false) => {
                        self.online.remove(at);
                    }
                    _ => {}
                }
            }
            ServerFrame::Typing {
                conv,
                user,
                display,
            } => {
                self.learn(&user, display);
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
            ServerFrame::Read {
                conv,
                unread,
                mentions,
                ..
            } => {
                if let Some(thread) = self.threads.get_mut(&key_of(&conv)) {
                    thread.unread = unread.max(0);
                    thread.mentions = mentions.max(0);
                }
            }
            ServerFrame::Notify { conv, level } => {
                if let Some(thread) = self.threads.get_mut(&key_of(&conv)) {
                    thread.notify = level;
                }
            }
            ServerFrame::Error {
                code,
                message,
                client_id: Some(client_id),
                ..
            } => {
                if let Some(at) = self.outbox.iter().position(|o| o.client_id == client_id) {
                    match self.outbox[at].change {
                        // A refused change goes; the page says why, quietly.
                        Some(kind) => {
                            self.outbox.remove(at);
                            self.refusal = refusal_text(kind, code, message);
                        }
                        None => self.outbox[at].error = Some(message),
                    }
                } else {
                    // A refused room action: said where every notice is.
                    self.notice = Some(message);
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
                (ErrorCode::InvalidQuery | ErrorCode::RateLimited, None)
                    if self.search.refused(message.clone()) => {}
                (_, Some(conv)) if self.window_of(&conv).is_some_and(|w| w.loading) => {
                    // The context of a result cannot be shown after all.
                    self.window = None;
                    self.notice = Some(message);
                }
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
            ServerFrame::Pong { .. } => {}
        }
        replies
    }

    /// The rows of a conversation: stored messages by `seq`, then its
    /// outbox; our changes still on their way are shown already.
    pub fn entries(&self, conv: &Conv) -> Vec<Entry> {
        let me = self.user.as_deref();
        let key = key_of(conv);
        let window = self.window.as_ref().filter(|w| w.conv == key);
        let held = match window {
            Some(window) => window.messages.as_slice(),
            None => self
                .threads
                .get(&key)
                .map(|t| t.messages.as_slice())
                .unwrap_or_default(),
        };
        // A reply shows its original as it is now, when we hold it.
        let quote = |reply: Option<&Quote>| {
            reply.map(|q| {
                let mut q = find(held, q.seq).map_or_else(|| q.clone(), changes::quote_of);
                q.sender = self.display_of(&q.sender).to_owned();
                q
            })
        };
        let mut stored: Vec<Entry> = held
            .iter()
            .map(|m| Entry {
                key: format!("m{}", m.id),
                seq: Some(m.seq),
                sender: m.sender.clone(),
                display: self.display_of(&m.sender).to_owned(),
                body: m.body.clone(),
                ts: Some(m.ts),
                mine: Some(m.sender.as_str()) == me,
                delivery: Delivery::Sent,
                reply: quote(m.reply.as_ref()),
                edited_at: m.edited_at,
                deleted: m.deleted_at.is_some(),
                reactions: m.reactions.clone(),
                pending: None,
                system: m.event.is_some(),
                moderated: m.moderated,
                mentions_me: mentions_me(m, me),
                mentions: m.mentions.clone(),
            })
            .collect();
        let ours = self
            .outbox
            .iter()
            .filter(|o| o.error.is_none() && key_of(&o.conv) == key);
        for o in ours {
            let Some(kind) = o.change else {
                continue;
            };
            let Ok(at) = held.binary_search_by_key(&o.target, |m| m.seq) else {
                continue;
            };
            let entry = &mut stored[at];
            if entry.deleted {
                continue;
            }
            let user = me.unwrap_or_default();
            match (kind, o.emoji.as_deref()) {
                (ChangeKind::Edit, _) => {
                    entry.body.clone_from(&o.body);
                    entry.pending = Some(kind);
                }
                (ChangeKind::Delete, _) => entry.pending = Some(kind),
                (ChangeKind::React, Some(emoji)) => {
                    changes::add_reaction(&mut entry.reactions, emoji, user, me)
                }
                (ChangeKind::Unreact, Some(emoji)) => {
                    changes::remove_reaction(&mut entry.reactions, emoji, user, me)
                }
                _ => {}
            }
        }
        let waiting = self
            .outbox
            .iter()
            .filter(|o| window.is_none() && o.change.is_none() && key_of(&o.conv) == key)
            .map(|o| Entry {
                key: format!("c{}", o.client_id),
                seq: None,
                sender: me.unwrap_or_default().to_owned(),
                display: self.display_of(me.unwrap_or_default()).to_owned(),
                body: o.body.clone(),
                ts: None,
                mine: true,
                delivery: match &o.error {
                    Some(reason) => Delivery::Failed(reason.clone()),
                    None => Delivery::Sending,
                },
                reply: o
                    .reply_to
                    .and_then(|seq| find(held, seq))
                    .map(changes::quote_of),
                edited_at: None,
                deleted: false,
                reactions: Vec::new(),
                pending: None,
                system: false,
                moderated: false,
                mentions: mentions::mentioned(&o.body),
                mentions_me: false,
            });
        stored.extend(waiting);
        stored
    }

    /// Invitations waiting for an answer.
    pub fn invites(&self) -> &[Invitation] {
        &self.invites
    }

    /// Forget an invitation (declined here).
    pub fn drop_invite(&mut self, room: &str) {
        self.invites.retain(|i| !i.room.eq_ignore_ascii_case(room));
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Ask for the directory's first page for `query`, or (with `more`)
    /// its next page.
    pub fn directory_frame(&mut self, query: &str, more: bool) -> Option<ClientFrame> {
        let after = if more {
            Some(self.directory.next.clone()?)
        } else {
            None
        };
        self.directory.loading = true;
        if !more {
            self.directory.next = None;
        }
        Some(ClientFrame::Directory {
            query: query.to_owned(),
            after,
            limit: None,
        })
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

    /// Unread messages in every conversation.
    pub fn total_unread(&self) -> i64 {
        self.threads().map(|(_, t)| t.unread).sum()
    }

    /// What a browser notification for `message` (just arrived, live)
    /// would say, if the reader wants one: the page is hidden, it is
    /// someone else's, and the conversation's setting asks for it (every
    /// message; or mentions of the reader and direct messages, the
    /// default; or nothing). (title, text)
    pub fn alert_for(&self, message: &Message) -> Option<(String, String)> {
        let me = self.user.as_deref()?;
        if !self.hidden || !self.synced || message.sender == me || message.event.is_some() {
            return None;
        }
        let key = key_of(&message.conv);
        let thread = self.threads.get(&key)?;
        if find(&thread.messages, message.seq).is_some() {
            return None;
        }
        let direct = !matches!(message.conv, Conv::Room(_));
        let wanted = match thread.notify {
            NotifyLevel::All => true,
            NotifyLevel::Mentions => direct || mentions_me(message, Some(me)),
            NotifyLevel::Nothing => false,
        };
        if !wanted {
            return None;
        }
        let who = message
            .display
            .clone()
            .unwrap_or_else(|| self.display_of(&message.sender).to_owned());
        let title = match &message.conv {
            Conv::Room(name) => {
                let label = self.label_of(&message.conv);
                let place = if label == *name {
                    format!("#{name}")
                } else {
                    label
                };
                format!("{who} in {place}")
            }
            _ => who,
        };
        // The text as the message reads, then its start: clipping the
        // source first could cut a mark in two and leave it showing.
        let text = super::markdown_loader::one_line(&message.body);
        Some((title, clip(&text, 160).to_owned()))
    }

    /// Unread messages that mention the reader, everywhere.
    pub fn total_mentions(&self) -> i64 {
        self.threads().map(|(_, t)| t.mentions).sum()
    }

    /// What `user` (a handle) is shown as: their display name, or the
    /// handle itself.
    pub fn display_of<'a>(&'a self, user: &'a str) -> &'a str {
        match self.name_at(user) {
            Ok(at) => &self.names[at].1,
            Err(_) => user,
        }
    }

    /// What a conversation is shown as: a room's title (its name when it
    /// has none), the other person's display name, a guest's nickname.
    pub fn label_of(&self, conv: &Conv) -> String {
        match conv {
            Conv::Room(name) => match self.thread_of(conv).map(|t| t.room.title.as_str()) {
                Some(title) if !title.is_empty() => title.to_owned(),
                _ => name.clone(),
            },
            Conv::Dm(name) => self.display_of(name).to_owned(),
            Conv::Guest(name) => name.clone(),
        }
    }

    /// Where `user`'s display name is (or would be) in `names`.
    fn name_at(&self, user: &str) -> Result<usize, usize> {
        if self.names.is_empty() {
            return Err(0);
        }
        let key = user.to_ascii_lowercase();
        self.names.binary_search_by(|(k, _)| k.as_str().cmp(&key))
    }

    /// Does `user` go by a display name other than their handle?
    pub fn has_display(&self, user: &str) -> bool {
        self.name_at(user).is_ok()
    }

    /// Remember what `user` is shown as (`None`, empty or the handle
    /// itself: by the handle).
    fn learn(&mut self, user: &str, display: Option<String>) {
        let key = user.to_ascii_lowercase();
        match display {
            Some(display) if !display.is_empty() && display != user => match self.name_at(&key) {
                Ok(at) => self.names[at].1 = display,
                Err(at) => self.names.insert(at, (key, display)),
            },
            _ => {
                if let Ok(at) = self.name_at(&key) {
                    self.names.remove(at);
                }
            }
        }
    }

    pub fn is_online(&self, user: &str) -> bool {
        self.online.iter().any(|u| u.eq_ignore_ascii_case(user))
    }

    /// Who is online, by name (but not those we block).
    pub fn online(&self) -> impl Iterator<Item = &str> {
        self.online
            .iter()
            .filter(|u| !self.blocked.iter().any(|b| b.eq_ignore_ascii_case(u)))
            .map(String::as_str)
    }

    /// The people we block.
    pub fn blocked(&self) -> &[String] {
        &self.blocked
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

    /// Messages written and not yet acknowledged (changes not counted).
    pub fn pending(&self) -> usize {
        self.outbox
            .iter()
            .filter(|o| o.error.is_none() && o.change.is_none())
            .count()
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
        if let Conv::Dm(peer) = &info.conv {
            let title = (!info.title.is_empty()).then(|| info.title.clone());
            self.learn(&peer.clone(), title);
        }
        let thread = self.thread(&info.conv);
        thread.room.role = info.role;
        thread.room.muted_until = info.muted_until;
        thread.room.topic.clone_from(&info.topic);
        thread.room.title.clone_from(&info.title);
        thread.room.private = info.private;
        thread.display = info.conv.name().to_owned();
        thread.unread = info.unread.max(0);
        thread.mentions = info.mentions.max(0);
        thread.notify = info.notify;
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
        if thread.unread == 0 && thread.mentions == 0 {
            return None;
        }
        thread.unread = 0;
        thread.mentions = 0;
        Some(ClientFrame::Read {
            conv: last.conv.clone(),
            seq: last.seq,
        })
    }

    /// Keep a message once; true when it was new. A message already held
    /// keeps the newer of the two states.
    fn insert(&mut self, message: Message) -> bool {
        // Our own message, stored before we saw its ack (the connection
        // dropped in between): it is no longer waiting.
        if let Some(client_id) = &message.client_id {
            if self.user.as_deref() == Some(message.sender.as_str()) {
                self.outbox.retain(|o| &o.client_id != client_id);
            }
        }
        let me = self.user.clone();
        let display = message.conv.name().to_owned();
        let thread = self.thread(&message.conv);
        if thread.display.is_empty() {
            thread.display = display;
        }
        let by_seq = thread
            .messages
            .binary_search_by_key(&message.seq, |m| m.seq);
        if let Ok(at) = by_seq {
            let held = &mut thread.messages[at];
            if held.id == message.id {
                changes::merge(held, message);
            }
            return false;
        }
        if thread.messages.iter().any(|m| m.id == message.id) {
            return false;
        }
        let Err(at) = by_seq else {
            return false;
        };
        let mut message = message;
        // Changes that came before the message did.
        let mut orphans: Vec<Change> = Vec::new();
        thread.orphans.retain(|c| {
            let mine = c.target == message.seq;
            if mine {
                orphans.push(c.clone());
            }
            !mine
        });
        orphans.sort_by_key(|c| c.seq);
        for change in &orphans {
            changes::apply(&mut message, change, me.as_deref());
        }
        thread.messages.insert(at, message);
        true
    }

    /// Fold a change in (from the server, or the ack of our own): once,
    /// in `seq` order per message, with the quotes of replies to it.
    fn apply_change(&mut self, change: Change) {
        let me = self.user.clone();
        let thread = self.thread(&change.conv);
        thread.last_change = thread.last_change.max(change.seq);
        let Ok(at) = thread
            .messages
            .binary_search_by_key(&change.target, |m| m.seq)
        else {
            if thread.orphans.len() >= MAX_ORPHANS {
                thread.orphans.remove(0);
            }
            thread.orphans.push(change);
            return;
        };
        let quoted = matches!(change.kind, ChangeKind::Edit | ChangeKind::Delete);
        if change.kind == ChangeKind::Delete && change.sender != thread.messages[at].sender {
            thread.messages[at].moderated = true;
        }
        if changes::apply(&mut thread.messages[at], &change, me.as_deref()) && quoted {
            let original = thread.messages[at].clone();
            changes::refresh_quotes(&mut thread.messages, &original);
        }
    }

    /// A change to a message of the window on screen as well.
    fn apply_to_window(&mut self, change: &Change) {
        let key = key_of(&change.conv);
        let me = self.user.clone();
        let Some(window) = self.window.as_mut().filter(|w| w.conv == key) else {
            return;
        };
        if let Ok(at) = window
            .messages
            .binary_search_by_key(&change.target, |m| m.seq)
        {
            let message = &mut window.messages[at];
            if change.kind == ChangeKind::Delete && change.sender != message.sender {
                message.moderated = true;
            }
            changes::apply(message, change, me.as_deref());
        }
    }
}

/// Does `message` mention `me` (by name, or everyone with `@room` in a
/// room), and come from someone else?
pub fn mentions_me(message: &Message, me: Option<&str>) -> bool {
    let Some(me) = me else {
        return false;
    };
    message.sender != me
        && message.mentions.iter().any(|name| {
            name.eq_ignore_ascii_case(me)
                || (name == mentions::ROOM && matches!(message.conv, Conv::Room(_)))
        })
}

/// The message at `seq`, if held.
fn find(messages: &[Message], seq: i64) -> Option<&Message> {
    messages
        .binary_search_by_key(&seq, |m| m.seq)
        .ok()
        .map(|at| &messages[at])
}

/// The next page to fetch while looking for `thread.seek`, if one is
/// needed; stops looking when the message is held or cannot be.
fn seek_frame(thread: &mut Thread, greeted: bool) -> Option<ClientFrame> {
    let target = thread.seek?;
    let first = thread.messages.first();
    let held = find(&thread.messages, target).is_some();
    let older = first.is_some_and(|m| m.seq > target);
    if held || !thread.has_more || !older {
        if !held {
            thread.seek = None;
        }
        return None;
    }
    if thread.loading || !greeted {
        return None;
    }
    let first = first?;
    thread.loading = true;
    Some(ClientFrame::History {
        conv: first.conv.clone(),
        before: Some(first.seq),
        limit: Some(MAX_HISTORY_PAGE),
    })
}

/// What to tell the reader about a refused change, if anything: a
/// reaction already there (or gone), from another tab, is no news.
fn refusal_text(kind: ChangeKind, code: ErrorCode, message: String) -> Option<String> {
    let what = match kind {
        ChangeKind::Edit => "edit",
        ChangeKind::Delete => "delete",
        ChangeKind::React | ChangeKind::Unreact => "react",
    };
    let why = match code {
        ErrorCode::AlreadyReacted | ErrorCode::NotReacted => return None,
        ErrorCode::NotAuthor => "only its author can change a message.".to_owned(),
        ErrorCode::MessageDeleted => "the message was deleted.".to_owned(),
        ErrorCode::UnknownMessage => "the message is not there.".to_owned(),
        ErrorCode::TooManyReactions => "the message has the most reactions it can.".to_owned(),
        _ => message,
    };
    Some(format!("Could not {what}: {why}"))
}

/// Whether a saved outgoing item can be sent again.
fn valid_outgoing(o: &Outgoing) -> bool {
    match (o.change, &o.emoji) {
        (None | Some(ChangeKind::Edit), _) => check_body(&o.body).is_ok(),
        (Some(ChangeKind::Delete), _) => o.target > 0,
        (Some(ChangeKind::React | ChangeKind::Unreact), Some(emoji)) => {
            o.target > 0 && valid_emoji(emoji)
        }
        _ => false,
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
    let client_id = outgoing.client_id.clone();
    let conv = outgoing.conv.clone();
    let seq = outgoing.target;
    let emoji = || outgoing.emoji.clone().unwrap_or_default();
    match outgoing.change {
        None => ClientFrame::Send {
            client_id,
            conv,
            body: outgoing.body.clone(),
            reply_to: outgoing.reply_to,
        },
        Some(ChangeKind::Edit) => ClientFrame::Edit {
            client_id,
            conv,
            seq,
            body: outgoing.body.clone(),
        },
        Some(ChangeKind::Delete) => ClientFrame::Delete {
            client_id,
            conv,
            seq,
        },
        Some(ChangeKind::React) => ClientFrame::React {
            client_id,
            conv,
            seq,
            emoji: emoji(),
        },
        Some(ChangeKind::Unreact) => ClientFrame::Unreact {
            client_id,
            conv,
            seq,
            emoji: emoji(),
        },
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
                mentions: Default::default(),
                notify: Default::default(),
                conv: lobby(),
                last_seq: 0,
                read_seq: 0,
                unread: 0,
                members: Some(1),
                role: None,
                muted_until: None,
                topic: String::new(),
                private: false,
                title: String::new(),
            }],
            invites: vec![],
            blocked: vec![],
            online: vec![user.into()],
            display: None,
            names: vec![],
        }
    }

    fn message(conv: Conv, seq: i64, sender: &str, body: &str, client_id: Option<&str>) -> Message {
        Message {
            mentions: Default::default(),
            id: 100 + seq,
            conv,
            seq,
            sender: sender.into(),
            display: None,
            body: body.into(),
            ts: 1_000 * seq,
            client_id: client_id.map(Into::into),
            reply: None,
            edited_at: None,
            deleted_at: None,
            reactions: Vec::new(),
            rev: 0,
            event: None,
            moderated: false,
        }
    }

    fn bodies(chat: &Chat, conv: &Conv) -> Vec<(String, &'static str)> {
        chat.entries(conv)
            .into_iter()
            .map(|e| (e.body, e.delivery.as_str()))
            .collect()
    }

    /// A search result far back opens a window of history in place of the
    /// newest messages; live messages still reach the thread; reading on
    /// to the newest joins the window to the timeline.
    #[test]
    fn a_result_far_back_opens_a_window_that_rejoins_the_timeline() {
        let mut chat = Chat::default();
        chat.apply(welcome("ann"), 0);
        chat.apply(ServerFrame::Synced {}, 0);
        chat.view(Some(lobby()));
        let newest: Vec<Message> = (400..=449)
            .map(|s| message(lobby(), s, "bob", "new", None))
            .collect();
        chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages: newest,
                has_more: true,
            },
            0,
        );
        // Near: one timeline, fetched back to it.
        assert!(matches!(
            chat.jump(&lobby(), 350),
            Some(ClientFrame::History {
                before: Some(400),
                ..
            })
        ));
        assert!(chat.window_of(&lobby()).is_none());
        // Far: a window around it.
        assert!(matches!(
            chat.jump(&lobby(), 40),
            Some(ClientFrame::Window {
                around: Some(40),
                ..
            })
        ));
        assert_eq!(chat.seeking(&lobby()), Some(40));
        chat.apply(
            ServerFrame::Window {
                conv: lobby(),
                messages: (15..=65)
                    .map(|s| message(lobby(), s, "bob", "old", None))
                    .collect(),
                has_older: true,
                has_newer: true,
            },
            0,
        );
        let seqs = |chat: &Chat| -> Vec<i64> {
            chat.entries(&lobby())
                .iter()
                .filter_map(|e| e.seq)
                .collect()
        };
        assert_eq!(seqs(&chat), (15..=65).collect::<Vec<_>>());
        // A live message goes to the timeline, not into the window.
        chat.apply(
            ServerFrame::Message {
                message: message(lobby(), 450, "bob", "live", None),
            },
            0,
        );
        assert_eq!(seqs(&chat).last(), Some(&65));
        assert!(matches!(
            chat.older(),
            Some(ClientFrame::Window {
                before: Some(15),
                ..
            })
        ));
        assert!(chat.newer().is_none(), "one piece at a time");
        chat.apply(
            ServerFrame::Window {
                conv: lobby(),
                messages: (1..15)
                    .map(|s| message(lobby(), s, "bob", "oldest", None))
                    .collect(),
                has_older: false,
                has_newer: true,
            },
            0,
        );
        assert!(matches!(
            chat.newer(),
            Some(ClientFrame::Window {
                after: Some(65),
                ..
            })
        ));
        // The rest, up to the newest: one timeline again.
        chat.apply(
            ServerFrame::Window {
                conv: lobby(),
                messages: (66..=450)
                    .map(|s| message(lobby(), s, "bob", "rest", None))
                    .collect(),
                has_older: true,
                has_newer: false,
            },
            0,
        );
        assert!(chat.window_of(&lobby()).is_none());
        assert_eq!(seqs(&chat), (1..=450).collect::<Vec<_>>());
        assert_eq!(chat.seeking(&lobby()), Some(40), "still to be shown");
    }

    /// Mentions count while the conversation is not read, reading clears
    /// them, and a browser notification is wanted only while the page is
    /// hidden, for what the conversation's setting asks.
    #[test]
    fn mentions_count_and_notifications_follow_the_setting() {
        let mut chat = Chat::default();
        chat.apply(welcome("ann"), 0);
        chat.apply(ServerFrame::Synced {}, 0);
        let mention = |seq, sender: &str, names: &[&str]| {
            let mut m = message(lobby(), seq, sender, "hi @ann", None);
            m.mentions = names.iter().map(|n| n.to_string()).collect();
            m
        };
        // Visible: no notification.
        assert_eq!(chat.alert_for(&mention(1, "bob", &["ann"])), None);
        chat.set_hidden(true);
        assert_eq!(
            chat.alert_for(&mention(1, "bob", &["ann"])),
            Some(("bob in #lobby".to_owned(), "hi @ann".to_owned()))
        );
        // Its text reads as the message does, without the Markdown, even
        // when the body is too long to show whole.
        let mut long = mention(1, "bob", &["ann"]);
        long.body = format!("**{}** @ann", "x".repeat(200));
        assert_eq!(
            chat.alert_for(&long),
            Some(("bob in #lobby".to_owned(), "x".repeat(160)))
        );
        assert_eq!(
            chat.alert_for(&mention(1, "bob", &[])),
            None,
            "not a mention"
        );
        assert_eq!(
            chat.alert_for(&mention(1, "ann", &["ann"])),
            None,
            "one's own"
        );
        assert!(
            chat.alert_for(&mention(1, "bob", &["room"])).is_some(),
            "@room"
        );
        chat.apply(
            ServerFrame::Message {
                message: mention(1, "bob", &["ann"]),
            },
            0,
        );
        chat.apply(
            ServerFrame::Message {
                message: mention(2, "bob", &[]),
            },
            0,
        );
        let lobby_thread = |chat: &Chat| chat.thread_of(&lobby()).map(|t| (t.unread, t.mentions));
        assert_eq!(lobby_thread(&chat), Some((2, 1)));
        assert_eq!(chat.total_mentions(), 1);
        // Read elsewhere: both go.
        chat.apply(
            ServerFrame::Read {
                conv: lobby(),
                seq: 2,
                unread: 0,
                mentions: 0,
            },
            0,
        );
        assert_eq!(lobby_thread(&chat), Some((0, 0)));
        // Every message, or nothing.
        chat.apply(
            ServerFrame::Notify {
                conv: lobby(),
                level: NotifyLevel::All,
            },
            0,
        );
        assert!(chat.alert_for(&mention(3, "bob", &[])).is_some());
        chat.apply(
            ServerFrame::Notify {
                conv: lobby(),
                level: NotifyLevel::Nothing,
            },
            0,
        );
        assert_eq!(chat.alert_for(&mention(3, "bob", &["ann"])), None);
    }

    #[test]
    fn people_we_block_are_left_out_of_the_online_list() {
        let mut chat = Chat::default();
        let mut hello = welcome("alice");
        if let ServerFrame::Welcome {
            online, blocked, ..
        } = &mut hello
        {
            *online = vec!["alice".into(), "bob".into(), "mallory".into()];
            *blocked = vec!["Mallory".into()];
        }
        chat.apply(hello, 0);
        assert_eq!(chat.online().collect::<Vec<_>>(), ["alice", "bob"]);
        chat.apply(ServerFrame::Blocked { users: vec![] }, 0);
        assert_eq!(chat.online().count(), 3);
        chat.apply(
            ServerFrame::Blocked {
                users: vec!["bob".into()],
            },
            0,
        );
        assert_eq!(chat.online().collect::<Vec<_>>(), ["alice", "mallory"]);
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
                staff: vec![],
                muted: vec![],
                names: vec![],
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
        assert_eq!(chat.queue("c-1".into(), lobby(), "  hi ", None), Ok(None));
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
            chat.queue("c-2".into(), lobby(), "  ", None),
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
            display: None,
        };
        // Before the list arrives, events only move the count.
        chat.apply(member("zed", true, 2), 0);
        assert_eq!(chat.thread_of(&lobby()).unwrap().member_names, None);
        chat.apply(
            ServerFrame::Members {
                room: LOBBY.into(),
                users: vec!["alice".into(), "zed".into()],
                total: 2,
                staff: vec![],
                muted: vec![],
                names: vec![],
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
        before.queue("c-1".into(), lobby(), "first", None).unwrap();
        before.queue("c-2".into(), lobby(), "second", None).unwrap();
        let saved = serde_json::to_string(before.outbox()).unwrap();

        let mut after = Chat::default();
        after.queue("c-3".into(), lobby(), "third", None).unwrap();
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
        chat.queue("c-9".into(), lobby(), "x", None).unwrap();
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

    fn change(seq: i64, target: i64, sender: &str, kind: ChangeKind, arg: &str) -> Change {
        Change {
            mentions: Default::default(),
            id: 1_000 + seq,
            conv: lobby(),
            seq,
            sender: sender.into(),
            ts: 1_000 * seq,
            client_id: None,
            target,
            kind,
            body: (kind == ChangeKind::Edit).then(|| arg.to_owned()),
            emoji: matches!(kind, ChangeKind::React | ChangeKind::Unreact).then(|| arg.to_owned()),
        }
    }

    /// A chat signed in as alice, synced, looking at the lobby, holding
    /// `messages`.
    fn lobby_with(messages: Vec<Message>) -> Chat {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"), 0);
        chat.apply(ServerFrame::Synced {}, 0);
        chat.view(Some(lobby()));
        chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages,
                has_more: false,
            },
            0,
        );
        chat
    }

    fn entry(chat: &Chat, seq: i64) -> Entry {
        chat.entries(&lobby())
            .into_iter()
            .find(|e| e.seq == Some(seq))
            .expect("held")
    }

    fn cursor(chat: &Chat) -> Option<i64> {
        let ClientFrame::Hello { cursors, .. } = chat.hello() else {
            panic!()
        };
        cursors
            .into_iter()
            .find(|c| key_of(&c.conv) == lobby())
            .map(|c| c.seq)
    }

    #[test]
    fn changes_apply_once_in_order_and_move_the_resume_cursor() {
        let mut chat = lobby_with(vec![
            message(lobby(), 1, "bob", "first", None),
            message(lobby(), 2, "alice", "mine", None),
        ]);
        assert_eq!(cursor(&chat), Some(2));
        let edit = change(3, 1, "bob", ChangeKind::Edit, "first, fixed");
        chat.apply(
            ServerFrame::Change {
                change: edit.clone(),
            },
            0,
        );
        chat.apply(
            ServerFrame::Change {
                change: change(4, 2, "bob", ChangeKind::React, "👍"),
            },
            0,
        );
        chat.apply(
            ServerFrame::Change {
                change: change(5, 1, "bob", ChangeKind::Edit, "first, fixed again"),
            },
            0,
        );
        // The same change again (a resend after a reconnect) changes nothing.
        chat.apply(ServerFrame::Change { change: edit }, 0);
        let first = entry(&chat, 1);
        assert_eq!(first.body, "first, fixed again");
        assert_eq!(first.edited_at, Some(5_000));
        let mine = entry(&chat, 2);
        assert_eq!(mine.reactions.len(), 1);
        assert_eq!(mine.reactions[0].users, ["bob"]);
        assert!(!mine.reactions[0].me);
        // The cursor covers the changes: the server resends none of them.
        assert_eq!(cursor(&chat), Some(5));
        chat.disconnected();
        assert_eq!(cursor(&chat), Some(5));
    }

    #[test]
    fn people_are_shown_by_the_display_names_the_frames_carry() {
        let mut chat = lobby_with(vec![Message {
            display: Some("小明".into()),
            ..message(lobby(), 1, "ming", "你好", None)
        }]);
        assert_eq!(chat.display_of("ming"), "小明");
        assert_eq!(chat.display_of("MING"), "小明");
        assert_eq!(chat.display_of("bob"), "bob");
        assert_eq!(chat.entries(&lobby())[0].display, "小明");
        chat.apply(
            ServerFrame::Profile {
                user: "ming".into(),
                display: "Zoë".into(),
            },
            0,
        );
        assert_eq!(chat.entries(&lobby())[0].display, "Zoë");
        chat.apply(
            ServerFrame::Presence {
                user: "layla".into(),
                online: true,
                display: Some("ليلى".into()),
            },
            0,
        );
        assert_eq!(chat.label_of(&Conv::Dm("layla".into())), "ليلى");
        // Back to the handle.
        chat.apply(
            ServerFrame::Profile {
                user: "ming".into(),
                display: "ming".into(),
            },
            0,
        );
        assert_eq!(chat.display_of("ming"), "ming");
        assert!(!chat.has_display("ming"));
    }

    #[test]
    fn changes_count_as_nothing_new() {
        let mut chat = lobby_with(vec![message(lobby(), 1, "alice", "hi", None)]);
        chat.apply(
            ServerFrame::Typing {
                conv: lobby(),
                user: "bob".into(),
                display: None,
            },
            0,
        );
        chat.set_hidden(true);
        let replies = chat.apply(
            ServerFrame::Change {
                change: change(2, 1, "bob", ChangeKind::React, "🎉"),
            },
            0,
        );
        assert!(replies.is_empty(), "{replies:?}");
        let thread = chat.thread_of(&lobby()).unwrap();
        assert_eq!(thread.unread, 0);
        assert_eq!(thread.typing.len(), 1, "a reaction is not a message");
        // Hidden and back: nothing to mark read either.
        assert!(chat.set_hidden(false).is_empty());
    }

    #[test]
    fn history_keeps_the_newer_state_of_a_held_message() {
        let mut chat = lobby_with(vec![message(lobby(), 1, "bob", "v1", None)]);
        chat.apply(
            ServerFrame::Change {
                change: change(5, 1, "bob", ChangeKind::Edit, "v3"),
            },
            0,
        );
        let mut stale = message(lobby(), 1, "bob", "v2", None);
        stale.rev = 3;
        stale.edited_at = Some(3_000);
        let mut fresh = message(lobby(), 1, "bob", "v4", None);
        fresh.rev = 7;
        fresh.edited_at = Some(7_000);
        chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages: vec![stale.clone()],
                has_more: false,
            },
            0,
        );
        assert_eq!(entry(&chat, 1).body, "v3");
        chat.apply(ServerFrame::Message { message: stale }, 0);
        assert_eq!(entry(&chat, 1).body, "v3");
        chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages: vec![fresh],
                has_more: false,
            },
            0,
        );
        assert_eq!(entry(&chat, 1).body, "v4");
        // A change the new state already includes is skipped.
        chat.apply(
            ServerFrame::Change {
                change: change(6, 1, "bob", ChangeKind::Edit, "v3.5"),
            },
            0,
        );
        assert_eq!(entry(&chat, 1).body, "v4");
    }

    #[test]
    fn replies_show_their_original_as_it_is_now() {
        let mut reply = message(lobby(), 2, "alice", "agreed", None);
        reply.reply = Some(Quote {
            seq: 1,
            sender: "bob".into(),
            body: "old words".into(),
            deleted: false,
        });
        let mut chat = lobby_with(vec![message(lobby(), 1, "bob", "old words", None), reply]);
        chat.apply(
            ServerFrame::Change {
                change: change(3, 1, "bob", ChangeKind::Edit, "new words"),
            },
            0,
        );
        let stored = |chat: &Chat| {
            chat.thread_of(&lobby()).unwrap().messages[1]
                .reply
                .clone()
                .unwrap()
        };
        assert_eq!(stored(&chat).body, "new words");
        assert_eq!(
            entry(&chat, 2).reply.map(|q| q.body),
            Some("new words".into())
        );
        chat.apply(
            ServerFrame::Change {
                change: change(4, 1, "bob", ChangeKind::Delete, ""),
            },
            0,
        );
        assert!(stored(&chat).deleted);
        let quote = entry(&chat, 2).reply.unwrap();
        assert!(quote.deleted);
        assert_eq!(quote.body, "");
        let original = entry(&chat, 1);
        assert!(original.deleted);
        assert_eq!(original.body, "");
        // An edit or a reaction after the deletion is ignored.
        chat.apply(
            ServerFrame::Change {
                change: change(5, 1, "bob", ChangeKind::React, "👍"),
            },
            0,
        );
        assert!(entry(&chat, 1).reactions.is_empty());
    }

    #[test]
    fn a_reply_is_sent_with_its_target_and_shows_the_quote() {
        let mut chat = lobby_with(vec![message(lobby(), 4, "bob", "question?", None)]);
        let frame = chat
            .queue("c-1".into(), lobby(), "answer", Some(4))
            .unwrap();
        assert_eq!(
            frame,
            Some(ClientFrame::Send {
                client_id: "c-1".into(),
                conv: lobby(),
                body: "answer".into(),
                reply_to: Some(4),
            })
        );
        let waiting = chat.entries(&lobby()).pop().unwrap();
        assert_eq!(
            waiting.reply.as_ref().map(|q| q.body.as_str()),
            Some("question?")
        );
        chat.apply(
            ServerFrame::Ack {
                client_id: "c-1".into(),
                id: 9,
                conv: lobby(),
                seq: 5,
                ts: 5,
            },
            0,
        );
        assert_eq!(entry(&chat, 5).reply.map(|q| q.sender), Some("bob".into()));
    }

    #[test]
    fn own_changes_wait_in_the_outbox_and_apply_on_their_ack() {
        let mut chat = Chat::default();
        assert_eq!(
            chat.queue_change("e-1".into(), lobby(), ChangeKind::Edit, 1, " better "),
            Ok(None)
        );
        assert_eq!(
            chat.queue_change("r-1".into(), lobby(), ChangeKind::React, 1, "👍"),
            Ok(None)
        );
        assert_eq!(
            chat.queue_change("r-2".into(), lobby(), ChangeKind::React, 1, "x"),
            Err(DraftError::NotEmoji)
        );
        let sent = |replies: &[ClientFrame]| {
            replies
                .iter()
                .filter(|f| matches!(f, ClientFrame::Edit { .. } | ClientFrame::React { .. }))
                .cloned()
                .collect::<Vec<_>>()
        };
        let expected = vec![
            ClientFrame::Edit {
                client_id: "e-1".into(),
                conv: lobby(),
                seq: 1,
                body: "better".into(),
            },
            ClientFrame::React {
                client_id: "r-1".into(),
                conv: lobby(),
                seq: 1,
                emoji: "👍".into(),
            },
        ];
        assert_eq!(sent(&chat.apply(welcome("alice"), 0)), expected);
        chat.view(Some(lobby()));
        chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages: vec![message(lobby(), 1, "alice", "good", None)],
                has_more: false,
            },
            0,
        );
        // Shown at once: the edit as saving, the reaction as ours.
        let shown = entry(&chat, 1);
        assert_eq!(
            (shown.body.as_str(), shown.pending),
            ("better", Some(ChangeKind::Edit))
        );
        assert_eq!(shown.edited_at, None);
        assert!(shown.reactions[0].me);
        // Reconnected before the acks: sent again with the same ids.
        chat.disconnected();
        assert_eq!(sent(&chat.apply(welcome("alice"), 0)), expected);
        for (client_id, seq) in [("e-1", 2), ("r-1", 3)] {
            chat.apply(
                ServerFrame::Ack {
                    client_id: client_id.into(),
                    id: 50 + seq,
                    conv: lobby(),
                    seq,
                    ts: 1_000 * seq,
                },
                0,
            );
        }
        assert!(chat.outbox().is_empty());
        let acked = entry(&chat, 1);
        assert_eq!((acked.body.as_str(), acked.pending), ("better", None));
        assert_eq!(acked.edited_at, Some(2_000));
        assert_eq!(acked.reactions[0].users, ["alice"]);
        assert!(acked.reactions[0].me);
        assert_eq!(cursor(&chat), Some(3));
        // The same changes again, from the resume backlog: applied once.
        let mut again = change(3, 1, "alice", ChangeKind::React, "👍");
        again.client_id = Some("r-1".into());
        chat.apply(ServerFrame::Change { change: again }, 0);
        assert_eq!(entry(&chat, 1).reactions[0].users, ["alice"]);
    }

    #[test]
    fn a_change_seen_from_another_tab_leaves_the_outbox() {
        let mut chat = lobby_with(vec![message(lobby(), 1, "alice", "hi", None)]);
        chat.queue_change("d-1".into(), lobby(), ChangeKind::Delete, 1, "")
            .unwrap();
        assert_eq!(entry(&chat, 1).pending, Some(ChangeKind::Delete));
        let mut delete = change(2, 1, "alice", ChangeKind::Delete, "");
        delete.client_id = Some("d-1".into());
        chat.apply(ServerFrame::Change { change: delete }, 0);
        assert!(chat.outbox().is_empty());
        let gone = entry(&chat, 1);
        assert!(gone.deleted);
        assert_eq!(gone.pending, None);
    }

    #[test]
    fn refused_changes_leave_the_outbox_and_say_why_quietly() {
        let mut chat = lobby_with(vec![message(lobby(), 1, "bob", "hi", None)]);
        let refuse = |chat: &mut Chat, client_id: &str, code| {
            chat.apply(
                ServerFrame::Error {
                    code,
                    message: "no".into(),
                    client_id: Some(client_id.into()),
                    conv: Some(lobby()),
                },
                0,
            );
        };
        chat.queue_change("e-1".into(), lobby(), ChangeKind::Edit, 1, "mine now")
            .unwrap();
        refuse(&mut chat, "e-1", ErrorCode::NotAuthor);
        assert!(chat.outbox().is_empty());
        assert_eq!(entry(&chat, 1).body, "hi");
        assert!(chat.refusal().is_some_and(|r| r.contains("author")));
        assert_eq!(chat.notice(), None);
        chat.clear_refusal();
        chat.queue_change("r-1".into(), lobby(), ChangeKind::React, 1, "👍")
            .unwrap();
        refuse(&mut chat, "r-1", ErrorCode::AlreadyReacted);
        assert!(chat.outbox().is_empty());
        assert_eq!(chat.refusal(), None);
    }

    #[test]
    fn saved_outboxes_carry_changes_and_old_ones_still_load() {
        let mut before = Chat::default();
        before.queue("c-1".into(), lobby(), "hi", Some(3)).unwrap();
        before
            .queue_change("e-1".into(), lobby(), ChangeKind::Edit, 3, "fixed")
            .unwrap();
        before
            .queue_change("u-1".into(), lobby(), ChangeKind::Unreact, 3, "🎉")
            .unwrap();
        before
            .queue_change("d-1".into(), lobby(), ChangeKind::Delete, 2, "")
            .unwrap();
        let saved = serde_json::to_string(before.outbox()).unwrap();
        let restored: Vec<Outgoing> = serde_json::from_str(&saved).unwrap();
        assert_eq!(restored, before.outbox());
        // Written by the page before changes existed.
        let old: Vec<Outgoing> = serde_json::from_str(
            r#"[{"client_id":"c-0","conv":{"room":"lobby"},"body":"old","error":null}]"#,
        )
        .unwrap();
        let mut after = Chat::default();
        after.restore_outbox(old);
        after.restore_outbox(restored);
        let replies = after.apply(welcome("alice"), 0);
        let ids: Vec<&str> = replies
            .iter()
            .filter_map(|f| match f {
                ClientFrame::Send { client_id, .. }
                | ClientFrame::Edit { client_id, .. }
                | ClientFrame::Delete { client_id, .. }
                | ClientFrame::Unreact { client_id, .. } => Some(client_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["c-1", "e-1", "u-1", "d-1", "c-0"]);
        assert!(replies.contains(&ClientFrame::Send {
            client_id: "c-1".into(),
            conv: lobby(),
            body: "hi".into(),
            reply_to: Some(3),
        }));
    }

    #[test]
    fn a_change_that_comes_before_its_message_is_kept_for_it() {
        let mut chat = lobby_with(vec![message(lobby(), 9, "bob", "late", None)]);
        chat.apply(
            ServerFrame::Change {
                change: change(10, 3, "bob", ChangeKind::Edit, "edited"),
            },
            0,
        );
        assert_eq!(cursor(&chat), Some(10));
        // A page read before the change was stored.
        chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages: vec![message(lobby(), 3, "bob", "original", None)],
                has_more: false,
            },
            0,
        );
        assert_eq!(entry(&chat, 3).body, "edited");
        // One read after it says the same, and is kept.
        let mut current = message(lobby(), 3, "bob", "edited", None);
        current.rev = 10;
        chat.apply(ServerFrame::Message { message: current }, 0);
        assert_eq!(entry(&chat, 3).body, "edited");
    }

    #[test]
    fn seeking_an_original_pages_back_until_it_is_held() {
        let mut chat = Chat::default();
        chat.apply(welcome("alice"), 0);
        chat.view(Some(lobby()));
        chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages: (300..350)
                    .map(|s| message(lobby(), s, "bob", "x", None))
                    .collect(),
                has_more: true,
            },
            0,
        );
        let page = |before| ClientFrame::History {
            conv: lobby(),
            before: Some(before),
            limit: Some(MAX_HISTORY_PAGE),
        };
        assert_eq!(chat.seek(&lobby(), 20), Some(page(300)));
        // Asking again while the page is on its way asks for nothing.
        assert_eq!(chat.seek(&lobby(), 20), None);
        let replies = chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages: (100..300)
                    .map(|s| message(lobby(), s, "bob", "x", None))
                    .collect(),
                has_more: true,
            },
            0,
        );
        assert!(replies.contains(&page(100)), "{replies:?}");
        chat.apply(
            ServerFrame::History {
                conv: lobby(),
                messages: (1..100)
                    .map(|s| message(lobby(), s, "bob", "x", None))
                    .collect(),
                has_more: false,
            },
            0,
        );
        assert_eq!(chat.thread_of(&lobby()).unwrap().seek, Some(20));
        chat.seek_done(&lobby());
        assert_eq!(chat.thread_of(&lobby()).unwrap().seek, None);
        // Held already: nothing to fetch.
        assert_eq!(chat.seek(&lobby(), 5), None);
        // Nowhere to be found: the search stops.
        chat.seek_done(&lobby());
        let mut gap = lobby_with(vec![message(lobby(), 5, "bob", "x", None)]);
        assert_eq!(gap.seek(&lobby(), 3), None);
        assert_eq!(gap.thread_of(&lobby()).unwrap().seek, None);
    }

    #[test]
    fn up_arrow_edits_the_last_own_message_still_there() {
        let mut chat = lobby_with(vec![
            message(lobby(), 1, "alice", "one", None),
            message(lobby(), 2, "alice", "two", None),
            message(lobby(), 3, "bob", "three", None),
        ]);
        assert_eq!(chat.last_editable(&lobby()), Some(2));
        chat.apply(
            ServerFrame::Change {
                change: change(4, 2, "alice", ChangeKind::Delete, ""),
            },
            0,
        );
        assert_eq!(chat.last_editable(&lobby()), Some(1));
    }

    #[test]
    fn versions_are_kept_for_the_message_asked_about() {
        let mut chat = lobby_with(vec![message(lobby(), 1, "alice", "b", None)]);
        let versions = vec![
            Version {
                body: "a".into(),
                ts: 1,
            },
            Version {
                body: "b".into(),
                ts: 2,
            },
        ];
        chat.apply(
            ServerFrame::Versions {
                conv: lobby(),
                seq: 1,
                versions: versions.clone(),
            },
            0,
        );
        assert_eq!(chat.versions(&lobby(), 1), Some(versions.as_slice()));
        assert_eq!(chat.versions(&lobby(), 2), None);
    }
}
