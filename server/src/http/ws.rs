//! `GET /api/ws`: the signed-in WebSocket endpoint.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::session::Authenticated;
use crate::state::AppState;

/// Largest WebSocket message and frame a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/ws", get(upgrade))
}

/// Size limits every endpoint's upgrade applies.
pub fn limits(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
}

/// No valid session: the extractor answers 401 and nothing is upgraded.
async fn upgrade(
    State(state): State<AppState>,
    auth: Authenticated,
    ws: WebSocketUpgrade,
) -> Response {
    limits(ws).on_upgrade(move |socket| {
        let tracker = state.connections.clone();
        tracker.track_future(crate::conn::run(socket, state, auth.user, auth.session))
    })
}
