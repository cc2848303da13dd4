//! `GET /api/ws`: the signed-in WebSocket endpoint.
//!
//! Before anything is upgraded: a live session (else 401), an allowed
//! `Origin` (else 403), and room under the per-user and per-IP connection
//! limits (else 429).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::error::{ApiError, Result};
use super::session::Authenticated;
use super::upgrade::WebSocketUpgrade;
use crate::conn::Peer;
use crate::hub::IpSlot;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/ws", get(upgrade))
}

/// Is `origin` allowed? Exact comparison only: scheme, host and port.
/// With no allowlist configured, only the server's own origin (the `Host`
/// the browser connected to) is.
pub fn origin_allowed(allowed: &[String], origin: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return false;
    };
    let allowed: Vec<&str> = allowed
        .iter()
        .map(|a| a.trim().trim_end_matches('/'))
        .filter(|a| !a.is_empty())
        .collect();
    if !allowed.is_empty() {
        return allowed.contains(&origin);
    }
    match host {
        Some(host) => origin == format!("http://{host}") || origin == format!("https://{host}"),
        None => false,
    }
}

/// Claim a per-IP connection slot or refuse with 429.
pub fn claim_ip(state: &AppState, peer: SocketAddr) -> Result<IpSlot> {
    state
        .hub
        .claim_ip(peer.ip(), state.config.max_connections_per_ip)
        .ok_or(ApiError::TooManyConnections(
            "too many connections from this address",
        ))
}

fn refused(state: &AppState, error: ApiError) -> ApiError {
    state
        .metrics
        .refused_upgrades
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    error
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    auth: Authenticated,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if !origin_allowed(&state.config.allowed_origins, header(ORIGIN), header(HOST)) {
        return Err(refused(&state, ApiError::ForbiddenOrigin));
    }
    if state.hub.user_connections(auth.user.id) >= state.config.max_connections_per_user {
        return Err(refused(
            &state,
            ApiError::TooManyConnections("too many open connections for this user"),
        ));
    }
    let slot = claim_ip(&state, peer).map_err(|e| refused(&state, e))?;
    let peer = Peer {
        user: auth.user,
        session: auth.session,
        expires_at: auth.expires_at,
    };
    Ok(ws.on_upgrade(move |socket| {
        let tracker = state.connections.clone();
        tracker.track_future(crate::conn::run(socket, state, peer, slot))
    }))
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn own_origin_only_by_default() {
        let host = Some("chat.example:3000");
        assert!(origin_allowed(&[], Some("http://chat.example:3000"), host));
        assert!(origin_allowed(&[], Some("https://chat.example:3000"), host));
        for bad in [
            "http://chat.example:3000.evil.test",
            "http://evil.test",
            "http://chat.example",
            "http://chat.example:30000",
            "null",
            "",
        ] {
            assert!(!origin_allowed(&[], Some(bad), host), "{bad}");
        }
        assert!(!origin_allowed(&[], None, host));
        assert!(!origin_allowed(&[], Some("http://chat.example:3000"), None));
    }

    #[test]
    fn allowlist_is_exact() {
        let allowed = vec![
            "https://chat.example".to_string(),
            " http://localhost:3000/ ".into(),
        ];
        assert!(origin_allowed(&allowed, Some("https://chat.example"), None));
        assert!(origin_allowed(
            &allowed,
            Some("http://localhost:3000"),
            Some("x")
        ));
        for bad in [
            "http://localhost:3000.evil.test",
            "https://chat.example.evil.test",
            "https://evil.chat.example",
            "http://chat.example",
        ] {
            assert!(
                !origin_allowed(&allowed, Some(bad), Some("chat.example")),
                "{bad}"
            );
        }
    }
}
