//! `/v1/tasks` and `/v1/tools`: the workflows demonstrations made, and the replay of one
//! by a run (`options.workflow.task_id`). Input: a caller and a request. Output: tasks
//! with their versions (start URL, steps with ranked locators, declared parameters),
//! tools (a task as a callable: name, description, JSON Schema of its parameters), and
//! for a run request naming a task, the request with the version's steps filled in.
//! Invariant: another key's task or tool answers 404; a replay request is stored only
//! with every declared parameter given a value of its type, and never with a placeholder.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{check_id, paging};
use super::validate::is_uuid;
use crate::db::{KeyId, Task, TaskVersion};
use crate::options::FieldError;
use crate::steps::params::{self, Parameter};
use crate::steps::{Schemes, Step};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::HashMap;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tasks", get(list_tasks))
        .route("/v1/tasks/", get(list_tasks))
        .route("/v1/tasks/{id}", get(task))
        .route("/v1/tasks/{id}/versions", get(versions))
        .route("/v1/tasks/{id}/versions/{version_id}", get(version))
        .route("/v1/tools", get(list_tools))
        .route("/v1/tools/{id}", get(tool))
}

fn task_view(task: &Task) -> Value {
    json!({"id": task.id, "name": task.name, "description": task.description, "tool_id": task.tool_id, "created_at": task.created_at})
}

fn version_view(task: &Task, version: &TaskVersion) -> Value {
    let mut view = serde_json::to_value(version).unwrap_or_default();
    view["tool_id"] = json!(task.tool_id);
    view
}

/// A tool's name: the task's name as an identifier a model can call
/// (`Create a project` → `create_a_project`).
fn tool_name(task_name: &str) -> String {
    let words: Vec<String> = task_name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    let name = words.join("_").chars().take(64).collect::<String>();
    if name.is_empty() { "task".into() } else { name }
}

fn declared(version: &TaskVersion) -> Vec<Parameter> {
    serde_json::from_value(version.parameters.clone()).unwrap_or_default()
}

fn tool_view(task: &Task, latest: Option<&TaskVersion>) -> Value {
    let parameters = latest.map(declared).unwrap_or_default();
    json!({
        "id": task.tool_id,
        "name": tool_name(&task.name),
        "title": task.name,
        "description": task.description,
        "task_id": task.id,
        "version_id": latest.map(|v| v.id.clone()),
        "parameters": params::schema(&parameters),
    })
}

async fn list_tasks(State(state): State<AppState>, Caller(key): Caller, Query(query): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let (limit, cursor) = paging(&query)?;
    let page = state.services.db.list_tasks(&key.id, limit, cursor.as_deref()).await?;
    let items: Vec<Value> = page.items.iter().map(task_view).collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": page.next_cursor})).into_response())
}

async fn task(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "task")?;
    let (task, versions) = state.services.db.task(&key.id, &id).await?.ok_or(ApiError::NotFound("task"))?;
    let mut view = task_view(&task);
    view["versions"] = json!(versions.iter().map(|v| version_view(&task, v)).collect::<Vec<_>>());
    Ok(axum::Json(view).into_response())
}

async fn versions(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "task")?;
    let (task, versions) = state.services.db.task(&key.id, &id).await?.ok_or(ApiError::NotFound("task"))?;
    let items: Vec<Value> = versions.iter().rev().map(|v| version_view(&task, v)).collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": null})).into_response())
}

async fn version(State(state): State<AppState>, Caller(key): Caller, Path((id, version_id)): Path<(String, String)>) -> Result<Response, ApiError> {
    check_id(&id, "task")?;
    check_id(&version_id, "task version")?;
    let (task, version) = state.services.db.task_version(&key.id, &id, Some(&version_id)).await?.ok_or(ApiError::NotFound("task version"))?;
    Ok(axum::Json(version_view(&task, &version)).into_response())
}

async fn list_tools(State(state): State<AppState>, Caller(key): Caller, Query(query): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let (limit, cursor) = paging(&query)?;
    let page = state.services.db.list_tasks(&key.id, limit, cursor.as_deref()).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for task in &page.items {
        let latest = state.services.db.task_version(&key.id, &task.id, None).await?.map(|(_, v)| v);
        items.push(tool_view(task, latest.as_ref()));
    }
    Ok(axum::Json(json!({"items": items, "next_cursor": page.next_cursor})).into_response())
}

async fn tool(State(state): State<AppState>, Caller(key): Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "tool")?;
    let (task, latest) = state.services.db.tool(&key.id, &id).await?.ok_or(ApiError::NotFound("tool"))?;
    Ok(axum::Json(tool_view(&task, latest.as_ref())).into_response())
}

/// A run request naming a task (`options.workflow = {task_id, version_id?, params}`)
/// made into one with the version's steps, each parameter filled in; `target_url` and
/// `goal` default to the version's start URL and the task's description. A request
/// without a task is left as it is.
pub(super) async fn resolve_replay(state: &AppState, owner: &KeyId, body: &mut Value) -> Result<(), ApiError> {
    let Some(workflow) = body.pointer("/options/workflow").and_then(Value::as_object) else { return Ok(()) };
    let Some(task_id) = workflow.get("task_id") else { return Ok(()) };
    if workflow.contains_key("steps") {
        return Err(ApiError::field("options.workflow", "give steps or a task_id, not both"));
    }
    let task_id = task_id.as_str().filter(|id| is_uuid(id)).ok_or_else(|| ApiError::field("options.workflow.task_id", "must be the id of one of your tasks"))?;
    let version_id = match workflow.get("version_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if is_uuid(id) => Some(id.as_str()),
        Some(_) => return Err(ApiError::field("options.workflow.version_id", "must be the id of a version of the task")),
    };
    let db = &state.services.db;
    let Some((task, version)) = db.task_version(owner, task_id, version_id).await? else {
        return Err(match (db.task(owner, task_id).await?, version_id) {
            (None, _) => ApiError::field("options.workflow.task_id", "no such task"),
            (Some(_), Some(_)) => ApiError::field("options.workflow.version_id", "no such version of the task"),
            (Some(_), None) => ApiError::field("options.workflow.task_id", "the task has no version yet (its demonstration has not completed)"),
        });
    };
    let steps: Vec<Step> = crate::steps::parse_with(&version.steps, Schemes::Web).map_err(|e| ApiError::field("options.workflow.task_id", format!("the task's stored workflow is not valid: {e}")))?;
    let filled = params::fill(&steps, &declared(&version), workflow.get("params"), "options.workflow.params")
        .map_err(|errors| ApiError::fields(errors.into_iter().map(|(field, message)| FieldError { field, message }).collect()))?;
    let steps = serde_json::to_value(&filled).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["options"]["workflow"] = json!({"task_id": task.id, "version_id": version.id, "steps": steps});
    if let Some(map) = body.as_object_mut() {
        map.entry("target_url").or_insert_with(|| json!(version.start_url));
        let goal: String = format!("{}: {}", task.name, task.description).chars().take(super::validate::MAX_GOAL_CHARS).collect();
        map.entry("goal").or_insert_with(|| json!(goal));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tool_is_named_like_a_function() {
        assert_eq!(super::tool_name("Create a project (Orbit)"), "create_a_project_orbit");
        assert_eq!(super::tool_name("…"), "task");
    }
}
