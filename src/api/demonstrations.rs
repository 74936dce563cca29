//! `/v1/demonstrations` (Anchor-compatible, `spec/api.md`): create, list, read, complete,
//! stop (the tasks they make are in `tasks`). Input: a caller (`x-api-key`
//! or `anchor-api-key`) and a request. Output: the demonstration objects of the hosted
//! flow, share links among them. Invariant: a demonstration is stored only after its
//! whole request was validated and a recording slot was reserved for it; another key's
//! demonstration answers 404; no share token is accepted here.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{JsonBody, check_id, paging};
use super::validate;
use crate::db::{self, Demonstration, KeyId, NewDemonstration};
use crate::demonstrations::token::{Grant, SHARE_LINK_S};
use crate::demonstrations::{Demonstrations, FinishError};
use crate::options::FieldError;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/demonstrations", post(create).get(list))
        .route("/v1/demonstrations/", post(create).get(list))
        .route("/v1/demonstrations/{id}", get(read))
        .route("/v1/demonstrations/{id}/recording/complete", post(complete))
        .route("/v1/demonstrations/{id}/stop", post(stop))
        .route("/v1/demonstrations/{id}/artifacts", get(artifacts))
}

/// Minutes a session may last, and may sit idle, when the request does not say.
const DEFAULT_MINUTES: f64 = 30.0;
const MAX_MINUTES: f64 = 24.0 * 60.0;

/// A create request, checked.
struct NewSession {
    task_name: String,
    task_description: String,
    user_name: Option<String>,
    identity_id: Option<String>,
    identity_skip_validation: bool,
    start_url: String,
    max_duration_s: u64,
    idle_timeout_s: u64,
}

fn service(state: &AppState) -> Result<&Arc<Demonstrations>, ApiError> {
    state.services.demonstrations.as_ref().ok_or_else(|| ApiError::Unavailable("this server records no demonstrations (it runs with --workers 0)".into()))
}

async fn create(State(state): State<AppState>, Caller(key): Caller, headers: HeaderMap, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let demonstrations = service(&state)?;
    let new = check_new(&body, &state)?;
    // The identity signs in before the person arrives. One the key does not have is
    // refused only when its sign-in must work: by default the session starts without it
    // (the hosted flow's own example sends a placeholder id).
    if let Some(id) = &new.identity_id
        && !new.identity_skip_validation
        && (!validate::is_uuid(id) || state.services.db.identity(&key.id, id).await?.is_none())
    {
        return Err(ApiError::field("identity_id", "no such identity (POST /v1/identities makes one), and identity_skip_validation is false"));
    }
    let slot = demonstrations.reserve_slot().ok_or(ApiError::SlotsFull(30))?;
    let new = NewDemonstration {
        id: db::new_id(),
        owner: key.id.clone(),
        task_id: db::new_id(),
        tool_id: db::new_id(),
        task_name: new.task_name,
        task_description: new.task_description,
        user_name: new.user_name,
        start_url: new.start_url,
        identity_id: new.identity_id,
        identity_skip_validation: new.identity_skip_validation,
        max_duration_s: new.max_duration_s,
        idle_timeout_s: new.idle_timeout_s,
        holder: demonstrations.holder().to_string(),
    };
    let demonstration = state.services.db.insert_demonstration(&new, &db::now()).await?;
    demonstrations.start(&demonstration, slot);

    let now = crate::secrets::now_unix();
    let expires = now + SHARE_LINK_S;
    let share_token = demonstrations.tokens.issue(&demonstration.id, Grant::Drive, now, expires);
    let view_token = demonstrations.tokens.issue(&demonstration.id, Grant::View, now, expires);
    let base = super::artifacts::public_base(&state, &headers);
    let answer = json!({
        "session_id": demonstration.id,
        "live_view_url": format!("{base}/demonstrate/watch?token={view_token}"),
        "share_url": format!("{base}/demonstrate?token={share_token}"),
        "share_token": share_token,
        "share_expires_at": rfc3339(expires),
        "task_id": demonstration.task_id,
    });
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

fn rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix)).to_string()
}

/// Every field of a create request checked, each error naming its path.
fn check_new(body: &Value, state: &AppState) -> Result<NewSession, ApiError> {
    let map = validate::object(body)?;
    let mut errors = Vec::new();
    let task_name = validate::string(map, "task_name", "task_name", 1, 200, &mut errors);
    let task_description = validate::string(map, "task_description", "task_description", 1, 4000, &mut errors);
    let user_name = validate::string(map, "user_name", "user_name", 0, 100, &mut errors);
    let identity_id = validate::string(map, "identity_id", "identity_id", 0, 200, &mut errors);
    let identity_skip_validation = validate::boolean(map, "identity_skip_validation", true, &mut errors);
    let config = match map.get("session_config") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(config)) => config.clone(),
        Some(_) => {
            errors.push(FieldError { field: "session_config".into(), message: "must be an object".into() });
            Map::new()
        }
    };
    let start_url = check_start_url(&config, state, &mut errors);
    let timeout = config.get("session").and_then(|s| s.get("timeout"));
    let max_duration_s = minutes(timeout.and_then(|t| t.get("max_duration")), "session_config.session.timeout.max_duration", &mut errors);
    let idle_timeout_s = minutes(timeout.and_then(|t| t.get("idle_timeout")), "session_config.session.timeout.idle_timeout", &mut errors);
    match (task_name, task_description, start_url) {
        (Some(task_name), Some(task_description), Some(start_url)) if errors.is_empty() => Ok(NewSession {
            task_name,
            task_description,
            user_name: user_name.filter(|n| !n.trim().is_empty()),
            identity_id: identity_id.filter(|id| !id.trim().is_empty()),
            identity_skip_validation,
            start_url,
            max_duration_s,
            idle_timeout_s,
        }),
        _ => Err(ApiError::fields(errors)),
    }
}

/// `session_config.browser.start_url`, or the server's default start page.
fn check_start_url(config: &Map<String, Value>, state: &AppState, errors: &mut Vec<FieldError>) -> Option<String> {
    const FIELD: &str = "session_config.browser.start_url";
    let given = config.get("browser").and_then(|b| b.get("start_url"));
    let url = match (given, &state.services.config.demonstration_start_url) {
        (Some(Value::String(url)), _) => url.clone(),
        (None | Some(Value::Null), Some(default)) => default.clone(),
        (None | Some(Value::Null), None) => {
            errors.push(FieldError { field: FIELD.into(), message: "is required: this server has no default start page (--demonstration-start-url)".into() });
            return None;
        }
        (Some(_), _) => {
            errors.push(FieldError { field: FIELD.into(), message: "must be a string".into() });
            return None;
        }
    };
    match validate::http_url(&url, &state.services.config.targets) {
        Ok(_) => Some(url),
        Err(message) => {
            errors.push(FieldError { field: FIELD.into(), message });
            None
        }
    }
}

/// A timeout in minutes (fractions allowed), as whole seconds (at least one).
fn minutes(value: Option<&Value>, field: &str, errors: &mut Vec<FieldError>) -> u64 {
    let minutes = match value {
        None | Some(Value::Null) => DEFAULT_MINUTES,
        Some(value) => match value.as_f64().filter(|m| *m > 0.0 && *m <= MAX_MINUTES) {
            Some(minutes) => minutes,
            None => {
                errors.push(FieldError { field: field.into(), message: format!("must be a number of minutes above 0 and at most {MAX_MINUTES}") });
                DEFAULT_MINUTES
            }
        },
    };
    ((minutes * 60.0).ceil() as u64).max(1)
}

/// The status object of the hosted flow. `hektor_project_id` is what its clients read
/// the project from: here the task is the project.
fn view(demonstration: &Demonstration) -> Value {
    let completed = demonstration.task_version_id.is_some();
    json!({
        "session_id": demonstration.id,
        "status": demonstration.status.as_str(),
        "hektor_project_id": demonstration.task_id,
        "task_id": demonstration.task_id,
        "task_version_id": demonstration.task_version_id,
        "tool_id": if completed { Some(&demonstration.tool_id) } else { None },
        "task_name": demonstration.task_name,
        "user_name": demonstration.user_name,
        "start_url": demonstration.start_url,
        "run_id": demonstration.run_id,
        "error": demonstration.error,
        "created_at": demonstration.created_at,
        "ended_at": demonstration.ended_at,
    })
}

async fn owned(state: &AppState, owner: &KeyId, id: &str) -> Result<Demonstration, ApiError> {
    check_id(id, "demonstration")?;
    state.services.db.demonstration(Some(owner), id).await?.ok_or(ApiError::NotFound("demonstration"))
}

async fn read(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(view(&owned(&state, &key.id, &id).await?)).into_response())
}

async fn list(State(state): State<AppState>, Caller(key): Caller, Query(query): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let (limit, cursor) = paging(&query)?;
    let page = state.services.db.list_demonstrations(&key.id, limit, cursor.as_deref()).await?;
    let items: Vec<Value> = page.items.iter().map(view).collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": page.next_cursor})).into_response())
}

async fn complete(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let demonstration = owned(&state, &key.id, &id).await?;
    match service(&state)?.finish(&demonstration.id).await {
        Ok(()) => Ok(axum::Json(json!({
            "session_id": demonstration.id,
            "status": "processing",
            "hektor_project_id": demonstration.task_id,
            "task_id": demonstration.task_id,
        }))
        .into_response()),
        Err(FinishError::NotRecording(reason)) => Err(ApiError::Conflict(reason.to_string())),
        Err(FinishError::Db(error)) => Err(error.into()),
    }
}

async fn stop(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let demonstration = owned(&state, &key.id, &id).await?;
    service(&state)?.stop(&demonstration.id, "stopped through the API").await?;
    Ok(axum::Json(json!({"success": true})).into_response())
}

/// The session's own recording: `raw.mp4` and `demo.mp4`, listed once stored (after
/// the workflow), downloaded like a run's.
async fn artifacts(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let demonstration = owned(&state, &key.id, &id).await?;
    super::artifacts::listing(&state, &headers, demonstration.run_id.as_deref(), &query).await
}
