//! Who is asking. Input: the request's headers. Output: the caller's key, checked and
//! within its rate limit, or 401 / 429. Invariant: a key is looked up only by its hash,
//! and one key's flood is refused without slowing the others.

use super::AppState;
use super::error::ApiError;
use crate::db::ApiKey;
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The key a request came with, checked and within its rate limit.
pub struct Caller(pub ApiKey);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        authenticate(state, &parts.headers).await.map(Caller)
    }
}

/// The key in `x-api-key`, `anchor-api-key` (the demonstrations surface) or
/// `Authorization: Bearer`.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    for name in ["x-api-key", "anchor-api-key"] {
        if let Some(key) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return Some(key.trim().to_string());
        }
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim().to_string())
}

pub(super) async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let key = presented_key(headers).filter(|k| !k.is_empty() && k.len() <= 256).ok_or(ApiError::Unauthorized)?;
    let found = state.services.db.key_by_hash(&crate::secrets::hash_api_key(&key)).await?.ok_or(ApiError::Unauthorized)?;
    state.limiter.check(&found.id, state.services.config.rate_per_second, state.services.config.rate_burst)?;
    Ok(found)
}

/// A token bucket per key: (tokens left, when they were counted).
#[derive(Default)]
pub(super) struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    fn check(&self, key_id: &str, per_second: f64, burst: f64) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap();
        let now = Instant::now();
        let (tokens, last) = buckets.entry(key_id.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::TooManyRequests(((1.0 - *tokens) / per_second).ceil().max(1.0) as u64))
        }
    }
}
