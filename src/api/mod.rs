//! The HTTP API (`docs/api.md`, the contract in `spec/api.md`): one router per resource,
//! merged here. Input: HTTP requests. Output: JSON answers and artifact bytes.
//! Invariant: every `/v1` request authenticates first (an unknown path or method too),
//! reads only what the caller's key owns (404 otherwise), and validates every field
//! before touching state; no secret (password, input value, API key) is ever part of an
//! answer; every error has the spec's shape.

mod artifacts;
pub mod auth;
mod credentials;
mod demonstrations;
pub mod error;
mod extract;
mod feedback;
mod identities;
mod render_jobs;
mod runs;
mod share;
mod studio;
mod tasks;
mod templates;
pub mod validate;
pub mod views;

pub use artifacts::parse_range;
pub use auth::Caller;

use crate::db::Database;
use crate::runs::signals::Signals;
use crate::secrets::{Sealer, UrlSigner};
use crate::store::ArtifactStore;
use axum::Router;
use axum::http::Uri;
use error::ApiError;
use std::sync::Arc;

/// Tunables of the HTTP edge.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub max_body_bytes: usize,
    /// How long a signed `download_url` works.
    pub download_ttl_s: u64,
    /// Per key: sustained requests per second and the burst allowed above it.
    pub rate_per_second: f64,
    pub rate_burst: f64,
    /// Base of `download_url`s (`https://demos.example.com`); default: the request's Host.
    pub public_url: Option<String>,
    /// Where runs may go beyond the public internet (`--allow-targets`).
    pub targets: crate::egress::TargetPolicy,
    /// Runs one key may have queued (`--max-queued-per-key`); past it, 429.
    pub max_queued_per_key: u32,
    /// Where a demonstration's browser starts when the request names no start URL
    /// (`--demonstration-start-url`).
    pub demonstration_start_url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { max_body_bytes: 1 << 20, download_ttl_s: 3600, rate_per_second: 20.0, rate_burst: 60.0, public_url: None, targets: crate::egress::TargetPolicy::public_only(), max_queued_per_key: 50, demonstration_start_url: None }
    }
}

/// What the handlers work with.
pub struct Services {
    pub db: Arc<dyn Database>,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub signer: UrlSigner,
    /// `None` when the operator gave no secret key: passwords cannot be stored.
    pub sealer: Option<Arc<Sealer>>,
    /// Input values and cancels for the runners, wherever they run.
    pub signals: Arc<dyn Signals>,
    /// The live demonstrations this process holds; `None` on a server without workers.
    pub demonstrations: Option<Arc<crate::demonstrations::Demonstrations>>,
    pub config: ApiConfig,
}

#[derive(Clone)]
pub struct AppState {
    services: Arc<Services>,
    limiter: Arc<auth::RateLimiter>,
    bad_keys: Arc<auth::BadKeyLimiter>,
}

impl AppState {
    pub fn new(services: Services) -> AppState {
        AppState { services: Arc::new(services), limiter: Default::default(), bad_keys: Default::default() }
    }
}

/// The whole API; tests call it without a socket.
pub fn router(state: AppState) -> Router {
    let limit = state.services.config.max_body_bytes;
    Router::new()
        .merge(runs::routes())
        .merge(artifacts::routes())
        .merge(credentials::routes())
        .merge(identities::routes())
        .merge(demonstrations::routes())
        .merge(tasks::routes())
        .merge(share::routes())
        .merge(feedback::routes())
        .merge(render_jobs::routes())
        .merge(templates::routes())
        .merge(studio::routes())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .fallback(unknown_path)
        .method_not_allowed_fallback(unknown_method)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Under `/v1` the key is checked before anything is said about the path.
async fn unknown_path(state: axum::extract::State<AppState>, uri: Uri, headers: axum::http::HeaderMap, extensions: axum::http::Extensions) -> ApiError {
    if uri.path().starts_with("/v1") {
        if let Err(error) = auth::authenticate(&state, &headers, &extensions).await {
            return error;
        }
    }
    ApiError::NotFound("route")
}

async fn unknown_method(
    state: axum::extract::State<AppState>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    extensions: axum::http::Extensions,
    method: axum::http::Method,
) -> ApiError {
    if uri.path().starts_with("/v1") {
        if let Err(error) = auth::authenticate(&state, &headers, &extensions).await {
            return error;
        }
    }
    ApiError::MethodNotAllowed(method.to_string())
}
