//! `/api/poll`: the long-polling transport (`server/src/conn/poll.rs`).
//!
//! - `POST /api/poll?tab=…` carries a JSON array of client frames and
//!   answers with the frames they got back (acks included).
//! - `GET /api/poll?tab=…&since=…&cursors=…` answers with the server frames
//!   after the answer `since` names, held open up to `--poll-hold-secs`.
//!
//! Both need the session cookie and the header `X-Parley-Poll: 1`, which a
//! page of another site cannot send without a CORS preflight that this
//! server never grants. A `POST` must also come from an allowed `Origin`
//! (browsers always send it there), and a `GET` that names one must too.
//! A `POST` body is at most `--max-message-bytes`, like a socket message.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, ORIGIN};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use app::protocol::{Cursor, PROTOCOL_VERSION};

use super::error::{ApiError, Result};
use super::ws::origin_allowed;
use crate::conn::poll::{self, Answer, Caller, PollError, Tab};
use crate::state::AppState;

/// The header that proves a request came from our own page's script.
pub const POLL_HEADER: &str = "x-parley-poll";
/// Frames one `POST` may carry.
pub const MAX_FRAMES_PER_POST: usize = 64;
/// Cursors one `GET` may carry.
const MAX_CURSORS: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/poll", get(receive).post(send))
}

#[derive(Deserialize)]
struct Params {
    tab: String,
    since: Option<String>,
    /// JSON: the cursors of a `hello`.
    cursors: Option<String>,
    /// The protocol version the page speaks.
    v: Option<u32>,
}

/// A tab id: 8 to 64 letters, digits, `-` or `_`.
fn valid_tab(tab: &str) -> bool {
    (8..=64).contains(&tab.len())
        && tab
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl From<PollError> for ApiError {
    fn from(error: PollError) -> Self {
        match error {
            PollError::TooManyTabs => {
                ApiError::TooManyConnections("too many long-polling tabs for this session")
            }
            PollError::TooManyFromAddress => {
                ApiError::TooManyConnections("too many connections from this address")
            }
            PollError::TooManyConnections => {
                ApiError::TooManyConnections("too many open connections for this user")
            }
            PollError::Busy => ApiError::TooManyConnections("one POST at a time per tab"),
        }
    }
}

/// The checks every long-poll request passes, and its tab.
async fn tab_for(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
    tab: &str,
    post: bool,
) -> Result<std::sync::Arc<Tab>> {
    if !state.config.long_polling {
        return Err(ApiError::NotFound(
            "long-polling is turned off on this server",
        ));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header(POLL_HEADER) != Some("1") {
        return Err(ApiError::CsrfHeader);
    }
    let origin = header(ORIGIN.as_str());
    if (post || origin.is_some())
        && !origin_allowed(&state.config.allowed_origins, origin, header(HOST.as_str()))
    {
        return Err(ApiError::ForbiddenOrigin);
    }
    if !valid_tab(tab) {
        return Err(ApiError::BadRequest(
            "tab must be 8 to 64 letters, digits, - or _".into(),
        ));
    }
    let jar = CookieJar::from_headers(headers);
    let token = jar
        .get(super::session::COOKIE)
        .ok_or(ApiError::Unauthorized)?
        .value();
    let session = crate::auth::token_hash(token);
    if let Some(known) = state.polls.known(&session, tab) {
        return Ok(known);
    }
    let (user, expires_at) = state
        .store
        .session_user(&session)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let caller = Caller {
        user,
        session,
        expires_at,
        ip: peer.ip(),
    };
    Ok(state.polls.tab(state, caller, tab)?)
}

fn answer(answer: Answer) -> Response {
    let mut response = Response::new(Body::from(answer.body()));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, "application/json".parse().expect("static"));
    headers.insert(CACHE_CONTROL, "no-store".parse().expect("static"));
    response
}

async fn send(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let tab = tab_for(&state, &headers, peer, &params.tab, true).await?;
    if body.len() > state.config.max_message_bytes {
        return Err(ApiError::TooLarge(state.config.max_message_bytes));
    }
    let frames: Vec<Box<serde_json::value::RawValue>> =
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!("the body must be a JSON array of frames: {e}"))
        })?;
    if frames.len() > MAX_FRAMES_PER_POST {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_FRAMES_PER_POST} frames a request"
        )));
    }
    let texts: Vec<String> = frames.into_iter().map(|f| f.get().to_string()).collect();
    Ok(answer(poll::send(&state, &tab, &texts).await?))
}

async fn receive(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response> {
    if params.v.is_some_and(|v| v != PROTOCOL_VERSION) {
        return Err(ApiError::BadRequest(format!(
            "this server speaks protocol version {PROTOCOL_VERSION}"
        )));
    }
    let cursors: Vec<Cursor> = match params.cursors.as_deref() {
        None | Some("") => Vec::new(),
        Some(json) => {
            serde_json::from_str(json).map_err(|e| ApiError::BadRequest(format!("cursors: {e}")))?
        }
    };
    if cursors.len() > MAX_CURSORS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_CURSORS} cursors"
        )));
    }
    let tab = tab_for(&state, &headers, peer, &params.tab, false).await?;
    let since = params.since.as_deref().and_then(poll::parse_token);
    Ok(answer(poll::receive(&state, &tab, since, cursors).await?))
}

#[cfg(test)]
mod tests {
    use super::valid_tab;

    #[test]
    fn tab_ids() {
        assert!(valid_tab("abcdEFGH_-12"));
        for bad in ["", "short", "has space!", "é-not-ascii", &"x".repeat(65)] {
            assert!(!valid_tab(bad), "{bad}");
        }
    }
}
