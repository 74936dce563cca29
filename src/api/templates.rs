//! `/v1/templates`: list, upload, delete, preview. Input: a caller; a template's files;
//! for a preview, a template, its content and style, a size and a moment or a clip
//! format. Output: the built-in and the caller's own templates with their schemas; a
//! stored version; a PNG of one moment, or the whole card as MP4 or GIF.
//! Invariant: an upload is checked whole (every file, a card drawn at two sizes) before
//! it is stored; a preview checks its values exactly as a run's `options.intro` is
//! checked (400 names the field), and its images obey the same target policy as runs.

use super::AppState;
use super::auth::{Caller, StudioCaller};
use super::error::ApiError;
use super::extract::{JsonBody, MAX_UPLOAD_BYTES, UploadBody};
use super::validate;
use crate::db::KeyId;
use crate::geometry::Size;
use crate::options::FieldError;
use crate::render::intro::IntroRequest;
use crate::template_library::{self, LibraryError};
use crate::templates::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/templates", get(list_templates).post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)))
        .route("/v1/templates/preview", post(preview))
        .route("/v1/templates/{name}", delete(delete_template))
}

async fn list_templates(State(state): State<AppState>, StudioCaller(key): StudioCaller) -> Result<Response, ApiError> {
    let data = template_library::list(state.services.db.as_ref(), &key.id).await.map_err(library_error)?;
    Ok(axum::Json(json!({"data": data})).into_response())
}

/// The template `reference` names for `owner`, or why it names none (a field's message);
/// only a failing database is an error of the request.
pub(super) async fn lookup(state: &AppState, owner: &KeyId, reference: &str) -> Result<Result<Arc<Template>, String>, ApiError> {
    match template_library::resolve(state.services.db.as_ref(), owner, reference).await {
        Ok(template) => Ok(Ok(template)),
        Err(LibraryError::Unknown(reason)) => Ok(Err(reason)),
        Err(other) => Err(library_error(other)),
    }
}

fn library_error(error: LibraryError) -> ApiError {
    match error {
        LibraryError::Unknown(_) => ApiError::NotFound("template"),
        LibraryError::Invalid(details) => ApiError::fields(details),
        LibraryError::Full(_) | LibraryError::Pinned(_) => ApiError::Conflict(error.to_string()),
        LibraryError::Db(e) => ApiError::Internal(e.to_string()),
        LibraryError::Stored(e) => ApiError::Internal(e),
    }
}

/// `POST /v1/templates` `{"files": {"manifest.json": TEXT, "scene.svg": TEXT,
/// "assets/logo.png": {"base64": …}}}` → 201 with the stored version's description.
async fn upload(State(state): State<AppState>, Caller(key): Caller, UploadBody(body): UploadBody) -> Result<Response, ApiError> {
    let files = read_upload(&body)?;
    let template = template_library::upload(state.services.db.as_ref(), &key.id, files).await.map_err(library_error)?;
    let mut described = template.describe("own");
    let versions: Vec<u32> = state.services.db.template_versions(&key.id, Some(&template.manifest.name)).await?.iter().map(|t| t.version).collect();
    described["versions"] = json!(versions);
    Ok((StatusCode::CREATED, axum::Json(described)).into_response())
}

/// The files of an upload: each a string (its text) or `{"base64": …}` (its bytes).
fn read_upload(body: &Value) -> Result<HashMap<String, Vec<u8>>, ApiError> {
    let map = validate::object(body)?;
    if let Some(key) = map.keys().find(|k| *k != "files") {
        return Err(ApiError::field(key, "is not a field of an upload (files)"));
    }
    let Some(Value::Object(given)) = map.get("files") else {
        return Err(ApiError::field("files", "is required: an object of file path → text, or {\"base64\": …} for binary files"));
    };
    let mut files = HashMap::new();
    let mut errors = Vec::new();
    for (path, value) in given {
        let bytes = match value {
            Value::String(text) => Some(text.as_bytes().to_vec()),
            Value::Object(o) if o.len() == 1 => o.get("base64").and_then(Value::as_str).and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok()),
            _ => None,
        };
        match bytes {
            Some(bytes) => {
                files.insert(path.clone(), bytes);
            }
            None => errors.push(FieldError { field: format!("files.{path}"), message: "must be the file's text, or {\"base64\": …} of its bytes".into() }),
        }
    }
    if errors.is_empty() { Ok(files) } else { Err(ApiError::fields(errors)) }
}

/// `DELETE /v1/templates/NAME[?version=N]`: the key's versions of NAME (all, or N) that
/// no unfinished run may still draw.
async fn delete_template(State(state): State<AppState>, Caller(key): Caller, Path(name): Path<String>, Query(query): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    if crate::templates::builtin().iter().any(|t| t.manifest.name == name) {
        return Err(ApiError::Conflict(format!("{name:?} is a built-in template; only a key's own templates can be deleted")));
    }
    let version = match query.get("version") {
        None => None,
        Some(text) => Some(text.parse::<u32>().map_err(|_| ApiError::field("version", "must be a whole number"))?),
    };
    let outcome = template_library::delete(state.services.db.as_ref(), &key.id, &name, version).await.map_err(library_error)?;
    Ok(axum::Json(outcome).into_response())
}

/// What a preview may be rendered as.
const PREVIEW_FORMATS: [&str; 3] = ["png", "mp4", "gif"];

async fn preview(State(state): State<AppState>, StudioCaller(key): StudioCaller, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let template = match preview_reference(&body) {
        Some(reference) => Some(lookup(&state, &key.id, &reference).await?),
        None => None,
    };
    let asked = read_preview(&body, template, &state.services.config.targets)?;
    let images = crate::templates::fetch::images(&asked.request.template.image_fields, &asked.request.values.content, &state.services.config.targets)
        .await
        .map_err(|reason| ApiError::field("content", format!("an image could not be used: {reason}")))?;
    let request = IntroRequest { images, ..asked.request };
    let PreviewAsk { size, at_ms, format, .. } = asked;
    // Below the browser, as every render the service makes: a run may be recording.
    let _ = crate::encode::init();
    let (bytes, content_type) = crate::priority::in_background("preview-render", move || -> Result<(Vec<u8>, &'static str), String> {
        if format == "png" {
            return Ok((crate::produce::preview::png(&request, size, at_ms).map_err(|e| e.to_string())?, "image/png"));
        }
        let dir = std::env::temp_dir().join(format!("demoreel-preview-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = dir.join(format!("preview.{format}"));
        let made = if format == "mp4" { crate::produce::preview::mp4(&request, size, 30, &out) } else { crate::produce::preview::gif(&request, size, 12, 960, &out) };
        let bytes = made.map_err(|e| e.to_string()).and_then(|_| std::fs::read(&out).map_err(|e| e.to_string()));
        let _ = std::fs::remove_dir_all(&dir);
        Ok((bytes?, if format == "mp4" { "video/mp4" } else { "image/gif" }))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], bytes).into_response())
}

/// A preview request, checked: the template with its values (images not fetched yet).
struct PreviewAsk {
    request: IntroRequest,
    size: Size,
    at_ms: f64,
    format: String,
}

/// Checks a preview's body; every bad field is named at once.
fn read_preview(body: &Value, template: Option<Result<Arc<Template>, String>>, targets: &crate::egress::TargetPolicy) -> Result<PreviewAsk, ApiError> {
    let map = validate::object(body)?;
    let mut errors = Vec::new();
    for key in map.keys().filter(|k| !["template", "version", "content", "style", "size", "at_ms", "format"].contains(&k.as_str())) {
        errors.push(FieldError { field: key.clone(), message: "is not a field of a preview (template, version, content, style, size, at_ms, format)".into() });
    }
    let template = preview_template(map, template, &mut errors);
    let size = preview_size(map.get("size"), &mut errors);
    let format = match map.get("format") {
        None | Some(Value::Null) => "png".to_string(),
        Some(Value::String(f)) if PREVIEW_FORMATS.contains(&f.as_str()) => f.clone(),
        Some(_) => {
            errors.push(FieldError { field: "format".into(), message: "png, mp4 or gif".into() });
            "png".to_string()
        }
    };
    let at_ms = match map.get("at_ms") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let at = v.as_f64().filter(|t| (0.0..=60_000.0).contains(t));
            if at.is_none() {
                errors.push(FieldError { field: "at_ms".into(), message: "milliseconds from the card's start, 0..60000".into() });
            }
            at
        }
    };
    let Some(template) = template else { return Err(ApiError::fields(errors)) };
    // No content at all previews the template's example.
    let content = map.get("content").cloned().filter(|c| !c.is_null()).unwrap_or_else(|| Value::Object(template.example().content));
    let values = template
        .check_values(Some(&content), map.get("style"), "")
        .map_err(|found| errors.extend(found.into_iter().map(|e| FieldError { field: e.field.trim_start_matches('.').to_string(), ..e })))
        .ok();
    if let Some(values) = &values {
        let content = Value::Object(values.content.clone());
        let refused = validate::image_url_errors(&template, Some(&content), targets, "content", &errors);
        errors.extend(refused);
    }
    let (Some(values), Some(size), true) = (values, size, errors.is_empty()) else { return Err(ApiError::fields(errors)) };
    let at_ms = at_ms.unwrap_or(template.manifest.duration_ms as f64 / 2.0);
    Ok(PreviewAsk { request: IntroRequest { template, values, images: Default::default() }, size, at_ms, format })
}

/// The reference a preview's `template` and `version` make (`name` or `name@N`); `None`
/// when they are not a name and a whole number.
fn preview_reference(body: &Value) -> Option<String> {
    let name = body.get("template")?.as_str()?;
    match body.get("version") {
        None | Some(Value::Null) => Some(name.to_string()),
        Some(v) => Some(format!("{name}@{}", v.as_u64()?)),
    }
}

/// `template` (and `version`): a known template, looked up by the handler.
fn preview_template(map: &serde_json::Map<String, Value>, found: Option<Result<Arc<Template>, String>>, errors: &mut Vec<FieldError>) -> Option<Arc<Template>> {
    validate::string(map, "template", "template", 1, 100, errors)?;
    if !matches!(map.get("version"), None | Some(Value::Null)) && map.get("version").and_then(Value::as_u64).is_none() {
        errors.push(FieldError { field: "version".into(), message: "must be a whole number".into() });
        return None;
    }
    match found? {
        Ok(template) => Some(template),
        Err(reason) => {
            errors.push(FieldError { field: "template".into(), message: reason });
            None
        }
    }
}

/// `size`: `{"width", "height"}`, even, 64..3840 × 64..2160; 1280×720 by default.
fn preview_size(value: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Size> {
    let Some(value) = value.filter(|v| !v.is_null()) else { return Some(Size { width: 1280, height: 720 }) };
    let side = |key: &str, max: u64| value.get(key).and_then(Value::as_u64).filter(|v| (64..=max).contains(v) && v % 2 == 0);
    match (side("width", 3840), side("height", 3840)) {
        (Some(width), Some(height)) if width * height <= 3840 * 2160 => Some(Size { width: width as u32, height: height as u32 }),
        _ => {
            errors.push(FieldError { field: "size".into(), message: "{\"width\", \"height\"}: even numbers from 64 to 3840, at most 3840×2160 pixels".into() });
            None
        }
    }
}
