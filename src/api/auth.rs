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

/// The caller of the template endpoints the authoring page uses (listing, previews): an
/// API key, or a studio link's token (`x-studio-token`) that speaks for its key until it
/// expires or the key is revoked. Nothing else accepts a studio token.
pub struct StudioCaller(pub ApiKey);

/// How long a studio link may live at most.
pub const MAX_STUDIO_LINK_S: u64 = 24 * 3600;

impl FromRequestParts<AppState> for StudioCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<StudioCaller, ApiError> {
        let Some(token) = parts.headers.get("x-studio-token") else {
            return authenticate(state, &parts.headers, &parts.extensions).await.map(StudioCaller);
        };
        let key_id = token.to_str().ok().and_then(|t| studio_token_key(&state.services.signer, t, crate::secrets::now_unix()));
        let db = &state.services.db;
        admit(state, &parts.extensions, || async move {
            match key_id {
                Some(id) => db.key_by_id(&id).await,
                None => Ok(None),
            }
        })
        .await
        .map(StudioCaller)
    }
}

/// A studio token for key `key_id`, valid until `expires_unix`: `KEY_ID.EXPIRES.SIGNATURE`.
pub fn studio_token(signer: &crate::secrets::UrlSigner, key_id: &crate::db::KeyId, expires_unix: u64) -> String {
    format!("{key_id}.{expires_unix}.{}", signer.sign(&format!("studio:{key_id}"), expires_unix))
}

/// The key id a studio token speaks for, if its signature holds and it has not expired.
fn studio_token_key(signer: &crate::secrets::UrlSigner, token: &str, now_unix: u64) -> Option<crate::db::KeyId> {
    let mut parts = token.trim().splitn(3, '.');
    let (key_id, expires, signature) = (parts.next()?, parts.next()?.parse::<u64>().ok()?, parts.next()?);
    signer.verify(&format!("studio:{key_id}"), expires, signature, now_unix).then(|| crate::db::KeyId::new(key_id))
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
    let key = presented_key(headers).filter(|k| !k.is_empty() && k.len() <= 256);
    let db = &state.services.db;
    admit(state, extensions, || async move {
        match key {
            Some(key) => db.key_by_hash(&crate::secrets::hash_api_key(&key)).await,
            None => Ok(None),
        }
    })
    .await
}

/// The key `find` looks up, admitted: an address that keeps presenting bad credentials
/// is refused before the database is asked, a credential that finds no key spends that
/// address's allowance, and a key found spends its own rate.
async fn admit<F>(state: &AppState, extensions: &Extensions, find: impl FnOnce() -> F) -> Result<ApiKey, ApiError>
where
    F: std::future::Future<Output = crate::db::DbResult<Option<ApiKey>>>,
{
    let address = extensions.get::<ClientAddr>().map(|a| a.0);
    if let Some(address) = address {
        state.bad_keys.check(&address)?;
    }
    let Some(found) = find().await? else {
        if let Some(address) = address {
            state.bad_keys.spend(address);
        }
        return Err(ApiError::Unauthorized);
    };
    state.limiter.check(&found.id, state.services.config.rate_per_second, state.services.config.rate_burst)?;
    Ok(found)
}

/// A token bucket: `tokens` left, counted at `at`, refilled at `per_second` up to `burst`.
#[derive(Clone, Copy)]
pub(super) struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub(super) fn full(burst: f64, now: Instant) -> Bucket {
        Bucket { tokens: burst, at: now }
    }

    /// Spends a token if one is left now.
    pub(super) fn take(&mut self, now: Instant, per_second: f64, burst: f64) -> bool {
        self.refill(now, per_second, burst);
        let ready = self.tokens >= 1.0;
        if ready {
            self.tokens -= 1.0;
        }
        ready
    }

    fn refill(&mut self, now: Instant, per_second: f64, burst: f64) {
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * per_second).min(burst);
        self.at = now;
    }

    /// 429 (with the seconds until a token is back) while no token is left.
    fn ready(&self, per_second: f64) -> Result<(), ApiError> {
        if self.tokens >= 1.0 { Ok(()) } else { Err(ApiError::TooManyRequests(((1.0 - self.tokens) / per_second).ceil().max(1.0) as u64)) }
    }
}

/// Per client address, the bad keys it may still present (a bucket spent only by
/// failures, so a client with a good key is never slowed by it).
#[derive(Default)]
pub(super) struct BadKeyLimiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl BadKeyLimiter {
    /// 429 while `address` has no bad key left to present.
    fn check(&self, address: &IpAddr) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap();
        let Some(bucket) = buckets.get_mut(address) else { return Ok(()) };
        bucket.refill(Instant::now(), BAD_KEYS_PER_SECOND, BAD_KEYS_BURST);
        bucket.ready(BAD_KEYS_PER_SECOND)
    }

    fn spend(&self, address: IpAddr) {
        let mut buckets = self.buckets.lock().unwrap();
        let now = Instant::now();
        if buckets.len() >= BAD_KEY_ADDRESSES {
            buckets.retain(|_, bucket| {
                bucket.refill(now, BAD_KEYS_PER_SECOND, BAD_KEYS_BURST);
                bucket.tokens < BAD_KEYS_BURST
            });
        }
        let bucket = buckets.entry(address).or_insert(Bucket::full(BAD_KEYS_BURST, now));
        bucket.refill(now, BAD_KEYS_PER_SECOND, BAD_KEYS_BURST);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }
}

/// A bucket per key, spent by every request.
#[derive(Default)]
pub(super) struct RateLimiter {
    buckets: Mutex<HashMap<crate::db::KeyId, Bucket>>,
}

impl RateLimiter {
    fn check(&self, key_id: &crate::db::KeyId, per_second: f64, burst: f64) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap();
        let now = Instant::now();
        let bucket = buckets.entry(key_id.clone()).or_insert(Bucket::full(burst, now));
        match bucket.take(now, per_second, burst) {
            true => Ok(()),
            false => bucket.ready(per_second),
        }
    }
}
