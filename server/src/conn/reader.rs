//! The reader half shared by every endpoint: next frame, liveness, and the
//! right close code for what the peer got wrong.

use axum::extract::ws::{Message as WsMessage, Utf8Bytes};
use futures_util::StreamExt;

use super::writer::Liveness;
use super::Stream;
use crate::hub::CloseSignal;

/// Close code: a message over the size limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: text that is not UTF-8.
pub const CLOSE_INVALID_DATA: u16 = 1007;
/// Close code: a WebSocket protocol violation (an unmasked client frame, …).
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;

pub enum Incoming {
    Text(Utf8Bytes),
    Binary,
    /// The peer left, or the connection was told to close.
    Closed,
}

pub struct Reader<'a> {
    pub stream: &'a mut Stream,
    pub close: &'a CloseSignal,
    pub liveness: &'a Liveness,
    pub max_bytes: usize,
}

impl Reader<'_> {
    pub async fn next(&mut self) -> Incoming {
        loop {
            let next = tokio::select! {
                next = self.stream.next() => next,
                _ = self.close.closed() => return Incoming::Closed,
            };
            let message = match next {
                Some(Ok(message)) => message,
                None => return Incoming::Closed,
                Some(Err(error)) => {
                    let (code, reason) = close_code_for(error);
                    self.close.close(code, reason);
                    return Incoming::Closed;
                }
            };
            self.liveness.heard();
            let len = match &message {
                WsMessage::Text(t) => t.len(),
                WsMessage::Binary(b) => b.len(),
                _ => 0,
            };
            if len > self.max_bytes {
                self.close.close(CLOSE_TOO_BIG, "message too big");
                return Incoming::Closed;
            }
            match message {
                WsMessage::Text(text) => return Incoming::Text(text),
                WsMessage::Binary(_) => return Incoming::Binary,
                WsMessage::Close(_) => return Incoming::Closed,
                WsMessage::Ping(_) | WsMessage::Pong(_) => {}
            }
        }
    }
}

/// The close code for a read error, by what the WebSocket library saw.
fn close_code_for(error: axum::Error) -> (u16, &'static str) {
    let inner = error.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => (CLOSE_TOO_BIG, "message too big"),
        Some(tungstenite::Error::Utf8(_)) => (CLOSE_INVALID_DATA, "text is not valid UTF-8"),
        Some(tungstenite::Error::Protocol(_)) => (CLOSE_PROTOCOL_ERROR, "protocol error"),
        _ => (1011, "read failed"),
    }
}

/// How long a closing connection waits for the peer's close frame.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// After sending a close frame: read (and drop) what the peer still sends
/// until its close frame, for at most [`LINGER`], so the TCP connection is
/// not torn down under frames still in flight (which would reset it and
/// could lose the close frame on the peer's side).
pub async fn linger(stream: &mut super::Stream) {
    let _ = tokio::time::timeout(LINGER, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, WsMessage::Close(_)) {
                break;
            }
        }
    })
    .await;
}
