//! `/studio`, the template authoring page, and the short-lived links that open it.
//! Input: a browser asking for the page's files; a key asking for a link. Output: the
//! page (HTML, script, style, built into the binary) and `{url, expires_at}`.
//! Invariant: the page itself holds no data and needs no key; everything it shows comes
//! from the template endpoints with the key or link token the person gives it. A link's
//! token travels in the URL's fragment, which browsers never send to a server, so it is
//! not in any access log.

use super::AppState;
use super::auth::{Caller, MAX_STUDIO_LINK_S, studio_token};
use super::error::ApiError;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

const PAGE: &str = include_str!("../../assets/web/studio/index.html");
const SCRIPT: &str = include_str!("../../assets/web/studio/studio.js");
const STYLE: &str = include_str!("../../assets/web/studio/studio.css");

/// The page runs only its own script and style, talks only to this server, and shows
/// previews from `blob:` URLs; no other site may frame it.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/studio", get(|| async { page(PAGE, "text/html; charset=utf-8") }))
        .route("/studio/studio.js", get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/studio/studio.css", get(|| async { page(STYLE, "text/css; charset=utf-8") }))
        .route("/v1/templates/studio-link", post(studio_link))
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    web_file(body, content_type, CONTENT_SECURITY_POLICY, "no-cache")
}

/// A file of one of the web pages built into the binary, under the page's policy: no
/// sniffing, no referrer (a page's URL may hold its token).
pub(super) fn web_file(body: &'static str, content_type: &'static str, policy: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// `POST /v1/templates/studio-link` `{"minutes"?}` (1..1440, default 30) → a link to the
/// page that lists and previews templates as the calling key until it expires.
async fn studio_link(State(state): State<AppState>, Caller(key): Caller, headers: HeaderMap, body: axum::body::Bytes) -> Result<Response, ApiError> {
    // The body is optional: none asks for the default lifetime.
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::field("body", format!("malformed JSON: {e}")))?
    };
    let minutes = match body.get("minutes") {
        None | Some(Value::Null) => 30,
        Some(v) => v.as_u64().filter(|m| (1..=MAX_STUDIO_LINK_S / 60).contains(m)).ok_or_else(|| ApiError::field("minutes", "a whole number from 1 to 1440"))?,
    };
    let expires = crate::secrets::now_unix() + minutes * 60;
    let token = studio_token(&state.services.signer, &key.id, expires);
    let url = format!("{}/studio#token={token}", super::artifacts::public_base(&state, &headers));
    let expires_at = humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires)).to_string();
    Ok(axum::Json(json!({"url": url, "expires_at": expires_at})).into_response())
}
