//! One signed-in WebSocket connection on `/api/ws`.
//!
//! Life of a connection:
//! 1. wait for `hello` (anything else gets `hello_required`);
//! 2. register with the hub (live traffic starts queueing), send `welcome`,
//!    then the backlog each cursor asks for straight to the socket, then
//!    `synced`;
//! 3. a writer task drains the bounded outbound queue (skipping anything the
//!    backlog already covered) while this task reads and handles frames.
//!
//! Whatever way it ends, the connection unregisters itself.

mod frames;
pub mod reader;
mod sync;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};

use app::protocol::{decode_client, ClientFrame, Cursor, ErrorCode, ServerFrame, PROTOCOL_VERSION};

use crate::hub::{frame, ConnId, Hub, Mailbox, Outbox};
use crate::state::AppState;
use crate::store::User;
use reader::{Incoming, Reader};
use writer::{send_close, Liveness, Writer};

pub use sync::SentPositions;

pub(crate) type Sink = SplitSink<WebSocket, WsMessage>;
pub(crate) type Stream = SplitStream<WebSocket>;

/// How long a new connection may take to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Close code: no `hello` in time, or a protocol version we do not speak.
pub const CLOSE_PROTOCOL: u16 = 4000;

/// Who is on the other end of a signed-in connection.
pub struct Peer {
    pub user: User,
    /// Hash of the session token (identifies the session for sign-out).
    pub session: String,
    /// When the session expires, in ms since the epoch.
    pub expires_at: i64,
}

/// Run a connection to its end.
pub async fn run(socket: WebSocket, state: AppState, peer: Peer) {
    let (mut sink, mut stream) = socket.split();
    let (mailbox, outbox) = state.mailbox();
    let close = mailbox.close.clone();
    let liveness = Liveness::new();
    let mut reader = Reader {
        stream: &mut stream,
        close: &close,
        liveness: &liveness,
        max_bytes: state.config.max_message_bytes,
    };
    // The handshake's state (cursors, memberships, the backlog) is boxed:
    // an open connection does not carry it for the rest of its life.
    let opened = Box::pin(open(&state, &peer, &mut sink, &mut reader, &mailbox)).await;
    let Some((registration, sent)) = opened else {
        return;
    };

    let writer = tokio::spawn(
        state
            .writer(sink, outbox, sent, close.clone(), liveness.clone())
            .run(),
    );
    let mut handler = frames::Handler::new(state.clone(), peer.user, registration.id, mailbox);
    loop {
        match reader.next().await {
            Incoming::Text(text) => {
                // Boxed: a frame's handling (store queries and all) takes
                // memory only while it runs, not for the connection's life.
                if Box::pin(handler.handle_text(&text)).await.is_break() {
                    break;
                }
            }
            Incoming::Binary => handler.reply(error(
                ErrorCode::MalformedJson,
                "binary frames are not part of the protocol; send JSON text".into(),
                None,
            )),
            Incoming::Closed => break,
        }
    }
    close.close(1000, "bye");
    let _ = writer.await;
    reader::linger(&mut stream).await;
}

/// Steps 1 and 2: `hello`, registration with the hub, the resume backlog.
/// `None` when the connection ended (or was closed) on the way.
async fn open<'a>(
    state: &'a AppState,
    peer: &Peer,
    sink: &mut Sink,
    reader: &mut Reader<'_>,
    mailbox: &Mailbox,
) -> Option<(Registered<'a>, SentPositions)> {
    let Some(cursors) = await_hello(sink, reader).await else {
        if let Some((code, reason)) = reader.close.reason() {
            if send_close(sink, code, reason).await.is_ok() {
                reader::linger(&mut *reader.stream).await;
            }
        }
        return None;
    };
    let memberships = match state.store.memberships(peer.user.id).await {
        Ok(m) => m,
        Err(error) => {
            tracing::error!(%error, "loading memberships failed");
            let _ = send_close(sink, 1011, "server error").await;
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
        let _ = send_close(sink, crate::hub::CLOSE_SIGNED_OUT, "signed out").await;
        return None;
    }
    state
        .metrics
        .connections_opened
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match sync::send_backlog(state, sink, &peer.user, &memberships, &cursors, online).await {
        Ok(sent) => Some((registration, sent)),
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
    pub fn mailbox(&self) -> (Mailbox, Outbox) {
        Mailbox::new(
            self.config.outbound_queue,
            self.config.outbound_queue_bytes,
            self.metrics.clone(),
        )
    }

    /// The writer task of a connection, with this server's ping timing.
    pub fn writer(
        &self,
        sink: Sink,
        outbox: Outbox,
        sent: SentPositions,
        close: Arc<crate::hub::CloseSignal>,
        liveness: Arc<Liveness>,
    ) -> Writer {
        Writer {
            sink,
            outbox,
            sent,
            close,
            liveness,
            heartbeat: writer::Heartbeat {
                interval: Duration::from_secs_f64(self.config.ping_interval_secs.max(0.01)),
                timeout: Duration::from_secs_f64(self.config.ping_timeout_secs.max(0.01)),
            },
            metrics: self.metrics.clone(),
            store: self.store.clone(),
            user_name: String::new(),
        }
    }
}

async fn await_hello(sink: &mut Sink, reader: &mut Reader<'_>) -> Option<Vec<Cursor>> {
    let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    loop {
        let text = match tokio::time::timeout_at(deadline, reader.next()).await {
            Err(_) => {
                reader.close.close(CLOSE_PROTOCOL, "no hello in time");
                return None;
            }
            Ok(Incoming::Closed) => return None,
            Ok(Incoming::Binary) => {
                let reply = error(
                    ErrorCode::MalformedJson,
                    "send JSON text frames".into(),
                    None,
                );
                if sink.send(WsMessage::Text(frame(&reply))).await.is_err() {
                    return None;
                }
                continue;
            }
            Ok(Incoming::Text(text)) => text,
        };
        let reply = match decode_client(&text) {
            Ok(ClientFrame::Hello { version, cursors }) if version == PROTOCOL_VERSION => {
                return Some(cursors)
            }
            Ok(ClientFrame::Hello { version, .. }) => {
                let message = format!(
                    "protocol version {version} is not supported; this server speaks {PROTOCOL_VERSION}"
                );
                let reply = error(ErrorCode::UnsupportedVersion, message, None);
                let _ = sink.send(WsMessage::Text(frame(&reply))).await;
                reader
                    .close
                    .close(CLOSE_PROTOCOL, "unsupported protocol version");
                return None;
            }
            Ok(_) => error(ErrorCode::HelloRequired, "send `hello` first".into(), None),
            Err(e) => error(e.code, e.message, None),
        };
        if sink.send(WsMessage::Text(frame(&reply))).await.is_err() {
            return None;
        }
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
