//! Reading requests. Input: bodies, query strings and path ids. Output: JSON values,
//! paging parameters and checked ids, or the error the spec gives each. Invariant: a body
//! over the limit is 413, malformed JSON is 400 naming `body`, a path id that is not a
//! uuid is 404 like a missing row.

use super::AppState;
use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::Value;
use std::collections::HashMap;

/// A JSON body: over the size limit → 413, not JSON → 400 naming `body`.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<JsonBody, ApiError> {
        read_json(request, state, state.services.config.max_body_bytes).await.map(JsonBody)
    }
}

/// The largest template upload: a scene, its assets (base64 makes them a third larger)
/// and a manifest.
pub const MAX_UPLOAD_BYTES: usize = 8 << 20;

/// A template upload's JSON body: like [`JsonBody`] with room for a template's assets
/// (its route raises the body limit to [`MAX_UPLOAD_BYTES`]).
pub struct UploadBody(pub Value);

impl FromRequest<AppState> for UploadBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<UploadBody, ApiError> {
        read_json(request, state, MAX_UPLOAD_BYTES).await.map(UploadBody)
    }
}

async fn read_json(request: Request, state: &AppState, limit: usize) -> Result<Value, ApiError> {
    let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE { ApiError::TooLarge(limit) } else { ApiError::field("body", rejection.body_text()) }
    })?;
    if bytes.is_empty() {
        return Err(ApiError::field("body", "is empty; expected a JSON object"));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::field("body", format!("malformed JSON: {e}")))
}

/// Path ids are uuids; anything else cannot name a row (404, like a missing one).
pub fn check_id(id: &str, what: &'static str) -> Result<(), ApiError> {
    if super::validate::is_uuid(id) { Ok(()) } else { Err(ApiError::NotFound(what)) }
}

/// `?limit=` (1..100, default 20) and `?cursor=` (one this server gave out).
pub fn paging(query: &HashMap<String, String>) -> Result<(u32, Option<String>), ApiError> {
    let limit = match query.get("limit") {
        None => 20,
        Some(text) => text.parse::<u32>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| ApiError::field("limit", "must be a whole number from 1 to 100"))?,
    };
    let cursor = match query.get("cursor") {
        None => None,
        Some(c) if crate::db::decode_cursor(c).is_some() => Some(c.clone()),
        Some(_) => return Err(ApiError::field("cursor", "is not a cursor this server gave out")),
    };
    Ok((limit, cursor))
}
