//! One signed-in WebSocket connection on `/api/ws`.
//!
//! Life of a connection:
//! 1. wait for `hello` (anything else gets `hello_required`);
//! 2. register with the hub (live traffic starts queueing), send `welcome`,
//!    then the backlog each cursor asks for straight to the socket, then
//!    `synced`;
//! 3. read and handle frames while the bounded outbound queue is written
//!    (skipping anything the backlog already covered), all from the
//!    connection's one task ([`link::Link`]).
//!
//! Whatever way it ends, the connection unregisters itself.

mod frames;
pub mod link;
pub mod poll;
mod sync;

use std::time::Duration;

use app::protocol::{decode_client, ClientFrame, Cursor, ErrorCode, ServerFrame, PROTOCOL_VERSION};

use crate::http::upgrade::Upgraded;
use crate::hub::{frame, ConnId, Hub, IpSlot, Mailbox};
use crate::state::AppState;
use crate::ws::{Heartbeat, Message, Socket};
use link::{GapSource, Link};

pub use sync::{conversation_info, wire_conv, SentPositions};

/// How long a new connection may take to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Close code: no `hello` in time, or a protocol version we do not speak.
pub const CLOSE_PROTOCOL: u16 = 4000;

/// Who is on the other end of a signed-in connection.
pub struct Peer {
    pub user: crate::store::User,
    /// Hash of the session token (identifies the session for sign-out).
    pub session: String,
    /// When the session expires, in ms since the epoch.
    pub expires_at: i64,
}

/// Run a connection to its end (`_slot`: its claim on its address's
/// allowance, given back when it ends).
pub async fn run(socket: Upgraded, state: AppState, peer: Peer, _slot: IpSlot) {
    let (mailbox, mut link) = state.link(socket);
    // The handshake's state (cursors, memberships, the backlog) is boxed:
    // an open connection does not carry it for the rest of its life.
    let opened = Box::pin(open(&state, &peer, &mut link, &mailbox)).await;
    if let Some(registration) = opened {
        let mut handler = frames::Handler::new(&state, peer.user, registration.id, mailbox);
        while let Some(message) = link.next().await {
            let flow = match message {
                // Boxed: a frame's handling (store queries and all) takes
                // memory only while it runs, not for the connection's life.
                Message::Text(text) => link.alongside(Box::pin(handler.handle_text(&text))).await,
                Message::Binary => {
                    handler.reply(error(
                        ErrorCode::MalformedJson,
                        "binary frames are not part of the protocol; send JSON text".into(),
                        None,
                    ));
                    std::ops::ControlFlow::Continue(())
                }
            };
            if flow.is_break() {
                break;
            }
        }
        drop(registration);
    }
    // Boxed, like every step that runs once: the connection's task keeps
    // only what its whole life needs.
    Box::pin(link.finish()).await;
}

/// Steps 1 and 2: `hello`, registration with the hub, the resume backlog;
/// then live traffic may flow. `None` when the connection ended (or was
/// closed) on the way.
async fn open<'a>(
    state: &'a AppState,
    peer: &Peer,
    link: &mut Link,
    mailbox: &Mailbox,
) -> Option<Registered<'a>> {
    let cursors = await_hello(link).await?;
    let loaded = async {
        let memberships = state.store.memberships(peer.user.id).await?;
        let invites = state.store.invitations(peer.user.id).await?;
        let blocked = state.store.blocked_names(peer.user.id).await?;
        Ok::<_, crate::store::StoreError>((memberships, invites, blocked))
    };
    let (memberships, invites, blocked) = match loaded.await {
        Ok(m) => m,
        Err(error) => {
            tracing::error!(%error, "loading memberships failed");
            link.close_signal().close(1011, "server error");
            return None;
        }
    };
    let rooms: Vec<i64> = memberships
        .iter()
        .filter(|m| matches!(m.kind, crate::store::ConvKind::Room { .. }))
        .map(|m| m.conv_id)
        .collect();
    let (id, online) = state.hub.register(
        crate::hub::Registration {
            user_id: peer.user.id,
            user_name: &peer.user.name,
            session: &peer.session,
            expires_at: peer.expires_at,
        },
        mailbox.clone(),
        &rooms,
    );
    let registration = Registered {
        hub: &state.hub,
        id,
    };
    // Sign-out deletes the session, then closes its registered connections.
    // Checking after registering leaves no window between the two.
    if !matches!(state.store.session_user(&peer.session).await, Ok(Some(_))) {
        link.close_signal()
            .close(crate::hub::CLOSE_SIGNED_OUT, "signed out");
        return None;
    }
    state
        .metrics
        .connections_opened
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match sync::send_backlog(
        state,
        link,
        &peer.user,
        &memberships,
        &cursors,
        sync::Greeting {
            online,
            invites,
            blocked,
        },
    )
    .await
    {
        Ok(sent) => {
            let gaps = GapSource {
                store: state.store.clone(),
                user_name: peer.user.name.clone(),
                user_id: peer.user.id,
                hub: state.hub.clone(),
            };
            link.go_live(sent, Some(gaps));
            Some(registration)
        }
        Err(error) => {
            tracing::debug!(%error, "connection ended during sync");
            None
        }
    }
}

/// Removes the connection from the hub on every exit path.
struct Registered<'a> {
    hub: &'a Hub,
    id: ConnId,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

impl AppState {
    /// A new bounded outbound queue with this server's limits.
    pub fn mailbox(&self) -> (Mailbox, crate::hub::Outbox) {
        Mailbox::new(
            self.config.outbound_queue,
            self.config.outbound_queue_bytes,
            self.metrics.clone(),
        )
    }

    /// A connection's link over an upgraded socket, with this server's
    /// message limit and ping timing, and the mailbox that feeds it.
    pub fn link(&self, upgraded: Upgraded) -> (Mailbox, Link) {
        let heartbeat = Heartbeat {
            interval: Duration::from_secs_f64(self.config.ping_interval_secs.max(0.01)),
            timeout: Duration::from_secs_f64(self.config.ping_timeout_secs.max(0.01)),
        };
        let socket = Socket::new(
            upgraded.stream,
            &upgraded.prefetched,
            self.config.max_message_bytes,
            heartbeat,
        );
        let (mailbox, outbox) = self.mailbox();
        let link = Link::new(socket, outbox, mailbox.close.clone(), self.metrics.clone());
        (mailbox, link)
    }
}

/// Wait for `hello`, answering anything else with an error. `None` when
/// the connection ended, or has to (the close signal says why).
async fn await_hello(link: &mut Link) -> Option<Vec<Cursor>> {
    let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    loop {
        let text = match tokio::time::timeout_at(deadline, link.next()).await {
            Err(_) => {
                link.close_signal()
                    .close(CLOSE_PROTOCOL, "no hello in time");
                return None;
            }
            Ok(None) => return None,
            Ok(Some(Message::Binary)) => {
                let reply = error(
                    ErrorCode::MalformedJson,
                    "send JSON text frames".into(),
                    None,
                );
                link.send_now(frame(&reply));
                continue;
            }
            Ok(Some(Message::Text(text))) => text,
        };
        let reply = match decode_client(&text) {
            Ok(ClientFrame::Hello { version, cursors }) if version == PROTOCOL_VERSION => {
                return Some(cursors)
            }
            Ok(ClientFrame::Hello { version, .. }) => {
                let message = format!(
                    "protocol version {version} is not supported; this server speaks {PROTOCOL_VERSION}"
                );
                link.send_now(frame(&error(ErrorCode::UnsupportedVersion, message, None)));
                link.close_signal()
                    .close(CLOSE_PROTOCOL, "unsupported protocol version");
                return None;
            }
            Ok(_) => error(ErrorCode::HelloRequired, "send `hello` first".into(), None),
            Err(e) => error(e.code, e.message, None),
        };
        link.send_now(frame(&reply));
    }
}

pub fn error(code: ErrorCode, message: String, client_id: Option<String>) -> ServerFrame {
    ServerFrame::Error {
        code,
        message,
        client_id,
        conv: None,
    }
}
