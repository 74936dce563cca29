//! The share pages of a demonstration: `/demonstrate?token=` (the person drives),
//! `/demonstrate/watch?token=` (the operator watches) and their live channel,
//! `/demonstrate/live?token=` (a WebSocket). Input: a share token and, on the channel, a
//! person's input. Output: the page (HTML, script, style built into the binary, nothing
//! from elsewhere), then JPEG frames as binary messages and JSON messages (`hello`,
//! `state`, `panel`, `event`, `cursor`, `viewport`). Invariant: a token opens only the
//! session it names, with only its grant (a watch token never drives nor resizes); a
//! refused token gets a plain page saying why; a slow viewer is sent the newest frame,
//! never a backlog; a driving page's input beyond its allowance is dropped, not queued.

use super::AppState;
use super::auth::Bucket;
use crate::geometry::Size;
use crate::capture::PersonInput;
use crate::demonstrations::live::{LiveSession, LiveState};
use crate::demonstrations::token::{Grant, Refusal};
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

const PAGE: &str = include_str!("../../assets/web/share/index.html");
const SCRIPT: &str = include_str!("../../assets/web/share/share.js");
const STYLE: &str = include_str!("../../assets/web/share/share.css");

/// Own script, style and images (frames are `blob:` URLs); connections to this server
/// only (its WebSocket included). Any page may open it (`window.open`), none may frame it.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The largest message a page may send (a paste of 10 000 characters fits).
const MAX_MESSAGE_BYTES: usize = 64 << 10;
/// Messages a driving page may send per second, and in one burst (a paste, a fast
/// typist's key downs and ups with the moves between them).
const INPUT_PER_SECOND: f64 = 100.0;
const INPUT_BURST: f64 = 200.0;
/// Input waiting for the browser: a whole burst, so input within the allowance is never
/// dropped while the browser is slow (a fast typist's keys under load); a backlog is at
/// most two seconds of allowed input.
const INPUT_QUEUE: usize = INPUT_BURST as usize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/demonstrate", get(page))
        .route("/demonstrate/watch", get(page))
        .route("/demonstrate/share.js", get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/demonstrate/share.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
        .route("/demonstrate/live", get(live))
}

/// The token is in the page's URL: the page is not stored, nor sent on as a referrer.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    super::studio::web_file(body, content_type, CONTENT_SECURITY_POLICY, "no-store")
}

/// A plain page for a link that opens nothing.
fn refused(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\"><title>{title}</title>\
         <link rel=stylesheet href=\"/demonstrate/share.css\"><main class=notice><h1>{title}</h1><p>{text}</p></main>"
    );
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn check(state: &AppState, query: &HashMap<String, String>) -> Result<(String, Grant), Response> {
    let Some(demonstrations) = &state.services.demonstrations else {
        return Err(refused(StatusCode::SERVICE_UNAVAILABLE, "Not available", "This server records no demonstrations."));
    };
    let token = query.get("token").map(String::as_str).unwrap_or("");
    demonstrations.tokens.check(token, crate::secrets::now_unix()).map_err(|refusal| match refusal {
        Refusal::Expired => refused(StatusCode::GONE, "This link has expired", "Ask whoever sent it for a new link."),
        Refusal::Invalid => refused(StatusCode::FORBIDDEN, "This link is not valid", "Check that the whole link was copied, or ask for a new one."),
    })
}

async fn page(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Response {
    match check(&state, &query) {
        Ok(_) => asset(PAGE, "text/html; charset=utf-8"),
        Err(refusal) => refusal,
    }
}

async fn live(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    // The link is checked first: a refused one says why, whatever was asked.
    let (id, grant) = match check(&state, &query) {
        Ok(granted) => granted,
        Err(refusal) => return refusal,
    };
    let Ok(upgrade) = upgrade else {
        return refused(StatusCode::BAD_REQUEST, "Not a page", "This address is the live channel of a share page (a WebSocket).");
    };
    let demonstrations = state.services.demonstrations.clone().expect("checked above");
    let session = demonstrations.live(&id);
    let ended = match &session {
        Some(_) => None,
        None => Some(state.services.db.demonstration(None, &id).await.ok().flatten().map_or(json!({"state": "failed", "error": "no such session"}), |d| {
            json!({"state": d.status.as_str(), "error": d.error, "task_id": d.task_id, "task_version_id": d.task_version_id, "tool_id": d.task_version_id.as_ref().map(|_| d.tool_id.clone())})
        })),
    };
    upgrade.max_message_size(MAX_MESSAGE_BYTES).on_upgrade(move |socket| async move {
        match (session, ended) {
            (Some(session), _) => serve_viewer(socket, session, grant, demonstrations).await,
            (None, ended) => {
                let mut socket = socket;
                let hello = json!({"type": "hello", "mode": mode(grant), "session_id": id});
                let _ = socket.send(Message::Text(hello.to_string().into())).await;
                let _ = socket.send(Message::Text(json!({"type": "state", "state": ended}).to_string().into())).await;
                let _ = socket.close().await;
            }
        }
    })
}

fn mode(grant: Grant) -> &'static str {
    match grant {
        Grant::Drive => "drive",
        Grant::View => "watch",
    }
}

/// One page's channel: frames, panel and state out; input and Finish in.
async fn serve_viewer(socket: WebSocket, session: Arc<LiveSession>, grant: Grant, demonstrations: Arc<crate::demonstrations::Demonstrations>) {
    let (mut sink, mut stream) = socket.split();
    let session_out = session.clone();
    let outgoing = tokio::spawn(async move {
        send_to_viewer(session_out, grant, &mut sink).await;
        let _ = sink.close().await;
    });
    // Input is read off the socket as it arrives and handed to the browser through a
    // queue of one burst: what exceeds the allowance is dropped at once, so a flood never
    // becomes a backlog longer than the allowance itself.
    let (queue, mut queued) = tokio::sync::mpsc::channel::<Value>(INPUT_QUEUE);
    let driven = session.clone();
    let driver = tokio::spawn(async move {
        while let Some(value) = queued.recv().await {
            apply_input(&driven, value).await;
        }
    });
    let mut allowance = Bucket::full(INPUT_BURST, Instant::now());
    let mut dropped = 0u64;
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else { continue };
        if grant != Grant::Drive {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
        let allowed = allowance.take(Instant::now(), INPUT_PER_SECOND, INPUT_BURST);
        if allowed && value.get("type").and_then(Value::as_str) == Some("finish") {
            // Already finishing or ended: the state says so on the channel.
            let _ = demonstrations.finish(&session.id).await;
        } else if !allowed || queue.try_send(value).is_err() {
            dropped += 1;
            if dropped == 1 {
                tracing::warn!(demonstration = %session.id, "a share page sends input faster than the browser takes it; the excess is dropped");
            }
        }
    }
    if dropped > 0 {
        tracing::info!(demonstration = %session.id, dropped, "input messages dropped over the allowance");
    }
    drop(queue);
    driver.abort();
    outgoing.abort();
}

/// A person's input or a new window size, given to the live page.
async fn apply_input(session: &LiveSession, value: Value) {
    if value.get("type").and_then(Value::as_str) == Some("viewport") {
        if let Ok(room) = serde_json::from_value::<Size>(value) {
            // A session not recording keeps its size; the page asks again.
            let _ = session.fit_to(room).await;
        }
    } else if let Ok(input) = serde_json::from_value::<PersonInput>(value) {
        // Input the page cannot take (out of bounds, a session ending) is dropped.
        let _ = session.drive(&input).await;
    }
}

/// Sends the hello, the panel so far, then whatever changes, until the session ends or
/// the page goes.
async fn send_to_viewer(session: Arc<LiveSession>, grant: Grant, sink: &mut futures::stream::SplitSink<WebSocket, Message>) {
    let mut send = async |message: Message| sink.send(message).await.is_ok();
    let text = |value: Value| Message::Text(value.to_string().into());
    let (history, mut panel) = session.panel();
    let mut frames = session.frames();
    let mut states = session.states();
    let mut cursor = session.cursor();
    let mut viewports = session.viewports();
    let hello = json!({
        "type": "hello",
        "mode": mode(grant),
        "session_id": session.id,
        "user_name": session.user_name,
        "task_name": session.task_name,
        "viewport": session.viewport(),
        "started_at_ms": session.started_epoch_ms(),
    });
    let state = states.borrow_and_update().clone();
    if !send(text(hello)).await || !send(text(json!({"type": "state", "state": state}))).await || !send(text(json!({"type": "panel", "items": history}))).await {
        return;
    }
    frames.mark_changed();
    loop {
        let message = tokio::select! {
            changed = frames.changed() => {
                if changed.is_err() { return; }
                let frame = frames.borrow_and_update().clone();
                match frame {
                    Some(frame) => Message::Binary(frame.jpeg.clone()),
                    None => continue,
                }
            }
            item = panel.recv() => match item {
                Ok(item) => text(json!({"type": "event", "item": item})),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            },
            changed = states.changed() => {
                if changed.is_err() { return; }
                let state = states.borrow_and_update().clone();
                let started = json!({"type": "started", "started_at_ms": session.started_epoch_ms()});
                if state == LiveState::Recording && !send(text(started)).await { return; }
                let ended = !matches!(state, LiveState::Starting | LiveState::Recording | LiveState::Processing);
                if !send(text(json!({"type": "state", "state": state}))).await || ended { return; }
                continue;
            }
            changed = viewports.changed() => {
                if changed.is_err() { return; }
                let viewport = *viewports.borrow_and_update();
                text(json!({"type": "viewport", "width": viewport.width, "height": viewport.height}))
            }
            changed = cursor.changed() => {
                if changed.is_err() { return; }
                let shape = *cursor.borrow_and_update();
                text(json!({"type": "cursor", "shape": shape}))
            }
        };
        if !send(message).await {
            return;
        }
    }
}
