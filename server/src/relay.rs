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

use app::protocol::{encode, Conv, ErrorCode, Message, SeedFrame, ServerFrame};

use crate::cluster::Event;
use crate::hub::{frame, ConnId, Hub, Outbound};
use crate::metrics::Metrics;
use crate::store::{Committed, NewMessage, Store, StoredMessage};

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

#[derive(Debug)]
pub struct Submission {
    pub message: NewMessage,
    pub route: Route,
    /// The native connection that sent it, which gets the ack.
    pub origin: Option<ConnId>,
    /// When the frame reached the server.
    pub received: Instant,
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
        let messages: Vec<&NewMessage> = batch.iter().map(|s| &s.message).collect();
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
                    deliver(&hub, submission, result);
                }
            }
            Err(error) => {
                tracing::error!(%error, count = batch.len(), "storing messages failed");
                for submission in &batch {
                    refuse(
                        &hub,
                        submission,
                        "the message could not be stored; send it again",
                    );
                }
            }
        }
        batch.clear();
    }
}

fn refuse(hub: &Hub, submission: &Submission, why: &str) {
    if let Some(origin) = submission.origin {
        let error = ServerFrame::Error {
            code: ErrorCode::Internal,
            message: why.to_string(),
            client_id: submission.message.client_id.clone(),
            conv: None,
        };
        hub.send_conn(origin, Outbound::Frame(frame(&error)));
    }
}

fn ack(hub: &Hub, origin: Option<ConnId>, conv: Conv, stored: &StoredMessage, fresh: bool) {
    let (Some(origin), Some(client_id)) = (origin, stored.client_id.clone()) else {
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

/// The wire message for a stored one, as seen through `conv`.
pub fn wire_message(conv: Conv, stored: &StoredMessage) -> Message {
    Message {
        id: stored.id,
        conv,
        seq: stored.seq,
        sender: stored.sender_name.clone(),
        body: stored.body.clone(),
        ts: stored.ts,
        client_id: stored.client_id.clone(),
    }
}

fn message_item(conv: Conv, stored: &StoredMessage, received: Instant) -> Outbound {
    let frame = frame(&ServerFrame::Message {
        message: wire_message(conv.clone(), stored),
    });
    Outbound::Msg {
        received,
        conv_id: stored.conv_id,
        seq: stored.seq,
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
    let stored = match result {
        Committed::Duplicate(stored) => {
            // Acknowledged again, never stored or relayed twice.
            ack(hub, origin, sender_view(&submission.route), &stored, false);
            return;
        }
        Committed::Stored(stored) => stored,
    };
    ack(hub, origin, sender_view(&submission.route), &stored, true);
    fan_out(hub, &submission.route, &stored, origin, submission.received);
    hub.publish(Event::Message {
        route: submission.route.clone(),
        stored,
    });
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
            let item = message_item(Conv::Room(name.clone()), stored, received);
            hub.send_room(stored.conv_id, &item, origin);
        }
        Route::Dm { sender, receiver } => {
            let to_sender = message_item(Conv::Dm(receiver.name.clone()), stored, received);
            hub.send_user(sender.id, &to_sender, origin);
            if receiver.id != sender.id {
                let to_receiver = message_item(Conv::Dm(sender.name.clone()), stored, received);
                hub.send_user(receiver.id, &to_receiver, None);
            }
        }
        Route::ToGuest { user, guest } => {
            let item = message_item(Conv::Guest(guest.clone()), stored, received);
            hub.send_user(user.id, &item, origin);
            let seed = SeedFrame {
                sender: user.name.clone(),
                receiver: guest.clone(),
                data: stored.body.clone(),
            };
            hub.send_guest(guest, encode(&seed).into());
        }
        Route::FromGuest { user, guest } => {
            let item = message_item(Conv::Guest(guest.clone()), stored, received);
            hub.send_user(user.id, &item, None);
        }
    }
}
