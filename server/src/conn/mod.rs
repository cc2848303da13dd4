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
mod sync;

use std::ops::ControlFlow;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};

use app::protocol::{decode_client, ClientFrame, Cursor, ErrorCode, ServerFrame, PROTOCOL_VERSION};

use crate::hub::{frame, ConnId, Mailbox, Outbound};
use crate::state::AppState;
use crate::store::User;

pub use sync::SentPositions;

pub(crate) type Sink = SplitSink<WebSocket, WsMessage>;
pub(crate) type Stream = SplitStream<WebSocket>;

/// How long a new connection may take to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the writer may take to flush its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Close code: no `hello` in time, or a protocol version we do not speak.
pub const CLOSE_PROTOCOL: u16 = 4000;

/// Run a connection to its end.
pub async fn run(socket: WebSocket, state: AppState, user: User, session: String) {
    let (mut sink, mut stream) = socket.split();
    let Some(cursors) = await_hello(&mut sink, &mut stream).await else {
        return;
    };
    let (mailbox, rx) = Mailbox::new(state.config.outbound_queue);
    let close = mailbox.close.clone();
    let memberships = match state.store.memberships(user.id).await {
        Ok(m) => m,
        Err(error) => {
            tracing::error!(%error, "loading memberships failed");
            let _ = send_close(&mut sink, 1011, "server error").await;
            return;
        }
    };
    let rooms: Vec<i64> = memberships
        .iter()
        .filter(|m| matches!(m.kind, crate::store::ConvKind::Room { .. }))
        .map(|m| m.conv_id)
        .collect();
    let (conn_id, online) =
        state
            .hub
            .register(user.id, &user.name, &session, mailbox.clone(), &rooms);
    let _registration = Registration {
        hub: &state.hub,
        id: conn_id,
    };

    let sent =
        match sync::send_backlog(&state, &mut sink, &user, &memberships, &cursors, online).await {
            Ok(sent) => sent,
            Err(error) => {
                tracing::debug!(%error, "connection ended during sync");
                return;
            }
        };

    let writer = tokio::spawn(write_loop(sink, rx, sent, close.clone()));
    let mut handler = frames::Handler::new(state.clone(), user, conn_id, mailbox);
    read_loop(&mut stream, &mut handler, &close).await;
    close.close(1000, "bye");
    let _ = tokio::time::timeout(CLOSE_TIMEOUT * 2, writer).await;
}

/// Removes the connection from the hub on every exit path.
struct Registration<'a> {
    hub: &'a crate::hub::Hub,
    id: ConnId,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

async fn await_hello(sink: &mut Sink, stream: &mut Stream) -> Option<Vec<Cursor>> {
    let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        let text = match next {
            Err(_) => {
                let _ = send_close(sink, CLOSE_PROTOCOL, "no hello in time").await;
                return None;
            }
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(WsMessage::Text(text)))) => text,
            Ok(Some(Ok(WsMessage::Close(_)))) => return None,
            Ok(Some(Ok(_))) => continue,
        };
        let reply = match decode_client(&text) {
            Ok(ClientFrame::Hello { version, cursors }) if version == PROTOCOL_VERSION => {
                return Some(cursors)
            }
            Ok(ClientFrame::Hello { version, .. }) => {
                let message = format!("protocol version {version} is not supported; this server speaks {PROTOCOL_VERSION}");
                let _ = sink
                    .send(WsMessage::Text(frame(&error(
                        ErrorCode::UnsupportedVersion,
                        message,
                        None,
                    ))))
                    .await;
                let _ = send_close(sink, CLOSE_PROTOCOL, "unsupported protocol version").await;
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
    }
}

async fn read_loop(
    stream: &mut Stream,
    handler: &mut frames::Handler,
    close: &crate::hub::CloseSignal,
) {
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = close.closed() => return,
        };
        let flow = match next {
            Some(Ok(WsMessage::Text(text))) => handler.handle_text(&text).await,
            Some(Ok(WsMessage::Binary(_))) => {
                handler.reply(error(
                    ErrorCode::MalformedJson,
                    "binary frames are not part of the protocol; send JSON text".into(),
                    None,
                ));
                ControlFlow::Continue(())
            }
            Some(Ok(WsMessage::Close(_))) | None => ControlFlow::Break(()),
            Some(Ok(_)) => ControlFlow::Continue(()),
            Some(Err(error)) => {
                tracing::debug!(%error, "read failed");
                ControlFlow::Break(())
            }
        };
        if flow.is_break() {
            return;
        }
    }
}

/// Drain the outbound queue into the socket until the connection closes,
/// then send the close frame with the reason it was closed for.
pub(crate) async fn write_loop(
    mut sink: Sink,
    mut rx: tokio::sync::mpsc::Receiver<Outbound>,
    mut sent: SentPositions,
    close: std::sync::Arc<crate::hub::CloseSignal>,
) {
    loop {
        let item = tokio::select! {
            biased;
            _ = close.closed() => break,
            item = rx.recv() => item,
        };
        let Some(item) = item else { break };
        let text = match item {
            Outbound::Frame(text) => text,
            Outbound::Msg {
                conv_id,
                seq,
                frame,
            } => {
                if !sent.advance(conv_id, seq) {
                    continue;
                }
                frame
            }
        };
        if sink.send(WsMessage::Text(text)).await.is_err() {
            close.close(1006, "write failed");
            return;
        }
    }
    let (code, reason) = close.reason().unwrap_or((1000, "bye"));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, send_close(&mut sink, code, reason)).await;
}

pub(crate) async fn send_close(
    sink: &mut Sink,
    code: u16,
    reason: &'static str,
) -> Result<(), axum::Error> {
    sink.send(WsMessage::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    })))
    .await
}
