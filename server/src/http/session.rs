//! `POST/GET/DELETE /api/session`: sign in (registering a free name), who am I, sign out.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use app::protocol::{valid_name, SessionInfo, SignIn};

use super::error::{ApiError, Result};
use crate::auth;
use crate::names::{self, password, NameError};
use crate::state::AppState;
use crate::store::{now_ms, User};

pub const COOKIE: &str = "parley_session";

pub fn router() -> Router<AppState> {
    Router::new().route("/api/session", post(sign_in).get(whoami).delete(sign_out))
}

/// A request made with a live session cookie.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    /// SHA-256 of the session token, which identifies the session.
    pub session: String,
    /// When the session expires, in ms since the epoch.
    pub expires_at: i64,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar.get(COOKIE).ok_or(ApiError::Unauthorized)?.value();
        let session = auth::token_hash(token);
        let (user, expires_at) = state
            .store
            .session_user(&session)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Authenticated {
            user,
            session,
            expires_at,
        })
    }
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    Json(form): Json<SignIn>,
) -> Result<(CookieJar, Json<SessionInfo>)> {
    if !valid_name(&form.username) {
        return Err(ApiError::InvalidName);
    }
    let by_ip = state.signins_by_ip.allow(&peer.ip().to_string());
    let by_name = state
        .signins_by_name
        .allow(&crate::store::name_key(&form.username));
    if !(by_ip && by_name) {
        return Err(ApiError::TooManyAttempts);
    }
    if form.password.is_empty() || form.password.len() > password::MAX_BYTES {
        return Err(ApiError::InvalidPassword);
    }
    let (user, registered) = match state.store.find_user(&form.username).await? {
        Some(_) if form.register => return Err(ApiError::NameTaken),
        Some((user, hash)) => (check(&form.password, hash).await.map(|_| user)?, false),
        None => match Box::pin(register(&state, &form)).await? {
            Some(user) => (user, true),
            // Someone registered the name between our look-up and insert.
            None => match state.store.find_user(&form.username).await? {
                Some((user, hash)) => (check(&form.password, hash).await.map(|_| user)?, false),
                None => return Err(ApiError::Internal("user vanished".into())),
            },
        },
    };
    if state.store.is_disabled(user.id).await? {
        return Err(ApiError::AccountDisabled);
    }
    let (display, mut notice) = state.store.profile(user.id).await?.unwrap_or_default();
    if !registered {
        // An account from before the policy (or whose password became
        // guessable) keeps working, and is asked for a new password.
        let judged =
            auth::judge_password(form.password.clone(), user.name.clone(), display.clone()).await?;
        if judged != notice {
            state
                .store
                .set_password_notice(user.id, judged.as_deref())
                .await?;
            notice = judged;
        }
    }
    // What the device calls itself, for the account's list of devices.
    let user_agent: String = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let token = auth::new_token();
    let ttl = state.config.session_ttl_secs.max(1);
    let expires_at = now_ms() + ttl * 1000;
    state
        .store
        .create_session(&auth::token_hash(&token), user.id, expires_at, &user_agent)
        .await?;
    let cookie = Cookie::build((COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies)
        .path("/")
        .max_age(time::Duration::seconds(ttl))
        .build();
    Ok((
        jar.add(cookie),
        Json(SessionInfo {
            admin: state.config.is_admin(&user.name),
            username: user.name,
            display_name: display,
            password_notice: notice,
            registered,
        }),
    ))
}

/// Register the free name `form.username`, with its display name, after
/// checking both names and the password; `None` if the name was taken
/// meanwhile.
async fn register(state: &AppState, form: &SignIn) -> Result<Option<User>> {
    if !state.config.new_name_ok(&form.username) {
        return Err(ApiError::NameTooLong(state.config.max_name_len));
    }
    let handle = form.username.as_str();
    let display = if form.display_name.trim().is_empty() {
        handle.to_string()
    } else {
        names::display_name(&form.display_name).map_err(ApiError::InvalidDisplayName)?
    };
    // Neither the new handle nor the display name may pass for someone
    // else's handle ("a1ice" for "alice").
    let store = &state.store;
    if store.looks_like_a_handle(handle, None).await? {
        return Err(ApiError::NameTaken);
    }
    if display != handle && store.looks_like_a_handle(&display, None).await? {
        return Err(ApiError::InvalidDisplayName(NameError::Confusable));
    }
    let judged =
        auth::judge_password(form.password.clone(), handle.to_string(), display.clone()).await?;
    if let Some(why) = judged {
        return Err(ApiError::WeakPassword(why));
    }
    let hash = auth::hash_password(form.password.clone()).await?;
    let user = store.create_user_named(handle, &hash, &display).await?;
    if user.is_some() && display != handle {
        announce_profile(state, handle, &display);
    }
    Ok(user)
}

/// Tell every connection, on every node, what `user` is now shown as.
pub fn announce_profile(state: &AppState, user: &str, display: &str) {
    state.hub.apply_profile(user, display);
    state.hub.publish(crate::cluster::Event::Profile {
        user: user.to_string(),
        display: display.to_string(),
    });
}

async fn check(password: &str, hash: String) -> Result<()> {
    if auth::verify_password(password.to_string(), hash).await? {
        Ok(())
    } else {
        Err(ApiError::WrongPassword)
    }
}

async fn whoami(State(state): State<AppState>, auth: Authenticated) -> Result<Json<SessionInfo>> {
    let (display, notice) = state
        .store
        .profile(auth.user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(Json(SessionInfo {
        admin: state.config.is_admin(&auth.user.name),
        username: auth.user.name,
        display_name: display,
        password_notice: notice,
        registered: false,
    }))
}

async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    auth: Authenticated,
) -> Result<(StatusCode, CookieJar)> {
    state.store.delete_session(&auth.session).await?;
    state.hub.close_session(&auth.session);
    state.hub.publish(crate::cluster::Event::SignOut {
        session: auth.session.clone(),
    });
    Ok((
        StatusCode::NO_CONTENT,
        jar.remove(Cookie::build(COOKIE).path("/")),
    ))
}
