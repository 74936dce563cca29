//! The filtering proxy a run's browser is pointed at. Input: the browser's HTTP requests
//! (absolute-form for `http:`, `CONNECT host:port` for `https:` and WebSockets). Output:
//! the request forwarded to an address the [`TargetPolicy`] allows, or a 403 and an
//! entry in [`EgressProxy::blocked`]. Invariant: the proxy resolves names itself and
//! connects to the very address it checked, so a name that resolves inward (or rebinds
//! between check and connect) never reaches an inward address; every connection of the
//! browser, whatever page, frame, window or worker made it, passes here.

use super::TargetPolicy;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long resolving a name and connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A hostile page can ask for thousands of blocked URLs; the first ones tell the story.
const MAX_BLOCKED_KEPT: usize = 200;

/// A request the proxy refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    /// The URL as far as the proxy saw it (`https://host:port` for a tunnel).
    pub url: String,
    /// `host:port`, lower-case, for matching against a page's URL.
    pub authority: String,
    pub reason: String,
}

/// A running proxy on a loopback port; it stops when dropped.
pub struct EgressProxy {
    pub addr: SocketAddr,
    blocked: Arc<Mutex<Vec<Blocked>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        // The accept loop owns every connection's task: aborting it ends them all.
        self.task.abort();
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

impl EgressProxy {
    pub async fn start(policy: TargetPolicy) -> std::io::Result<EgressProxy> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let blocked = Arc::new(Mutex::new(Vec::new()));
        let context = Arc::new(Context { policy, blocked: blocked.clone() });
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let context = context.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| handle(context.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
                // Reap finished connections so the set does not grow with the page's life.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(EgressProxy { addr, blocked, task })
    }

    /// The requests refused so far (the first [`MAX_BLOCKED_KEPT`]).
    pub fn blocked(&self) -> Vec<Blocked> {
        self.blocked.lock().unwrap().clone()
    }

    /// The Chromium flags that send every connection through this proxy, loopback ones
    /// included (Chromium bypasses proxies for loopback unless told not to), and keep
    /// WebRTC from opening UDP paths of its own.
    pub fn browser_flags(&self) -> Vec<String> {
        vec![
            format!("--proxy-server=http://{}", self.addr),
            "--proxy-bypass-list=<-loopback>".to_string(),
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp".to_string(),
        ]
    }
}

struct Context {
    policy: TargetPolicy,
    blocked: Arc<Mutex<Vec<Blocked>>>,
}

impl Context {
    fn refuse(&self, url: String, authority: String, reason: String) -> Response<ProxyBody> {
        tracing::warn!(%url, %reason, "blocked a request of a run's browser");
        let mut blocked = self.blocked.lock().unwrap();
        if blocked.len() < MAX_BLOCKED_KEPT {
            blocked.push(Blocked { url: url.clone(), authority, reason: reason.clone() });
        }
        text_response(StatusCode::FORBIDDEN, format!("demoreel blocked {url}: {reason}\n"))
    }
}

async fn handle(context: Arc<Context>, request: Request<Incoming>) -> Result<Response<ProxyBody>, hyper::Error> {
    let Some((host, port)) = destination(&request) else {
        return Ok(text_response(StatusCode::BAD_REQUEST, "demoreel's proxy takes absolute-form requests and CONNECT only\n".to_string()));
    };
    let authority = format!("{}:{port}", host.to_ascii_lowercase());
    let url = if request.method() == Method::CONNECT { format!("https://{authority}") } else { request.uri().to_string() };
    let stream = match connect(&context.policy, &host, port).await {
        Ok(stream) => stream,
        Err(Refused::Policy(reason)) => return Ok(context.refuse(url, authority, reason)),
        Err(Refused::Unreachable(reason)) => return Ok(text_response(StatusCode::BAD_GATEWAY, format!("{url}: {reason}\n"))),
    };
    if request.method() == Method::CONNECT {
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(request).await {
                let mut stream = stream;
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut stream).await;
            }
        });
        return Ok(Response::new(empty()));
    }
    forward(request, stream).await
}

/// Sends an absolute-form request to the origin as an origin-form one.
async fn forward(mut request: Request<Incoming>, stream: TcpStream) -> Result<Response<ProxyBody>, hyper::Error> {
    let path = request.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".to_string());
    *request.uri_mut() = path.parse().unwrap_or_else(|_| hyper::Uri::from_static("/"));
    for hop in ["proxy-connection", "proxy-authorization", "proxy-authenticate"] {
        request.headers_mut().remove(hop);
    }
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?.map(BodyExt::boxed))
}

/// Host and port of a proxy request; `None` for an origin-form request (not a proxy's).
fn destination(request: &Request<Incoming>) -> Option<(String, u16)> {
    let uri = request.uri();
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']').to_string();
    let default_port = if uri.scheme_str() == Some("https") || request.method() == Method::CONNECT { 443 } else { 80 };
    Some((host, uri.port_u16().unwrap_or(default_port)))
}

enum Refused {
    /// The policy says no: the page is told, and the run learns of it.
    Policy(String),
    /// Allowed, but nothing answered.
    Unreachable(String),
}

/// Resolves `host` and connects to the first address the policy allows.
async fn connect(policy: &TargetPolicy, host: &str, port: u16) -> Result<TcpStream, Refused> {
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(found)) => found.collect(),
            Ok(Err(e)) => return Err(Refused::Unreachable(format!("{host} does not resolve ({e})"))),
            Err(_) => return Err(Refused::Unreachable(format!("{host} did not resolve within {} s", CONNECT_TIMEOUT.as_secs()))),
        },
    };
    let name_allowed = host.parse::<IpAddr>().is_err() && policy.allows_name(host);
    let mut refusal = None;
    for address in addresses {
        if !name_allowed && let Err(reason) = policy.check_ip(address.ip()) {
            refusal.get_or_insert(if host.parse::<IpAddr>().is_ok() { reason } else { format!("{host} resolves to {reason}") });
            continue;
        }
        return match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(Refused::Unreachable(format!("{address}: {e}"))),
            Err(_) => Err(Refused::Unreachable(format!("{address} did not answer within {} s", CONNECT_TIMEOUT.as_secs()))),
        };
    }
    Err(Refused::Policy(refusal.unwrap_or_else(|| format!("{host} has no address"))))
}

fn text_response(status: StatusCode, text: String) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn empty() -> ProxyBody {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed()
}
