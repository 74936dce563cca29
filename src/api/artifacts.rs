//! `/v1/agent/runs/:id/artifacts` and `/v1/downloads/:id`. Input: a caller (or a signed
//! link) and an artifact id. Output: the artifact list with signed links, and the bytes
//! with ranges, ETag and the spec's headers. Invariant: only complete artifacts are
//! listed; a download opens only with the owner's key or an unexpired signature.

use super::AppState;
use super::auth::{Caller, authenticate};
use super::error::ApiError;
use super::extract::check_id;
use super::views::{ArtifactView, ListView};
use crate::db::Artifact;
use crate::store::Location;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/agent/runs/{id}/artifacts", get(list_artifacts)).route("/v1/downloads/{id}", get(download))
}

/// Where clients reach this server: the configured public URL, or the Host they used.
pub(super) fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    let base = state.services.config.public_url.clone().unwrap_or_else(|| {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}")
    });
    base.trim_end_matches('/').to_string()
}

/// A signed link to `artifact`, on the configured public URL or the Host the client used.
pub(super) fn download_url(state: &AppState, headers: &HeaderMap, artifact: &Artifact) -> String {
    let base = public_base(state, headers);
    let expires = crate::secrets::now_unix() + state.services.config.download_ttl_s;
    let signature = state.services.signer.sign(&artifact.id, expires);
    format!("{base}/v1/downloads/{}?expires={expires}&signature={signature}", artifact.id)
}

/// `?generation=`: `latest` (the default: each name once, from the newest render that
/// made it), `all`, or a number (0 is what the run itself made).
fn pick_generation(artifacts: Vec<Artifact>, query: &HashMap<String, String>) -> Result<Vec<Artifact>, ApiError> {
    match query.get("generation").map(String::as_str) {
        None | Some("latest") => {
            let newest = |name: &str| artifacts.iter().filter(|a| a.name == name).map(|a| a.generation).max();
            Ok(artifacts.iter().filter(|a| newest(&a.name) == Some(a.generation)).cloned().collect())
        }
        Some("all") => Ok(artifacts),
        Some(text) => match text.parse::<u32>() {
            Ok(n) => Ok(artifacts.into_iter().filter(|a| a.generation == n).collect()),
            Err(_) => Err(ApiError::field("generation", "must be latest, all, or a generation number")),
        },
    }
}

async fn list_artifacts(
    State(state): State<AppState>,
    Caller(key): Caller,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let run = super::runs::own_run(&state, &key, &id).await?;
    listing(&state, &headers, Some(&run.id), &query).await
}

/// The artifacts of run `run_id` (none without a run) with signed links, the generation
/// picked by `?generation=`.
pub(super) async fn listing(state: &AppState, headers: &HeaderMap, run_id: Option<&str>, query: &HashMap<String, String>) -> Result<Response, ApiError> {
    let stored = match run_id {
        Some(run_id) => state.services.db.artifacts(run_id).await?,
        None => Vec::new(),
    };
    let artifacts = pick_generation(stored, query)?;
    let data = artifacts.iter().map(|a| ArtifactView::new(a, download_url(state, headers, a))).collect();
    Ok(axum::Json(ListView { data, next_cursor: None }).into_response())
}

async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
) -> Result<Response, ApiError> {
    // A signed URL opens without a key; otherwise the key must own the run.
    let signed = match (query.get("expires"), query.get("signature")) {
        (Some(expires), Some(signature)) => {
            let expires = expires.parse::<u64>().map_err(|_| ApiError::Unauthorized)?;
            if !state.services.signer.verify(&id, expires, signature, crate::secrets::now_unix()) {
                return Err(ApiError::Unauthorized);
            }
            true
        }
        _ => false,
    };
    let caller = if signed { None } else { Some(authenticate(&state, &headers, &extensions).await?) };
    check_id(&id, "artifact")?;
    let (artifact, owner) = state.services.db.artifact(&id).await?.ok_or(ApiError::NotFound("artifact"))?;
    if let Some(caller) = caller
        && caller.id != owner
    {
        return Err(ApiError::NotFound("artifact"));
    }
    let location = match state.services.artifacts.locate(&artifact.storage_key).await? {
        // The store serves the bytes (and ranges) itself, for as long as the link lives.
        Location::Redirect(url) => return Ok((StatusCode::FOUND, [(header::LOCATION, url), (header::CACHE_CONTROL, "no-store".to_string())]).into_response()),
        located => located,
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
    let body = match location {
        Location::File(path) => file_body(&path, start, length).await?,
        _ => Body::from_stream(state.services.artifacts.read(&artifact.storage_key, start, length).await?),
    };
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
    }
}
