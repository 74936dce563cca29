//! `/v1/render-jobs`: create, list, read, cancel. Input: a caller and a request naming
//! the caller's runs and the new render's options. Output: job objects with per-run
//! outcomes and each run's new artifacts. Invariant: a job is stored only once its whole
//! request was checked (every run the caller's and with its recording kept; the options
//! as a run's would be; an intro's template pinned to the version it names now, so a
//! later upload never changes what the job draws); another key's job answers 404.

use super::AppState;
use super::artifacts::download_url;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{JsonBody, check_id, paging};
use super::validate;
use super::views::{ArtifactView, ListView};
use crate::db::{self, RenderJob, TaskStatus};
use crate::options::FieldError;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// A job names at most this many runs.
pub const MAX_RUNS_PER_JOB: usize = 100;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/render-jobs", post(create_job).get(list_jobs))
        .route("/v1/render-jobs/{id}", get(get_job))
        .route("/v1/render-jobs/{id}/cancel", post(cancel_job))
}

/// `run_ids`: 1 to 100 distinct run ids; answers the well-formed ones with their place.
fn check_run_ids(map: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Vec<(usize, String)> {
    let mut error = |field: String, message: String| errors.push(FieldError { field, message });
    let Some(list) = map.get("run_ids") else {
        error("run_ids".into(), "is required: the runs to render again".into());
        return Vec::new();
    };
    let Some(list) = list.as_array().filter(|l| (1..=MAX_RUNS_PER_JOB).contains(&l.len())) else {
        error("run_ids".into(), format!("must be an array of 1 to {MAX_RUNS_PER_JOB} run ids"));
        return Vec::new();
    };
    let mut ids: Vec<(usize, String)> = Vec::new();
    for (i, id) in list.iter().enumerate() {
        match id.as_str() {
            Some(text) if validate::is_uuid(text) => match ids.iter().find(|(_, seen)| seen == text) {
                Some((first, _)) => error(format!("run_ids[{i}]"), format!("repeats run_ids[{first}]")),
                None => ids.push((i, text.to_string())),
            },
            _ => error(format!("run_ids[{i}]"), "must be a run id".into()),
        }
    }
    ids
}

/// `options`: what a run's render options may say (`video`, `intro`, `artifacts`);
/// absent ones take their defaults, not the runs' original values.
fn check_options(options: &Value, intro_template: &validate::IntroTemplate, state: &AppState, errors: &mut Vec<FieldError>) {
    let Some(map) = options.as_object() else {
        if !options.is_null() {
            errors.push(FieldError { field: "options".into(), message: "must be a JSON object".into() });
        }
        return;
    };
    if let Err(e) = crate::options::parse(options) {
        errors.extend(e.details.into_iter().map(|d| FieldError { field: format!("options.{}", d.field), message: d.message }));
    }
    validate::check_intro(map.get("intro"), intro_template, &state.services.config.targets, "options.intro", errors);
    for key in map.keys().filter(|k| !["video", "intro", "artifacts"].contains(&k.as_str())) {
        errors.push(FieldError { field: format!("options.{key}"), message: "a re-render does not record: only video, intro and artifacts apply".into() });
    }
}

async fn create_job(State(state): State<AppState>, Caller(key): Caller, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let map = validate::object(&body)?;
    let mut errors = Vec::new();
    let run_ids = check_run_ids(map, &mut errors);
    let mut options = map.get("options").cloned().unwrap_or(Value::Null);
    if serde_json::to_string(&options).map_or(0, |text| text.len()) > validate::MAX_OPTIONS_BYTES {
        return Err(ApiError::field("options", format!("must be at most {} KiB of JSON", validate::MAX_OPTIONS_BYTES / 1024)));
    }
    let intro_template = match options.pointer("/intro/template").and_then(Value::as_str) {
        Some(reference) => Some(super::templates::lookup(&state, &key.id, reference).await?),
        None => None,
    };
    check_options(&options, &intro_template, &state, &mut errors);
    for key in map.keys().filter(|k| !["run_ids", "options"].contains(&k.as_str())) {
        errors.push(FieldError { field: key.clone(), message: "is not a field of a render job (run_ids, options)".into() });
    }
    for (i, run_id) in &run_ids {
        let field = format!("run_ids[{i}]");
        match state.services.db.run(&key.id, run_id).await? {
            None => errors.push(FieldError { field, message: "no such run".into() }),
            Some(run) if state.services.db.run_recording(run_id).await?.is_none() => errors.push(FieldError {
                field,
                message: match run.status.is_terminal() {
                    true => format!("the run ({}) kept no recording to render again", run.status.as_str()),
                    false => format!("the run is {}: it can be rendered again once it has recorded and ended", run.status.as_str()),
                },
            }),
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    // Pinned: `name` alone means the latest version now, not at render time.
    if let (Some(intro), Some(Ok(template))) = (options.get_mut("intro").and_then(Value::as_object_mut), &intro_template) {
        intro.insert("template".into(), json!(template.manifest.reference()));
    }
    if options.is_null() {
        options = json!({});
    }
    let id = db::new_id();
    let run_ids: Vec<String> = run_ids.into_iter().map(|(_, id)| id).collect();
    // Jobs count against the key's queue like runs: a flood of jobs cannot take every
    // worker. Checked as the job is stored, in one step for the key.
    // So is the pinned template version: a delete cannot slip between its check and the store.
    let limit = state.services.config.max_queued_per_key;
    let template = options.pointer("/intro/template").and_then(Value::as_str).and_then(crate::template_library::stored_need);
    match state.services.db.insert_render_job_within(&id, &key.id, &options, &run_ids, &db::now(), &db::AdmissionChecks { max_waiting: limit, template: template.as_ref() }).await? {
        db::Admission::Stored => {}
        db::Admission::QueueFull => return Err(ApiError::QueueFull(limit, "unfinished render jobs")),
        db::Admission::TemplateGone => return Err(super::runs::template_gone(template)),
    }
    state.services.signals.render_queued();
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"job_id": id}))).into_response())
}

/// What a job as a whole is: queued until a task starts, running while any task may
/// still work, then cancelled (a cancel stopped some), failed (some run failed) or
/// succeeded (every run).
pub fn job_status(job: &RenderJob) -> &'static str {
    let status = |s: TaskStatus| job.tasks.iter().any(|t| t.status == s);
    if status(TaskStatus::Running) || (status(TaskStatus::Queued) && job.tasks.iter().any(|t| t.status != TaskStatus::Queued)) {
        "running"
    } else if status(TaskStatus::Queued) {
        "queued"
    } else if status(TaskStatus::Cancelled) {
        "cancelled"
    } else if status(TaskStatus::Failed) {
        "failed"
    } else {
        "succeeded"
    }
}

async fn job_view(state: &AppState, headers: &HeaderMap, job: &RenderJob, with_artifacts: bool) -> Result<Value, ApiError> {
    let mut runs = Vec::new();
    for task in &job.tasks {
        let mut run = json!({
            "run_id": task.run_id, "status": task.status.as_str(), "error": task.error, "generation": task.generation,
            "attempts": task.attempts, "frames_done": task.frames_done, "frames_total": task.frames_total,
            "started_at": task.started_at, "finished_at": task.finished_at,
        });
        if with_artifacts && task.status == TaskStatus::Succeeded {
            let artifacts = state.services.db.artifacts(&task.run_id).await?;
            let made: Vec<_> = artifacts.iter().filter(|a| a.generation == task.generation).map(|a| ArtifactView::new(a, download_url(state, headers, a))).collect();
            run["artifacts"] = json!(made);
        }
        runs.push(run);
    }
    let ended = job.tasks.iter().filter(|t| t.status.is_terminal()).count();
    let finished_at = (ended == job.tasks.len()).then(|| job.tasks.iter().filter_map(|t| t.finished_at.clone()).max()).flatten();
    Ok(json!({
        "id": job.id,
        "status": job_status(job),
        "progress": {
            "runs_total": job.tasks.len(), "runs_ended": ended,
            "frames_done": job.tasks.iter().map(|t| t.frames_done).sum::<u64>(),
            "frames_total": job.tasks.iter().map(|t| t.frames_total).sum::<u64>(),
        },
        "cancel_requested": job.cancel_requested,
        "options": job.options,
        "runs": runs,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "finished_at": finished_at,
    }))
}

async fn get_job(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    check_id(&id, "render job")?;
    let job = state.services.db.render_job(&key.id, &id).await?.ok_or(ApiError::NotFound("render job"))?;
    Ok(axum::Json(job_view(&state, &headers, &job, true).await?).into_response())
}

async fn list_jobs(State(state): State<AppState>, Caller(key): Caller, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (limit, cursor) = paging(&query)?;
    let page = state.services.db.list_render_jobs(&key.id, limit, cursor.as_deref()).await?;
    let mut data = Vec::new();
    for job in &page.items {
        data.push(job_view(&state, &headers, job, false).await?);
    }
    Ok(axum::Json(ListView { data, next_cursor: page.next_cursor }).into_response())
}

async fn cancel_job(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "render job")?;
    match state.services.db.cancel_render_job(&key.id, &id, &db::now()).await? {
        None => Err(ApiError::NotFound("render job")),
        Some(false) => Err(ApiError::Conflict("the render job already ended".into())),
        Some(true) => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
