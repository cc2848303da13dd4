//! The session endpoints. The server keeps the session in an HttpOnly
//! cookie, so these calls are same-origin and carry no token themselves.

use crate::protocol::{SessionInfo, SignIn};

/// Where sign-in lives: `GET` asks who we are, `POST` signs in, `DELETE`
/// signs out.
pub const SESSION_PATH: &str = "/api/session";

/// A failed call, ready to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The server's error code (`HttpError::error`), or `network` /
    /// `unexpected` when the server gave none.
    pub code: String,
    pub message: String,
}

impl ApiError {
    fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Who is signed in: `Ok(None)` when nobody is (401).
pub async fn current_session() -> Result<Option<SessionInfo>, ApiError> {
    imp::current_session().await
}

/// Sign in, registering the name when it is new.
pub async fn sign_in(form: &SignIn) -> Result<SessionInfo, ApiError> {
    imp::sign_in(form).await
}

/// End the session (the server also closes its sockets).
pub async fn sign_out() -> Result<(), ApiError> {
    imp::sign_out().await
}

/// `GET path` answered with JSON.
pub async fn get_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    imp::get_json(path).await
}

/// `method path` with a JSON `body` (or none), answered with no content.
pub async fn send(
    method: &'static str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    imp::send(method, path, body).await
}

#[cfg(feature = "hydrate")]
mod imp {
    use gloo_net::http::{Request, Response};

    use super::{ApiError, SESSION_PATH};
    use crate::protocol::{HttpError, SessionInfo, SignIn};

    pub async fn current_session() -> Result<Option<SessionInfo>, ApiError> {
        let response = Request::get(SESSION_PATH)
            .send()
            .await
            .map_err(unreachable)?;
        match response.status() {
            401 => Ok(None),
            _ if response.ok() => response.json().await.map(Some).map_err(garbled),
            _ => Err(refusal(response).await),
        }
    }

    pub async fn sign_in(form: &SignIn) -> Result<SessionInfo, ApiError> {
        let response = Request::post(SESSION_PATH)
            .json(form)
            .map_err(garbled)?
            .send()
            .await
            .map_err(unreachable)?;
        if response.ok() {
            response.json().await.map_err(garbled)
        } else {
            Err(refusal(response).await)
        }
    }

    pub async fn sign_out() -> Result<(), ApiError> {
        let response = Request::delete(SESSION_PATH)
            .send()
            .await
            .map_err(unreachable)?;
        // 401: the session had already ended, which is what we wanted.
        if response.ok() || response.status() == 401 {
            Ok(())
        } else {
            Err(refusal(response).await)
        }
    }

    pub async fn get_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, ApiError> {
        let response = Request::get(path).send().await.map_err(unreachable)?;
        if response.ok() {
            response.json().await.map_err(garbled)
        } else {
            Err(refusal(response).await)
        }
    }

    pub async fn send(
        method: &'static str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(), ApiError> {
        let builder = match method {
            "POST" => Request::post(path),
            "DELETE" => Request::delete(path),
            _ => Request::put(path),
        };
        let request = match body {
            Some(body) => builder.json(&body).map_err(garbled)?,
            None => builder.build().map_err(garbled)?,
        };
        let response = request.send().await.map_err(unreachable)?;
        if response.ok() {
            Ok(())
        } else {
            Err(refusal(response).await)
        }
    }

    async fn refusal(response: Response) -> ApiError {
        let status = response.status();
        match response.json::<HttpError>().await {
            Ok(error) => ApiError {
                code: error.error,
                message: error.message,
            },
            Err(_) => ApiError::new(
                "unexpected",
                format!("The server answered {status}. Please try again."),
            ),
        }
    }

    fn unreachable(error: gloo_net::Error) -> ApiError {
        leptos::logging::warn!("request failed: {error}");
        ApiError::new(
            "network",
            "Cannot reach the server. Check your connection and try again.",
        )
    }

    fn garbled(error: gloo_net::Error) -> ApiError {
        leptos::logging::warn!("unexpected answer: {error}");
        ApiError::new(
            "unexpected",
            "The server sent an answer we did not understand.",
        )
    }
}

/// The server build never makes these calls (they run from browser events);
/// the stand-ins only keep the signatures shared.
#[cfg(not(feature = "hydrate"))]
mod imp {
    use super::ApiError;
    use crate::protocol::{SessionInfo, SignIn};

    fn browser_only() -> ApiError {
        ApiError::new("unavailable", "Only available in the browser.")
    }

    pub async fn current_session() -> Result<Option<SessionInfo>, ApiError> {
        Err(browser_only())
    }

    pub async fn sign_in(_form: &SignIn) -> Result<SessionInfo, ApiError> {
        Err(browser_only())
    }

    pub async fn sign_out() -> Result<(), ApiError> {
        Err(browser_only())
    }

    pub async fn get_json<T>(_path: &str) -> Result<T, ApiError> {
        Err(browser_only())
    }

    pub async fn send(
        _method: &'static str,
        _path: &str,
        _body: Option<serde_json::Value>,
    ) -> Result<(), ApiError> {
        Err(browser_only())
    }
}
