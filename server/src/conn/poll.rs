//! Long-polling: the frames of `/api/ws`, carried by plain HTTP requests,
//! for networks that break WebSocket upgrades. `server/src/http/poll.rs`
//! is the HTTP side; this is the state each node keeps.
//!
//! A browser tab that long-polls names itself with a random `tab` id. On
//! each node it reaches, the tab gets a [`Tab`]:
//! - a frame [`Handler`] (with the socket's rate limits and caches) whose
//!   answers, the relay's acks and errors included, come back in the
//!   `POST` that carried the frames: [`send`];
//! - a [`Lease`]: a connection registered with the hub (presence, room
//!   subscriptions, a bounded queue) whose frames a long-poll `GET` takes:
//!   [`receive`].
//!
//! No request needs the node that answered the one before. A `GET` says
//! which answer it got last (`since`, *epoch.n*). When this node issued
//! it, the lease goes on from there (and resends answer *n + 1* should
//! the client say it never got it). Otherwise — another node answered, the
//! lease was forgotten, or the client is new — the node greets the tab
//! exactly as a socket's `hello` is greeted: `welcome`, the backlog after
//! the cursors the `GET` carries, `synced`. Stored entries (messages,
//! changes, room lines) therefore come from the store by cursor wherever
//! the tab goes; acks come back with their `POST`; state (who is online,
//! memberships, unread counts, names, settings) comes again with each
//! `welcome`. What a tab moving between nodes can miss is only what is
//! already over: a typing notice, or the order of presence changes while
//! it moved.
//!
//! A tab with no request for `--poll-idle-secs` is forgotten: its lease
//! leaves the hub, and its presence on this node ends.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use app::protocol::{Cursor, ServerFrame};

use super::frames::Handler;
use super::link::{Feed, GapSource, Sink};
use super::sync::{self, Greet, SyncError};
use crate::hub::{frame, CloseSignal, ConnId, Hub, IpSlot, Outbound, Outbox, Registration};
use crate::state::AppState;
use crate::store::{now_ms, User};

/// A greeting's backlog stops at about this much; the rest comes with the
/// next `GET`, from the cursors the client then holds.
const GREETING_BUDGET: usize = 1024 * 1024;
/// Once something is there to answer with, more is awaited this long, so
/// that a busy room costs fewer requests.
const LINGER: Duration = Duration::from_millis(10);
/// The longest a `POST` waits for the relay to answer its frames.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a long-poll request was refused.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("too many long-polling tabs for this session on this server")]
    TooManyTabs,
    #[error("too many connections from this address")]
    TooManyFromAddress,
    #[error("too many open connections for this user")]
    TooManyConnections,
    #[error("one POST at a time per tab")]
    Busy,
}

/// A session's tab: (session hash, tab id).
type TabKey = (String, String);

/// A session's tabs, by tab id.
type SessionTabs = HashMap<String, Arc<Tab>>;

/// Every long-polling tab this node knows, by session: a request finds its
/// tab without allocating, and a new tab counts its session's at once.
#[derive(Default)]
pub struct Polls {
    sessions: Mutex<HashMap<String, SessionTabs>>,
}

/// What answers a request: frames (JSON texts), the token of this answer
/// for a `GET`, and why the tab has to start over, if it has.
#[derive(Debug, Default)]
pub struct Answer {
    pub frames: Vec<Bytes>,
    pub next: Option<String>,
    pub close: Option<(u16, String)>,
}

impl Answer {
    /// The response body: `{"next":…,"close":…,"frames":[…]}`, the frames
    /// as they were serialized for every receiver.
    pub fn body(&self) -> Vec<u8> {
        let size: usize = self.frames.iter().map(|f| f.len() + 1).sum();
        let mut body = Vec::with_capacity(size + 96);
        body.extend_from_slice(b"{");
        if let Some(next) = &self.next {
            body.extend_from_slice(format!("\"next\":\"{next}\",").as_bytes());
        }
        if let Some((code, reason)) = &self.close {
            let close = serde_json::json!({ "code": code, "reason": reason });
            body.extend_from_slice(format!("\"close\":{close},").as_bytes());
        }
        body.extend_from_slice(b"\"frames\":[");
        for (i, frame) in self.frames.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(frame);
        }
        body.extend_from_slice(b"]}");
        body
    }
}

/// One browser tab on this node.
pub struct Tab {
    key: TabKey,
    pub user: User,
    pub expires_at: i64,
    hub: Arc<Hub>,
    /// When the last request ended (ms since the epoch).
    last_seen: AtomicI64,
    /// Requests in progress.
    busy: AtomicUsize,
    /// `GET`s so far: a newer one supersedes one still waiting.
    gets: AtomicU64,
    supersede: Notify,
    /// The lease's hub connection, 0 while there is none.
    lease_conn: AtomicU64,
    /// Closed on sign-out and on abuse of the rate limit.
    closed: Arc<CloseSignal>,
    replies_id: ConnId,
    // One request at a time holds each half: these are not locks shared
    // between tasks so much as the tab's two halves, lent to the request
    // that serves them.
    sender: tokio::sync::Mutex<Sender>,
    lease: tokio::sync::Mutex<Option<Lease>>,
    _slot: IpSlot,
}

struct Sender {
    handler: Handler,
    replies: Outbox,
}

/// A tab's connection on this node while it long-polls here.
struct Lease {
    /// Random, per lease: a token names the lease that issued it.
    epoch: u64,
    /// Answers issued so far.
    issued: u64,
    /// The frames of answer `issued`, until the next `GET` shows they
    /// arrived.
    unacked: Vec<Bytes>,
    conn: ConnId,
    feed: Feed,
    hub: Arc<Hub>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.hub.unregister(self.conn);
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        self.hub.unregister_replies(self.replies_id);
    }
}

/// Frames gathered for one answer.
#[derive(Default)]
struct Gathered {
    frames: Vec<Bytes>,
    bytes: usize,
}

impl Sink for Gathered {
    fn push_text(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push(frame);
    }
    fn pending(&self) -> usize {
        self.bytes
    }
}

impl Greet for Gathered {
    fn send_now(&mut self, frame: Bytes) {
        self.push_text(frame);
    }
    fn pending(&self) -> usize {
        self.bytes
    }
    fn flush(&mut self) -> impl std::future::Future<Output = bool> + Send {
        std::future::ready(self.bytes < GREETING_BUDGET)
    }
}

/// Who a request comes from, once its session is known.
pub struct Caller {
    pub user: User,
    pub session: String,
    pub expires_at: i64,
    pub ip: std::net::IpAddr,
}

impl Polls {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, SessionTabs>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A tab this node knows, while its session is good: a request for it
    /// needs no session query (sign-out closes it on every node).
    pub fn known(&self, session: &str, tab: &str) -> Option<Arc<Tab>> {
        let tab = self.lock().get(session)?.get(tab).cloned()?;
        (!tab.closed.is_closed() && tab.expires_at > now_ms()).then_some(tab)
    }

    /// The caller's tab here, made on its first request.
    pub fn tab(&self, state: &AppState, caller: Caller, id: &str) -> Result<Arc<Tab>, PollError> {
        let mut sessions = self.lock();
        let tabs = sessions.get(&caller.session);
        if let Some(tab) = tabs.and_then(|tabs| tabs.get(id)) {
            if !tab.closed.is_closed() {
                return Ok(tab.clone());
            }
        }
        // The session's other tabs (a closed one under this id is replaced).
        let others = tabs.map_or(0, |tabs| tabs.len() - usize::from(tabs.contains_key(id)));
        if others >= state.config.max_connections_per_user {
            return Err(PollError::TooManyTabs);
        }
        let slot = state
            .hub
            .claim_ip(caller.ip, state.config.max_connections_per_ip)
            .ok_or(PollError::TooManyFromAddress)?;
        let (mailbox, replies) = state.mailbox();
        let closed = mailbox.close.clone();
        let replies_id = state.hub.register_replies(&caller.session, mailbox.clone());
        let mut handler = Handler::new(state, caller.user.clone(), replies_id, mailbox);
        handler.for_poll(None);
        let tab = Arc::new(Tab {
            key: (caller.session.clone(), id.to_string()),
            user: caller.user,
            expires_at: caller.expires_at,
            hub: state.hub.clone(),
            last_seen: AtomicI64::new(now_ms()),
            busy: AtomicUsize::new(0),
            gets: AtomicU64::new(0),
            supersede: Notify::new(),
            lease_conn: AtomicU64::new(0),
            closed,
            replies_id,
            sender: tokio::sync::Mutex::new(Sender { handler, replies }),
            lease: tokio::sync::Mutex::new(None),
            _slot: slot,
        });
        sessions
            .entry(caller.session)
            .or_default()
            .insert(id.to_string(), tab.clone());
        Ok(tab)
    }

    /// Forget tabs idle for longer than `idle`, and closed ones. Returns
    /// how many were forgotten.
    pub fn sweep(&self, idle: Duration) -> usize {
        let cutoff = now_ms() - idle.as_millis() as i64;
        let now = now_ms();
        let gone: Vec<Arc<Tab>> = {
            let mut sessions = self.lock();
            let mut gone = Vec::new();
            sessions.retain(|_, tabs| {
                tabs.retain(|_, t| {
                    let stale = t.busy.load(Ordering::Acquire) == 0
                        && (t.last_seen.load(Ordering::Acquire) < cutoff
                            || t.closed.is_closed()
                            || t.expires_at <= now);
                    if stale {
                        gone.push(t.clone());
                    }
                    !stale
                });
                !tabs.is_empty()
            });
            gone
        };
        // Dropped outside the map's lock: each leaves the hub.
        gone.len()
    }

    /// Forget one tab (it was closed).
    fn forget(&self, tab: &Tab) {
        let removed = {
            let mut sessions = self.lock();
            let (session, id) = &tab.key;
            let Some(tabs) = sessions.get_mut(session) else {
                return;
            };
            let removed = tabs.remove(id);
            if tabs.is_empty() {
                sessions.remove(session);
            }
            removed
        };
        drop(removed);
    }

    /// Tabs known here.
    pub fn len(&self) -> usize {
        self.lock().values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every tab (shutdown: their handlers hold the relay).
    pub fn clear(&self) {
        let all: Vec<SessionTabs> = self.lock().drain().map(|(_, tabs)| tabs).collect();
        drop(all);
    }
}

/// A request in progress on a tab: it is not swept meanwhile.
struct InUse<'a>(&'a Tab);

impl<'a> InUse<'a> {
    fn new(tab: &'a Tab) -> Self {
        tab.busy.fetch_add(1, Ordering::AcqRel);
        InUse(tab)
    }
}

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.last_seen.store(now_ms(), Ordering::Release);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `POST`: handle the frames in order, then answer with everything they
/// got back: replies, and the relay's acks and errors once it has stored
/// them.
pub async fn send(
    state: &AppState,
    tab: &Arc<Tab>,
    frames: &[String],
) -> Result<Answer, PollError> {
    let _in_use = InUse::new(tab);
    let Ok(mut sender) = tab.sender.try_lock() else {
        return Err(PollError::Busy);
    };
    let sender = &mut *sender;
    let follows = tab.lease_conn.load(Ordering::Acquire);
    sender.handler.for_poll((follows != 0).then_some(follows));
    for text in frames {
        if sender.handler.handle_text(text).await.is_break() {
            break;
        }
    }
    if tokio::time::timeout(SETTLE_TIMEOUT, sender.handler.settled())
        .await
        .is_err()
    {
        tracing::warn!("a long-poll POST's frames were not answered in time");
    }
    let mut answer = Answer::default();
    while let Some(item) = sender.replies.try_take() {
        match item {
            Outbound::Frame(frame) | Outbound::Ack { frame, .. } | Outbound::Msg { frame, .. } => {
                answer.frames.push(frame)
            }
            Outbound::Forget { .. } => {}
        }
    }
    if let Some((code, reason)) = tab.closed.reason() {
        answer.close = Some((code, reason.to_string()));
        state.polls.forget(tab);
    }
    Ok(answer)
}

/// A `GET`'s token: the lease (`epoch`) and answer (`n`) it names.
pub fn parse_token(token: &str) -> Option<(u64, u64)> {
    let (epoch, n) = token.split_once('.')?;
    Some((epoch.parse().ok()?, n.parse().ok()?))
}

/// `GET`: the frames after the answer `since` names, waiting up to
/// `--poll-hold-secs` for some; a greeting when this node did not issue
/// `since`.
pub async fn receive(
    state: &AppState,
    tab: &Arc<Tab>,
    since: Option<(u64, u64)>,
    cursors: Vec<Cursor>,
) -> Result<Answer, PollError> {
    let _in_use = InUse::new(tab);
    let mine = tab.gets.fetch_add(1, Ordering::AcqRel) + 1;
    tab.supersede.notify_waiters();
    let superseded = || Answer {
        next: since.map(|(e, n)| format!("{e}.{n}")),
        ..Answer::default()
    };
    if tab.gets.load(Ordering::Acquire) != mine {
        // A newer GET came meanwhile (and may hold the lease already).
        return Ok(superseded());
    }
    let mut lease = tab.lease.lock().await;
    if tab.gets.load(Ordering::Acquire) != mine {
        // A newer GET is already waiting for the lease: leave it to that.
        return Ok(superseded());
    }
    let resend = match (lease.as_mut(), since) {
        (Some(l), Some((epoch, n))) if l.epoch == epoch && n == l.issued => {
            l.unacked.clear();
            Some(Vec::new())
        }
        (Some(l), Some((epoch, n))) if l.epoch == epoch && n + 1 == l.issued => {
            Some(std::mem::take(&mut l.unacked))
        }
        _ => None,
    };
    let Some(resend) = resend else {
        return greet(state, tab, &mut lease, cursors).await;
    };
    let Some(current) = lease.as_mut() else {
        return Ok(Answer::default());
    };
    let mut gathered = Gathered::default();
    for frame in resend {
        gathered.push_text(frame);
    }
    wait(state, tab, current, &mut gathered, mine).await;
    Ok(conclude(tab, &mut lease, gathered))
}

/// Fill `gathered` from the lease until there is something (plus a
/// moment for more), the hold ends, a newer `GET` comes, or the lease is
/// closed.
async fn wait(state: &AppState, tab: &Tab, lease: &mut Lease, gathered: &mut Gathered, mine: u64) {
    let hold = Duration::from_secs_f64(state.config.poll_hold_secs.clamp(0.05, 120.0));
    let deadline = tokio::time::Instant::now() + hold;
    let mut superseded = pin!(tab.supersede.notified());
    superseded.as_mut().enable();
    if tab.gets.load(Ordering::Acquire) != mine {
        return;
    }
    let close = lease.feed.close_signal().clone();
    let something = std::future::poll_fn(|cx| {
        if close.poll_closed(cx).is_ready() {
            return Poll::Ready(());
        }
        lease.feed.fill(cx, gathered);
        if gathered.frames.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    });
    let mut something = pin!(something);
    loop {
        tokio::select! {
            _ = superseded.as_mut() => {
                if tab.gets.load(Ordering::Acquire) != mine {
                    return;
                }
                // The notice of an older GET, late (it counted itself
                // before this one but told the waiters after): this one
                // is still the newest, and waits on.
                superseded.set(tab.supersede.notified());
                superseded.as_mut().enable();
                if tab.gets.load(Ordering::Acquire) != mine {
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return,
            _ = something.as_mut() => break,
        }
    }
    if close.is_closed() {
        return;
    }
    tokio::time::sleep(LINGER).await;
    std::future::poll_fn(|cx| {
        lease.feed.fill(cx, gathered);
        Poll::Ready(())
    })
    .await;
}

/// The answer to a `GET` that went on with its lease.
fn conclude(tab: &Tab, lease: &mut Option<Lease>, gathered: Gathered) -> Answer {
    let Some(current) = lease.as_mut() else {
        return Answer::default();
    };
    if let Some((code, reason)) = current.feed.close_signal().reason() {
        *lease = None;
        tab.lease_conn.store(0, Ordering::Release);
        return Answer {
            frames: gathered.frames,
            next: None,
            close: Some((code, reason.to_string())),
        };
    }
    current.issued += 1;
    current.unacked = gathered.frames.clone();
    Answer {
        frames: gathered.frames,
        next: Some(format!("{}.{}", current.epoch, current.issued)),
        close: None,
    }
}

/// A new lease for the tab on this node, greeted as a socket's `hello` is:
/// `welcome`, the backlog after `cursors`, `synced`.
async fn greet(
    state: &AppState,
    tab: &Tab,
    lease: &mut Option<Lease>,
    cursors: Vec<Cursor>,
) -> Result<Answer, PollError> {
    let user = &tab.user;
    // The tab's old lease, if any, is replaced: it does not count.
    let others = state.hub.user_connections(user.id) - usize::from(lease.is_some());
    if others >= state.config.max_connections_per_user {
        return Err(PollError::TooManyConnections);
    }
    let loaded = async {
        let memberships = state.store.memberships(user.id).await?;
        let invites = state.store.invitations(user.id).await?;
        let blocked = state.store.blocked_names(user.id).await?;
        Ok::<_, crate::store::StoreError>((memberships, invites, blocked))
    };
    let (memberships, invites, blocked) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => {
            tracing::error!(%error, "loading memberships failed");
            return Ok(closing(1011, "server error"));
        }
    };
    let rooms: Vec<i64> = memberships
        .iter()
        .filter(|m| matches!(m.kind, crate::store::ConvKind::Room { .. }))
        .map(|m| m.conv_id)
        .collect();
    let (mailbox, outbox) = state.mailbox();
    // Registered before the old lease leaves: the user stays online.
    let (conn, online) = state.hub.register(
        Registration {
            user_id: user.id,
            user_name: &user.name,
            session: &tab.key.0,
            expires_at: tab.expires_at,
        },
        mailbox.clone(),
        &rooms,
    );
    let mut fresh = Lease {
        epoch: rand::random::<u64>() | 1,
        issued: 0,
        unacked: Vec::new(),
        conn,
        feed: Feed::new(outbox, mailbox.close.clone(), state.metrics.clone()),
        hub: state.hub.clone(),
    };
    *lease = None;
    tab.lease_conn.store(0, Ordering::Release);
    // Sign-out deletes the session, then closes its registered
    // connections: checked after registering, as sockets do.
    if !matches!(state.store.session_user(&tab.key.0).await, Ok(Some(_))) {
        return Ok(closing(crate::hub::CLOSE_SIGNED_OUT, "signed out"));
    }
    state
        .metrics
        .connections_opened
        .fetch_add(1, Ordering::Relaxed);
    let mut gathered = Gathered::default();
    let greeting = sync::Greeting {
        online,
        invites,
        blocked,
    };
    match sync::send_backlog(state, &mut gathered, user, &memberships, &cursors, greeting).await {
        Ok(sent) => {
            fresh.feed.go_live(
                sent,
                Some(GapSource {
                    store: state.store.clone(),
                    user_name: user.name.clone(),
                    user_id: user.id,
                    hub: state.hub.clone(),
                }),
            );
            fresh.issued = 1;
            fresh.unacked = gathered.frames.clone();
            let next = format!("{}.1", fresh.epoch);
            tab.lease_conn.store(fresh.conn, Ordering::Release);
            *lease = Some(fresh);
            Ok(Answer {
                frames: gathered.frames,
                next: Some(next),
                close: None,
            })
        }
        // The backlog filled the answer: the client asks again with the
        // cursors it then holds, and is greeted from there.
        Err(SyncError::Ended) => Ok(Answer {
            frames: gathered.frames,
            next: None,
            close: None,
        }),
        Err(SyncError::Store(error)) => {
            tracing::error!(%error, "reading a long-poll backlog failed");
            Ok(closing(1011, "server error"))
        }
    }
}

fn closing(code: u16, reason: &str) -> Answer {
    Answer {
        close: Some((code, reason.to_string())),
        ..Answer::default()
    }
}

/// An error frame for a long-poll request that could not be taken.
pub fn refusal(code: app::protocol::ErrorCode, message: String) -> Bytes {
    frame(&ServerFrame::Error {
        code,
        message,
        client_id: None,
        conv: None,
    })
}
