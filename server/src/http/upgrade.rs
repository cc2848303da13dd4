//! The WebSocket opening handshake (RFC 6455 §4.2) over HTTP/1.1: checks
//! the request, answers `101 Switching Protocols`, and hands the raw TCP
//! socket to the connection's task once hyper lets go of it.
//!
//! The socket is taken out of hyper whole ([`hyper::upgrade::Upgraded`]
//! downcast to the `TcpStream` the server accepted), so a connection is
//! driven by [`crate::ws`] alone: one task, no HTTP buffers kept.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::error::ApiError;

/// The one WebSocket version there is.
const VERSION: &str = "13";

/// A checked WebSocket handshake, ready to be answered.
pub struct WebSocketUpgrade {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// The socket after the handshake.
pub struct Upgraded {
    pub stream: TcpStream,
    /// Bytes the client sent right after its request, already read.
    pub prefetched: Bytes,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let headers = &parts.headers;
        if parts.method != Method::GET {
            return Err(ApiError::BadUpgrade("a WebSocket is opened with GET"));
        }
        if !has_token(headers, CONNECTION, "upgrade") || !has_token(headers, UPGRADE, "websocket") {
            return Err(ApiError::BadUpgrade(
                "this address is a WebSocket: ask for `Upgrade: websocket`",
            ));
        }
        if headers
            .get(SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes)
            != Some(VERSION.as_bytes())
        {
            return Err(ApiError::WebSocketVersion);
        }
        let Some(key) = headers.get(SEC_WEBSOCKET_KEY) else {
            return Err(ApiError::BadUpgrade("Sec-WebSocket-Key is missing"));
        };
        let accept = HeaderValue::from_str(&accept_key(key.as_bytes()))
            .map_err(|_| ApiError::Internal("accept key is not a header value".into()))?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(ApiError::BadUpgrade("this connection cannot be upgraded"))?;
        Ok(WebSocketUpgrade { accept, on_upgrade })
    }
}

impl WebSocketUpgrade {
    /// Answer `101 Switching Protocols` and run `connection` on the socket
    /// once the answer is out, in a task of its own.
    ///
    /// That task is spawned once the socket is handed over, by a short task
    /// that waits for it: the connection's task then holds the connection's
    /// future and nothing else for the connection's whole life (spawning
    /// the waiting future with the connection's inside would keep both).
    pub fn on_upgrade<F, Fut>(self, connection: F) -> Response
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => {
                    tracing::debug!(%error, "WebSocket upgrade failed");
                    return;
                }
            };
            match upgraded.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => {
                    tokio::spawn(connection(Upgraded {
                        stream: parts.io.into_inner(),
                        prefetched: parts.read_buf,
                    }));
                }
                Err(_) => tracing::error!(
                    "an upgraded connection is not a plain TCP socket (served by something \
                     other than server::http::serve?)"
                ),
            }
        });
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(SEC_WEBSOCKET_ACCEPT, self.accept);
        response
    }
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (§4.2.2): the key
/// and the protocol's GUID, hashed with SHA-1, in base64.
fn accept_key(key: &[u8]) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// Does the comma-separated header `name` hold `token` (any case)?
fn has_token(headers: &HeaderMap, name: axum::http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|part| part.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_lists_in_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(has_token(&headers, CONNECTION, "upgrade"));
        assert!(!has_token(&headers, CONNECTION, "close"));
        assert!(!has_token(&headers, UPGRADE, "websocket"));
        headers.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(has_token(&headers, UPGRADE, "websocket"));
    }

    #[test]
    fn the_accept_key_is_the_rfcs_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
