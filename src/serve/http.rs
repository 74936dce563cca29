//! The HTTP listener. Input: a bound TCP listener and the API's router. Output: every
//! connection served over HTTP/1.1 until the task is aborted. Invariant: no client holds
//! the server's resources for long by being slow: a request head must arrive within the
//! header timeout (a keep-alive connection waiting for its next request too), a request
//! must be answered (its body read included) within the request timeout, and at most
//! `max_connections` are open at once (more wait in the listen backlog).

use crate::api::auth::ClientAddr;
use crate::api::error::ApiError;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits { header_timeout: Duration::from_secs(10), request_timeout: Duration::from_secs(30), max_connections: 1024 }
    }
}

/// Answers 408 when a handler (reading the body included) outlasts `limit`. A response
/// that streams a file is timed only until its head is ready: a slow download is not
/// cut off.
fn with_request_timeout(router: Router, limit: Duration) -> Router {
    router.layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| async move {
        match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => axum::response::IntoResponse::into_response(ApiError::Timeout(limit.as_secs())),
        }
    }))
}

/// Accepts and serves connections until aborted.
pub async fn serve(listener: tokio::net::TcpListener, router: Router, limits: HttpLimits) {
    let router = with_request_timeout(router, limits.request_timeout);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it was accepted:
                // the listener itself is fine; wait a moment rather than spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // The client's address goes with each of its requests (for the bad-key limiter).
        let service = TowerToHyperService::new(router.clone().layer(axum::Extension(ClientAddr(peer.ip()))));
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                // A share page's live channel is a WebSocket: the connection is handed over.
                .with_upgrades();
            let _ = connection.await;
            drop(slot);
        });
    }
}
