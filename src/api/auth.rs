//! Who is asking. Input: the request's headers and the client's address. Output: the
//! caller's key, checked and within its rate limit, or 401 / 429. Invariant: a key is
//! looked up only by its hash; one key's flood is refused without slowing the others;
//! an address that keeps presenting bad keys is refused before the database is asked.

use super::AppState;
use super::error::ApiError;
use crate::db::ApiKey;
use axum::extract::FromRequestParts;
use axum::http::{Extensions, HeaderMap, header, request::Parts};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// The address a request came from, set by the listener (absent for in-process calls).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// Bad keys an address may present: a burst, then one a second.
const BAD_KEYS_BURST: f64 = 20.0;
const BAD_KEYS_PER_SECOND: f64 = 1.0;
/// Addresses remembered at most; past it, those whose allowance is whole are forgotten.
const BAD_KEY_ADDRESSES: usize = 10_000;

/// The key a request came with, checked and within its rate limit.
pub struct Caller(pub ApiKey);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        authenticate(state, &parts.headers, &parts.extensions).await.map(Caller)
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

pub(super) async fn authenticate(state: &AppState, headers: &HeaderMap, extensions: &Extensions) -> Result<ApiKey, ApiError> {
    let address = extensions.get::<ClientAddr>().map(|a| a.0);
    if let Some(address) = address {
        state.bad_keys.check(&address)?;
    }
    let key = presented_key(headers).filter(|k| !k.is_empty() && k.len() <= 256);
    let found = match &key {
        Some(key) => state.services.db.key_by_hash(&crate::secrets::hash_api_key(key)).await?,
        None => None,
    };
    let Some(found) = found else {
        if let Some(address) = address {
            state.bad_keys.spend(address);
        }
        return Err(ApiError::Unauthorized);
    };
    state.limiter.check(&found.id, state.services.config.rate_per_second, state.services.config.rate_burst)?;
    Ok(found)
}

/// Per client address, the bad keys it may still present (a token bucket spent only by
/// failures, so a client with a good key is never slowed by it).
#[derive(Default)]
pub(super) struct BadKeyLimiter {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl BadKeyLimiter {
    fn refill(entry: &mut (f64, Instant), now: Instant) {
        entry.0 = (entry.0 + now.duration_since(entry.1).as_secs_f64() * BAD_KEYS_PER_SECOND).min(BAD_KEYS_BURST);
        entry.1 = now;
    }

    /// 429 while `address` has no bad key left to present.
    fn check(&self, address: &IpAddr) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap();
        let Some(entry) = buckets.get_mut(address) else { return Ok(()) };
        Self::refill(entry, Instant::now());
        if entry.0 >= 1.0 { Ok(()) } else { Err(ApiError::TooManyRequests(((1.0 - entry.0) / BAD_KEYS_PER_SECOND).ceil().max(1.0) as u64)) }
    }

    fn spend(&self, address: IpAddr) {
        let mut buckets = self.buckets.lock().unwrap();
        let now = Instant::now();
        if buckets.len() >= BAD_KEY_ADDRESSES {
            buckets.retain(|_, entry| {
                Self::refill(entry, now);
                entry.0 < BAD_KEYS_BURST
            });
        }
        let entry = buckets.entry(address).or_insert((BAD_KEYS_BURST, now));
        Self::refill(entry, now);
        entry.0 = (entry.0 - 1.0).max(0.0);
    }
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
