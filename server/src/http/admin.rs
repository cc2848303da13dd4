//! Server admins (`--admins`): the `/admin` page and its API. Everyone
//! else gets 403 from every route here, the page included (401 without a
//! session).

use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use app::protocol::{
    AdminRoom, AdminUser, EventKind, ModEntry, NodeStats, RoomEvent, RoomUpdate, UserUpdate, LOBBY,
};

use super::account::close_sessions;
use super::error::{ApiError, Result};
use super::session::Authenticated;
use crate::cluster::Event;
use crate::state::AppState;

/// Most rows one search answers.
const PAGE: u32 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/users", get(users))
        .route("/api/admin/users/{name}", post(update_user))
        .route("/api/admin/rooms", get(rooms))
        .route(
            "/api/admin/rooms/{name}",
            post(update_room).delete(delete_room),
        )
        .route("/api/admin/nodes", get(nodes))
        .route("/api/admin/log", get(log))
}

/// A request by a server admin.
pub struct Admin(pub Authenticated);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let auth = Authenticated::from_request_parts(parts, state).await?;
        if !state.config.is_admin(&auth.user.name) {
            return Err(ApiError::AdminsOnly);
        }
        Ok(Admin(auth))
    }
}

/// `/admin` and below: only for admins (403, or 401 without a session);
/// the page itself is the web app's.
pub async fn page_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path != "/admin" && !path.starts_with("/admin/") {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    match Admin::from_request_parts(&mut parts, &state).await {
        Ok(_) => next.run(Request::from_parts(parts, body)).await,
        Err(error) => {
            let status = error.status_code();
            let text = if status == StatusCode::UNAUTHORIZED {
                "401 — sign in first: this page is for the server's admins."
            } else {
                "403 — this page is for the server's admins only."
            };
            (
                status,
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; charset=utf-8",
                )],
                text,
            )
                .into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
}

async fn users(
    State(state): State<AppState>,
    _admin: Admin,
    Query(search): Query<Search>,
) -> Result<Json<Vec<AdminUser>>> {
    let rows = state.store.search_users(search.q.trim(), PAGE).await?;
    let online: Vec<String> = state.hub.local_online_names();
    let remote = state.hub.remote_online_names();
    Ok(Json(
        rows.into_iter()
            .map(|u| AdminUser {
                online: online
                    .iter()
                    .chain(remote.iter())
                    .any(|n| n.eq_ignore_ascii_case(&u.name)),
                display_name: if u.display_name == u.name {
                    String::new()
                } else {
                    u.display_name
                },
                name: u.name,
                created_at: u.created_at,
                disabled: u.disabled,
            })
            .collect(),
    ))
}

fn admin_event(admin: &Admin, kind: EventKind, user: Option<String>) -> RoomEvent {
    RoomEvent {
        by: Some(admin.0.user.name.clone()),
        user,
        ..RoomEvent::new(kind)
    }
}

/// Disable (signing the account out everywhere) or enable an account.
async fn update_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Json(update): Json<UserUpdate>,
) -> Result<StatusCode> {
    let Some(user) = state.store.set_disabled(&name, update.disabled).await? else {
        return Err(ApiError::NotFound("there is no user with that name"));
    };
    if update.disabled {
        let gone = state.store.delete_sessions_of(user.id, None).await?;
        close_sessions(&state, &gone);
    }
    let kind = if update.disabled {
        EventKind::AccountDisabled
    } else {
        EventKind::AccountEnabled
    };
    let event = admin_event(&admin, kind, Some(user.name));
    state.store.log_admin("", &event).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rooms(
    State(state): State<AppState>,
    _admin: Admin,
    Query(search): Query<Search>,
) -> Result<Json<Vec<AdminRoom>>> {
    let rows = state.store.search_rooms(search.q.trim(), PAGE).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AdminRoom {
                room: r.name,
                topic: r.topic,
                private: r.private,
                archived: r.archived,
                members: r.members,
            })
            .collect(),
    ))
}

/// Archive (read-only) or unarchive a room, on every node at once.
async fn update_room(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Json(update): Json<RoomUpdate>,
) -> Result<StatusCode> {
    let Some(conv_id) = state.store.set_archived(&name, update.archived).await? else {
        return Err(ApiError::NotFound("there is no room with that name"));
    };
    state.hub.set_archived(conv_id, update.archived);
    state.hub.publish(Event::Archived {
        conv_id,
        on: update.archived,
    });
    let kind = if update.archived {
        EventKind::Archived
    } else {
        EventKind::Unarchived
    };
    state
        .store
        .log_admin(&name.to_ascii_lowercase(), &admin_event(&admin, kind, None))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a room and everything in it; its members are told on every node.
async fn delete_room(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    let room = name.to_ascii_lowercase();
    if room == LOBBY {
        return Err(ApiError::AdminsOnly);
    }
    let Some((conv_id, members)) = state.store.delete_room(&room).await? else {
        return Err(ApiError::NotFound("there is no room with that name"));
    };
    crate::relay::room_deleted(&state.hub, conv_id, &room, &members);
    state.hub.publish(Event::RoomDeleted {
        conv_id,
        room: room.clone(),
        members,
    });
    state
        .store
        .log_admin(&room, &admin_event(&admin, EventKind::RoomDeleted, None))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every node's connections and key numbers: this one, then the others.
async fn nodes(State(state): State<AppState>, _admin: Admin) -> Json<Vec<NodeStats>> {
    let name = state.hub.node_name().unwrap_or_else(|| "this node".into());
    let mut all = vec![state.metrics.node_stats(&name, &state.hub)];
    all.extend(state.hub.remote_stats());
    Json(all)
}

/// The server-wide moderation log, newest first.
async fn log(State(state): State<AppState>, _admin: Admin) -> Result<Json<Vec<ModEntry>>> {
    Ok(Json(state.store.moderation_log_all(200).await?))
}
