//! `/v1/agent/runs`: create, list, read, input, cancel. Input: a caller and a request.
//! Output: run objects (`spec/api.md`). Invariant: a run is stored only after its whole
//! request was validated; another key's run answers 404; an input value goes straight to
//! the runner and is never stored.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{JsonBody, check_id, paging};
use super::validate;
use crate::run_spec::AuthSource;
use super::views::{ListView, RunView};
use crate::db::{self, ApiKey, Run, RunStatus};
use crate::options::FieldError;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/agent/runs", post(create_run).get(list_runs))
        .route("/v1/agent/runs/{id}", get(get_run))
        .route("/v1/agent/runs/{id}/input", post(give_input))
        .route("/v1/agent/runs/{id}/cancel", post(cancel_run))
}

async fn create_run(State(state): State<AppState>, Caller(key): Caller, JsonBody(mut body): JsonBody) -> Result<Response, ApiError> {
    super::tasks::resolve_replay(&state, &key.id, &mut body).await?;
    let intro_template = match validate::intro_reference(&body) {
        Some(reference) => Some(super::templates::lookup(&state, &key.id, reference).await?),
        None => None,
    };
    let new = validate::new_run(&body, &state.services.config.targets, &intro_template)?;
    if let AuthSource::Saved(id) = &new.options.auth {
        let credential = state.services.db.credential(&key.id, id).await?;
        match credential {
            None => return Err(ApiError::field("options.auth.id", "no such credential")),
            Some(c) if !crate::steps::url::host_within(&new.target_host, &c.domain) => {
                return Err(ApiError::field("options.auth.id", format!("the credential is for {}, not {}", c.domain, new.target_host)));
            }
            Some(_) => {}
        }
    }
    // A workflow that signs in needs a login before it is queued: the run's own, the
    // identity its sign-in names, or the key's default for the site.
    let identity = new.options.sign_in_identity().filter(|_| matches!(new.options.auth, AuthSource::None));
    if let Some((field, id)) = &identity
        && state.services.db.identity(&key.id, id).await?.is_none()
    {
        let message = format!("the workflow signs in with identity {id}, which this key does not have (deleted?): name a credential in options.auth");
        return Err(ApiError::fields(vec![FieldError { field: field.clone(), message }]));
    }
    if new.options.signs_in()
        && matches!(new.options.auth, AuthSource::None)
        && identity.is_none()
        && state.services.db.default_credential_for_host(&key.id, &new.target_host).await?.is_none()
    {
        return Err(ApiError::field(
            "options.auth",
            format!("the workflow signs in (a sign_in step) and this key has no credential for {}: save one (POST /v1/credentials) or name one here", new.target_host),
        ));
    }
    let mut options = new.options_json;
    seal_secret_steps(&mut options, state.services.sealer.as_deref())?;
    let now = db::now();
    let run = Run {
        id: db::new_id(),
        owner: key.id.clone(),
        status: RunStatus::Queued,
        progress_stage: None,
        target_url: new.target_url,
        goal: new.goal,
        options,
        awaiting_input: None,
        error: None,
        recording_started: false,
        cancel_requested: false,
        created_at: now.clone(),
        updated_at: now,
        started_at: None,
        finished_at: None,
    };
    // The queue's bound, and that an uploaded template it names was not deleted since it
    // was checked above, are checked as the run is stored, in one step for the key.
    let limit = state.services.config.max_queued_per_key;
    let template = validate::intro_reference(&body).and_then(crate::template_library::stored_need);
    match state.services.db.insert_run_within(&run, &db::AdmissionChecks { max_waiting: limit, template: template.as_ref() }).await? {
        db::Admission::Stored => {}
        db::Admission::QueueFull => return Err(ApiError::QueueFull(limit, "runs")),
        db::Admission::TemplateGone => return Err(template_gone(template)),
    }
    state.services.signals.run_queued();
    let mut answer = json!({"run_id": run.id});
    if !new.warnings.is_empty() {
        answer["warnings"] = json!(new.warnings);
    }
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// The answer when the template a run or job names was deleted between its check and its
/// store: the same field error a request after the delete gets.
pub(super) fn template_gone(template: Option<db::TemplateNeed>) -> ApiError {
    let name = template.map_or_else(String::new, |need| need.name);
    ApiError::field("options.intro.template", format!("the template {name:?} was deleted while this request was checked"))
}

/// A secret step's text is stored sealed with the server's key, like a credential's
/// password; without a key it is refused rather than stored in the clear.
fn seal_secret_steps(options: &mut Value, sealer: Option<&crate::secrets::Sealer>) -> Result<(), ApiError> {
    let secret = crate::steps::sealed::secret_steps(options);
    if secret.is_empty() {
        return Ok(());
    }
    let Some(sealer) = sealer else {
        return Err(ApiError::field(
            &format!("options.workflow.steps[{}].text", secret[0]),
            "a secret text is stored encrypted, and this server has no secret key (DEMOREEL_SECRET_KEY or --secret-key-file); use an input step or a saved credential instead",
        ));
    };
    crate::steps::sealed::seal(options, sealer);
    Ok(())
}

async fn list_runs(State(state): State<AppState>, Caller(key): Caller, Query(query): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let (limit, cursor) = paging(&query)?;
    let status = match query.get("status") {
        None => None,
        Some(text) => Some(RunStatus::parse(text).ok_or_else(|| {
            ApiError::field("status", format!("unknown status {text:?}; expected queued, running, awaiting_input, succeeded, failed or cancelled"))
        })?),
    };
    let page = state.services.db.list_runs(&key.id, status, limit, cursor.as_deref()).await?;
    Ok(axum::Json(ListView { data: page.items.iter().map(RunView::from).collect(), next_cursor: page.next_cursor }).into_response())
}

/// The caller's run `id`; another key's answers 404 like a missing one.
pub(super) async fn own_run(state: &AppState, key: &ApiKey, id: &str) -> Result<Run, ApiError> {
    check_id(id, "run")?;
    state.services.db.run(&key.id, id).await?.ok_or(ApiError::NotFound("run"))
}

async fn get_run(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(RunView::from(&own_run(&state, &key, &id).await?)).into_response())
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
    if state.services.signals.give_input(&run.id, value.clone()) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // No runner here waits for it: the run records in another process sharing the
    // database, which takes the value from there, sealed (or it is just resuming).
    let Some(sealer) = &state.services.sealer else {
        return Err(ApiError::Conflict(
            "the run is not waiting for input in this process; input reaches a run recording in another process only when the processes share the operator's secret key (DEMOREEL_SECRET_KEY)".into(),
        ));
    };
    let expires_at = run.awaiting_input.as_ref().map(|a| a.expires_at.clone()).unwrap_or_else(|| db::later(60));
    if !state.services.db.put_run_input(&run.id, &sealer.seal(&value), &db::now(), &expires_at).await? {
        return Err(ApiError::Conflict("the run is not waiting for input any more".into()));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn cancel_run(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "run")?;
    match state.services.db.request_cancel(&key.id, &id, &db::now()).await? {
        None => Err(ApiError::NotFound("run")),
        Some(status) if status.is_terminal() => Err(ApiError::Conflict(format!("the run already ended ({})", status.as_str()))),
        Some(_) => {
            state.services.signals.cancel(&id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}
