//! The HTTP edge's one error type: every failure a handler can answer, with its status
//! and the spec's body `{"message", "code", "details"}`. Internal failures are logged
//! with their cause and answered with a generic message.

use crate::options::FieldError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    /// 400: malformed JSON or invalid fields (`details` names each one).
    Invalid { message: String, details: Vec<FieldError> },
    /// 401: no key, or a key the service does not know.
    Unauthorized,
    /// 404: missing, or not visible to this key (never 403: ids cannot be probed).
    NotFound(&'static str),
    /// 405: the path exists, the method does not.
    MethodNotAllowed(String),
    /// 409: the lifecycle does not allow it now.
    Conflict(String),
    /// 413: the body is larger than the limit.
    TooLarge(usize),
    /// 408: the request (its body included) took longer than the server allows.
    Timeout(u64),
    /// 416: a `Range` outside the file.
    RangeNotSatisfiable(u64),
    /// 429: this key sent too many requests; retry after the given seconds.
    TooManyRequests(u64),
    /// 429: this key has as many runs (or render jobs: the second field says which) queued as it may.
    QueueFull(u32, &'static str),
    /// 429: every recording slot is taken (a demonstration holds one while it is live);
    /// retry after the given seconds.
    SlotsFull(u64),
    /// 503: this server does not offer it (the message says why).
    Unavailable(String),
    /// 500: logged with its cause, answered without it.
    Internal(String),
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            message: format!("invalid field {field}"),
            details: vec![FieldError { field: field.to_string(), message: message.into() }],
        }
    }

    pub fn fields(details: Vec<FieldError>) -> ApiError {
        let names: Vec<&str> = details.iter().map(|d| d.field.as_str()).collect();
        ApiError::Invalid { message: format!("invalid fields: {}", names.join(", ")), details }
    }
}

impl<E> From<E> for ApiError
where
    E: Into<anyhow::Error>,
{
    fn from(error: E) -> ApiError {
        ApiError::Internal(format!("{:#}", error.into()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = match self {
            ApiError::Invalid { message, details } => (StatusCode::BAD_REQUEST, "invalid_request", message, details),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid API key".into(), vec![]),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", format!("{what} not found"), vec![]),
            ApiError::MethodNotAllowed(method) => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("{method} is not allowed on this path"), vec![])
            }
            ApiError::Conflict(message) => (StatusCode::CONFLICT, "conflict", message, vec![]),
            ApiError::TooLarge(limit) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the body is larger than {limit} bytes"), vec![])
            }
            ApiError::Timeout(secs) => {
                (StatusCode::REQUEST_TIMEOUT, "request_timeout", format!("the request took longer than {secs} s; send it again"), vec![])
            }
            ApiError::RangeNotSatisfiable(size) => {
                let body = json!({"message": format!("the range is outside the file ({size} bytes)"), "code": "range_not_satisfiable", "details": []});
                return (StatusCode::RANGE_NOT_SATISFIABLE, [("content-range", format!("bytes */{size}"))], axum::Json(body)).into_response();
            }
            ApiError::TooManyRequests(retry_after) => {
                let body = json!({"message": "too many requests for this key; slow down", "code": "rate_limited", "details": []});
                return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", retry_after.to_string())], axum::Json(body)).into_response();
            }
            ApiError::QueueFull(limit, what) => {
                let message = format!("this key has {limit} {what} queued, the most it may; create more once some have started");
                let body = json!({"message": message, "code": "queue_full", "details": []});
                return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "30".to_string())], axum::Json(body)).into_response();
            }
            ApiError::SlotsFull(retry_after) => {
                let body = json!({"message": "every recording slot of this server is in use; try again shortly", "code": "no_free_slot", "details": []});
                return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", retry_after.to_string())], axum::Json(body)).into_response();
            }
            ApiError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, vec![]),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; it has been logged".into(), vec![])
            }
        };
        (status, axum::Json(json!({"message": message, "code": code, "details": details}))).into_response()
    }
}
