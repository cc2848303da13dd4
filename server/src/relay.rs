//! The relay: one task that stores messages and then fans them out.
//!
//! Connections submit messages into a bounded channel. The relay takes
//! whatever is waiting (up to [`MAX_BATCH`]), stores it in one transaction
//! (group commit), and only after the commit acknowledges each message to its
//! sender and delivers it to every receiver, in sequence order. Because one
//! task does this, live traffic of a conversation always arrives in order.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use app::protocol::{
    encode, Change, Conv, ConversationInfo, ErrorCode, Message, Quote, Reaction, SeedFrame,
    ServerFrame,
};

use crate::cluster::Event;
use crate::conn::conversation_info;
use crate::hub::{frame, ConnId, Displays, Hub, Outbound};
use crate::metrics::Metrics;
use crate::store::{
    ActionOutcome, AppliedAction, ChangeOp, ChangeOutcome, Committed, Effect, LogEntry, NewAction,
    NewChange, NewMessage, Store, StoredChange, StoredMessage,
};

/// Most messages stored in one transaction.
pub const MAX_BATCH: usize = 512;

/// A user as the relay needs them: id and display name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Party {
    pub id: i64,
    pub name: String,
}

/// Where a stored message goes after the commit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Route {
    Room {
        name: String,
    },
    Dm {
        sender: Party,
        receiver: Party,
    },
    /// A signed-in user writing to a guest of `/ws/{username}`.
    ToGuest {
        user: Party,
        guest: String,
    },
    /// A guest of `/ws/{username}` writing to a signed-in user.
    FromGuest {
        user: Party,
        guest: String,
    },
}

/// What a connection hands the relay to store.
#[derive(Debug)]
pub enum Item {
    Message(NewMessage),
    /// An edit, delete or reaction.
    Change(NewChange),
    /// Joining, leaving, or an owner's or moderator's action on a room.
    Action(NewAction),
}

impl Item {
    fn client_id(&self) -> Option<String> {
        match self {
            Item::Message(m) => m.client_id.clone(),
            Item::Change(c) => Some(c.client_id.clone()),
            Item::Action(a) => a.client_id.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Submission {
    pub item: Item,
    pub route: Route,
    /// The native connection that sent it, which gets the ack.
    pub origin: Option<ConnId>,
    /// When the frame reached the server.
    pub received: Instant,
    /// Dropped once the submission is stored and answered (a long-poll
    /// request waits for it, to carry the answer).
    pub done: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Clone, Debug)]
pub struct Relay {
    tx: mpsc::Sender<Submission>,
}

impl Relay {
    /// Start the relay task. It ends when every [`Relay`] clone is dropped,
    /// after storing and delivering what was already submitted.
    pub fn start(
        store: Store,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        capacity: usize,
    ) -> (Relay, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(run(store, hub, metrics, rx));
        (Relay { tx }, task)
    }

    /// Hand a message to the relay, waiting while its queue is full.
    /// False when the relay has stopped (shutdown).
    pub async fn submit(&self, submission: Submission) -> bool {
        self.tx.send(submission).await.is_ok()
    }
}

async fn run(
    store: Store,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<Submission>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Messages first, then changes, then room actions: a change names
        // a message its sender saw acknowledged, so never one of this
        // batch, and each conversation's entries go out in seq order.
        let mut messages = Vec::new();
        let mut changes = Vec::new();
        let mut actions = Vec::new();
        for submission in &batch {
            match submission.item {
                Item::Message(_) => messages.push(submission),
                Item::Change(_) => changes.push(submission),
                Item::Action(_) => actions.push(submission),
            }
        }
        if !messages.is_empty() {
            commit_messages(&store, &hub, &metrics, &messages).await;
        }
        if !changes.is_empty() {
            commit_changes(&store, &hub, &metrics, &changes).await;
        }
        if !actions.is_empty() {
            commit_actions(&store, &hub, &actions).await;
        }
        batch.clear();
    }
}

async fn commit_messages(store: &Store, hub: &Hub, metrics: &Metrics, batch: &[&Submission]) {
    let messages: Vec<&NewMessage> = batch
        .iter()
        .filter_map(|s| match &s.item {
            Item::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    let started = Instant::now();
    let committed = store.commit_batch(&messages).await;
    metrics.commit_latency.observe(started.elapsed());
    match committed {
        Ok(results) => {
            let stored = results
                .iter()
                .filter(|r| matches!(r, Committed::Stored(_)))
                .count();
            metrics
                .messages_in
                .fetch_add(stored as u64, Ordering::Relaxed);
            for (submission, result) in batch.iter().zip(results) {
                deliver(hub, submission, result);
            }
        }
        Err(error) => {
            tracing::error!(%error, count = batch.len(), "storing messages failed");
            for submission in batch {
                refuse(
                    hub,
                    submission,
                    "the message could not be stored; send it again",
                );
            }
        }
    }
}

async fn commit_changes(store: &Store, hub: &Hub, metrics: &Metrics, batch: &[&Submission]) {
    let changes: Vec<&NewChange> = batch
        .iter()
        .filter_map(|s| match &s.item {
            Item::Change(c) => Some(c),
            _ => None,
        })
        .collect();
    let started = Instant::now();
    let committed = store.commit_changes(&changes).await;
    metrics.commit_latency.observe(started.elapsed());
    match committed {
        Ok(results) => {
            for result in &results {
                let counter = match result {
                    ChangeOutcome::Stored(_) => &metrics.changes_in,
                    ChangeOutcome::Refused(_) => &metrics.changes_refused,
                    ChangeOutcome::Duplicate { .. } => continue,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            for (submission, result) in batch.iter().zip(results) {
                deliver_change(hub, submission, result);
            }
        }
        Err(error) => {
            tracing::error!(%error, count = batch.len(), "storing changes failed");
            for submission in batch {
                refuse(
                    hub,
                    submission,
                    "the change could not be stored; send it again",
                );
            }
        }
    }
}

async fn commit_actions(store: &Store, hub: &Hub, batch: &[&Submission]) {
    let actions: Vec<&NewAction> = batch
        .iter()
        .filter_map(|s| match &s.item {
            Item::Action(a) => Some(a),
            _ => None,
        })
        .collect();
    match store.commit_actions(&actions).await {
        Ok(results) => {
            for (submission, result) in batch.iter().zip(results) {
                deliver_action(store, hub, submission, result).await;
            }
        }
        Err(error) => {
            tracing::error!(%error, count = batch.len(), "storing room actions failed");
            for submission in batch {
                refuse(hub, submission, "that could not be stored; try again");
            }
        }
    }
}

async fn deliver_action(store: &Store, hub: &Hub, submission: &Submission, result: ActionOutcome) {
    let origin = submission.origin;
    let client_id = submission.item.client_id();
    let reply = |frame: ServerFrame| {
        if let Some(origin) = origin {
            hub.send_conn(origin, Outbound::Frame(crate::hub::frame(&frame)));
        }
    };
    let applied = match result {
        ActionOutcome::Refused(denial) => {
            let room = match &submission.item {
                Item::Action(a) => a.room.clone(),
                _ => String::new(),
            };
            return reply(ServerFrame::Error {
                code: denial.code,
                message: denial.message,
                client_id,
                conv: Some(Conv::Room(room)),
            });
        }
        ActionOutcome::Duplicate {
            id,
            conv_id,
            room,
            seq,
            ts,
        } => {
            let stamp = Stamp {
                id,
                conv_id,
                seq,
                ts,
            };
            return ack(hub, origin, Conv::Room(room), client_id, stamp, false);
        }
        ActionOutcome::Unchanged { conv_id, .. } => {
            // Joining a room one is in: its state again, as a join answers.
            if let (Some(origin), Item::Action(a)) = (origin, &submission.item) {
                if let Ok(Some(m)) = store.membership(conv_id, a.actor_id).await {
                    let joined = ServerFrame::Joined {
                        info: conversation_info(&m, &hub.displays),
                    };
                    hub.send_conn(origin, Outbound::Frame(crate::hub::frame(&joined)));
                }
            }
            return;
        }
        ActionOutcome::Applied(applied) => applied,
    };
    if let Some(line) = &applied.line {
        // The ack moves no position: the line itself reaches the sender
        // too, like every member.
        ack(
            hub,
            origin,
            Conv::Room(applied.room.clone()),
            client_id,
            Stamp::of(line),
            false,
        );
    }
    let info = match applied.effect {
        Effect::Joined { user_id } => match store.membership(applied.conv_id, user_id).await {
            Ok(m) => m.as_ref().map(|m| conversation_info(m, &hub.displays)),
            Err(error) => {
                tracing::error!(%error, "reading a new membership failed");
                None
            }
        },
        _ => None,
    };
    apply_action(hub, &applied, info.as_ref(), submission.received);
    hub.publish(Event::Action {
        applied: *applied,
        info: info.map(Box::new),
    });
}

/// Carry out an applied room action on this node's connections: the
/// joiner follows the room and gets its state, the system line goes to
/// every member (the removed one included), the removed stop following
/// and are told why, the invited get their invitation, mutes take hold.
pub fn apply_action(
    hub: &Hub,
    applied: &AppliedAction,
    info: Option<&ConversationInfo>,
    received: Instant,
) {
    let room = applied.room.clone();
    let member_frame = |joined: bool| {
        Outbound::Frame(frame(&ServerFrame::Member {
            room: room.clone(),
            user: applied.user.clone(),
            joined,
            members: applied.members,
            display: if joined {
                hub.displays.of(&applied.user)
            } else {
                None
            },
        }))
    };
    if let Effect::Joined { user_id } = &applied.effect {
        hub.set_room_subscription(*user_id, applied.conv_id, true);
        if let Some(info) = info {
            let joined = Outbound::Frame(frame(&ServerFrame::Joined { info: info.clone() }));
            hub.send_user(*user_id, &joined, None);
        }
    }
    if let Some(line) = &applied.line {
        fan_out(
            hub,
            &Route::Room { name: room.clone() },
            line,
            None,
            received,
        );
    }
    match &applied.effect {
        Effect::None => {}
        Effect::Joined { .. } => hub.send_room(applied.conv_id, &member_frame(true), None),
        Effect::Removed {
            user_id,
            reason,
            by,
        } => {
            hub.set_room_subscription(*user_id, applied.conv_id, false);
            let left = Outbound::Frame(frame(&ServerFrame::Left {
                room: room.clone(),
                reason: *reason,
                by: by.clone(),
            }));
            hub.send_user(*user_id, &left, None);
            hub.send_room(applied.conv_id, &member_frame(false), None);
        }
        Effect::Invited {
            user_id,
            invitation,
        } => {
            let invited = Outbound::Frame(frame(&ServerFrame::Invited {
                invitation: invitation.clone(),
            }));
            hub.send_user(*user_id, &invited, None);
        }
        Effect::Muted { user_id, until } => hub.set_mute(applied.conv_id, *user_id, *until),
    }
}

/// An admin deleted a room: its members' connections on this node stop
/// following it and are told.
pub fn room_deleted(hub: &Hub, conv_id: i64, room: &str, members: &[i64]) {
    let left = Outbound::Frame(frame(&ServerFrame::Left {
        room: room.to_string(),
        reason: Some(app::protocol::LeftReason::Deleted),
        by: None,
    }));
    for user_id in members {
        hub.set_room_subscription(*user_id, conv_id, false);
        hub.send_user(*user_id, &left, None);
    }
}

fn refuse(hub: &Hub, submission: &Submission, why: &str) {
    if let Some(origin) = submission.origin {
        let error = ServerFrame::Error {
            code: ErrorCode::Internal,
            message: why.to_string(),
            client_id: submission.item.client_id(),
            conv: None,
        };
        hub.send_conn(origin, Outbound::Frame(frame(&error)));
    }
}

/// What an ack says: the stored entry's id, conversation, seq and time.
struct Stamp {
    id: i64,
    conv_id: i64,
    seq: i64,
    ts: i64,
}

impl Stamp {
    fn of(stored: &StoredMessage) -> Stamp {
        Stamp {
            id: stored.id,
            conv_id: stored.conv_id,
            seq: stored.seq,
            ts: stored.ts,
        }
    }
}

fn ack(
    hub: &Hub,
    origin: Option<ConnId>,
    conv: Conv,
    client_id: Option<String>,
    stored: Stamp,
    fresh: bool,
) {
    let (Some(origin), Some(client_id)) = (origin, client_id) else {
        return;
    };
    let ack = ServerFrame::Ack {
        client_id,
        id: stored.id,
        conv,
        seq: stored.seq,
        ts: stored.ts,
    };
    let frame = frame(&ack);
    // A fresh ack moves the sender's position past its own message; the ack
    // of a resend must get through whatever the position is.
    let item = if fresh {
        Outbound::Ack {
            conv_id: stored.conv_id,
            seq: stored.seq,
            frame,
        }
    } else {
        Outbound::Frame(frame)
    };
    hub.send_conn(origin, item);
}

/// The wire message for a stored one, as seen through `conv` by the user
/// `reader` (whose own reactions are marked).
pub fn wire_message(
    conv: Conv,
    stored: &StoredMessage,
    reader: Option<i64>,
    displays: &Displays,
) -> Message {
    let state = &stored.state;
    let mut reactions: Vec<Reaction> = Vec::new();
    for r in &state.reactions {
        let at = match reactions.iter().position(|x| x.emoji == r.emoji) {
            Some(at) => at,
            None => {
                reactions.push(Reaction {
                    emoji: r.emoji.clone(),
                    users: Vec::new(),
                    me: false,
                });
                reactions.len() - 1
            }
        };
        reactions[at].users.push(r.user_name.clone());
        reactions[at].me |= reader == Some(r.user_id);
    }
    Message {
        id: stored.id,
        conv,
        seq: stored.seq,
        sender: stored.sender_name.clone(),
        display: stored
            .sender_id
            .and_then(|_| displays.of(&stored.sender_name)),
        // A system line names its people as they are shown now.
        body: match state.event.as_deref() {
            Some(event) => displays
                .sentence(event)
                .unwrap_or_else(|| stored.body.clone()),
            None => stored.body.clone(),
        },
        ts: stored.ts,
        client_id: stored.client_id.clone(),
        reply: state.reply.as_ref().map(|q| Quote {
            seq: q.seq,
            sender: q.sender.clone(),
            body: q.body.clone(),
            deleted: q.deleted,
        }),
        edited_at: state.edited_at,
        deleted_at: state.deleted_at,
        reactions,
        rev: state.rev,
        event: state.event.as_deref().cloned(),
        moderated: state.moderated,
        mentions: state.mentions.clone(),
    }
}

/// The wire change for a stored one, as seen through `conv`.
pub fn wire_change(conv: Conv, change: &StoredChange) -> Change {
    let (body, emoji) = match &change.op {
        ChangeOp::Edit { body } => (Some(body.clone()), None),
        ChangeOp::Delete => (None, None),
        ChangeOp::React { emoji } | ChangeOp::Unreact { emoji } => (None, Some(emoji.clone())),
    };
    Change {
        id: change.id,
        conv,
        seq: change.seq,
        sender: change.sender_name.clone(),
        ts: change.ts,
        client_id: change.client_id.clone(),
        target: change.target,
        kind: change.op.wire_kind(),
        body,
        emoji,
        mentions: change.mentions.clone(),
    }
}

/// The frame for one entry of a conversation's log, for `reader`.
pub fn log_frame(
    conv: Conv,
    entry: &LogEntry,
    reader: Option<i64>,
    displays: &Displays,
) -> ServerFrame {
    match entry {
        LogEntry::Message(stored) => ServerFrame::Message {
            message: wire_message(conv, stored, reader, displays),
        },
        LogEntry::Change(change) => ServerFrame::Change {
            change: wire_change(conv, change),
        },
    }
}

fn message_item(
    conv: Conv,
    stored: &StoredMessage,
    received: Instant,
    displays: &Displays,
) -> Outbound {
    let frame = frame(&ServerFrame::Message {
        message: wire_message(conv.clone(), stored, None, displays),
    });
    Outbound::Msg {
        received,
        conv_id: stored.conv_id,
        seq: stored.seq,
        view: Arc::new(conv),
        frame,
    }
}

fn change_item(conv: Conv, change: &StoredChange, received: Instant) -> Outbound {
    let frame = frame(&ServerFrame::Change {
        change: wire_change(conv.clone(), change),
    });
    Outbound::Msg {
        received,
        conv_id: change.conv_id,
        seq: change.seq,
        view: Arc::new(conv),
        frame,
    }
}

/// The conversation as the sender of a submission sees it.
fn sender_view(route: &Route) -> Conv {
    match route {
        Route::Room { name } => Conv::Room(name.clone()),
        Route::Dm { receiver, .. } => Conv::Dm(receiver.name.clone()),
        Route::ToGuest { guest, .. } | Route::FromGuest { guest, .. } => Conv::Guest(guest.clone()),
    }
}

fn deliver(hub: &Hub, submission: &Submission, result: Committed) {
    let origin = submission.origin;
    let view = sender_view(&submission.route);
    let stored = match result {
        Committed::Duplicate(stored) => {
            // Acknowledged again, never stored or relayed twice.
            let client_id = stored.client_id.clone();
            ack(hub, origin, view, client_id, Stamp::of(&stored), false);
            return;
        }
        Committed::Stored(stored) => stored,
    };
    ack(
        hub,
        origin,
        view,
        stored.client_id.clone(),
        Stamp::of(&stored),
        true,
    );
    fan_out(hub, &submission.route, &stored, origin, submission.received);
    hub.publish(Event::Message {
        route: submission.route.clone(),
        stored,
    });
}

fn deliver_change(hub: &Hub, submission: &Submission, result: ChangeOutcome) {
    let origin = submission.origin;
    let view = sender_view(&submission.route);
    let client_id = submission.item.client_id();
    match result {
        ChangeOutcome::Duplicate {
            id,
            conv_id,
            seq,
            ts,
        } => {
            let stamp = Stamp {
                id,
                conv_id,
                seq,
                ts,
            };
            ack(hub, origin, view, client_id, stamp, false);
        }
        ChangeOutcome::Refused(denial) => {
            if let Some(origin) = origin {
                let error = ServerFrame::Error {
                    code: denial.code,
                    message: denial.message,
                    client_id,
                    conv: Some(view),
                };
                hub.send_conn(origin, Outbound::Frame(frame(&error)));
            }
        }
        ChangeOutcome::Stored(change) => {
            let stamp = Stamp {
                id: change.id,
                conv_id: change.conv_id,
                seq: change.seq,
                ts: change.ts,
            };
            ack(hub, origin, view, client_id, stamp, true);
            fan_out_change(hub, &submission.route, &change, origin, submission.received);
            hub.publish(Event::Change {
                route: submission.route.clone(),
                change,
            });
        }
    }
}

/// Deliver a stored change to this node's connections: as a message is,
/// except that a guest of the seed endpoint, whose page shows plain text
/// as it arrives, is not sent changes.
pub fn fan_out_change(
    hub: &Hub,
    route: &Route,
    change: &StoredChange,
    origin: Option<ConnId>,
    received: Instant,
) {
    hub.note_fanned(change.conv_id, change.seq);
    match route {
        Route::Room { name } => {
            let item = change_item(Conv::Room(name.clone()), change, received);
            hub.send_room(change.conv_id, &item, origin);
        }
        Route::Dm { sender, receiver } => {
            let to_sender = change_item(Conv::Dm(receiver.name.clone()), change, received);
            hub.send_user(sender.id, &to_sender, origin);
            if receiver.id != sender.id {
                let to_receiver = change_item(Conv::Dm(sender.name.clone()), change, received);
                hub.send_user(receiver.id, &to_receiver, None);
            }
        }
        Route::ToGuest { user, guest } | Route::FromGuest { user, guest } => {
            let item = change_item(Conv::Guest(guest.clone()), change, received);
            hub.send_user(user.id, &item, origin);
        }
    }
}

/// Deliver a stored message to this node's connections: every connection
/// of every receiver except `origin` (which has its ack).
pub fn fan_out(
    hub: &Hub,
    route: &Route,
    stored: &StoredMessage,
    origin: Option<ConnId>,
    received: Instant,
) {
    hub.note_fanned(stored.conv_id, stored.seq);
    match route {
        Route::Room { name } => {
            let item = message_item(Conv::Room(name.clone()), stored, received, &hub.displays);
            hub.send_room(stored.conv_id, &item, origin);
        }
        Route::Dm { sender, receiver } => {
            let to_sender = message_item(
                Conv::Dm(receiver.name.clone()),
                stored,
                received,
                &hub.displays,
            );
            hub.send_user(sender.id, &to_sender, origin);
            if receiver.id != sender.id {
                let to_receiver = message_item(
                    Conv::Dm(sender.name.clone()),
                    stored,
                    received,
                    &hub.displays,
                );
                hub.send_user(receiver.id, &to_receiver, None);
            }
        }
        Route::ToGuest { user, guest } => {
            let item = message_item(Conv::Guest(guest.clone()), stored, received, &hub.displays);
            hub.send_user(user.id, &item, origin);
            let seed = SeedFrame {
                sender: user.name.clone(),
                receiver: guest.clone(),
                data: stored.body.clone(),
            };
            hub.send_guest(guest, encode(&seed).into());
        }
        Route::FromGuest { user, guest } => {
            let item = message_item(Conv::Guest(guest.clone()), stored, received, &hub.displays);
            hub.send_user(user.id, &item, None);
        }
    }
}
