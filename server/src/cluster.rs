//! Cluster mode: several nodes behind one address, relayed through Redis.
//!
//! Every node publishes what it does that other nodes' connections must
//! see — each stored message, room membership changes, sign-outs, presence,
//! the seed guests' frames — on one Redis channel, and applies what the
//! others publish to its own local connections. The store (PostgreSQL in
//! cluster mode) stays the truth: sequence numbers are assigned in its
//! transactions, and a message lost in transit (Redis down, restarted) is
//! filled in from the store by the receiving connection's writer, or sent
//! on resume.
//!
//! Presence: each node keeps the names of its online users, and of its
//! guests of `/ws/{username}`, in Redis sets that expire unless refreshed,
//! so a dead node's users and guests go offline within the expiry (15 s by
//! default) plus one refresh interval. Between refreshes the others' views
//! are kept by presence events. Every presence event, and every refresh,
//! carries the node's presence generation (a counter that only grows, and
//! starts higher after a restart): a node applies another's refreshed sets
//! only when they are at least as new as the last event it applied from
//! it, and skips an event older than the sets it applied. So a refresh read
//! a moment before an event can never undo it.
//!
//! Guest names are unique cluster-wide: a guest holds a claim key in Redis
//! (`parley:guest:{name}`, set with a script that refuses another node's
//! live claim, expiring unless refreshed); see [`ClusterLink::claim_guest`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::hub::{ConnId, Hub};
use crate::relay::{apply_action, fan_out, fan_out_change, Route};
use crate::store::{AppliedAction, Store, StoredChange, StoredMessage};

const CHANNEL: &str = "parley:events";
const NODES: &str = "parley:nodes";
/// Events waiting to be published before new ones are dropped (the store
/// still has every message; only live delivery to other nodes is skipped).
const PUBLISH_QUEUE: usize = 65_536;
/// Longest wait for Redis on a guest's connection (claiming, releasing or
/// looking up a name); past it the guest is served as if Redis were down.
const GUEST_REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// Close code for a guest whose name turned out to be taken (policy).
const CLOSE_NAME_TAKEN: u16 = 1008;

fn online_key(node: &str) -> String {
    format!("parley:online:{node}")
}

/// The names (hub keys) of a node's guests of `/ws/{username}`.
fn guests_key(node: &str) -> String {
    format!("parley:guests:{node}")
}

/// The presence generation the node's sets were written at.
fn gen_key(node: &str) -> String {
    format!("parley:presence-gen:{node}")
}

/// A guest name's claim: `"{conn id} {node}"`.
fn claim_key(name: &str) -> String {
    format!("parley:guest:{}", name.to_ascii_lowercase())
}

fn claim_value(node: &str, id: ConnId) -> String {
    format!("{id} {node}")
}

/// Claim `KEYS[1]` for connection `ARGV[4]` of node `ARGV[3]` (value
/// `ARGV[1]`, expiring in `ARGV[2]` ms). Another node's claim is refused
/// (0). This node's own claim is replaced, unless it is a later
/// connection's (ids only grow): the node's hub already keeps its guests'
/// names unique, and a late refresh must not take a name back from a newer
/// connection.
const CLAIM: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  local id, node = string.match(v, '^(%d+) (.*)$')
  if node ~= ARGV[3] then return 0 end
  if tonumber(id) > tonumber(ARGV[4]) then return 1 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Delete `KEYS[1]` if it still holds `ARGV[1]`.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

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
    /// A text frame of the seed's group chat (`/ws`), already relayed to
    /// the sending node's own group: relay it, verbatim, to every local one.
    Group { frame: String },
    /// A seed direct-chat frame for guest `to` of `/ws/{username}`: the
    /// node the guest is connected to delivers it.
    Guest { to: String, frame: String },
    /// A guest of `/ws/{username}` (`name`: its hub key) connected to the
    /// sending node, or left it.
    GuestPresence { name: String, online: bool },
}

impl Event {
    /// Does the event change what the sending node's presence sets hold?
    fn is_presence(&self) -> bool {
        matches!(self, Event::Presence { .. } | Event::GuestPresence { .. })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: String,
    /// The sending node's presence generation after a presence event (0
    /// with any other event).
    #[serde(default)]
    gen: u64,
    event: Event,
}

/// The handle the rest of the server publishes through. Cheap to clone.
#[derive(Clone)]
pub struct ClusterLink {
    pub node: Arc<str>,
    tx: mpsc::Sender<(u64, Event)>,
    /// This node's presence generation: one more with every presence
    /// event. Held while such an event is queued, so that the queue (and
    /// so the channel) carries them in generation order.
    gen: Arc<Mutex<u64>>,
    guests: Arc<GuestClaims>,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Redis for the guests' name claims, connected on first use.
struct GuestClaims {
    client: redis::Client,
    conn: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    ttl_ms: u64,
}

/// Whether a guest may keep the name it connected with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestClaim {
    /// The name is this connection's until it leaves.
    Claimed,
    /// A guest on another node has it.
    Taken,
    /// Redis did not answer in time: the name was checked on this node
    /// only (the next presence refresh claims it, or closes the guest if
    /// another node's guest got it meanwhile).
    Unchecked,
}

impl ClusterLink {
    /// Queue an event for the other nodes; never waits.
    pub fn publish(&self, event: Event) {
        let queued = if event.is_presence() {
            let mut gen = self.gen.lock().unwrap_or_else(|e| e.into_inner());
            *gen += 1;
            self.tx.try_send((*gen, event))
        } else {
            self.tx.try_send((0, event))
        };
        if queued.is_err() {
            tracing::warn!(
                "cluster publish queue full or closed; event dropped (the store has it)"
            );
        }
    }

    /// The presence generation of the last presence event queued.
    fn presence_gen(&self) -> u64 {
        *self.gen.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn guest_redis(&self) -> Option<redis::aio::ConnectionManager> {
        let claims = &self.guests;
        let conn = claims
            .conn
            .get_or_try_init(|| claims.client.get_connection_manager());
        match tokio::time::timeout(GUEST_REDIS_TIMEOUT, conn).await {
            Ok(Ok(conn)) => Some(conn.clone()),
            Ok(Err(error)) => {
                tracing::warn!(%error, "guest names: Redis unreachable");
                None
            }
            Err(_) => {
                tracing::warn!("guest names: Redis did not answer in time");
                None
            }
        }
    }

    async fn guest_query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut conn = self.guest_redis().await?;
        match tokio::time::timeout(GUEST_REDIS_TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                tracing::warn!(%error, "guest names: Redis refused a command");
                None
            }
            Err(_) => {
                tracing::warn!("guest names: Redis did not answer in time");
                None
            }
        }
    }

    /// Claim guest `name` for connection `id` of this node, cluster-wide.
    /// Atomic in Redis: of two nodes claiming one name at once, one wins.
    /// Call after the hub registered the guest (which keeps names unique on
    /// this node); on [`GuestClaim::Taken`], unregister it.
    pub async fn claim_guest(&self, name: &str, id: ConnId) -> GuestClaim {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(CLAIM)
            .arg(1)
            .arg(claim_key(name))
            .arg(claim_value(&self.node, id))
            .arg(self.guests.ttl_ms)
            .arg(&*self.node)
            .arg(id);
        match self.guest_query::<i64>(&cmd).await {
            Some(1) => GuestClaim::Claimed,
            Some(_) => GuestClaim::Taken,
            None => GuestClaim::Unchecked,
        }
    }

    /// Give up connection `id`'s claim on `name`, if it still holds it.
    pub async fn release_guest(&self, name: &str, id: ConnId) {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE)
            .arg(1)
            .arg(claim_key(name))
            .arg(claim_value(&self.node, id));
        let _ = self.guest_query::<i64>(&cmd).await;
    }

    /// Is guest `name` connected to another node, as its claim says?
    /// For when this node's view of the others has no such guest: it may
    /// have connected a moment ago. False when Redis does not answer.
    pub async fn guest_elsewhere(&self, name: &str) -> bool {
        let mut cmd = redis::cmd("GET");
        cmd.arg(claim_key(name));
        let Some(Some(value)) = self.guest_query::<Option<String>>(&cmd).await else {
            return false;
        };
        value
            .split_once(' ')
            .is_some_and(|(_, node)| node != &*self.node)
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
    // Above any generation of an earlier run of this node: ms since the
    // epoch, times a million events.
    let first_gen = (crate::store::now_ms().max(0) as u64) << 20;
    let link = ClusterLink {
        node: node.clone().into(),
        tx,
        gen: Arc::new(Mutex::new(first_gen)),
        guests: Arc::new(GuestClaims {
            client: client.clone(),
            conn: tokio::sync::OnceCell::new(),
            ttl_ms: timing.ttl.as_millis() as u64,
        }),
    };
    hub.set_cluster(link.clone());
    let view = Arc::new(Mutex::new(RemoteView::default()));
    let tasks = vec![
        tokio::spawn(publisher(client.clone(), node.clone(), rx)),
        tokio::spawn(subscriber(
            client.clone(),
            node.clone(),
            hub.clone(),
            store,
            view.clone(),
        )),
        tokio::spawn(presence(client, link.clone(), hub, metrics, timing, view)),
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

async fn publisher(client: redis::Client, node: String, mut rx: mpsc::Receiver<(u64, Event)>) {
    let mut conn = connection(&client, "publisher").await;
    while let Some((gen, event)) = rx.recv().await {
        let envelope = Envelope {
            node: node.clone(),
            gen,
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

async fn subscriber(
    client: redis::Client,
    node: String,
    hub: Arc<Hub>,
    store: Store,
    view: Arc<Mutex<RemoteView>>,
) {
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
                    if envelope.event.is_presence() {
                        let mut view = view.lock().unwrap_or_else(|e| e.into_inner());
                        view.apply_event(&hub, &envelope.node, envelope.gen, envelope.event);
                    } else {
                        apply(&hub, &store, envelope.event);
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "unreadable cluster event"),
            }
        }
        tracing::warn!("lost the cluster channel; reconnecting");
        backoff.wait().await;
    }
}

/// Apply another node's event (other than presence: see
/// [`RemoteView::apply_event`]) to this node's connections.
fn apply(hub: &Hub, store: &Store, event: Event) {
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
        Event::Group { frame } => hub.group_from_elsewhere(bytes::Bytes::from(frame)),
        Event::Guest { to, frame } => {
            hub.send_guest(&to, bytes::Bytes::from(frame));
        }
        Event::Presence { .. } | Event::GuestPresence { .. } => {}
    }
}

/// Who is online on the other nodes, as this node last learnt it: the
/// truth the hub's copies are set from, under this one lock, so that
/// events and refreshes reach the hub in the order they were applied here.
#[derive(Default)]
struct RemoteView {
    nodes: HashMap<String, NodeView>,
}

/// One other node's presence.
#[derive(Default)]
struct NodeView {
    /// The generation of what is known (the last event or sets applied).
    gen: u64,
    users: HashSet<String>,
    /// Guests' hub keys.
    guests: HashSet<String>,
}

impl RemoteView {
    /// Apply a presence event of node `from` at generation `gen`, unless
    /// the sets already applied are newer.
    fn apply_event(&mut self, hub: &Hub, from: &str, gen: u64, event: Event) {
        let node = self.nodes.entry(from.to_string()).or_default();
        if gen != 0 && gen <= node.gen {
            return;
        }
        node.gen = node.gen.max(gen);
        match event {
            Event::Presence { user, online } => {
                if online {
                    node.users.insert(user.clone());
                } else {
                    node.users.retain(|n| !n.eq_ignore_ascii_case(&user));
                }
                hub.remote_presence(from, &user, online);
            }
            Event::GuestPresence { name, online } => {
                if online {
                    node.guests.insert(name.clone());
                } else {
                    node.guests.remove(&name);
                }
                hub.remote_guest(from, &name, online);
            }
            _ => {}
        }
    }

    /// Apply the sets read from Redis: `live` are the other nodes alive
    /// now; `read` what could be read of theirs. A node's sets replace what
    /// is known of it unless an event newer than them was applied since.
    fn apply_sets(&mut self, hub: &Hub, live: &[String], read: HashMap<String, NodeView>) {
        self.nodes.retain(|node, _| live.contains(node));
        for (node, sets) in read {
            let known = self.nodes.entry(node).or_default();
            if sets.gen >= known.gen {
                *known = sets;
            }
        }
        let users = self.nodes.iter();
        hub.set_remote_online(users.map(|(n, v)| (n.clone(), v.users.clone())).collect());
        let guests = self.nodes.iter();
        hub.set_remote_guests(guests.map(|(n, v)| (n.clone(), v.guests.clone())).collect());
    }
}

fn stats_key(node: &str) -> String {
    format!("parley:stats:{node}")
}

async fn presence(
    client: redis::Client,
    link: ClusterLink,
    hub: Arc<Hub>,
    metrics: Arc<crate::metrics::Metrics>,
    timing: PresenceTiming,
    view: Arc<Mutex<RemoteView>>,
) {
    let node = link.node.to_string();
    let mut conn = connection(&client, "presence").await;
    let key = online_key(&node);
    let own_guests = guests_key(&node);
    let ttl_ms = timing.ttl.as_millis() as i64;
    let mut tick = tokio::time::interval(timing.interval);
    loop {
        tick.tick().await;
        // Read before the names: the sets hold at least every change up to
        // this generation (perhaps a later one too, which its event repeats).
        let gen = link.presence_gen();
        let names = hub.local_online_names();
        let guests = hub.local_guests();
        let now = crate::store::now_ms();
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key);
        if !names.is_empty() {
            pipe.sadd(&key, &names);
        }
        pipe.pexpire(&key, ttl_ms).del(&own_guests);
        if !guests.is_empty() {
            let keys: Vec<&str> = guests.iter().map(|(name, _)| name.as_str()).collect();
            pipe.sadd(&own_guests, keys);
        }
        let stats = serde_json::to_string(&metrics.node_stats(&node, &hub)).unwrap_or_default();
        pipe.pexpire(&own_guests, ttl_ms)
            .cmd("SET")
            .arg(gen_key(&node))
            .arg(gen)
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
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
        refresh_guest_claims(&mut conn, &link, &hub, &guests, ttl_ms).await;
        let nodes: Vec<String> = match conn.zrangebyscore(NODES, now - ttl_ms, "+inf").await {
            Ok(nodes) => nodes,
            Err(error) => {
                tracing::warn!(%error, "reading cluster nodes failed");
                continue;
            }
        };
        let live: Vec<String> = nodes.into_iter().filter(|n| *n != node).collect();
        let mut read: HashMap<String, NodeView> = HashMap::new();
        let mut stats = Vec::new();
        for other in &live {
            if let Ok(Some(json)) = conn.get::<_, Option<String>>(stats_key(other)).await {
                if let Ok(s) = serde_json::from_str(&json) {
                    stats.push(s);
                }
            }
            // One transaction: the sets and the generation they were
            // written at, together.
            let sets = redis::pipe()
                .atomic()
                .smembers(online_key(other))
                .smembers(guests_key(other))
                .get(gen_key(other))
                .query_async::<(Vec<String>, Vec<String>, Option<u64>)>(&mut conn)
                .await;
            match sets {
                Ok((users, guests, gen)) => {
                    read.insert(
                        other.clone(),
                        NodeView {
                            gen: gen.unwrap_or(0),
                            users: users.into_iter().collect(),
                            guests: guests.into_iter().collect(),
                        },
                    );
                }
                // What is known of it stays until it can be read again.
                Err(error) => tracing::warn!(%error, "reading a node's presence failed"),
            }
        }
        view.lock()
            .unwrap_or_else(|e| e.into_inner())
            .apply_sets(&hub, &live, read);
        hub.set_remote_stats(stats);
    }
}

/// Renew the claims of this node's guests (as of `guests`). A claim that
/// another node's guest holds now (both connected while Redis was away)
/// closes ours; one the refresh renewed for a guest that has left since is
/// given up again.
async fn refresh_guest_claims(
    conn: &mut redis::aio::ConnectionManager,
    link: &ClusterLink,
    hub: &Hub,
    guests: &[(String, ConnId)],
    ttl_ms: i64,
) {
    if guests.is_empty() {
        return;
    }
    let mut pipe = redis::pipe();
    for (name, id) in guests {
        pipe.cmd("EVAL")
            .arg(CLAIM)
            .arg(1)
            .arg(claim_key(name))
            .arg(claim_value(&link.node, *id))
            .arg(ttl_ms)
            .arg(&*link.node)
            .arg(*id);
    }
    let claimed = match pipe.query_async::<Vec<i64>>(conn).await {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::warn!(%error, "renewing guest names failed");
            return;
        }
    };
    for ((name, id), claimed) in guests.iter().zip(claimed) {
        if claimed != 1 {
            tracing::warn!(
                name,
                "a guest on another node has this guest's name; closing ours"
            );
            hub.close_guest(
                name,
                *id,
                CLOSE_NAME_TAKEN,
                "this name is already connected",
            );
        } else if !hub.has_guest(name, *id) {
            link.release_guest(name, *id).await;
        }
    }
}
