//! Handling of each client frame after the handshake.
//!
//! A frame that cannot be honoured gets an `error` frame with a stable code;
//! the connection always stays open.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use app::protocol::{
    decode_client, valid_emoji, ClientFrame, Conv, ErrorCode, Role, RoomAction, RoomInfo,
    ServerFrame, Version, DIRECTORY_PAGE, MAX_BODY_BYTES, MAX_CLIENT_ID_LEN, MAX_DIRECTORY_PAGE,
    MAX_EMOJI_BYTES, MAX_HISTORY_PAGE, MAX_MEMBER_NAMES, MAX_MUTE_MINUTES, MAX_TOPIC_CHARS,
    MODERATION_LOG_PAGE,
};

mod mentions;
mod search;

use super::error;
use super::sync::conversation_info;
use crate::authz::{self, Actor, Denial, Op, RoomFacts, RoomOp};
use crate::cluster::Event;
use crate::hub::{frame, ConnId, Mailbox, Outbound};
use crate::limits::TokenBucket;
use crate::relay::{wire_message, Item, Party, Route, Submission};
use crate::state::AppState;
use crate::store::{
    name_key, now_ms, Action, ChangeOp, NewAction, NewChange, NewMessage, StoreError, User,
};

/// Searches a connection may make a second, and in a burst.
const SEARCH_RATE: f64 = 1.0;
const SEARCH_BURST: f64 = 5.0;
/// Messages a `history` answer carries when the client names no limit.
const DEFAULT_HISTORY_PAGE: u32 = 50;
/// Window over which frames beyond the rate limit are counted as abuse.
const ABUSE_WINDOW: Duration = Duration::from_secs(10);
/// Close code: sustained abuse of the rate limit (policy violation).
pub const CLOSE_POLICY: u16 = 1008;

/// Why a frame was refused.
#[derive(Debug)]
struct Refusal {
    code: ErrorCode,
    message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl From<Denial> for Refusal {
    fn from(denial: Denial) -> Self {
        Refusal::new(denial.code, denial.message)
    }
}

fn check_client_id(client_id: &str) -> Outcome {
    if client_id.is_empty() || client_id.chars().count() > MAX_CLIENT_ID_LEN {
        return Err(Refusal::new(
            ErrorCode::InvalidMessage,
            format!("client_id must be 1 to {MAX_CLIENT_ID_LEN} characters"),
        ));
    }
    Ok(())
}

/// The rules of a message's text, for `send` and `edit` alike.
fn check_body(body: &str) -> Outcome {
    if body.trim().is_empty() {
        return Err(Refusal::new(
            ErrorCode::InvalidMessage,
            "the message is empty",
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Refusal::new(
            ErrorCode::InvalidMessage,
            format!("the message is longer than {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn check_emoji(emoji: &str) -> Outcome {
    if !valid_emoji(emoji) {
        return Err(Refusal::new(
            ErrorCode::InvalidReaction,
            format!("a reaction is one emoji (at most {MAX_EMOJI_BYTES} bytes)"),
        ));
    }
    Ok(())
}

/// A change's body or emoji, checked like a `send`'s.
fn check_op(op: &ChangeOp) -> Outcome {
    match op {
        ChangeOp::Edit { body } => check_body(body),
        ChangeOp::React { emoji } | ChangeOp::Unreact { emoji } => check_emoji(emoji),
        ChangeOp::Delete => Ok(()),
    }
}

/// A room title: any script, cleaned as display names are (empty: the
/// room's name).
fn check_title(title: &str) -> Outcome<String> {
    if title.trim().is_empty() {
        return Ok(String::new());
    }
    crate::names::display_name(title)
        .map_err(|why| Refusal::new(ErrorCode::InvalidName, format!("a room title: {why}")))
}

/// A room topic: trimmed, at most [`MAX_TOPIC_CHARS`] characters.
fn check_topic(topic: &str) -> Outcome<&str> {
    let topic = topic.trim();
    if topic.chars().count() > MAX_TOPIC_CHARS || topic.chars().any(char::is_control) {
        return Err(Refusal::new(
            ErrorCode::InvalidMessage,
            format!("a topic is one line of at most {MAX_TOPIC_CHARS} characters"),
        ));
    }
    Ok(topic)
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store error while handling a frame");
        Refusal::new(
            ErrorCode::Internal,
            "the server could not do that; try again",
        )
    }
}

type Outcome<T = ()> = Result<T, Refusal>;

/// The conversation a client frame is about, as the client named it.
fn named_conv(frame: &ClientFrame) -> Option<Conv> {
    match frame {
        ClientFrame::Send { conv, .. }
        | ClientFrame::Edit { conv, .. }
        | ClientFrame::Delete { conv, .. }
        | ClientFrame::React { conv, .. }
        | ClientFrame::Unreact { conv, .. }
        | ClientFrame::EditHistory { conv, .. }
        | ClientFrame::History { conv, .. }
        | ClientFrame::Window { conv, .. }
        | ClientFrame::Read { conv, .. }
        | ClientFrame::Notify { conv, .. }
        | ClientFrame::Typing { conv } => Some(conv.clone()),
        ClientFrame::CreateRoom { room, .. }
        | ClientFrame::JoinRoom { room }
        | ClientFrame::LeaveRoom { room }
        | ClientFrame::RoomAction { room, .. }
        | ClientFrame::ModerationLog { room }
        | ClientFrame::Members { room } => Some(Conv::Room(room.clone())),
        ClientFrame::Hello { .. }
        | ClientFrame::Block { .. }
        | ClientFrame::Unblock { .. }
        | ClientFrame::ListRooms {}
        | ClientFrame::Directory { .. }
        | ClientFrame::Search { .. }
        | ClientFrame::Ping { .. } => None,
    }
}

/// A conversation resolved for this user.
struct Target {
    conv_id: i64,
    route: Route,
    /// The conversation as this user sees it.
    wire: Conv,
}

pub struct Handler {
    state: AppState,
    me: Party,
    /// A server admin (`--admins`).
    admin: bool,
    conn: ConnId,
    /// The connection whose room subscriptions stand for membership on
    /// the hot path: this one, or a long-poll tab's lease on this node.
    follows: ConnId,
    mailbox: Mailbox,
    /// Long-polling: the relay's receipts of this request's submissions,
    /// awaited before its answer is sent (`None` on sockets).
    receipts: Option<Vec<tokio::sync::oneshot::Receiver<()>>>,
    rooms: HashMap<String, i64>,
    users: HashMap<String, Party>,
    bucket: TokenBucket,
    /// Searches cost more than other frames: they have a bucket of their own too.
    search_bucket: TokenBucket,
    /// Frames refused by the rate limit in the current abuse window.
    over_limit: u32,
    window_start: Instant,
    /// When the frame being handled arrived.
    received: Instant,
}

impl Handler {
    pub fn new(state: &AppState, user: User, conn: ConnId, mailbox: Mailbox) -> Self {
        Handler {
            admin: state.config.is_admin(&user.name),
            me: Party {
                id: user.id,
                name: user.name,
            },
            conn,
            follows: conn,
            mailbox,
            receipts: None,
            rooms: HashMap::new(),
            users: HashMap::new(),
            bucket: TokenBucket::new(state.config.rate_per_sec, state.config.rate_burst),
            search_bucket: TokenBucket::new(SEARCH_RATE, SEARCH_BURST),
            over_limit: 0,
            window_start: Instant::now(),
            received: Instant::now(),
            state: state.clone(),
        }
    }

    /// A long-poll tab's handler: `follows` is its lease on this node
    /// (when it has one), and submissions come with receipts, awaited by
    /// [`Handler::settled`] so that a request answers with their acks.
    pub fn for_poll(&mut self, follows: Option<ConnId>) {
        self.follows = follows.unwrap_or(self.conn);
        self.receipts.get_or_insert_with(Vec::new);
    }

    /// Wait until the relay has handled everything this handler submitted
    /// (long-polling: their acks and errors are then in the mailbox).
    pub async fn settled(&mut self) {
        if let Some(receipts) = self.receipts.as_mut() {
            for receipt in receipts.drain(..) {
                // Dropped by the relay once the submission's batch is done.
                let _ = receipt.await;
            }
        }
    }

    /// Take a token for one frame. Over the rate: an error frame, and the
    /// connection is closed (1008) when it keeps going.
    fn within_rate(&mut self) -> ControlFlow<(), bool> {
        if self.bucket.try_take() {
            return ControlFlow::Continue(true);
        }
        self.state
            .metrics
            .rate_limited
            .fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if now.duration_since(self.window_start) > ABUSE_WINDOW {
            self.window_start = now;
            self.over_limit = 0;
        }
        self.over_limit += 1;
        if self.over_limit > self.state.config.rate_abuse_limit {
            self.mailbox
                .close
                .close(CLOSE_POLICY, "rate limit exceeded");
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(false)
    }

    /// Queue a frame for this connection only.
    pub fn reply(&self, reply: ServerFrame) {
        self.mailbox.offer(Outbound::Frame(frame(&reply)));
    }

    pub async fn handle_text(&mut self, text: &str) -> ControlFlow<()> {
        self.received = Instant::now();
        if !self.within_rate()? {
            self.reply(error(
                ErrorCode::RateLimited,
                format!(
                    "too many frames: at most {} a second; this one was dropped",
                    self.state.config.rate_per_sec
                ),
                None,
            ));
            return ControlFlow::Continue(());
        }
        match decode_client(text) {
            Err(e) => self.reply(error(e.code, e.message, None)),
            Ok(frame) => {
                // What the answer names, so that the client can tell which
                // of its requests was refused.
                let client_id = match &frame {
                    ClientFrame::Send { client_id, .. }
                    | ClientFrame::Edit { client_id, .. }
                    | ClientFrame::Delete { client_id, .. }
                    | ClientFrame::React { client_id, .. }
                    | ClientFrame::Unreact { client_id, .. }
                    | ClientFrame::RoomAction { client_id, .. } => Some(client_id.clone()),
                    _ => None,
                };
                let conv = named_conv(&frame);
                if let Err(refusal) = self.handle(frame).await {
                    self.reply(ServerFrame::Error {
                        code: refusal.code,
                        message: refusal.message,
                        client_id,
                        conv,
                    });
                }
            }
        }
        ControlFlow::Continue(())
    }

    async fn handle(&mut self, frame: ClientFrame) -> Outcome {
        match frame {
            ClientFrame::Hello { .. } => Err(Refusal::new(
                ErrorCode::AlreadyGreeted,
                "`hello` was already sent on this connection",
            )),
            ClientFrame::Send {
                client_id,
                conv,
                body,
                reply_to,
            } => self.send(client_id, conv, body, reply_to).await,
            ClientFrame::Edit {
                client_id,
                conv,
                seq,
                body,
            } => {
                self.change(client_id, conv, seq, ChangeOp::Edit { body })
                    .await
            }
            ClientFrame::Delete {
                client_id,
                conv,
                seq,
            } => self.change(client_id, conv, seq, ChangeOp::Delete).await,
            ClientFrame::React {
                client_id,
                conv,
                seq,
                emoji,
            } => {
                self.change(client_id, conv, seq, ChangeOp::React { emoji })
                    .await
            }
            ClientFrame::Unreact {
                client_id,
                conv,
                seq,
                emoji,
            } => {
                self.change(client_id, conv, seq, ChangeOp::Unreact { emoji })
                    .await
            }
            ClientFrame::EditHistory { conv, seq } => self.edit_history(conv, seq).await,
            ClientFrame::History {
                conv,
                before,
                limit,
            } => self.history(conv, before, limit).await,
            ClientFrame::Window {
                conv,
                around,
                before,
                after,
                limit,
            } => self.window(conv, around, before, after, limit).await,
            ClientFrame::Search {
                query,
                order,
                cursor,
                limit,
                tz,
            } => self.search(query, order, cursor, limit, tz).await,
            ClientFrame::CreateRoom {
                room,
                title,
                topic,
                private,
            } => self.create_room(room, title, topic, private).await,
            ClientFrame::Directory {
                query,
                after,
                limit,
            } => self.directory(query, after, limit).await,
            ClientFrame::RoomAction {
                client_id,
                room,
                action,
            } => self.room_action(client_id, room, action).await,
            ClientFrame::ModerationLog { room } => self.moderation_log(room).await,
            ClientFrame::Block { user } => self.block(user, true).await,
            ClientFrame::Unblock { user } => self.block(user, false).await,
            ClientFrame::JoinRoom { room } => self.join_room(room).await,
            ClientFrame::LeaveRoom { room } => self.leave_room(room).await,
            ClientFrame::ListRooms {} => self.list_rooms().await,
            ClientFrame::Members { room } => self.members(room).await,
            ClientFrame::Read { conv, seq } => self.read(conv, seq).await,
            ClientFrame::Typing { conv } => self.typing(conv).await,
            ClientFrame::Notify { conv, level } => self.notify(conv, level).await,
            ClientFrame::Ping { nonce } => {
                self.reply(ServerFrame::Pong { nonce });
                Ok(())
            }
        }
    }

    // ---- resolving names ----------------------------------------------------

    /// Room `name`, if this user may do `op` there: its id and name. The
    /// answer is [`authz::room`]'s, from the store's facts, or (reading
    /// and writing a room this connection follows, the hot path) from what
    /// the hub knows: following means being a member, and mutes are kept
    /// there.
    async fn room_for(&mut self, name: &str, op: RoomOp) -> Outcome<(i64, String)> {
        let key = name_key(name);
        if let Some(&conv_id) = self.rooms.get(&key) {
            let hot = matches!(op, RoomOp::Read | RoomOp::Write | RoomOp::DeleteOwn);
            if hot && self.state.hub.is_subscribed(self.follows, conv_id) {
                let facts = RoomFacts {
                    name: key.clone(),
                    role: Some(Role::Member),
                    muted: op == RoomOp::Write
                        && self.state.hub.is_muted(conv_id, self.me.id, now_ms()),
                    archived: op == RoomOp::Write && self.state.hub.is_archived(conv_id),
                    admin: self.admin,
                    ..RoomFacts::default()
                };
                authz::room(name, Some(&facts), op, None)?;
                return Ok((conv_id, key));
            }
        }
        let (conv_id, facts) = self.room_facts(name).await?;
        authz::room(name, facts.as_ref(), op, None)?;
        if facts.as_ref().is_some_and(|f| f.role.is_some()) {
            self.rooms.insert(key.clone(), conv_id);
        }
        Ok((conv_id, key))
    }

    /// The store's facts of room `name` for this user (`None`: no such
    /// room, and the id is 0).
    async fn room_facts(&self, name: &str) -> Outcome<(i64, Option<RoomFacts>)> {
        if !app::protocol::valid_name(name) {
            return Ok((0, None));
        }
        Ok(
            match self
                .state
                .store
                .room_facts(name, self.me.id, self.admin)
                .await?
            {
                Some((id, facts)) => (id, Some(facts)),
                None => (0, None),
            },
        )
    }

    async fn user(&mut self, name: &str) -> Outcome<Party> {
        let key = name_key(name);
        if let Some(party) = self.users.get(&key) {
            return Ok(party.clone());
        }
        let unknown = || Refusal::new(ErrorCode::UnknownUser, format!("there is no user `{name}`"));
        if !app::protocol::valid_name(name) {
            return Err(unknown());
        }
        let (user, _) = self
            .state
            .store
            .find_user(name)
            .await?
            .ok_or_else(unknown)?;
        let party = Party {
            id: user.id,
            name: user.name,
        };
        self.users.insert(key, party.clone());
        Ok(party)
    }

    /// Resolve a conversation this user may read (and, with `sending`, write).
    async fn target(&mut self, conv: &Conv, sending: bool) -> Outcome<Target> {
        let op = if sending { RoomOp::Write } else { RoomOp::Read };
        self.target_for(conv, op).await
    }

    /// Resolve a conversation for `op` (which decides rooms only).
    async fn target_for(&mut self, conv: &Conv, op: RoomOp) -> Outcome<Target> {
        let sending = op == RoomOp::Write;
        match conv {
            Conv::Room(name) => {
                let (conv_id, name) = self.room_for(name, op).await?;
                Ok(Target {
                    conv_id,
                    wire: Conv::Room(name.clone()),
                    route: Route::Room { name },
                })
            }
            Conv::Dm(name) => {
                let peer = self.user(name).await?;
                if sending {
                    let blocked = self.state.hub.blocks(peer.id, self.me.id);
                    authz::direct(&peer.name, blocked)?;
                }
                let conv_id = self
                    .state
                    .store
                    .dm_conversation(self.me.id, peer.id)
                    .await?;
                Ok(Target {
                    conv_id,
                    wire: Conv::Dm(peer.name.clone()),
                    route: Route::Dm {
                        sender: self.me.clone(),
                        receiver: peer,
                    },
                })
            }
            Conv::Guest(guest) => {
                if crate::names::guest_name(guest).as_deref() != Ok(guest.as_str()) {
                    return Err(Refusal::new(
                        ErrorCode::UnknownUser,
                        "no guest has that name",
                    ));
                }
                if sending && !self.state.hub.is_guest_online(guest) {
                    return Err(Refusal::new(
                        ErrorCode::GuestOffline,
                        format!("guest `{guest}` is not connected; guests get messages only while connected"),
                    ));
                }
                let conv_id = self
                    .state
                    .store
                    .guest_conversation(self.me.id, guest)
                    .await?;
                Ok(Target {
                    conv_id,
                    wire: Conv::Guest(guest.clone()),
                    route: Route::ToGuest {
                        user: self.me.clone(),
                        guest: guest.clone(),
                    },
                })
            }
        }
    }

    // ---- frames ---------------------------------------------------------------

    async fn send(
        &mut self,
        client_id: String,
        conv: Conv,
        body: String,
        reply_to: Option<i64>,
    ) -> Outcome {
        check_client_id(&client_id)?;
        check_body(&body)?;
        let target = self.target(&conv, true).await?;
        let reply = match reply_to {
            Some(seq) => Some(
                self.state
                    .store
                    .authorize(Actor::member(self.me.id), Op::Reply, target.conv_id, seq)
                    .await??,
            ),
            None => None,
        };
        let mentions = self.mentions_in(&target, &body).await?;
        let mut message = NewMessage::new_with_index(
            target.conv_id,
            Some(self.me.id),
            self.me.name.clone(),
            Some(client_id),
            body,
            reply,
            self.state.config.search_index,
        );
        message.mentions = mentions;
        let item = Item::Message(message);
        self.submit(item, target.route).await
    }

    /// An edit, delete or reaction: decided and applied as it is stored.
    async fn change(&mut self, client_id: String, conv: Conv, seq: i64, op: ChangeOp) -> Outcome {
        check_op(&op)?;
        check_client_id(&client_id)?;
        let deleting = op == ChangeOp::Delete;
        let room_op = if deleting {
            RoomOp::DeleteOwn
        } else {
            RoomOp::Write
        };
        let target = self.target_for(&conv, room_op).await?;
        // Whether this is a moderator's delete is decided (by the store,
        // with the message at hand) only for deletes in rooms.
        let moderator = match &conv {
            Conv::Room(name) if deleting => {
                let (_, facts) = self.room_facts(name).await?;
                authz::room(name, facts.as_ref(), RoomOp::DeleteAny, None).is_ok()
            }
            _ => false,
        };
        let mentions = match &op {
            ChangeOp::Edit { body } => self.mentions_in(&target, body).await?,
            _ => Default::default(),
        };
        let item = Item::Change(NewChange {
            conv_id: target.conv_id,
            sender_id: self.me.id,
            sender_name: self.me.name.clone(),
            client_id,
            target: seq,
            op,
            moderator,
            mentions,
        });
        self.submit(item, target.route).await
    }

    async fn submit(&mut self, item: Item, route: Route) -> Outcome {
        let done = self.receipts.as_mut().map(|receipts| {
            let (done, receipt) = tokio::sync::oneshot::channel();
            receipts.push(receipt);
            done
        });
        let submission = Submission {
            item,
            route,
            origin: Some(self.conn),
            received: self.received,
            done,
        };
        if self.state.relay.submit(submission).await {
            Ok(())
        } else {
            Err(Refusal::new(
                ErrorCode::Internal,
                "the server is shutting down; send it again after reconnecting",
            ))
        }
    }

    async fn edit_history(&mut self, conv: Conv, seq: i64) -> Outcome {
        let target = self.target_for(&conv, RoomOp::Read).await?;
        let store = &self.state.store;
        store
            .authorize(
                Actor::member(self.me.id),
                Op::ReadVersions,
                target.conv_id,
                seq,
            )
            .await??;
        let versions = store
            .versions(target.conv_id, seq)
            .await?
            .into_iter()
            .map(|(body, ts)| Version { body, ts })
            .collect();
        self.reply(ServerFrame::Versions {
            conv: target.wire,
            seq,
            versions,
        });
        Ok(())
    }

    async fn history(&mut self, conv: Conv, before: Option<i64>, limit: Option<u32>) -> Outcome {
        let target = self.target(&conv, false).await?;
        let limit = limit
            .unwrap_or(DEFAULT_HISTORY_PAGE)
            .clamp(1, MAX_HISTORY_PAGE);
        let before = before.unwrap_or(i64::MAX);
        let mut page = self
            .state
            .store
            .history_before(target.conv_id, before, limit + 1)
            .await?;
        let has_more = page.len() > limit as usize;
        if has_more {
            page.remove(0);
        }
        let messages = self.wire_page(&target.wire, &page);
        self.reply(ServerFrame::History {
            conv: target.wire,
            messages,
            has_more,
        });
        Ok(())
    }

    /// Stored messages as this user sees them in `conv`.
    fn wire_page(
        &self,
        conv: &Conv,
        page: &[crate::store::StoredMessage],
    ) -> Vec<app::protocol::Message> {
        page.iter()
            .map(|m| wire_message(conv.clone(), m, Some(self.me.id), &self.state.hub.displays))
            .collect()
    }

    async fn check_room_allowance(&self) -> Outcome {
        let max = self.state.config.max_rooms_per_user;
        if self.state.store.room_count(self.me.id).await? >= max {
            return Err(Refusal::new(
                ErrorCode::LimitReached,
                format!("you are in {max} rooms, the most allowed; leave one first"),
            ));
        }
        Ok(())
    }

    async fn create_room(
        &mut self,
        room: String,
        title: String,
        topic: String,
        private: bool,
    ) -> Outcome {
        if !self.state.config.new_name_ok(&room) {
            return Err(Refusal::new(
                ErrorCode::InvalidName,
                format!(
                    "room names are 1 to {} letters, digits, `_` or `-`",
                    self.state.config.max_name_len.min(32)
                ),
            ));
        }
        let topic = check_topic(&topic)?;
        let title = check_title(&title)?;
        self.check_room_allowance().await?;
        let key = name_key(&room);
        let creator = User {
            id: self.me.id,
            name: self.me.name.clone(),
        };
        let store = &self.state.store;
        let Some(conv_id) = store
            .create_room(&key, &title, topic, private, &creator)
            .await?
        else {
            // Names are unique, so a taken name is said to be taken, private
            // or not; the wording tells nothing more.
            return Err(Refusal::new(
                ErrorCode::RoomExists,
                format!("the name `{key}` is taken; choose another"),
            ));
        };
        self.rooms.insert(key, conv_id);
        self.state
            .hub
            .set_room_subscription(self.me.id, conv_id, true);
        self.state.hub.publish(Event::Membership {
            user_id: self.me.id,
            conv_id,
            joined: true,
        });
        if let Some(m) = store.membership(conv_id, self.me.id).await? {
            let joined = Outbound::Frame(frame(&ServerFrame::Joined {
                info: conversation_info(&m, &self.state.hub.displays),
            }));
            self.state.hub.send_user(self.me.id, &joined, None);
        }
        Ok(())
    }

    /// Hand a join, leave or staff action to the relay, which decides it
    /// again as it stores it.
    async fn act(&mut self, room: String, client_id: Option<String>, action: Action) -> Outcome {
        let item = Item::Action(NewAction {
            room: room.clone(),
            actor_id: self.me.id,
            actor_name: self.me.name.clone(),
            admin: self.admin,
            client_id,
            action,
        });
        self.submit(item, Route::Room { name: room }).await
    }

    async fn join_room(&mut self, room: String) -> Outcome {
        let (_, facts) = self.room_facts(&room).await?;
        authz::room(&room, facts.as_ref(), RoomOp::Join, None)?;
        if facts.as_ref().is_some_and(|f| f.role.is_none()) {
            self.check_room_allowance().await?;
        }
        self.act(room, None, Action::Join).await
    }

    async fn leave_room(&mut self, room: String) -> Outcome {
        let (_, facts) = self.room_facts(&room).await?;
        authz::room(&room, facts.as_ref(), RoomOp::Leave, None)?;
        self.act(room, None, Action::Leave).await
    }

    async fn room_action(
        &mut self,
        client_id: String,
        room: String,
        action: RoomAction,
    ) -> Outcome {
        check_client_id(&client_id)?;
        let action = match action {
            RoomAction::SetTopic { topic } => RoomAction::SetTopic {
                topic: check_topic(&topic)?.to_string(),
            },
            RoomAction::SetTitle { title } => RoomAction::SetTitle {
                title: check_title(&title)?,
            },
            RoomAction::Mute { user, minutes } => {
                if !(1..=MAX_MUTE_MINUTES).contains(&minutes) {
                    return Err(Refusal::new(
                        ErrorCode::InvalidFrame,
                        format!("a mute lasts 1 to {MAX_MUTE_MINUTES} minutes"),
                    ));
                }
                RoomAction::Mute { user, minutes }
            }
            other => other,
        };
        self.act(room, Some(client_id), Action::Staff(action)).await
    }

    async fn directory(
        &mut self,
        query: String,
        after: Option<String>,
        limit: Option<u32>,
    ) -> Outcome {
        let limit = limit.unwrap_or(DIRECTORY_PAGE).clamp(1, MAX_DIRECTORY_PAGE);
        let query = app::protocol::clip(query.trim(), 64).to_string();
        let after = after.map(|a| name_key(&a)).unwrap_or_default();
        let rows = self
            .state
            .store
            .directory(self.me.id, &query, &after, limit)
            .await?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|r| r.name.clone()))
            .flatten();
        let rooms = rows
            .into_iter()
            .map(|r| RoomInfo {
                title: if r.title == r.name {
                    String::new()
                } else {
                    r.title
                },
                room: r.name,
                members: r.members,
                joined: r.joined,
                topic: r.topic,
                private: false,
            })
            .collect();
        self.reply(ServerFrame::Directory { query, rooms, next });
        Ok(())
    }

    /// Block or unblock someone; every connection of this user, on every
    /// node, gets the list.
    async fn block(&mut self, user: String, on: bool) -> Outcome {
        let peer = self.user(&user).await?;
        if peer.id == self.me.id {
            return Err(Refusal::new(
                ErrorCode::NotPermitted,
                "you cannot block yourself",
            ));
        }
        let store = &self.state.store;
        let changed = if on {
            store.block(self.me.id, peer.id).await?
        } else {
            store.unblock(self.me.id, peer.id).await?
        };
        if !changed {
            return Err(Refusal::new(
                ErrorCode::NoChange,
                if on {
                    format!("you already block {}", peer.name)
                } else {
                    format!("you do not block {}", peer.name)
                },
            ));
        }
        self.state.hub.set_block(self.me.id, peer.id, on);
        self.state.hub.publish(Event::Block {
            user_id: self.me.id,
            blocked_id: peer.id,
            on,
        });
        let users = store.blocked_names(self.me.id).await?;
        let blocked = Outbound::Frame(frame(&ServerFrame::Blocked { users }));
        self.state.hub.send_user(self.me.id, &blocked, None);
        Ok(())
    }

    async fn moderation_log(&mut self, room: String) -> Outcome {
        let (conv_id, name) = self.room_for(&room, RoomOp::ReadModerationLog).await?;
        let entries = self
            .state
            .store
            .moderation_log(conv_id, MODERATION_LOG_PAGE)
            .await?;
        self.reply(ServerFrame::ModerationLog {
            room: name,
            entries,
        });
        Ok(())
    }

    async fn list_rooms(&mut self) -> Outcome {
        let rooms = self
            .state
            .store
            .list_rooms(self.me.id)
            .await?
            .into_iter()
            .map(|r| RoomInfo {
                room: r.name,
                title: String::new(),
                members: r.members,
                joined: r.joined,
                topic: String::new(),
                private: false,
            })
            .collect();
        self.reply(ServerFrame::Rooms { rooms });
        Ok(())
    }

    /// Who is in a room, for its members only.
    async fn members(&mut self, room: String) -> Outcome {
        let (conv_id, name) = self.room_for(&room, RoomOp::Read).await?;
        let store = &self.state.store;
        let users = store.member_names(conv_id, MAX_MEMBER_NAMES).await?;
        let total = store.member_count(conv_id).await?;
        let staff = store.staff(conv_id).await?;
        let muted = store.muted(conv_id, now_ms()).await?;
        let displays = &self.state.hub.displays;
        let mut names = displays.named(&users);
        let others = staff
            .iter()
            .map(|s| &s.user)
            .chain(muted.iter().map(|m| &m.user));
        for named in displays.named(others) {
            if !names
                .iter()
                .any(|n| n.user.eq_ignore_ascii_case(&named.user))
            {
                names.push(named);
            }
        }
        self.reply(ServerFrame::Members {
            room: name,
            users,
            total,
            staff,
            muted,
            names,
        });
        Ok(())
    }

    async fn read(&mut self, conv: Conv, seq: i64) -> Outcome {
        let target = self.target(&conv, false).await?;
        let Some((read_seq, unread, mentions)) = self
            .state
            .store
            .mark_read(target.conv_id, self.me.id, seq)
            .await?
        else {
            return Err(Refusal::new(
                ErrorCode::NotMember,
                "you are not in that conversation",
            ));
        };
        self.to_all_my_connections(&ServerFrame::Read {
            conv: target.wire,
            seq: read_seq,
            unread,
            mentions,
        });
        Ok(())
    }

    async fn typing(&mut self, conv: Conv) -> Outcome {
        let target = self.target(&conv, false).await?;
        match target.route {
            Route::Room { name } => {
                let typing = Outbound::Frame(frame(&ServerFrame::Typing {
                    conv: Conv::Room(name),
                    user: self.me.name.clone(),
                    display: self.state.hub.displays.of(&self.me.name),
                }));
                self.state
                    .hub
                    .send_room(target.conv_id, &typing, Some(self.conn));
            }
            Route::Dm { receiver, .. } => {
                let typing = Outbound::Frame(frame(&ServerFrame::Typing {
                    conv: Conv::Dm(self.me.name.clone()),
                    user: self.me.name.clone(),
                    display: self.state.hub.displays.of(&self.me.name),
                }));
                self.state.hub.send_user(receiver.id, &typing, None);
            }
            Route::ToGuest { .. } | Route::FromGuest { .. } => {}
        }
        Ok(())
    }
}
