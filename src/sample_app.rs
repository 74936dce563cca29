//! Orbit, the bundled sample product (`assets/sample-app`), served on a loopback port so
//! the main job, the tests and the benchmarks have a realistic SaaS to record without the
//! internet. Input: HTTP requests. Output: the app's pages and a small JSON API.
//! Invariant: all state is in memory and per process; a one-time code is readable only
//! through the outbox (`/outbox`, `/api/outbox`), the way a test reads a real inbox.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The account the sample app knows. Documented in the README; the main job signs in with it.
pub const EMAIL: &str = "ada@orbit.test";
pub const PASSWORD: &str = "orbit-demo-2026";
const NAME: &str = "Ada Lovelace";
/// How long a one-time code stays valid.
const CODE_LIFETIME: Duration = Duration::from_secs(600);

const INDEX_HTML: &str = include_str!("../assets/sample-app/index.html");
const APP_JS: &str = include_str!("../assets/sample-app/app.js");
const APP_CSS: &str = include_str!("../assets/sample-app/app.css");

#[derive(Debug, Clone, Serialize)]
struct Project {
    id: u32,
    name: String,
    description: String,
    owner: String,
    status: &'static str,
    progress: u32,
    visibility: String,
    updated: String,
}

#[derive(Debug, Clone, Serialize)]
struct Mail {
    to: String,
    subject: String,
    code: String,
    /// RFC 3339.
    sent_at: String,
}

struct PendingLogin {
    email: String,
    code: String,
    issued: Instant,
}

#[derive(Default)]
struct AppState {
    pending: HashMap<String, PendingLogin>,
    sessions: HashMap<String, String>,
    projects: Vec<Project>,
    outbox: Vec<Mail>,
}

type Shared = Arc<Mutex<AppState>>;

/// A running sample app; dropping it stops the server.
pub struct SampleApp {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SampleApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for SampleApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the sample app on `addr` (port 0 picks a free one) from the current tokio runtime.
pub async fn start(addr: SocketAddr) -> std::io::Result<SampleApp> {
    start_variant(addr, Variant::Original).await
}

/// The same app changed the way releases change a product without changing what it does,
/// for replays to be tried against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    /// Every class name gets a suffix that changes on each load (CSS-in-JS hashes).
    GeneratedClasses,
    /// A maintenance banner above the app shifts everything down.
    Banner,
    /// The projects table lists its rows in the other order.
    RowOrder,
    /// Buttons become links, and a form's submit button an `<input type=submit>`, their
    /// text unchanged.
    ElementType,
}

impl Variant {
    pub const ALL: [Variant; 5] = [Variant::Original, Variant::GeneratedClasses, Variant::Banner, Variant::RowOrder, Variant::ElementType];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::GeneratedClasses => "generated-classes",
            Variant::Banner => "banner",
            Variant::RowOrder => "row-order",
            Variant::ElementType => "element-type",
        }
    }
}

/// Serves `variant` of the sample app on `addr`.
pub async fn start_variant(addr: SocketAddr, variant: Variant) -> std::io::Result<SampleApp> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = router_for(variant);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(SampleApp { addr, task })
}

pub fn router() -> Router {
    router_for(Variant::Original)
}

fn router_for(variant: Variant) -> Router {
    let state: Shared = Arc::new(Mutex::new(AppState { projects: seed_projects(), ..Default::default() }));
    // The page names its variant; app.js reads it.
    let page: Arc<str> = match variant {
        Variant::Original => INDEX_HTML.into(),
        other => INDEX_HTML.replace("<head>", &format!("<head>\n<meta name=\"orbit-variant\" content=\"{}\">", other.name())).into(),
    };
    let shell = move || {
        let page = page.clone();
        async move { Html(page.to_string()) }
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/projects") }))
        .route("/login", get(shell.clone()))
        .route("/verify", get(shell.clone()))
        .route("/projects", get(shell.clone()))
        .route("/analytics", get(shell.clone()))
        .route("/settings", get(shell))
        .route("/outbox", get(outbox_page))
        .route("/assets/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS) }))
        .route("/assets/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS) }))
        .route("/api/login", post(login))
        .route("/api/login/pending", get(pending))
        .route("/api/login/verify", post(verify))
        .route("/api/logout", post(logout))
        .route("/api/session", get(session))
        .route("/api/projects", get(list_projects).post(create_project))
        .route("/api/analytics", get(analytics))
        .route("/api/team", get(team))
        .route("/api/outbox", get(outbox))
        .with_state(state)
}

fn random_u64() -> u64 {
    u64::from_le_bytes(crate::secrets::random_bytes::<8>())
}

fn token() -> String {
    hex::encode(crate::secrets::random_bytes::<16>())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

fn set_cookie(name: &str, value: &str) -> (header::HeaderName, HeaderValue) {
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    (header::SET_COOKIE, HeaderValue::from_str(&text).expect("cookie is ASCII"))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

/// Step one: email and password. A right pair sends a code to the outbox.
async fn login(State(state): State<Shared>, axum::Json(body): axum::Json<LoginBody>) -> Response {
    let email = body.email.trim().to_ascii_lowercase();
    if email != EMAIL || body.password != PASSWORD {
        return error(StatusCode::UNAUTHORIZED, "incorrect email or password");
    }
    let code = format!("{:06}", random_u64() % 1_000_000);
    let login_token = token();
    let mut state = state.lock().unwrap();
    state.outbox.push(Mail { to: email.clone(), subject: "Your Orbit sign-in code".into(), code: code.clone(), sent_at: now_rfc3339() });
    state.pending.insert(login_token.clone(), PendingLogin { email, code, issued: Instant::now() });
    ([set_cookie("orbit_login", &login_token)], axum::Json(json!({ "ok": true }))).into_response()
}

async fn pending(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    match cookie(&headers, "orbit_login").and_then(|t| state.pending.get(&t)) {
        Some(p) => axum::Json(json!({ "email": p.email })).into_response(),
        None => error(StatusCode::UNAUTHORIZED, "no sign-in in progress"),
    }
}

#[derive(Deserialize)]
struct VerifyBody {
    code: String,
}

/// Step two: the one-time code from the outbox opens a session.
async fn verify(State(state): State<Shared>, headers: HeaderMap, axum::Json(body): axum::Json<VerifyBody>) -> Response {
    let Some(login_token) = cookie(&headers, "orbit_login") else {
        return error(StatusCode::UNAUTHORIZED, "no sign-in in progress");
    };
    let mut state = state.lock().unwrap();
    let Some(pending) = state.pending.get(&login_token) else {
        return error(StatusCode::UNAUTHORIZED, "no sign-in in progress");
    };
    if pending.issued.elapsed() > CODE_LIFETIME {
        state.pending.remove(&login_token);
        return error(StatusCode::UNAUTHORIZED, "the code expired; sign in again");
    }
    if body.code.trim() != pending.code {
        return error(StatusCode::UNAUTHORIZED, "wrong code");
    }
    let email = state.pending.remove(&login_token).map(|p| p.email).unwrap_or_default();
    let session_token = token();
    state.sessions.insert(session_token.clone(), email);
    ([set_cookie("orbit_session", &session_token)], axum::Json(json!({ "ok": true }))).into_response()
}

fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<String> {
    cookie(headers, "orbit_session").and_then(|t| state.sessions.get(&t).cloned())
}

async fn logout(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(t) = cookie(&headers, "orbit_session") {
        state.lock().unwrap().sessions.remove(&t);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn session(State(state): State<Shared>, headers: HeaderMap) -> Response {
    match signed_in(&state.lock().unwrap(), &headers) {
        Some(email) => axum::Json(json!({ "email": email, "name": NAME })).into_response(),
        None => error(StatusCode::UNAUTHORIZED, "not signed in"),
    }
}

async fn list_projects(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    if signed_in(&state, &headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "not signed in");
    }
    let mut projects = state.projects.clone();
    projects.reverse();
    axum::Json(projects).into_response()
}

#[derive(Deserialize)]
struct NewProject {
    name: String,
    owner: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    visibility: String,
}

async fn create_project(State(state): State<Shared>, headers: HeaderMap, axum::Json(body): axum::Json<NewProject>) -> Response {
    let mut state = state.lock().unwrap();
    if signed_in(&state, &headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "not signed in");
    }
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return error(StatusCode::BAD_REQUEST, "Project name must be 1 to 80 characters.");
    }
    if !body.owner.contains('@') {
        return error(StatusCode::BAD_REQUEST, "Owner email must be an email address.");
    }
    let project = Project {
        id: state.projects.len() as u32 + 1,
        name: name.to_string(),
        description: body.description.trim().to_string(),
        owner: body.owner.trim().to_string(),
        status: "planning",
        progress: 0,
        visibility: if body.visibility.is_empty() { "team".into() } else { body.visibility },
        updated: "just now".into(),
    };
    state.projects.push(project.clone());
    (StatusCode::CREATED, axum::Json(project)).into_response()
}

async fn analytics(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if signed_in(&state.lock().unwrap(), &headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "not signed in");
    }
    // A fixed, plausible month: weekday peaks, a growth trend, sign-ups a fraction of visits.
    let visitors: Vec<u32> =
        (0..30).map(|d| 1800 + d * 38 + if d % 7 < 5 { 420 } else { 0 } + ((d * 37) % 11) * 25).collect();
    let signups: Vec<u32> = visitors.iter().enumerate().map(|(d, v)| v / 9 + (d as u32 % 5) * 14).collect();
    axum::Json(json!({
        "kpis": [
            {"label": "Visitors", "value": "71.4k", "delta": 12.8},
            {"label": "Sign-ups", "value": "8,392", "delta": 9.1},
            {"label": "Conversion", "value": "11.7%", "delta": -1.4},
            {"label": "Active projects", "value": "14", "delta": 16.7}
        ],
        "series": [
            {"name": "Visitors", "color": "#4f46e5", "values": visitors},
            {"name": "Sign-ups", "color": "#db2777", "values": signups}
        ],
        "channels": [
            {"label": "Search", "value": 3120}, {"label": "Direct", "value": 2210},
            {"label": "Social", "value": 1490}, {"label": "Email", "value": 980}, {"label": "Ads", "value": 592}
        ]
    }))
    .into_response()
}

async fn team(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if signed_in(&state.lock().unwrap(), &headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "not signed in");
    }
    let members = PEOPLE.iter().take(6).map(|(name, email)| {
        json!({ "name": name, "email": email, "role": if *email == EMAIL { "Owner" } else { "Member" } })
    });
    axum::Json(members.collect::<Vec<_>>()).into_response()
}

async fn outbox(State(state): State<Shared>) -> axum::Json<Vec<Mail>> {
    axum::Json(state.lock().unwrap().outbox.iter().rev().cloned().collect())
}

/// The developer outbox: every mail the app sent, newest first.
async fn outbox_page(State(state): State<Shared>) -> Html<String> {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mails: String = state.lock().unwrap().outbox.iter().rev().map(|m| {
        format!(
            "<div class=\"card mail\"><div class=\"meta\">{} · to {}</div><div>{}</div><div class=\"code\">{}</div></div>",
            escape(&m.sent_at), escape(&m.to), escape(&m.subject), escape(&m.code)
        )
    }).collect();
    let body = if mails.is_empty() { "<p>No mail sent yet.</p>".to_string() } else { mails };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Orbit outbox</title>\
         <link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body><div class=\"outbox\"><h1>Outbox</h1>{body}</div></body></html>"
    ))
}

const PEOPLE: [(&str, &str); 16] = [
    ("Ada Lovelace", EMAIL),
    ("Grace Hopper", "grace.hopper@orbit.test"),
    ("Alan Turing", "alan.turing@orbit.test"),
    ("Katherine Johnson", "katherine.j@orbit.test"),
    ("Edsger Dijkstra", "edsger@orbit.test"),
    ("Barbara Liskov", "barbara.liskov@orbit.test"),
    ("Donald Knuth", "don.knuth@orbit.test"),
    ("Margaret Hamilton", "margaret@orbit.test"),
    ("Ken Thompson", "ken.t@orbit.test"),
    ("Frances Allen", "fran.allen@orbit.test"),
    ("John Backus", "jbackus@orbit.test"),
    ("Radia Perlman", "radia.perlman@orbit.test"),
    ("Leslie Lamport", "lamport@orbit.test"),
    ("Adele Goldberg", "adele.goldberg@orbit.test"),
    ("Niklaus Wirth", "n.wirth@orbit.test"),
    ("Hedy Lamarr", "hedy@orbit.test"),
];

fn seed_projects() -> Vec<Project> {
    const NAMES: [(&str, &str); 14] = [
        ("Website relaunch", "New marketing site and blog"),
        ("Mobile onboarding", "First-run flow for iOS and Android"),
        ("Billing v2", "Usage-based plans and invoices"),
        ("Data warehouse", "Nightly exports to the warehouse"),
        ("Design system", "Shared components and tokens"),
        ("Customer portal", "Self-serve account management"),
        ("Search revamp", "Faster, typo-tolerant search"),
        ("Security review", "Annual audit and fixes"),
        ("Partner API", "Public API for integrations"),
        ("Support inbox", "Shared inbox with SLAs"),
        ("Pricing page", "Experiment with annual plans"),
        ("Churn dashboard", "Early warnings for at-risk accounts"),
        ("Localization", "German, French and Japanese"),
        ("Status page", "Public uptime and incidents"),
    ];
    const STATUSES: [&str; 3] = ["active", "planning", "paused"];
    NAMES.iter().enumerate().map(|(i, (name, description))| Project {
        id: i as u32 + 1,
        name: name.to_string(),
        description: description.to_string(),
        owner: PEOPLE[(i * 5 + 1) % PEOPLE.len()].1.to_string(),
        status: STATUSES[(i * 7) % 5 % 3],
        progress: ((i as u32 * 37) % 90) + 8,
        visibility: "team".into(),
        updated: format!("{} days ago", (i * 3) % 17 + 1),
    }).collect()
}
