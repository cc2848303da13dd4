//! Who is connected where, and fan-out to their bounded outbound queues.
//!
//! Everything here is synchronous: the one lock is never held across an
//! `.await`. Delivery is [`Mailbox::offer`], which never waits: a
//! connection whose queue is full never slows anyone else down; it is
//! closed as a slow consumer (close code [`CLOSE_SLOW_CONSUMER`]) and
//! resumes from its cursors when it reconnects.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;

use app::protocol::{encode, Conv, ServerFrame};

use crate::cluster::{ClusterLink, Event};

mod displays;
mod mailbox;

pub use displays::Displays;

pub use mailbox::{Mailbox, Outbox};

pub type ConnId = u64;

/// Close code: the connection's outbound queue overflowed.
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;
/// Close code: the session was signed out or expired.
pub const CLOSE_SIGNED_OUT: u16 = 4001;
/// Close code: the server is shutting down.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: the connection did not answer a ping in time.
pub const CLOSE_PING_TIMEOUT: u16 = 4002;

/// One item of a connection's outbound queue.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A frame that carries no conversation position.
    Frame(Bytes),
    /// A message at `seq` in stored conversation `conv_id`, as this
    /// receiver sees the conversation (`view`). The writer skips any at or
    /// below what it already sent (the overlap between the resume backlog
    /// and live traffic), and fills a gap below it from the store (messages
    /// relayed by several nodes can arrive out of order).
    Msg {
        conv_id: i64,
        seq: i64,
        view: Arc<Conv>,
        frame: Bytes,
        /// When the message reached the server (for the latency histogram).
        received: Instant,
    },
    /// The ack of this connection's own message at `seq`: written as is,
    /// and it moves the connection's position like a delivered message.
    Ack {
        conv_id: i64,
        seq: i64,
        frame: Bytes,
    },
    /// The connection no longer follows `conv_id` (its user left the room).
    Forget { conv_id: i64 },
}

impl Outbound {
    pub fn len(&self) -> usize {
        match self {
            Outbound::Frame(frame) | Outbound::Msg { frame, .. } | Outbound::Ack { frame, .. } => {
                frame.len()
            }
            Outbound::Forget { .. } => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Tells a connection's task to close, and with what code.
#[derive(Debug, Default)]
pub struct CloseSignal {
    /// Set with the reason: [`CloseSignal::is_closed`] is asked on every
    /// delivery without taking a lock.
    closed: AtomicBool,
    reason: OnceLock<(u16, &'static str)>,
    /// The connection's task, to wake when it is told to close.
    waker: Mutex<Option<Waker>>,
}

impl CloseSignal {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Ask the connection to close; the first reason given wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let _ = self.reason.set((code, reason));
        self.closed.store(true, Ordering::Release);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// `Ready` once the connection was told to close; otherwise the task
    /// is woken when it is.
    pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_closed() {
            return Poll::Ready(());
        }
        {
            let mut waker = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        // A close between the first check and the registration woke nobody.
        if self.is_closed() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn reason(&self) -> Option<(u16, &'static str)> {
        self.reason.get().copied()
    }
}

struct NativeConn {
    user_id: i64,
    session: String,
    expires_at: i64,
    mailbox: Mailbox,
    rooms: HashSet<i64>,
}

struct GuestConn {
    id: ConnId,
    mailbox: Mailbox,
}

#[derive(Default)]
struct Inner {
    conns: HashMap<ConnId, NativeConn>,
    by_user: HashMap<i64, Vec<ConnId>>,
    names: HashMap<i64, String>,
    room_subs: HashMap<i64, HashSet<ConnId>>,
    /// Lowercase names of users online on this node.
    local_keys: HashSet<String>,
    /// Names of users online on other nodes, per node (cluster mode).
    remote: HashMap<String, HashSet<String>>,
    guests: HashMap<String, GuestConn>,
    group: HashMap<ConnId, Mailbox>,
    /// Long-poll tabs' answer queues, by session: the relay's acks and
    /// errors for a `POST` reach them (they follow no room, are no
    /// presence, and get nothing else).
    replies: HashMap<ConnId, (String, Mailbox)>,
    /// Keys of guests connected to other nodes, per node (cluster mode).
    remote_guests: HashMap<String, HashSet<String>>,
    /// The highest sequence fanned out here, per stored conversation, since
    /// the process started (see [`Hub::fanned`]).
    fanned: HashMap<i64, i64>,
}

/// Who a signed-in connection belongs to.
pub struct Registration<'a> {
    pub user_id: i64,
    pub user_name: &'a str,
    pub session: &'a str,
    /// When the session expires, in ms since the epoch.
    pub expires_at: i64,
}

/// Why a guest name was refused at `/ws/{username}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestRefusal {
    AlreadyConnected,
}

#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    ips: Mutex<HashMap<IpAddr, usize>>,
    cluster: OnceLock<ClusterLink>,
    /// Running mutes: (room, user) → end, ms since the epoch. Loaded from
    /// the store at start and kept by every node's mute actions, so that a
    /// send is checked without a query.
    mutes: Mutex<HashMap<(i64, i64), i64>>,
    /// Whether `mutes` or `archived` holds anything: a send checks these
    /// first and takes no lock in the usual case of neither.
    any_mutes: AtomicBool,
    any_archived: AtomicBool,
    /// Who blocks whom: (blocker, blocked). Loaded at start, kept by
    /// every node's blocks.
    blocks: Mutex<HashSet<(i64, i64)>>,
    /// Archived (read-only) rooms.
    archived: Mutex<HashSet<i64>>,
    /// Other nodes' numbers for the admin page, by node.
    remote_stats: Mutex<HashMap<String, NodeStats>>,
    /// Everyone's display names that are not their handles.
    pub displays: Displays,
}

pub use app::protocol::NodeStats;

/// One connection's claim on its IP address's allowance; released on drop.
pub struct IpSlot {
    hub: Arc<Hub>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut ips = self.hub.ips.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = ips.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                ips.remove(&self.ip);
            }
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Start, end (`None`) or replace a mute.
    pub fn set_mute(&self, conv_id: i64, user_id: i64, until: Option<i64>) {
        let mut mutes = self.mutes.lock().unwrap_or_else(|e| e.into_inner());
        match until {
            Some(until) => mutes.insert((conv_id, user_id), until),
            None => mutes.remove(&(conv_id, user_id)),
        };
        self.any_mutes.store(!mutes.is_empty(), Ordering::Relaxed);
    }

    /// Start or end a block of `blocked` by `user`.
    pub fn set_block(&self, user: i64, blocked: i64, on: bool) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            blocks.insert((user, blocked));
        } else {
            blocks.remove(&(user, blocked));
        }
    }

    /// Does `user` block `other`?
    pub fn blocks(&self, user: i64, other: i64) -> bool {
        self.blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(user, other))
    }

    pub fn set_archived(&self, conv_id: i64, on: bool) {
        let mut archived = self.archived.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            archived.insert(conv_id);
        } else {
            archived.remove(&conv_id);
        }
        self.any_archived
            .store(!archived.is_empty(), Ordering::Relaxed);
    }

    pub fn is_archived(&self, conv_id: i64) -> bool {
        if !self.any_archived.load(Ordering::Relaxed) {
            return false;
        }
        self.archived
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&conv_id)
    }

    /// Another node's numbers (from the cluster's presence refresh).
    pub fn set_remote_stats(&self, stats: Vec<NodeStats>) {
        let mut all = self.remote_stats.lock().unwrap_or_else(|e| e.into_inner());
        all.clear();
        for s in stats {
            all.insert(s.node.clone(), s);
        }
    }

    pub fn remote_stats(&self) -> Vec<NodeStats> {
        let all = self.remote_stats.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<NodeStats> = all.values().cloned().collect();
        out.sort_by(|a, b| a.node.cmp(&b.node));
        out
    }

    /// This node's name in the cluster, if it is in one.
    pub fn node_name(&self) -> Option<String> {
        self.cluster.get().map(|link| link.node.to_string())
    }

    /// Is the user muted in the room at `now`?
    pub fn is_muted(&self, conv_id: i64, user_id: i64, now: i64) -> bool {
        if !self.any_mutes.load(Ordering::Relaxed) {
            return false;
        }
        let mut mutes = self.mutes.lock().unwrap_or_else(|e| e.into_inner());
        match mutes.get(&(conv_id, user_id)) {
            Some(until) if *until > now => true,
            Some(_) => {
                mutes.remove(&(conv_id, user_id));
                self.any_mutes.store(!mutes.is_empty(), Ordering::Relaxed);
                false
            }
            None => false,
        }
    }

    /// Claim a connection slot for `ip`, unless it already has `max`.
    pub fn claim_ip(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        let n = ips.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            hub: self.clone(),
            ip,
        })
    }

    /// Open signed-in connections of a user.
    pub fn user_connections(&self, user_id: i64) -> usize {
        self.lock().by_user.get(&user_id).map_or(0, Vec::len)
    }

    /// Counts for the metrics page: connections, guests (both seed
    /// endpoints), online users.
    pub fn counts(&self) -> (usize, usize, usize) {
        let inner = self.lock();
        (
            inner.conns.len(),
            inner.guests.len() + inner.group.len(),
            inner.by_user.len(),
        )
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in
        // a way that matters more than stopping the relay would.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_id(&self) -> ConnId {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    // ---- native connections -------------------------------------------------

    /// Register a signed-in connection subscribed to `rooms`. Returns its id
    /// and who is online (including this user). Announces the user to
    /// everyone if this is their first connection.
    pub fn register(
        &self,
        who: Registration<'_>,
        mailbox: Mailbox,
        rooms: &[i64],
    ) -> (ConnId, Vec<String>) {
        let Registration {
            user_id,
            user_name,
            session,
            expires_at,
        } = who;
        let id = self.next_id();
        let mut inner = self.lock();
        for room in rooms {
            inner.room_subs.entry(*room).or_default().insert(id);
        }
        inner.conns.insert(
            id,
            NativeConn {
                user_id,
                session: session.to_string(),
                expires_at,
                mailbox,
                rooms: rooms.iter().copied().collect(),
            },
        );
        let conns = inner.by_user.entry(user_id).or_default();
        conns.push(id);
        let first = conns.len() == 1;
        inner.names.insert(user_id, user_name.to_string());
        if first {
            let was_online = inner.online_anywhere(user_name);
            inner.local_keys.insert(user_name.to_ascii_lowercase());
            if !was_online {
                let frame = presence_frame(user_name, true, self.displays.of(user_name));
                broadcast_native(&inner, &frame, Some(id));
            }
            self.publish(Event::Presence {
                user: user_name.to_string(),
                online: true,
            });
        }
        let mut online: Vec<String> = inner.names.values().cloned().collect();
        for names in inner.remote.values() {
            online.extend(names.iter().cloned());
        }
        online.sort_unstable_by_key(|n| n.to_ascii_lowercase());
        online.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        (id, online)
    }

    /// Remove a connection (idempotent). Announces the user offline when it
    /// was their last connection.
    pub fn unregister(&self, id: ConnId) {
        let mut inner = self.lock();
        if let Some(name) = remove_native(&mut inner, id) {
            self.publish(Event::Presence {
                user: name,
                online: false,
            });
        }
    }

    // ---- cluster mode ---------------------------------------------------------

    /// `user` is now shown as `display`: remember it and tell every
    /// signed-in connection here (the profile event does so on the other
    /// nodes).
    pub fn apply_profile(&self, user: &str, display: &str) {
        self.displays.set(user, display);
        let frame = frame(&ServerFrame::Profile {
            user: user.to_string(),
            display: display.to_string(),
        });
        broadcast_native(&self.lock(), &frame, None);
    }

    pub fn set_cluster(&self, link: ClusterLink) {
        let _ = self.cluster.set(link);
    }

    /// Tell the other nodes, in cluster mode; nothing otherwise.
    pub fn publish(&self, event: Event) {
        if let Some(link) = self.cluster.get() {
            link.publish(event);
        }
    }

    /// Names of users online on this node.
    pub fn local_online_names(&self) -> Vec<String> {
        self.lock().names.values().cloned().collect()
    }

    /// Who is online on the other nodes.
    pub fn remote_online_names(&self) -> Vec<String> {
        let inner = self.lock();
        inner.remote.values().flatten().cloned().collect()
    }

    /// Another node says `user` came online or went offline there.
    pub fn remote_presence(&self, node: &str, user: &str, online: bool) {
        let mut inner = self.lock();
        let before = inner.online_anywhere(user);
        let names = inner.remote.entry(node.to_string()).or_default();
        if online {
            names.insert(user.to_string());
        } else {
            names.retain(|n| !n.eq_ignore_ascii_case(user));
        }
        if inner.online_anywhere(user) != before {
            let display = if before { None } else { self.displays.of(user) };
            broadcast_native(&inner, &presence_frame(user, !before, display), None);
        }
    }

    /// The other nodes' online users, as read from Redis; announces every
    /// change (a node that died takes its users offline here).
    pub fn set_remote_online(&self, remote: HashMap<String, HashSet<String>>) {
        let mut inner = self.lock();
        let union = |r: &HashMap<String, HashSet<String>>| -> HashSet<String> {
            r.values()
                .flatten()
                .map(|n| n.to_ascii_lowercase())
                .collect()
        };
        let names = |r: &HashMap<String, HashSet<String>>| -> HashMap<String, String> {
            r.values()
                .flatten()
                .map(|n| (n.to_ascii_lowercase(), n.clone()))
                .collect()
        };
        let before = union(&inner.remote);
        let mut display = names(&inner.remote);
        display.extend(names(&remote));
        inner.remote = remote;
        let after = union(&inner.remote);
        for key in before.symmetric_difference(&after) {
            if inner.local_keys.contains(key) {
                continue;
            }
            if let Some(name) = display.get(key) {
                let online = after.contains(key);
                let display = if online { self.displays.of(name) } else { None };
                let frame = presence_frame(name, online, display);
                broadcast_native(&inner, &frame, None);
            }
        }
    }

    /// Record that `seq` of `conv_id` is about to be fanned out. Called
    /// before the message is queued to any connection.
    pub fn note_fanned(&self, conv_id: i64, seq: i64) {
        let mut inner = self.lock();
        let last = inner.fanned.entry(conv_id).or_insert(seq);
        *last = (*last).max(seq);
    }

    /// The highest sequence of `conv_id` fanned out on this node so far
    /// (`None`: none since the process started). A connection registered
    /// before this call gets every later one live, so a resume needs to read
    /// the store only for what this and its snapshot say it missed.
    pub fn fanned(&self, conv_id: i64) -> Option<i64> {
        self.lock().fanned.get(&conv_id).copied()
    }

    pub fn send_conn(&self, id: ConnId, item: Outbound) {
        let inner = self.lock();
        if let Some(conn) = inner.conns.get(&id) {
            conn.mailbox.offer(item);
        } else if let Some((_, mailbox)) = inner.replies.get(&id) {
            mailbox.offer(item);
        }
    }

    /// A long-poll tab's answer queue (see `Inner::replies`); closed with
    /// its session's connections.
    pub fn register_replies(&self, session: &str, mailbox: Mailbox) -> ConnId {
        let id = self.next_id();
        self.lock()
            .replies
            .insert(id, (session.to_string(), mailbox));
        id
    }

    pub fn unregister_replies(&self, id: ConnId) {
        self.lock().replies.remove(&id);
    }

    /// Every connection of `user_id` except `except` gets `item`.
    pub fn send_user(&self, user_id: i64, item: &Outbound, except: Option<ConnId>) {
        let inner = self.lock();
        for id in inner.by_user.get(&user_id).into_iter().flatten() {
            if Some(*id) != except {
                if let Some(conn) = inner.conns.get(id) {
                    conn.mailbox.offer(item.clone());
                }
            }
        }
    }

    /// Every connection subscribed to room `conv_id` except `except` gets `item`.
    pub fn send_room(&self, conv_id: i64, item: &Outbound, except: Option<ConnId>) {
        let inner = self.lock();
        if let Some(subs) = inner.room_subs.get(&conv_id) {
            for id in subs {
                if Some(*id) != except {
                    if let Some(conn) = inner.conns.get(id) {
                        conn.mailbox.offer(item.clone());
                    }
                }
            }
        }
    }

    /// Subscribe (or unsubscribe) every connection of a user to a room.
    pub fn set_room_subscription(&self, user_id: i64, conv_id: i64, subscribed: bool) {
        let mut inner = self.lock();
        let ids = inner.by_user.get(&user_id).cloned().unwrap_or_default();
        for id in ids {
            if let Some(conn) = inner.conns.get_mut(&id) {
                if subscribed {
                    conn.rooms.insert(conv_id);
                } else {
                    conn.rooms.remove(&conv_id);
                }
            }
            let subs = inner.room_subs.entry(conv_id).or_default();
            if subscribed {
                subs.insert(id);
            } else {
                subs.remove(&id);
            }
        }
        if !subscribed {
            // A later rejoin starts from what is live then, not from where
            // the connection was when it left.
            for id in inner.by_user.get(&user_id).into_iter().flatten() {
                if let Some(conn) = inner.conns.get(id) {
                    conn.mailbox.offer(Outbound::Forget { conv_id });
                }
            }
        }
    }

    /// Does connection `id` follow room `conv_id` (its user is a member)?
    pub fn is_subscribed(&self, id: ConnId, conv_id: i64) -> bool {
        self.lock()
            .conns
            .get(&id)
            .is_some_and(|c| c.rooms.contains(&conv_id))
    }

    pub fn is_online(&self, user_id: i64) -> bool {
        self.lock().by_user.contains_key(&user_id)
    }

    /// Close every connection of a session (sign-out).
    pub fn close_session(&self, session: &str) {
        let inner = self.lock();
        for conn in inner.conns.values().filter(|c| c.session == session) {
            conn.mailbox.close.close(CLOSE_SIGNED_OUT, "signed out");
        }
        for (_, mailbox) in inner.replies.values().filter(|(s, _)| s == session) {
            mailbox.close.close(CLOSE_SIGNED_OUT, "signed out");
        }
    }

    /// Close every connection whose session expired before `now_ms`.
    pub fn close_expired(&self, now_ms: i64) {
        let inner = self.lock();
        for conn in inner.conns.values().filter(|c| c.expires_at <= now_ms) {
            conn.mailbox
                .close
                .close(CLOSE_SIGNED_OUT, "session expired");
        }
    }

    /// Close every connection, native and guest (shutdown).
    pub fn close_all(&self, code: u16, reason: &'static str) {
        let inner = self.lock();
        let natives = inner.conns.values().map(|c| &c.mailbox);
        let guests = inner.guests.values().map(|g| &g.mailbox);
        for mailbox in natives.chain(guests).chain(inner.group.values()) {
            mailbox.close.close(code, reason);
        }
    }

    pub fn connection_count(&self) -> usize {
        let inner = self.lock();
        inner.conns.len() + inner.guests.len() + inner.group.len()
    }

    // ---- seed endpoint guests ------------------------------------------------

    /// Claim a guest name at `/ws/{username}` on this node (in cluster
    /// mode the name is then claimed cluster-wide: see
    /// [`ClusterLink::claim_guest`]).
    pub fn register_guest(&self, name: &str, mailbox: Mailbox) -> Result<ConnId, GuestRefusal> {
        let key = name.to_ascii_lowercase();
        let mut inner = self.lock();
        if inner.guests.contains_key(&key) {
            return Err(GuestRefusal::AlreadyConnected);
        }
        let id = self.next_id();
        inner.guests.insert(key.clone(), GuestConn { id, mailbox });
        // Under the lock: the other nodes hear of changes in their order.
        self.publish(Event::GuestPresence {
            name: key,
            online: true,
        });
        Ok(id)
    }

    pub fn unregister_guest(&self, name: &str, id: ConnId) {
        let key = name.to_ascii_lowercase();
        let mut inner = self.lock();
        if inner.guests.get(&key).map(|g| g.id) == Some(id) {
            inner.guests.remove(&key);
            self.publish(Event::GuestPresence {
                name: key,
                online: false,
            });
        }
    }

    /// Send a frame to a guest connected to this node; false if no such guest.
    pub fn send_guest(&self, name: &str, frame: Bytes) -> bool {
        let inner = self.lock();
        match inner.guests.get(&name.to_ascii_lowercase()) {
            Some(guest) => {
                guest.mailbox.offer(Outbound::Frame(frame));
                true
            }
            None => false,
        }
    }

    /// Is guest `name` connected here or, in cluster mode, on another node?
    pub fn is_guest_online(&self, name: &str) -> bool {
        let key = name.to_ascii_lowercase();
        let inner = self.lock();
        inner.guests.contains_key(&key) || inner.remote_guests.values().any(|g| g.contains(&key))
    }

    /// Is guest `name` connected to another node, as far as this node knows?
    pub fn is_guest_elsewhere(&self, name: &str) -> bool {
        let key = name.to_ascii_lowercase();
        let inner = self.lock();
        inner.remote_guests.values().any(|g| g.contains(&key))
    }

    /// Is user `user_id` (named `name`) connected here or, in cluster
    /// mode, on another node?
    pub fn is_user_online_anywhere(&self, user_id: i64, name: &str) -> bool {
        let inner = self.lock();
        inner.by_user.contains_key(&user_id) || inner.online_anywhere(name)
    }

    /// This node's guests: key and connection.
    pub fn local_guests(&self) -> Vec<(String, ConnId)> {
        let inner = self.lock();
        inner
            .guests
            .iter()
            .map(|(key, guest)| (key.clone(), guest.id))
            .collect()
    }

    /// Is connection `id` still guest `name` here?
    pub fn has_guest(&self, name: &str, id: ConnId) -> bool {
        let inner = self.lock();
        inner.guests.get(&name.to_ascii_lowercase()).map(|g| g.id) == Some(id)
    }

    /// Close guest connection `id` of `name` (its name is taken elsewhere).
    pub fn close_guest(&self, name: &str, id: ConnId, code: u16, reason: &'static str) {
        let inner = self.lock();
        if let Some(guest) = inner.guests.get(&name.to_ascii_lowercase()) {
            if guest.id == id {
                guest.mailbox.close.close(code, reason);
            }
        }
    }

    /// The cluster link, in cluster mode.
    pub fn cluster(&self) -> Option<&ClusterLink> {
        self.cluster.get()
    }

    /// Another node says guest `key` connected to it or left it.
    pub fn remote_guest(&self, node: &str, key: &str, online: bool) {
        let mut inner = self.lock();
        let guests = inner.remote_guests.entry(node.to_string()).or_default();
        if online {
            guests.insert(key.to_string());
        } else {
            guests.remove(key);
        }
    }

    /// The other nodes' guests (their keys), per node.
    pub fn set_remote_guests(&self, remote: HashMap<String, HashSet<String>>) {
        self.lock().remote_guests = remote;
    }

    /// Join the seed group chat at `/ws`.
    pub fn join_group(&self, mailbox: Mailbox) -> ConnId {
        let id = self.next_id();
        self.lock().group.insert(id, mailbox);
        id
    }

    pub fn leave_group(&self, id: ConnId) {
        self.lock().group.remove(&id);
    }

    /// Relay a frame to every `/ws` client but its sender.
    pub fn broadcast_group(&self, frame: &Bytes, except: ConnId) {
        let inner = self.lock();
        for (id, mailbox) in &inner.group {
            if *id != except {
                mailbox.offer(Outbound::Frame(frame.clone()));
            }
        }
    }

    /// A `/ws` client's text frame: relayed to every other `/ws` client
    /// here, then, in cluster mode, to those of the other nodes.
    pub fn relay_group(&self, text: String, except: ConnId) {
        match self.cluster.get() {
            None => self.broadcast_group(&text.into(), except),
            Some(link) => {
                self.broadcast_group(&Bytes::copy_from_slice(text.as_bytes()), except);
                link.publish(Event::Group { frame: text });
            }
        }
    }

    /// A group frame from another node: to every `/ws` client here.
    pub fn group_from_elsewhere(&self, frame: Bytes) {
        let inner = self.lock();
        for mailbox in inner.group.values() {
            mailbox.offer(Outbound::Frame(frame.clone()));
        }
    }
}

/// Serialize a server frame once, for any number of receivers.
pub fn frame(frame: &ServerFrame) -> Bytes {
    Bytes::from(encode(frame))
}

fn broadcast_native(inner: &Inner, frame: &Bytes, except: Option<ConnId>) {
    for (id, conn) in &inner.conns {
        if Some(*id) != except {
            conn.mailbox.offer(Outbound::Frame(frame.clone()));
        }
    }
}

/// Remove a connection; the user's name when it was their last one here.
fn remove_native(inner: &mut Inner, id: ConnId) -> Option<String> {
    let conn = inner.conns.remove(&id)?;
    for room in &conn.rooms {
        if let Some(subs) = inner.room_subs.get_mut(room) {
            subs.remove(&id);
            if subs.is_empty() {
                inner.room_subs.remove(room);
            }
        }
    }
    let last = match inner.by_user.get_mut(&conn.user_id) {
        Some(ids) => {
            ids.retain(|c| *c != id);
            ids.is_empty()
        }
        None => false,
    };
    if !last {
        return None;
    }
    inner.by_user.remove(&conn.user_id);
    let name = inner.names.remove(&conn.user_id)?;
    inner.local_keys.remove(&name.to_ascii_lowercase());
    if !inner.online_anywhere(&name) {
        broadcast_native(inner, &presence_frame(&name, false, None), None);
    }
    Some(name)
}

fn presence_frame(user: &str, online: bool, display: Option<String>) -> Bytes {
    frame(&ServerFrame::Presence {
        user: user.to_string(),
        online,
        display,
    })
}

impl Inner {
    /// Online on this node or, in cluster mode, on any other.
    fn online_anywhere(&self, user: &str) -> bool {
        let key = user.to_ascii_lowercase();
        self.local_keys.contains(&key)
            || self
                .remote
                .values()
                .any(|names| names.iter().any(|n| n.eq_ignore_ascii_case(user)))
    }
}
