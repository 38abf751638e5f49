//! The HTTP layer's error type and its one mapping to the contract's
//! `{"error": {"code", "message"}}` body and status.

use std::convert::Infallible;

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Rejection, Reply};

use crate::store::StoreError;

/// Everything a REST or upgrade request can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    Validation(String),
    #[error("missing, expired or invalid token")]
    Unauthorized,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("registration is closed on this server; ask an admin for an account")]
    RegistrationClosed,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("username is already taken")]
    UsernameTaken,
    #[error("room name is already taken")]
    RoomNameTaken,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// An uploaded file over `--max-upload-mb`.
    #[error("the file is larger than {limit} bytes")]
    FileTooLarge { limit: u64 },
    /// A `Range` of a file that has none of its bytes (`size` long).
    #[error("the range is outside the file")]
    RangeNotSatisfiable { size: u64 },
    #[error("request target is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("request headers are larger than {limit} bytes or more than 100 fields")]
    HeadersTooLarge { limit: usize },
    #[error("too many attempts; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("{0}")]
    QuotaExceeded(&'static str),
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("the server is busy; retry in {retry_after} s")]
    Busy { retry_after: u64 },
    #[error("internal error")]
    Internal(String),
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    /// The contract's snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::RegistrationClosed => "registration_closed",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::UsernameTaken => "username_taken",
            ApiError::RoomNameTaken => "room_name_taken",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::FileTooLarge { .. } => "too_large",
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            ApiError::UriTooLong { .. } => "uri_too_long",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::QuotaExceeded(_) => "quota_exceeded",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Busy { .. } => "busy",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_) | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::RegistrationClosed | ApiError::QuotaExceeded(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UsernameTaken | ApiError::RoomNameTaken => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } | ApiError::FileTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A validation error with a message.
    pub fn validation(msg: impl Into<String>) -> Self {
        ApiError::Validation(msg.into())
    }

    /// The response for this error: status, JSON body, for 429 and 503
    /// `Retry-After`, for 416 the file's size in `Content-Range`, and for
    /// 408 and an upload's 413 `Connection: close` (the rest of the body
    /// may still be on its way; the connection cannot be reused).
    pub fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut res =
            warp::reply::with_status(warp::reply::json(&body), self.status()).into_response();
        if let ApiError::RateLimited { retry_after } | ApiError::Busy { retry_after } = self {
            if let Ok(v) = warp::http::HeaderValue::from_str(&retry_after.max(1).to_string()) {
                res.headers_mut().insert(warp::http::header::RETRY_AFTER, v);
            }
        }
        if let ApiError::RangeNotSatisfiable { size } = self {
            if let Ok(v) = warp::http::HeaderValue::from_str(&format!("bytes */{size}")) {
                res.headers_mut()
                    .insert(warp::http::header::CONTENT_RANGE, v);
            }
        }
        if matches!(
            self,
            ApiError::RequestTimeout | ApiError::FileTooLarge { .. }
        ) {
            res.headers_mut().insert(
                warp::http::header::CONNECTION,
                warp::http::HeaderValue::from_static("close"),
            );
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken => ApiError::UsernameTaken,
            StoreError::RoomNameTaken => ApiError::RoomNameTaken,
            StoreError::NotFound => ApiError::NotFound,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize)]
struct ErrorDetail {
    code: &'static str,
    message: String,
}

/// Turns every rejection (ours and warp's own) into the contract's shape.
/// This is the only place errors become HTTP responses.
pub async fn recover(err: Rejection) -> Result<Response, Infallible> {
    let api = if let Some(e) = err.find::<ApiError>() {
        e.clone()
    } else if err.is_not_found() {
        ApiError::NotFound
    } else if err.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if err.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::PayloadTooLarge { limit: 0 }
    } else if err.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::validation("invalid query string")
    } else if err.find::<warp::reject::MissingHeader>().is_some()
        || err.find::<warp::reject::InvalidHeader>().is_some()
    {
        ApiError::validation("missing or invalid header")
    } else {
        ApiError::validation(format!("bad request: {err:?}"))
    };
    Ok(api.into_response())
}
