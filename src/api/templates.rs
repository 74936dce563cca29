//! `/v1/templates` and `/v1/templates/preview`. Input: a caller; for a preview, a
//! template, its content and style, a size and a moment or a clip format. Output: the
//! templates with their schemas; a PNG of one moment, or the whole card as MP4 or GIF.
//! Invariant: a preview checks its values exactly as a run's `options.intro` is checked
//! (400 names the field), and its images obey the same target policy as runs.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::JsonBody;
use super::validate;
use crate::geometry::Size;
use crate::options::FieldError;
use crate::render::intro::IntroRequest;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/templates", get(list_templates)).route("/v1/templates/preview", post(preview))
}

async fn list_templates(Caller(_key): Caller) -> Response {
    let data: Vec<Value> = crate::templates::builtin().iter().map(|t| t.describe("built-in")).collect();
    axum::Json(json!({"data": data})).into_response()
}

/// What a preview may be rendered as.
const PREVIEW_FORMATS: [&str; 3] = ["png", "mp4", "gif"];

async fn preview(State(state): State<AppState>, Caller(_key): Caller, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let asked = read_preview(&body, &state.services.config.targets)?;
    let images = crate::templates::fetch::images(&asked.request.template.image_fields, &asked.request.values.content, &state.services.config.targets)
        .await
        .map_err(|reason| ApiError::field("content", format!("an image could not be used: {reason}")))?;
    let request = IntroRequest { images, ..asked.request };
    let PreviewAsk { size, at_ms, format, .. } = asked;
    let (bytes, content_type) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, &'static str), String> {
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
fn read_preview(body: &Value, targets: &crate::egress::TargetPolicy) -> Result<PreviewAsk, ApiError> {
    let map = validate::object(body)?;
    let mut errors = Vec::new();
    for key in map.keys().filter(|k| !["template", "version", "content", "style", "size", "at_ms", "format"].contains(&k.as_str())) {
        errors.push(FieldError { field: key.clone(), message: "is not a field of a preview (template, version, content, style, size, at_ms, format)".into() });
    }
    let template = preview_template(map, &mut errors);
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
    for field in &template.image_fields {
        if let Some(url) = values.as_ref().and_then(|v| v.content.get(field)).and_then(Value::as_str)
            && let Err(message) = validate::http_url(url, targets)
        {
            errors.push(FieldError { field: format!("content.{field}"), message });
        }
    }
    let (Some(values), Some(size), true) = (values, size, errors.is_empty()) else { return Err(ApiError::fields(errors)) };
    let at_ms = at_ms.unwrap_or(template.manifest.duration_ms as f64 / 2.0);
    Ok(PreviewAsk { request: IntroRequest { template, values, images: Default::default() }, size, at_ms, format })
}

/// `template` (and `version`): a known template.
fn preview_template(map: &serde_json::Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<std::sync::Arc<crate::templates::Template>> {
    let name = validate::string(map, "template", "template", 1, 100, errors)?;
    let reference = match map.get("version") {
        None | Some(Value::Null) => name,
        Some(Value::Number(v)) if v.as_u64().is_some() => format!("{name}@{v}"),
        Some(_) => {
            errors.push(FieldError { field: "version".into(), message: "must be a whole number".into() });
            return None;
        }
    };
    let found = crate::templates::find_builtin(&reference);
    if found.is_none() {
        errors.push(FieldError { field: "template".into(), message: format!("no template {reference:?} (GET /v1/templates lists them)") });
    }
    found
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
