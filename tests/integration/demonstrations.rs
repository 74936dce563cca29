//! Demonstrations end to end: the real `demoreel serve`, the sample app, and a second
//! real Chromium in which a person opens the share link from a page (`window.open`),
//! clicks and types into the live browser through the share page, watches the events
//! panel, and finishes; the opener gets the ids, the task holds the workflow. Also: what
//! a share token opens (its page, nothing of the API), expired and tampered links, the
//! idle timeout, the slots, and the hosted flow's own Python example run unchanged.

use crate::common::TempDir;
use crate::service::{Client, Server, World, browsers_of};
use crate::studio::{browser, eval};
use chromiumoxide::Page;
use chromiumoxide::layout::Point;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const EMAIL: &str = "ada@orbit.test";

/// Waits until `condition` is true on the page; an evaluation that fails because the
/// page is between documents (a navigation, a re-render) counts as not yet.
async fn until(page: &Page, condition: &str, what: &str) {
    let started = Instant::now();
    while page.evaluate(condition).await.ok().and_then(|v| v.into_value::<Value>().ok()) != Some(json!(true)) {
        assert!(started.elapsed() < Duration::from_secs(45), "{what}: not within 45 s; the page shows {}", eval(page, "document.body.innerText").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the demonstration until its status is one of `statuses`.
async fn status_until(client: &Client, id: &str, statuses: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let (code, status) = client.call(reqwest::Method::GET, &format!("/v1/demonstrations/{id}"), None).await;
        assert_eq!(code, 200, "{status}");
        if statuses.contains(&status["status"].as_str().unwrap_or("")) {
            return status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "still {status} after 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Centres of the sample app's sign-in fields in CSS px, measured in a tab of the same
/// size as the demonstration's page.
async fn sign_in_layout(browser: &chromiumoxide::Browser, app_url: &str, viewport: &Value) -> Value {
    use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
    let page = browser.new_page("about:blank").await.unwrap();
    page.execute(SetDeviceMetricsOverrideParams::new(viewport["width"].as_i64().unwrap(), viewport["height"].as_i64().unwrap(), 1.0, false)).await.unwrap();
    page.goto(app_url).await.unwrap();
    until(&page, "document.getElementById('password') !== null", "the sample app's sign-in").await;
    let layout = eval(
        &page,
        "(() => { const c = (s) => { const r = document.querySelector(s).getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }; \
         return { email: c('#email'), password: c('#password') }; })()",
    )
    .await;
    page.close().await.unwrap();
    layout
}

/// Where a point of the remote page is on the share page's screen.
async fn on_screen(share: &Page, page_point: &Value, viewport: &Value) -> Point {
    let rect = eval(share, "(() => { const r = document.getElementById('screen').getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()").await;
    let (x, y) = (page_point[0].as_f64().unwrap(), page_point[1].as_f64().unwrap());
    let (width, height) = (viewport["width"].as_f64().unwrap(), viewport["height"].as_f64().unwrap());
    Point { x: rect[0].as_f64().unwrap() + x / width * rect[2].as_f64().unwrap(), y: rect[1].as_f64().unwrap() + y / height * rect[3].as_f64().unwrap() }
}

async fn panel_text(share: &Page) -> String {
    eval(share, "document.getElementById('event-list').innerText").await.as_str().unwrap_or("").to_string()
}

#[test]
fn a_person_demonstrates_through_the_share_link_and_finishing_makes_a_task_the_opener_hears_of() {
    let _machine = crate::common::whole_machine();
    let world = World::new("demonstration", &[]);
    let dir = TempDir::new("demonstration-browser");
    world.runtime.block_on(async {
        let client = Client::new(&world.server, &world.key);
        let http = reqwest::Client::new();
        let created: Value = http
            .post(format!("{}/v1/demonstrations/", world.server.url))
            .header("anchor-api-key", &world.key)
            .json(&json!({"task_name": "Sign in to Orbit", "task_description": "Sign in with the work account", "user_name": "Sarah",
                          "session_config": {"browser": {"start_url": world.app.url("/")}}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for field in ["session_id", "live_view_url", "share_url", "share_token", "share_expires_at", "task_id"] {
            assert!(created[field].is_string(), "{field} in {created}");
        }
        let id = created["session_id"].as_str().unwrap();
        let share_url = created["share_url"].as_str().unwrap();
        assert!(created["share_token"].as_str().unwrap().starts_with("eyJ"));

        let (mut browser, events) = browser(&dir.path().join("profile")).await;
        let opener = browser.new_page("about:blank").await.unwrap();
        eval(&opener, &format!("(() => {{ window.heard = []; addEventListener('message', (e) => window.heard.push(e.data)); window.open({share_url:?}, 'demonstration', 'width=1400,height=900'); return true; }})()")).await;
        let share = loop {
            let pages = browser.pages().await.unwrap();
            let mut found = None;
            for page in pages {
                if page.url().await.ok().flatten().is_some_and(|u| u.contains("/demonstrate?token=")) {
                    found = Some(page);
                }
            }
            if let Some(page) = found {
                break page;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        until(&share, "window.demonstration && demonstration.state === 'recording' && demonstration.framesShown > 0", "the live browser").await;
        assert_eq!(eval(&share, "demonstration.mode").await, json!("drive"));
        let viewport = eval(&share, "demonstration.viewport").await;
        let layout = sign_in_layout(&browser, &world.app.url("/"), &viewport).await;

        // Click the e-mail field, type; click the password field, type; press Enter.
        share.click(on_screen(&share, &layout["email"], &viewport).await).await.unwrap();
        share.find_element("#keys").await.unwrap().type_str(EMAIL).await.unwrap();
        share.click(on_screen(&share, &layout["password"], &viewport).await).await.unwrap();
        share.find_element("#keys").await.unwrap().type_str(demoreel::sample_app::PASSWORD).await.unwrap();
        let started = Instant::now();
        // The e-mail's typing is listed once typing pauses; the password's comes with Enter
        // at the latest (masked), before what Enter did.
        while !panel_text(&share).await.contains(EMAIL) {
            assert!(started.elapsed() < Duration::from_secs(20), "the panel lists the typing: {}", panel_text(&share).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        share.find_element("#keys").await.unwrap().press_key("Enter").await.unwrap();
        let started = Instant::now();
        while !panel_text(&share).await.contains("•••••• → Password") {
            assert!(started.elapsed() < Duration::from_secs(20), "the panel lists the password's typing, masked: {}", panel_text(&share).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let panel = panel_text(&share).await;
        assert!(panel.contains("Work email"), "a click or typing names the field: {panel}");
        assert!(panel.to_lowercase().contains("click\nwork email"), "the click on the field is listed with its name: {panel}");
        assert!(!panel.contains(demoreel::sample_app::PASSWORD), "the password is masked in the panel: {panel}");
        // Let the sign-in answer in the live browser before finishing.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        share.save_screenshot(chromiumoxide::page::ScreenshotParams::builder().build(), crate::common::output_dir().join("demonstration-recording.png")).await.unwrap();

        share.find_element("#finish").await.unwrap().click().await.unwrap();
        until(&share, "demonstration.state === 'completed'", "completion").await;
        assert!(eval(&share, "document.getElementById('overlay-title').textContent").await.as_str().unwrap().contains("Thanks, Sarah!"));
        share.save_screenshot(chromiumoxide::page::ScreenshotParams::builder().build(), crate::common::output_dir().join("demonstration-completed.png")).await.unwrap();
        until(&opener, "window.heard.length > 0", "the opener's message").await;
        let message = eval(&opener, "window.heard[0]").await;

        let status = status_until(&client, id, &["completed"]).await;
        assert_eq!(message["type"], json!("demonstration-complete"));
        for field in ["session_id", "task_id", "task_version_id", "tool_id"] {
            let expected = if field == "session_id" { json!(id) } else { status[field].clone() };
            assert!(expected.is_string(), "{field} in {status}");
            assert_eq!(message[field], expected, "{field}: the opener hears what the status says");
        }
        assert_eq!(status["hektor_project_id"], status["task_id"]);

        let (code, task) = client.call(reqwest::Method::GET, &format!("/v1/tasks/{}", status["task_id"].as_str().unwrap()), None).await;
        assert_eq!(code, 200, "{task}");
        let version = &task["versions"][0];
        assert_eq!(version["id"], status["task_version_id"]);
        let steps = version["steps"].as_array().unwrap();
        assert_eq!(steps[0], json!({"action": "goto", "url": world.app.url("/")}));
        assert!(steps.contains(&json!({"action": "type", "text": EMAIL, "role": "textbox", "name": "Work email", "secret": false})), "{steps:?}");
        assert!(steps.contains(&json!({"action": "input", "prompt": "Password", "role": "textbox", "name": "Password"})), "{steps:?}");
        assert_eq!(steps.last(), Some(&json!({"action": "press", "key": "Enter", "modifiers": []})), "Enter submitted the form (its click is not a step): {steps:?}");
        assert_eq!(version["parameters"], json!([{"name": "work_email", "type": "email", "example": EMAIL}]));
        let kept = std::fs::read_to_string(world.data.join("demonstrations").join(id).join("recording").join("timeline.jsonl")).unwrap();
        assert!(!kept.contains(demoreel::sample_app::PASSWORD) && !task.to_string().contains(demoreel::sample_app::PASSWORD), "no password kept");

        // The session's own videos: demo.mp4 shows what the person did, and no password.
        let started = Instant::now();
        let demo_id = loop {
            let (code, listed) = client.call(reqwest::Method::GET, &format!("/v1/demonstrations/{id}/artifacts"), None).await;
            assert_eq!(code, 200, "{listed}");
            if let Some(demo) = listed["data"].as_array().unwrap().iter().find(|a| a["name"] == json!("demo.mp4")) {
                break demo["id"].as_str().unwrap().to_string();
            }
            assert!(started.elapsed() < Duration::from_secs(90), "no demo.mp4 after 90 s: {listed}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let (code, bytes) = client.download(&demo_id).await;
        assert_eq!(code, 200);
        let video = dir.path().join("demo.mp4");
        std::fs::write(&video, bytes).unwrap();
        let pictures = crate::privacy::mp4_pictures(&video);
        // The frame after the sign-in's typing, kept to look at.
        let last = pictures.last().unwrap();
        image::save_buffer(crate::common::output_dir().join("demonstration-demo-last.png"), &last.rgba, last.width, last.height, image::ExtendedColorType::Rgba8).unwrap();
        let middle = &pictures[pictures.len() / 2];
        image::save_buffer(crate::common::output_dir().join("demonstration-demo-middle.png"), &middle.rgba, middle.width, middle.height, image::ExtendedColorType::Rgba8).unwrap();
        let seen = crate::privacy::read_every_frame(pictures, dir.path(), "demonstration");
        assert!(seen.contains("orbit.test") && seen.contains("Check your email"), "demo.mp4 shows the typing and the page it led to: {seen}");
        assert!(!seen.contains(demoreel::sample_app::PASSWORD));

        // The session's browser is gone, and a second finish is a conflict.
        assert_eq!(browsers_of(world.server.pid()), 0, "the demonstration's browser was closed");
        let (code, _) = client.call(reqwest::Method::POST, &format!("/v1/demonstrations/{id}/recording/complete"), None).await;
        assert_eq!(code, 409);
        browser.close().await.unwrap();
        let _ = browser.wait().await;
        events.abort();
    });
}

#[test]
fn a_share_token_opens_only_its_page_and_links_that_expired_or_were_touched_say_so() {
    let _machine = crate::common::whole_machine();
    let world = World::new("demonstration-tokens", &[]);
    world.runtime.block_on(async {
        let client = Client::new(&world.server, &world.key);
        let create = |idle_minutes: f64| {
            json!({"task_name": "t", "task_description": "d", "session_config": {"browser": {"start_url": world.app.url("/")}, "session": {"timeout": {"idle_timeout": idle_minutes}}}})
        };
        let (code, created) = client.call(reqwest::Method::POST, "/v1/demonstrations", Some(create(0.05))).await;
        assert_eq!(code, 201, "{created}");
        let id = created["session_id"].as_str().unwrap().to_string();
        let token = created["share_token"].as_str().unwrap().to_string();

        // One recording slot, held by the live session: the next create waits.
        let refused = reqwest::Client::new()
            .post(format!("{}/v1/demonstrations", world.server.url))
            .header("x-api-key", &world.key)
            .json(&create(30.0))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().get("retry-after").is_some());

        // The token is no key anywhere in the API.
        let http = reqwest::Client::new();
        for path in [format!("/v1/demonstrations/{id}"), "/v1/demonstrations".to_string(), "/v1/agent/runs".into(), format!("/v1/tasks/{}", created["task_id"].as_str().unwrap())] {
            for (name, value) in [("x-api-key", token.clone()), ("anchor-api-key", token.clone()), ("authorization", format!("Bearer {token}"))] {
                let status = http.get(format!("{}{path}", world.server.url)).header(name, value).send().await.unwrap().status();
                assert_eq!(status, 401, "{path} with the share token as {name}");
            }
        }
        let page = http.get(format!("{}/demonstrate?token={token}", world.server.url)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Live Browser Events"));

        // A tampered token and an expired one get plain pages saying so.
        let at = token.find('.').unwrap() + 5;
        let swapped = if &token[at..at + 1] == "A" { "B" } else { "A" };
        let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        let page = http.get(format!("{}/demonstrate?token={tampered}", world.server.url)).send().await.unwrap();
        assert_eq!(page.status(), 403);
        assert!(page.text().await.unwrap().contains("This link is not valid"));
        let signer = demoreel::secrets::UrlSigner::load_or_create(&world.data.join("signing.key")).unwrap();
        let tokens = demoreel::demonstrations::token::ShareTokens::new(&signer);
        let now = demoreel::secrets::now_unix();
        let expired = tokens.issue(&id, demoreel::demonstrations::token::Grant::Drive, now - 7200, now - 3600);
        for path in ["/demonstrate", "/demonstrate/watch", "/demonstrate/live"] {
            let page = http.get(format!("{}{path}?token={expired}", world.server.url)).send().await.unwrap();
            assert_eq!(page.status(), 410, "{path}");
            let text = page.text().await.unwrap();
            assert!(text.contains("This link has expired") && !text.contains("panicked"), "{path}: {text}");
        }

        // Nobody drives: the idle timeout (3 s) stops the session and its browser.
        let status = status_until(&client, &id, &["stopped", "failed"]).await;
        assert_eq!(status["status"], json!("stopped"), "{status}");
        assert!(status["error"].as_str().unwrap().contains("idle_timeout"), "{status}");
        let started = Instant::now();
        while browsers_of(world.server.pid()) > 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "the stopped session's browser is left");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (code, conflict) = client.call(reqwest::Method::POST, &format!("/v1/demonstrations/{id}/recording/complete"), None).await;
        assert_eq!(code, 409, "{conflict}");

        // The slot is free again; stop ends a session at once.
        let (code, created) = client.call(reqwest::Method::POST, "/v1/demonstrations/", Some(create(30.0))).await;
        assert_eq!(code, 201, "{created}");
        let second = created["session_id"].as_str().unwrap();
        let (code, answer) = client.call(reqwest::Method::POST, &format!("/v1/demonstrations/{second}/stop"), None).await;
        assert_eq!((code, answer), (200, json!({"success": true})));
        assert_eq!(status_until(&client, second, &["stopped"]).await["status"], json!("stopped"));
        let (code, list) = client.call(reqwest::Method::GET, "/v1/demonstrations?limit=1", None).await;
        assert_eq!(code, 200);
        assert_eq!(list["items"][0]["session_id"], json!(second));
        assert!(list["next_cursor"].is_string());

        let (code, invalid) = client.call(reqwest::Method::POST, "/v1/demonstrations", Some(json!({"task_name": "", "session_config": {"browser": {"start_url": "file:///etc/passwd"}, "session": {"timeout": {"max_duration": -1}}}}))).await;
        assert_eq!(code, 400);
        let fields: Vec<&str> = invalid["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["task_name", "task_description", "session_config.browser.start_url", "session_config.session.timeout.max_duration"], "{invalid}");
    });
}

/// The hosted flow's end-to-end example, as its document gives it, with only the base
/// URL and the key changed.
const SEED_EXAMPLE: &str = r#"
import requests
import time

API_KEY = "YOUR_API_KEY"
BASE = "https://api.anchorbrowser.io"

# 1. Create demonstration
demo = requests.post(f"{BASE}/v1/demonstrations/", headers={"anchor-api-key": API_KEY}, json={
    "task_name": "Download invoice report",
    "task_description": "Go to Reports > Invoices, select this month, download PDF",
    "identity_id": "your-identity-id",
    "user_name": "Sarah",
}).json()

print(f"Send this link to your customer: {demo['share_url']}")
session_id = demo["session_id"]

# 2. Poll until completed
while True:
    status = requests.get(
        f"{BASE}/v1/demonstrations/{session_id}",
        headers={"anchor-api-key": API_KEY},
    ).json()

    print(f"Status: {status['status']}")

    if status["status"] in ("completed", "failed", "stopped"):
        break

    time.sleep(5)

# 3. Use the generated task
if status["status"] == "completed":
    print(f"Task ID: {status['task_id']}")
    print(f"Tool ID: {status['tool_id']}")
"#;

#[test]
fn the_hosted_flows_python_example_runs_unchanged() {
    let _machine = crate::common::whole_machine();
    let world = World::new("demonstration-seed", &[]);
    // The example names no start page: the server's default is the sample app.
    let data = world.dir.path().join("seed-data");
    let server = Server::start(&data, &["--demonstration-start-url", &world.app.url("/")]);
    let key = crate::service::api_key(&data);
    let script = SEED_EXAMPLE.replace("YOUR_API_KEY", &key).replace("https://api.anchorbrowser.io", &server.url);
    let child = std::process::Command::new("python3").arg("-c").arg(&script).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("python3");
    world.runtime.block_on(async {
        let client = Client::new(&server, &key);
        // The person finishes once the example is polling.
        let started = Instant::now();
        let id = loop {
            let (_, list) = client.call(reqwest::Method::GET, "/v1/demonstrations", None).await;
            if let Some(id) = list["items"][0]["session_id"].as_str() {
                break id.to_string();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the example created no demonstration");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        status_until(&client, &id, &["recording"]).await;
        // Let the browser come up, then finish as the share page's button would.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (code, answer) = client.call(reqwest::Method::POST, &format!("/v1/demonstrations/{id}/recording/complete"), None).await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["status"], json!("processing"));
    });
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the example failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Send this link to your customer: http") && stdout.contains("Status: completed") && stdout.contains("Tool ID: "), "{stdout}");
}
