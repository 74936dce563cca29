//! The HTTP API (`spec/api.md`): runs, artifacts and downloads, credentials, feedback.
//! Input: HTTP requests. Output: JSON answers and artifact bytes. Invariant: every
//! `/v1` route authenticates first, reads only what the caller's key owns (404
//! otherwise), and validates every field before touching state; no secret (password,
//! input value, API key) is ever part of an answer.

pub mod error;
pub mod validate;

use crate::db::{self, Artifact, ApiKey, Credential, Run, RunStatus, Store};
use crate::options::FieldError;
use crate::runs::hub::Hub;
use crate::secrets::{Sealer, UrlSigner};
use crate::store::{ArtifactStore, Location};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use error::ApiError;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use validate::AuthSource;

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
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { max_body_bytes: 1 << 20, download_ttl_s: 3600, rate_per_second: 20.0, rate_burst: 60.0, public_url: None }
    }
}

pub struct Services {
    pub store: Arc<dyn Store>,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub signer: UrlSigner,
    /// `None` when the operator gave no secret key: passwords cannot be stored.
    pub sealer: Option<Arc<Sealer>>,
    pub hub: Arc<Hub>,
    pub config: ApiConfig,
}

#[derive(Clone)]
pub struct AppState {
    services: Arc<Services>,
    limiter: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
}

impl AppState {
    pub fn new(services: Services) -> AppState {
        AppState { services: Arc::new(services), limiter: Default::default() }
    }
}

pub fn router(state: AppState) -> Router {
    let limit = state.services.config.max_body_bytes;
    Router::new()
        .route("/v1/agent/runs", post(create_run).get(list_runs))
        .route("/v1/agent/runs/{id}", get(get_run))
        .route("/v1/agent/runs/{id}/input", post(give_input))
        .route("/v1/agent/runs/{id}/cancel", post(cancel_run))
        .route("/v1/agent/runs/{id}/artifacts", get(list_artifacts))
        .route("/v1/downloads/{id}", get(download))
        .route("/v1/agent/credentials", post(create_credential).get(list_credentials))
        .route("/v1/agent/credentials/{id}", axum::routing::patch(update_credential).delete(delete_credential))
        .route("/v1/agent/credentials/{id}/set-default", post(set_default_credential))
        .route("/v1/agent/feedback", post(create_feedback))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
}

// ---------- the caller ----------

/// The key a request came with, checked and within its rate limit.
pub struct Caller(pub ApiKey);

fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim().to_string());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim().to_string())
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let key = presented_key(headers).filter(|k| !k.is_empty() && k.len() <= 256).ok_or(ApiError::Unauthorized)?;
    let found = state.services.store.key_by_hash(&crate::secrets::hash_api_key(&key)).await?.ok_or(ApiError::Unauthorized)?;
    state.check_rate(&found.id)?;
    Ok(found)
}

impl AppState {
    /// A token bucket per key: one key's flood is refused without slowing the others.
    fn check_rate(&self, key_id: &str) -> Result<(), ApiError> {
        let config = &self.services.config;
        let mut buckets = self.limiter.lock().unwrap();
        let now = Instant::now();
        let (tokens, last) = buckets.entry(key_id.to_string()).or_insert((config.rate_burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * config.rate_per_second).min(config.rate_burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::TooManyRequests(((1.0 - *tokens) / config.rate_per_second).ceil().max(1.0) as u64))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        authenticate(state, &parts.headers).await.map(Caller)
    }
}

/// A JSON body: over the size limit → 413, not JSON → 400 naming `body`.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<JsonBody, ApiError> {
        let limit = state.services.config.max_body_bytes;
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE { ApiError::TooLarge(limit) } else { ApiError::field("body", rejection.body_text()) }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::field("body", "is empty; expected a JSON object"));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| ApiError::field("body", format!("malformed JSON: {e}")))
    }
}

/// Path ids are uuids; anything else cannot name a row (404, like a missing one).
fn check_id(id: &str, what: &'static str) -> Result<(), ApiError> {
    if validate::is_uuid(id) { Ok(()) } else { Err(ApiError::NotFound(what)) }
}

// ---------- runs ----------

pub fn run_json(run: &Run) -> Value {
    json!({
        "id": run.id,
        "status": run.status.as_str(),
        "progress_stage": run.progress_stage,
        "awaiting_input": run.awaiting_input,
        "error": run.error,
        "target_url": run.target_url,
        "goal": run.goal,
        "options": run.options,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    })
}

async fn create_run(State(state): State<AppState>, Caller(key): Caller, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let new = validate::new_run(&body)?;
    if let AuthSource::Saved(id) = &new.auth {
        let credential = state.services.store.credential(&key.id, id).await?;
        match credential {
            None => return Err(ApiError::field("options.auth.id", "no such credential")),
            Some(c) if !host_matches(&c.domain, &new.target_host) => {
                return Err(ApiError::field("options.auth.id", format!("the credential is for {}, not {}", c.domain, new.target_host)));
            }
            Some(_) => {}
        }
    }
    let now = db::now();
    let run = Run {
        id: db::new_id(),
        owner: key.id.clone(),
        status: RunStatus::Queued,
        progress_stage: None,
        target_url: new.target_url,
        goal: new.goal,
        options: new.options,
        awaiting_input: None,
        error: None,
        recording_started: false,
        cancel_requested: false,
        created_at: now.clone(),
        updated_at: now,
        started_at: None,
        finished_at: None,
    };
    state.services.store.insert_run(&run).await?;
    state.services.hub.queued.notify_one();
    let mut answer = json!({"run_id": run.id});
    if !new.warnings.is_empty() {
        answer["warnings"] = json!(new.warnings);
    }
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// A credential for `example.com` serves `example.com` and its subdomains.
pub fn host_matches(domain: &str, host: &str) -> bool {
    let (domain, host) = (domain.to_ascii_lowercase(), host.to_ascii_lowercase());
    host == domain || host.ends_with(&format!(".{domain}"))
}

async fn list_runs(State(state): State<AppState>, Caller(key): Caller, Query(query): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let (limit, cursor) = paging(&query)?;
    let status = match query.get("status") {
        None => None,
        Some(text) => Some(RunStatus::parse(text).ok_or_else(|| {
            ApiError::field("status", format!("unknown status {text:?}; expected queued, running, awaiting_input, succeeded, failed or cancelled"))
        })?),
    };
    let page = state.services.store.list_runs(&key.id, status, limit, cursor.as_deref()).await?;
    Ok(axum::Json(json!({"data": page.items.iter().map(run_json).collect::<Vec<_>>(), "next_cursor": page.next_cursor})).into_response())
}

fn paging(query: &HashMap<String, String>) -> Result<(u32, Option<String>), ApiError> {
    let limit = match query.get("limit") {
        None => 20,
        Some(text) => text.parse::<u32>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| ApiError::field("limit", "must be a whole number from 1 to 100"))?,
    };
    let cursor = match query.get("cursor") {
        None => None,
        Some(c) if db::sqlite::decode_cursor(c).is_some() => Some(c.clone()),
        Some(_) => return Err(ApiError::field("cursor", "is not a cursor this server gave out")),
    };
    Ok((limit, cursor))
}

async fn own_run(state: &AppState, key: &ApiKey, id: &str) -> Result<Run, ApiError> {
    check_id(id, "run")?;
    state.services.store.run(&key.id, id).await?.ok_or(ApiError::NotFound("run"))
}

async fn get_run(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(run_json(&own_run(&state, &key, &id).await?)).into_response())
}

async fn give_input(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let run = own_run(&state, &key, &id).await?;
    let map = validate::object(&body)?;
    let value = match map.get("value") {
        Some(Value::String(v)) if !v.trim().is_empty() && v.chars().count() <= 256 => v.clone(),
        Some(Value::String(_)) => return Err(ApiError::field("value", "must be 1 to 256 characters")),
        Some(_) => return Err(ApiError::field("value", "must be a string")),
        None => return Err(ApiError::field("value", "is required")),
    };
    if run.status != RunStatus::AwaitingInput {
        return Err(ApiError::Conflict(format!("the run is {}, not awaiting_input", run.status.as_str())));
    }
    if !state.services.hub.give_input(&run.id, value) {
        // Waiting in the database but no runner here holds it (it is just resuming).
        return Err(ApiError::Conflict("the run is not waiting for input any more".into()));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn cancel_run(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "run")?;
    match state.services.store.request_cancel(&key.id, &id, &db::now()).await? {
        None => Err(ApiError::NotFound("run")),
        Some(status) if status.is_terminal() => Err(ApiError::Conflict(format!("the run already ended ({})", status.as_str()))),
        Some(_) => {
            state.services.hub.cancel(&id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

// ---------- artifacts and downloads ----------

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn artifact_json(state: &AppState, headers: &HeaderMap, artifact: &Artifact) -> Value {
    let base = state.services.config.public_url.clone().unwrap_or_else(|| {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}")
    });
    let expires = unix_now() + state.services.config.download_ttl_s;
    let signature = state.services.signer.sign(&artifact.id, expires);
    let mut value = serde_json::to_value(artifact).unwrap_or(Value::Null);
    value["download_url"] = json!(format!("{}/v1/downloads/{}?expires={expires}&signature={signature}", base.trim_end_matches('/'), artifact.id));
    value
}

async fn list_artifacts(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let run = own_run(&state, &key, &id).await?;
    let artifacts = state.services.store.artifacts(&run.id).await?;
    let data: Vec<Value> = artifacts.iter().map(|a| artifact_json(&state, &headers, a)).collect();
    Ok(axum::Json(json!({"data": data, "next_cursor": null})).into_response())
}

async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // A signed URL opens without a key; otherwise the key must own the run.
    let signed = match (query.get("expires"), query.get("signature")) {
        (Some(expires), Some(signature)) => {
            let expires = expires.parse::<u64>().map_err(|_| ApiError::Unauthorized)?;
            if !state.services.signer.verify(&id, expires, signature, unix_now()) {
                return Err(ApiError::Unauthorized);
            }
            true
        }
        _ => false,
    };
    let caller = if signed { None } else { Some(authenticate(&state, &headers).await?) };
    check_id(&id, "artifact")?;
    let (artifact, owner) = state.services.store.artifact(&id).await?.ok_or(ApiError::NotFound("artifact"))?;
    if let Some(caller) = caller
        && caller.id != owner
    {
        return Err(ApiError::NotFound("artifact"));
    }
    let path = match state.services.artifacts.locate(&artifact.storage_key).await? {
        Location::Redirect(url) => return Ok((StatusCode::FOUND, [(header::LOCATION, url)]).into_response()),
        Location::File(path) => path,
    };
    let size = artifact.size_bytes as u64;
    let etag = format!("\"{}\"", artifact.sha256);
    let mut response_headers = vec![
        (header::CONTENT_TYPE, artifact.content_type.clone()),
        (header::ETAG, etag.clone()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", artifact.name)),
        (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
    ];
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        return Ok(build(StatusCode::NOT_MODIFIED, response_headers, Body::empty()));
    }
    // A range applies only if the file is still the one the client saw (If-Range).
    let if_range_ok = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|v| v == etag);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(text) if if_range_ok => parse_range(text, size)?,
        _ => None,
    };
    let (status, start, length) = match range {
        Some((start, end)) => {
            response_headers.push((header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        None => (StatusCode::OK, 0, size),
    };
    response_headers.push((header::CONTENT_LENGTH, length.to_string()));
    let body = file_body(&path, start, length).await?;
    Ok(build(status, response_headers, body))
}

fn build(status: StatusCode, headers: Vec<(header::HeaderName, String)>, body: Body) -> Response {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(name, value);
    }
    response.body(body).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// One `bytes=` range (first-last, first-, or -suffix) → inclusive (start, end).
/// Several ranges are answered with the whole file (allowed by RFC 9110).
pub fn parse_range(text: &str, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(spec) = text.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (first, last) = spec.split_once('-').ok_or(ApiError::RangeNotSatisfiable(size))?;
    let bad = || ApiError::RangeNotSatisfiable(size);
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| bad())?;
            if n == 0 || size == 0 {
                return Err(bad());
            }
            (size.saturating_sub(n), size - 1)
        }
        (first, "") => (first.parse().map_err(|_| bad())?, size.saturating_sub(1)),
        (first, last) => {
            let (s, e): (u64, u64) = (first.parse().map_err(|_| bad())?, last.parse().map_err(|_| bad())?);
            (s, e.min(size.saturating_sub(1)))
        }
    };
    if start >= size || start > end {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

/// Streams `length` bytes of `path` from `start`, 64 KiB at a time.
async fn file_body(path: &std::path::Path, start: u64, length: u64) -> Result<Body, ApiError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let stream = futures::stream::unfold((file, length), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut chunk = vec![0u8; left.min(64 * 1024) as usize];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    Ok(Body::from_stream(stream))
}

// ---------- credentials ----------

fn credential_json(c: &Credential) -> Value {
    // Never the password, nor its ciphertext.
    json!({"id": c.id, "label": c.label, "domain": c.domain, "email": c.email, "is_default": c.is_default, "created_at": c.created_at})
}

fn check_domain(text: &str) -> Result<String, String> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if ok { Ok(domain) } else { Err("must be a hostname such as app.example.com".into()) }
}

fn check_email(text: &str) -> Result<(), String> {
    let ok = text.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !host.is_empty()) && text.chars().count() <= 320;
    if ok { Ok(()) } else { Err("must be an e-mail address".into()) }
}

fn seal_password(state: &AppState, password: &str) -> Result<Vec<u8>, ApiError> {
    let sealer = state.services.sealer.as_ref().ok_or_else(|| {
        ApiError::field("password", "this server has no secret key (DEMOREEL_SECRET_KEY or --secret-key-file), so it cannot store passwords")
    })?;
    Ok(sealer.seal(password))
}

async fn create_credential(State(state): State<AppState>, Caller(key): Caller, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let map = validate::object(&body)?;
    let mut errors = Vec::new();
    let label = validate::string(map, "label", "label", 1, 200, &mut errors);
    let domain = validate::string(map, "domain", "domain", 1, 253, &mut errors).and_then(|d| {
        check_domain(&d).map_err(|message| errors.push(FieldError { field: "domain".into(), message })).ok()
    });
    let email = validate::string(map, "email", "email", 1, 320, &mut errors);
    if let Some(e) = &email
        && let Err(message) = check_email(e)
    {
        errors.push(FieldError { field: "email".into(), message });
    }
    let password = validate::string(map, "password", "password", 0, 1024, &mut errors).filter(|p| !p.is_empty());
    let is_default = match map.get("is_default") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError { field: "is_default".into(), message: "must be true or false".into() });
            false
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let password_sealed = password.as_deref().map(|p| seal_password(&state, p)).transpose()?;
    let credential = Credential {
        id: db::new_id(),
        owner: key.id,
        label: label.expect("checked"),
        domain: domain.expect("checked"),
        email: email.expect("checked"),
        password_sealed,
        is_default,
        created_at: db::now(),
    };
    state.services.store.insert_credential(&credential).await?;
    Ok((StatusCode::CREATED, axum::Json(credential_json(&credential))).into_response())
}

async fn list_credentials(State(state): State<AppState>, Caller(key): Caller) -> Result<Response, ApiError> {
    let list = state.services.store.credentials(&key.id).await?;
    Ok(axum::Json(json!({"data": list.iter().map(credential_json).collect::<Vec<_>>(), "next_cursor": null})).into_response())
}

async fn own_credential(state: &AppState, key: &ApiKey, id: &str) -> Result<Credential, ApiError> {
    check_id(id, "credential")?;
    state.services.store.credential(&key.id, id).await?.ok_or(ApiError::NotFound("credential"))
}

async fn update_credential(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let mut credential = own_credential(&state, &key, &id).await?;
    let map = validate::object(&body)?;
    let mut errors = Vec::new();
    if map.contains_key("label") {
        if let Some(label) = validate::string(map, "label", "label", 1, 200, &mut errors) {
            credential.label = label;
        }
    }
    if map.contains_key("domain") {
        match validate::string(map, "domain", "domain", 1, 253, &mut errors).map(|d| check_domain(&d)) {
            Some(Ok(domain)) => credential.domain = domain,
            Some(Err(message)) => errors.push(FieldError { field: "domain".into(), message }),
            None => {}
        }
    }
    if map.contains_key("email") {
        if let Some(email) = validate::string(map, "email", "email", 1, 320, &mut errors) {
            match check_email(&email) {
                Ok(()) => credential.email = email,
                Err(message) => errors.push(FieldError { field: "email".into(), message }),
            }
        }
    }
    match map.get("is_default") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => credential.is_default = *b,
        Some(_) => errors.push(FieldError { field: "is_default".into(), message: "must be true or false".into() }),
    }
    let new_password = match map.get("password") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => validate::string(map, "password", "password", 1, 1024, &mut errors).map(Some),
    };
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    if let Some(password) = new_password {
        credential.password_sealed = password.as_deref().map(|p| seal_password(&state, p)).transpose()?;
    }
    state.services.store.update_credential(&credential).await?;
    Ok(axum::Json(credential_json(&credential)).into_response())
}

async fn set_default_credential(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "credential")?;
    let credential = state.services.store.set_default_credential(&key.id, &id).await?.ok_or(ApiError::NotFound("credential"))?;
    Ok(axum::Json(credential_json(&credential)).into_response())
}

async fn delete_credential(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "credential")?;
    if state.services.store.delete_credential(&key.id, &id).await? { Ok(StatusCode::NO_CONTENT.into_response()) } else { Err(ApiError::NotFound("credential")) }
}

// ---------- feedback ----------

async fn create_feedback(State(state): State<AppState>, Caller(key): Caller, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let map = validate::object(&body)?;
    let mut errors = Vec::new();
    let feedback = validate::string(map, "feedback", "feedback", 1, 10_000, &mut errors);
    let run_ids: Vec<String> = match map.get("run_ids") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) if items.len() <= 20 => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item.as_str() {
                Some(id) if validate::is_uuid(id) => Some(id.to_string()),
                _ => {
                    errors.push(FieldError { field: format!("run_ids[{i}]"), message: "must be a run id (uuid)".into() });
                    None
                }
            })
            .collect(),
        Some(Value::Array(_)) => {
            errors.push(FieldError { field: "run_ids".into(), message: "must hold at most 20 ids".into() });
            vec![]
        }
        Some(_) => {
            errors.push(FieldError { field: "run_ids".into(), message: "must be a list of run ids".into() });
            vec![]
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    for id in &run_ids {
        if state.services.store.run(&key.id, id).await?.is_none() {
            return Err(ApiError::NotFound("run"));
        }
    }
    let now = db::now();
    state.services.store.insert_feedback(&key.id, &db::new_id(), &feedback.expect("checked"), &run_ids, &now).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"created_at": now}))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_a_player_sends() {
        assert_eq!(parse_range("bytes=0-", 100).unwrap(), Some((0, 99)));
        assert_eq!(parse_range("bytes=10-19", 100).unwrap(), Some((10, 19)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=90-500", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
        assert!(matches!(parse_range("bytes=100-", 100), Err(ApiError::RangeNotSatisfiable(100))));
        assert!(matches!(parse_range("bytes=5-2", 100), Err(ApiError::RangeNotSatisfiable(_))));
        assert!(host_matches("orbit.test", "app.orbit.test") && !host_matches("orbit.test", "evilorbit.test"));
    }
}
