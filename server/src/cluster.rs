//! Cluster mode: several nodes behind one address, relayed through Redis.
//!
//! Every node publishes what it does that other nodes' connections must
//! see — each stored message, room membership changes, sign-outs, presence
//! — on one Redis channel, and applies what the others publish to its own
//! local connections. The store (PostgreSQL in cluster mode) stays the
//! truth: sequence numbers are assigned in its transactions, and a message
//! lost in transit (Redis down, restarted) is filled in from the store by
//! the receiving connection's writer, or sent on resume.
//!
//! Presence: each node keeps the names of its online users in a Redis set
//! that expires unless refreshed, so a dead node's users go offline within
//! the expiry (15 s by default) plus one refresh interval.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::hub::Hub;
use crate::relay::{apply_action, fan_out, fan_out_change, Route};
use crate::store::{AppliedAction, Store, StoredChange, StoredMessage};

const CHANNEL: &str = "parley:events";
const NODES: &str = "parley:nodes";
/// Events waiting to be published before new ones are dropped (the store
/// still has every message; only live delivery to other nodes is skipped).
const PUBLISH_QUEUE: usize = 65_536;

fn online_key(node: &str) -> String {
    format!("parley:online:{node}")
}

/// What one node tells the others.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A message was stored; deliver it to local connections.
    Message { route: Route, stored: StoredMessage },
    /// A change to a message was stored; deliver it to local connections.
    Change { route: Route, change: StoredChange },
    /// A room action was applied (a join, a ban, a mute, …): deliver its
    /// line and carry out its effect on local connections. `info`: the
    /// joiner's new conversation, for a join.
    Action {
        applied: AppliedAction,
        info: Option<Box<app::protocol::ConversationInfo>>,
    },
    /// A user joined or left a room; (un)subscribe their local connections.
    Membership {
        user_id: i64,
        conv_id: i64,
        joined: bool,
    },
    /// A session signed out; close its local connections.
    SignOut { session: String },
    /// A user's first connection on the sending node opened, or its last closed.
    Presence { user: String, online: bool },
    /// `user_id` blocked (or unblocked) `blocked_id`.
    Block {
        user_id: i64,
        blocked_id: i64,
        on: bool,
    },
    /// A room was archived (read-only) or unarchived.
    Archived { conv_id: i64, on: bool },
    /// `user` is now shown as `display`.
    Profile { user: String, display: String },
    /// A frame for every connection of one user (their read positions and
    /// settings, changed on another device).
    ToUser { user_id: i64, frame: String },
    /// An admin deleted a room: its members' connections stop following it.
    RoomDeleted {
        conv_id: i64,
        room: String,
        members: Vec<i64>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: String,
    event: Event,
}

/// The handle the rest of the server publishes through. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ClusterLink {
    pub node: Arc<str>,
    tx: mpsc::Sender<Event>,
}

impl ClusterLink {
    /// Queue an event for the other nodes; never waits.
    pub fn publish(&self, event: Event) {
        if self.tx.try_send(event).is_err() {
            tracing::warn!(
                "cluster publish queue full or closed; event dropped (the store has it)"
            );
        }
    }
}

/// Timing of presence refreshes.
#[derive(Debug, Clone, Copy)]
pub struct PresenceTiming {
    /// How long a node's online set lives without a refresh.
    pub ttl: Duration,
    /// How often it is refreshed (and the others' read).
    pub interval: Duration,
}

/// Start the cluster tasks: a publisher, a subscriber and the presence
/// refresher. They retry Redis by themselves whenever it is unreachable.
pub fn start(
    url: &str,
    node: String,
    hub: Arc<Hub>,
    store: Store,
    metrics: Arc<crate::metrics::Metrics>,
    timing: PresenceTiming,
) -> Result<(ClusterLink, Vec<JoinHandle<()>>), redis::RedisError> {
    let client = redis::Client::open(url)?;
    let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
    let link = ClusterLink {
        node: node.clone().into(),
        tx,
    };
    hub.set_cluster(link.clone());
    let tasks = vec![
        tokio::spawn(publisher(client.clone(), node.clone(), rx)),
        tokio::spawn(subscriber(client.clone(), node.clone(), hub.clone(), store)),
        tokio::spawn(presence(client, node, hub, metrics, timing)),
    ];
    Ok((link, tasks))
}

/// Wait before trying Redis again: 100 ms doubling up to 5 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_millis(100))
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
    }

    fn reset(&mut self) {
        self.0 = Duration::from_millis(100);
    }
}

async fn connection(client: &redis::Client, what: &str) -> redis::aio::ConnectionManager {
    let mut backoff = Backoff::new();
    loop {
        match client.get_connection_manager().await {
            Ok(conn) => return conn,
            Err(error) => {
                tracing::warn!(%error, "{what}: Redis unreachable, retrying");
                backoff.wait().await;
            }
        }
    }
}

async fn publisher(client: redis::Client, node: String, mut rx: mpsc::Receiver<Event>) {
    let mut conn = connection(&client, "publisher").await;
    while let Some(event) = rx.recv().await {
        let envelope = Envelope {
            node: node.clone(),
            event,
        };
        let Ok(payload) = serde_json::to_string(&envelope) else {
            continue;
        };
        // The connection manager reconnects by itself; an event that fails
        // meanwhile is dropped (the store has the messages).
        if let Err(error) = conn.publish::<_, _, ()>(CHANNEL, payload).await {
            tracing::warn!(%error, "publishing to Redis failed; event dropped");
        }
    }
}

async fn subscriber(client: redis::Client, node: String, hub: Arc<Hub>, store: Store) {
    let mut backoff = Backoff::new();
    loop {
        let mut pubsub = match client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(error) => {
                tracing::warn!(%error, "subscriber: Redis unreachable, retrying");
                backoff.wait().await;
                continue;
            }
        };
        if let Err(error) = pubsub.subscribe(CHANNEL).await {
            tracing::warn!(%error, "subscribing failed, retrying");
            backoff.wait().await;
            continue;
        }
        tracing::info!(node, "subscribed to the cluster channel");
        backoff.reset();
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            match serde_json::from_str::<Envelope>(&payload) {
                Ok(envelope) if envelope.node != node => {
                    apply(&hub, &store, &envelope.node, envelope.event)
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "unreadable cluster event"),
            }
        }
        tracing::warn!("lost the cluster channel; reconnecting");
        backoff.wait().await;
    }
}

/// Apply another node's event to this node's connections.
fn apply(hub: &Hub, store: &Store, from: &str, event: Event) {
    match event {
        Event::Message { route, stored } => {
            fan_out(hub, &route, &stored, None, std::time::Instant::now())
        }
        Event::Change { route, change } => {
            fan_out_change(hub, &route, &change, None, std::time::Instant::now())
        }
        Event::Action { applied, info } => {
            apply_action(hub, &applied, info.as_deref(), std::time::Instant::now())
        }
        Event::Membership {
            user_id,
            conv_id,
            joined,
        } => hub.set_room_subscription(user_id, conv_id, joined),
        Event::SignOut { session } => {
            // The other node deleted the row: no cached copy may admit it.
            store.forget_session(&session);
            hub.close_session(&session);
        }
        Event::Presence { user, online } => hub.remote_presence(from, &user, online),
        Event::Block {
            user_id,
            blocked_id,
            on,
        } => hub.set_block(user_id, blocked_id, on),
        Event::Archived { conv_id, on } => hub.set_archived(conv_id, on),
        Event::Profile { user, display } => hub.apply_profile(&user, &display),
        Event::ToUser { user_id, frame } => hub.send_user(
            user_id,
            &crate::hub::Outbound::Frame(bytes::Bytes::from(frame)),
            None,
        ),
        Event::RoomDeleted {
            conv_id,
            room,
            members,
        } => crate::relay::room_deleted(hub, conv_id, &room, &members),
    }
}

fn stats_key(node: &str) -> String {
    format!("parley:stats:{node}")
}

async fn presence(
    client: redis::Client,
    node: String,
    hub: Arc<Hub>,
    metrics: Arc<crate::metrics::Metrics>,
    timing: PresenceTiming,
) {
    let mut conn = connection(&client, "presence").await;
    let key = online_key(&node);
    let ttl_ms = timing.ttl.as_millis() as i64;
    let mut tick = tokio::time::interval(timing.interval);
    loop {
        tick.tick().await;
        let names = hub.local_online_names();
        let now = crate::store::now_ms();
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key);
        if !names.is_empty() {
            pipe.sadd(&key, &names);
        }
        let stats = serde_json::to_string(&metrics.node_stats(&node, &hub)).unwrap_or_default();
        pipe.pexpire(&key, ttl_ms)
            .cmd("SET")
            .arg(stats_key(&node))
            .arg(stats)
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .zadd(NODES, &node, now)
            .zrembyscore(NODES, "-inf", now - ttl_ms);
        if let Err(error) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(%error, "refreshing presence failed");
            continue;
        }
        let nodes: Vec<String> = match conn.zrangebyscore(NODES, now - ttl_ms, "+inf").await {
            Ok(nodes) => nodes,
            Err(error) => {
                tracing::warn!(%error, "reading cluster nodes failed");
                continue;
            }
        };
        let mut remote: HashMap<String, HashSet<String>> = HashMap::new();
        let mut stats = Vec::new();
        for other in nodes.into_iter().filter(|n| *n != node) {
            if let Ok(Some(json)) = conn.get::<_, Option<String>>(stats_key(&other)).await {
                if let Ok(s) = serde_json::from_str(&json) {
                    stats.push(s);
                }
            }
            match conn.smembers::<_, Vec<String>>(online_key(&other)).await {
                Ok(users) => {
                    remote.insert(other, users.into_iter().collect());
                }
                Err(error) => tracing::warn!(%error, "reading a node's presence failed"),
            }
        }
        hub.set_remote_online(remote);
        hub.set_remote_stats(stats);
    }
}
