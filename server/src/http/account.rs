//! `/api/password` and `/api/sessions`: changing one's password, the
//! signed-in devices, and signing out everywhere. Every route needs a live
//! session ([`Authenticated`]) and acts on that session's user only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar};

use app::protocol::{DeviceInfo, PasswordChange, ProfileUpdate};

use super::error::{ApiError, Result};
use super::session::{announce_profile, Authenticated, COOKIE};
use crate::auth;
use crate::cluster::Event;
use crate::names::{self, password, NameError};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/password", post(change_password))
        .route("/api/profile", put(set_profile))
        .route("/api/sessions", get(devices).delete(sign_out_everywhere))
        .route("/api/sessions/{id}", delete(sign_out_device))
}

/// The short id a device is shown by: the start of its session's hash.
fn short_id(session: &str) -> String {
    session.chars().take(16).collect()
}

/// Close the sockets of these (deleted) sessions on every node, with 4001.
pub fn close_sessions(state: &AppState, sessions: &[String]) {
    for session in sessions {
        state.hub.close_session(session);
        state.hub.publish(Event::SignOut {
            session: session.clone(),
        });
    }
}

/// Change the password (the current one is asked again); every other
/// device is signed out.
async fn change_password(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(form): Json<PasswordChange>,
) -> Result<StatusCode> {
    if form.new.is_empty() || form.new.len() > password::MAX_BYTES {
        return Err(ApiError::InvalidPassword);
    }
    let (_, hash) = state
        .store
        .find_user(&auth.user.name)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !auth::verify_password(form.current, hash).await? {
        return Err(ApiError::WrongPassword);
    }
    let (display, _) = state.store.profile(auth.user.id).await?.unwrap_or_default();
    let judged = auth::judge_password(form.new.clone(), auth.user.name.clone(), display).await?;
    if let Some(why) = judged {
        return Err(ApiError::WeakPassword(why));
    }
    let hash = auth::hash_password(form.new).await?;
    state.store.set_password(auth.user.id, &hash).await?;
    let others = state
        .store
        .delete_sessions_of(auth.user.id, Some(&auth.session))
        .await?;
    close_sessions(&state, &others);
    Ok(StatusCode::NO_CONTENT)
}

/// Choose the name people see (the handle again, when empty). Every open
/// tab, on every node, learns it at once.
async fn set_profile(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(form): Json<ProfileUpdate>,
) -> Result<StatusCode> {
    let handle = auth.user.name.as_str();
    let display = if form.display_name.trim().is_empty() {
        handle.to_string()
    } else {
        names::display_name(&form.display_name).map_err(ApiError::InvalidDisplayName)?
    };
    if !state.profile_changes.allow(&auth.user.id.to_string()) {
        return Err(ApiError::TooManyChanges);
    }
    if display != handle
        && state
            .store
            .looks_like_a_handle(&display, Some(auth.user.id))
            .await?
    {
        return Err(ApiError::InvalidDisplayName(NameError::Confusable));
    }
    state.store.set_display_name(auth.user.id, &display).await?;
    announce_profile(&state, handle, &display);
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in devices, newest first.
async fn devices(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<DeviceInfo>>> {
    let devices = state.store.devices(auth.user.id).await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceInfo {
                id: short_id(&d.session),
                created_at: d.created_at,
                expires_at: d.expires_at,
                user_agent: d.user_agent,
                current: d.session == auth.session,
            })
            .collect(),
    ))
}

/// Sign out every device, this one included: their sockets close with
/// 4001 on every node.
async fn sign_out_everywhere(
    State(state): State<AppState>,
    jar: CookieJar,
    auth: Authenticated,
) -> Result<(StatusCode, CookieJar)> {
    let gone = state.store.delete_sessions_of(auth.user.id, None).await?;
    close_sessions(&state, &gone);
    Ok((
        StatusCode::NO_CONTENT,
        jar.remove(Cookie::build(COOKIE).path("/")),
    ))
}

/// Sign out one device (by the id `GET /api/sessions` gave).
async fn sign_out_device(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let devices = state.store.devices(auth.user.id).await?;
    let Some(device) = devices.into_iter().find(|d| short_id(&d.session) == id) else {
        return Err(ApiError::NotFound("no device of yours has that id"));
    };
    state.store.delete_session(&device.session).await?;
    close_sessions(&state, &[device.session]);
    Ok(StatusCode::NO_CONTENT)
}
