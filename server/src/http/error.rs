//! The HTTP layer's error type: a status, a stable code and a message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use app::protocol::HttpError;

use crate::store::StoreError;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("sign in first")]
    Unauthorized,
    #[error("wrong password for this name")]
    WrongPassword,
    #[error("names are 1 to 32 letters, digits, `_` or `-`")]
    InvalidName,
    #[error("new names are at most {0} characters here")]
    NameTooLong(usize),
    #[error("a password is 1 to 1024 bytes")]
    InvalidPassword,
    #[error("{0}")]
    WeakPassword(String),
    #[error("display name: {0}")]
    InvalidDisplayName(crate::names::NameError),
    #[error("this name is taken; sign in, or choose another")]
    NameTaken,
    #[error("too many changes; wait a minute and try again")]
    TooManyChanges,
    #[error("too many sign-in attempts; wait a minute and try again")]
    TooManyAttempts,
    #[error("this origin may not open a connection here")]
    ForbiddenOrigin,
    #[error("{0}")]
    TooManyConnections(&'static str),
    #[error("the server is busy; try again in a moment")]
    Busy,
    #[error("{0}")]
    BadUpgrade(&'static str),
    #[error("only WebSocket version 13 is spoken here")]
    WebSocketVersion,
    #[error("an admin disabled this account")]
    AccountDisabled,
    #[error("only the server's admins may do that")]
    AdminsOnly,
    #[error("{0}")]
    NotFound(&'static str),
    #[error("send the header X-Parley-Poll: 1 (it shows the request comes from this site's page)")]
    CsrfHeader,
    #[error("{0}")]
    BadRequest(String),
    #[error("the request is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::WrongPassword => StatusCode::UNAUTHORIZED,
            ApiError::InvalidName
            | ApiError::NameTooLong(_)
            | ApiError::InvalidPassword
            | ApiError::WeakPassword(_)
            | ApiError::InvalidDisplayName(_) => StatusCode::BAD_REQUEST,
            ApiError::NameTaken => StatusCode::CONFLICT,
            ApiError::TooManyAttempts
            | ApiError::TooManyConnections(_)
            | ApiError::TooManyChanges => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ForbiddenOrigin | ApiError::AccountDisabled | ApiError::AdminsOnly => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::CsrfHeader => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadUpgrade(_) => StatusCode::BAD_REQUEST,
            ApiError::WebSocketVersion => StatusCode::UPGRADE_REQUIRED,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::WrongPassword => "wrong_password",
            ApiError::InvalidName | ApiError::NameTooLong(_) => "invalid_name",
            ApiError::InvalidPassword => "invalid_password",
            ApiError::WeakPassword(_) => "weak_password",
            ApiError::InvalidDisplayName(_) => "invalid_display_name",
            ApiError::NameTaken => "name_taken",
            ApiError::TooManyChanges => "too_many_changes",
            ApiError::TooManyAttempts => "too_many_attempts",
            ApiError::ForbiddenOrigin => "forbidden_origin",
            ApiError::AccountDisabled => "account_disabled",
            ApiError::AdminsOnly => "admins_only",
            ApiError::NotFound(_) => "not_found",
            ApiError::CsrfHeader => "poll_header_missing",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Busy => "busy",
            ApiError::BadUpgrade(_) => "not_a_websocket_request",
            ApiError::WebSocketVersion => "unsupported_websocket_version",
            ApiError::TooManyConnections(_) => "too_many_connections",
            ApiError::Store(_) | ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Store(_) | ApiError::Internal(_) => {
                tracing::error!(error = %self, "request failed");
                "something went wrong on the server".to_string()
            }
            other => other.to_string(),
        };
        let body = HttpError {
            error: self.code().to_string(),
            message,
        };
        let mut response = (self.status_code(), Json(body)).into_response();
        if matches!(self, ApiError::WebSocketVersion) {
            // RFC 6455 §4.4: say which version is spoken.
            response.headers_mut().insert(
                axum::http::header::SEC_WEBSOCKET_VERSION,
                axum::http::HeaderValue::from_static("13"),
            );
        }
        response
    }
}
