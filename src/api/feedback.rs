//! `/v1/agent/feedback`. Input: a caller, a text and the runs it is about. Output: 201.
//! Invariant: feedback names only the caller's own runs (another's answers 404).

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::JsonBody;
use super::validate;
use crate::db;
use crate::options::FieldError;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/agent/feedback", post(create_feedback))
}

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
        if state.services.db.run(&key.id, id).await?.is_none() {
            return Err(ApiError::NotFound("run"));
        }
    }
    let now = db::now();
    state.services.db.insert_feedback(&key.id, &db::new_id(), &feedback.expect("checked"), &run_ids, &now).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"created_at": now}))).into_response())
}
