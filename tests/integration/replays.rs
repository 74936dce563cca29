//! A demonstrated workflow replayed against variants of the sample app: the timeline a
//! person recorded through the share page (`tests/fixtures/demonstration-timeline.jsonl`:
//! signing in, then creating the project "Apollo launch") made into a workflow by the
//! generator, then run by the real `demoreel serve` (sign-in with the key's credential,
//! the code from the app's outbox) against the app as it was, with generated class names,
//! with a banner shifting the layout, with its rows in another order, and with its
//! buttons made other elements. Each replay must create its project in that app.

use crate::service::{Client, World};
use demoreel::demonstrations::workflow;
use demoreel::recording::TimedEvent;
use demoreel::sample_app::{self, SampleApp, Variant};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const TIMELINE: &str = include_str!("../fixtures/demonstration-timeline.jsonl");

fn recorded_timeline() -> Vec<TimedEvent> {
    TIMELINE.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The app's projects as `[name, owner]`, read through its API by a session of our own.
async fn projects(app: &SampleApp) -> Vec<Value> {
    let http = reqwest::Client::new();
    let cookie = |response: &reqwest::Response| response.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let login = http.post(app.url("/api/login")).json(&json!({"email": sample_app::EMAIL, "password": sample_app::PASSWORD})).send().await.unwrap();
    let login_cookie = cookie(&login);
    let mails: Value = reqwest::get(app.url("/api/outbox")).await.unwrap().json().await.unwrap();
    let verified = http.post(app.url("/api/login/verify")).header("cookie", login_cookie).json(&json!({"code": mails[0]["code"]})).send().await.unwrap();
    let session = cookie(&verified);
    let listed: Value = http.get(app.url("/api/projects")).header("cookie", session).send().await.unwrap().json().await.unwrap();
    listed.as_array().unwrap().iter().map(|p| json!([p["name"], p["owner"]])).collect()
}

/// Runs `body` to its end, answering the code the app mails with the newest one.
async fn run_to_end(client: &Client, app: &SampleApp, body: Value) -> Value {
    let id = client.create(body).await;
    let started = Instant::now();
    loop {
        let (_, run) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{id}"), None).await;
        match run["status"].as_str().unwrap_or("") {
            "succeeded" | "failed" | "cancelled" => return run,
            "awaiting_input" => {
                let mails: Value = reqwest::get(app.url("/api/outbox")).await.unwrap().json().await.unwrap();
                let answer = json!({"value": mails[0]["code"]});
                client.call(reqwest::Method::POST, &format!("/v1/agent/runs/{id}/input"), Some(answer)).await;
            }
            _ => {}
        }
        assert!(started.elapsed() < Duration::from_secs(180), "the replay still runs after 180 s: {run}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The fallbacks the run's steps were found by (`found_by_fallback` of the action
/// events in its `events.jsonl`).
async fn fallbacks_used(client: &Client, run: &Value) -> Vec<String> {
    let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{}/artifacts", run["id"].as_str().unwrap()), None).await;
    let events = listed["data"].as_array().unwrap().iter().find(|a| a["name"] == json!("events.jsonl")).unwrap_or_else(|| panic!("no events.jsonl: {listed}"));
    let (_, bytes) = client.download(events["id"].as_str().unwrap()).await;
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|event| event["found_by_fallback"].as_str().map(str::to_string))
        .collect()
}

/// The last frame of the run's demo.mp4, kept to look at (`tests/output/NAME`).
async fn save_last_frame(client: &Client, run: &Value, video: &std::path::Path, name: &str) {
    let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{}/artifacts", run["id"].as_str().unwrap()), None).await;
    let Some(demo) = listed["data"].as_array().unwrap().iter().find(|a| a["name"] == json!("demo.mp4")) else { return };
    let (_, bytes) = client.download(demo["id"].as_str().unwrap()).await;
    std::fs::write(video, bytes).unwrap();
    let pictures = crate::privacy::mp4_pictures(video);
    let last = pictures.last().unwrap();
    image::save_buffer(crate::common::output_dir().join(name), &last.rgba, last.width, last.height, image::ExtendedColorType::Rgba8).unwrap();
}

#[test]
fn a_demonstrated_workflow_replays_on_variants_of_the_app() {
    let _machine = crate::common::whole_machine();
    let world = World::new("replays", &[]);
    world.runtime.block_on(async {
        let client = Client::new(&world.server, &world.key);
        let credential = json!({"label": "Orbit", "domain": "127.0.0.1", "email": sample_app::EMAIL, "password": sample_app::PASSWORD, "is_default": true});
        assert_eq!(client.call(reqwest::Method::POST, "/v1/agent/credentials", Some(credential)).await.0, 201);
        let events = recorded_timeline();
        let mut outcomes = Vec::new();
        for (n, variant) in Variant::ALL.into_iter().enumerate() {
            let app = sample_app::start_variant("127.0.0.1:0".parse().unwrap(), variant).await.unwrap();
            let page = reqwest::get(app.url("/login")).await.unwrap().text().await.unwrap();
            assert_eq!(page.contains(&format!("content=\"{}\"", variant.name())), variant != Variant::Original, "the page names its variant");
            let made = workflow::from_timeline(&app.url("/"), &events, None);
            let project = format!("Replay {n} {}", variant.name());
            let params = json!({"project_name": project, "owner_email": "max@orbit.test"});
            let steps = demoreel::steps::params::fill(&made.steps, &made.parameters, Some(&params), "params").unwrap();
            let body = json!({"target_url": app.url("/"), "goal": "Create a project", "options": {"workflow": {"steps": steps}}});
            let run = run_to_end(&client, &app, body).await;
            let created = projects(&app).await.contains(&json!([project, "max@orbit.test"]));
            let fallbacks = fallbacks_used(&client, &run).await;
            eprintln!("replay on the {} app found by fallbacks: {fallbacks:?}", variant.name());
            match variant {
                // The button became a link: found by its text, the next way after its role.
                Variant::ElementType => assert!(fallbacks.contains(&"text \"New project\"".to_string()), "{fallbacks:?}"),
                // The first ways hold where nothing but classes, places and order changed.
                _ => assert!(fallbacks.is_empty(), "the {} app needs no fallback: {fallbacks:?}", variant.name()),
            }
            save_last_frame(&client, &run, &world.dir.path().join(format!("{}.mp4", variant.name())), &format!("replay-{}.png", variant.name())).await;
            eprintln!("replay on the {} app: {} (project created: {created}) {}", variant.name(), run["status"], run["error"]);
            outcomes.push((variant, run["status"] == json!("succeeded") && created, run));
        }
        let passed = outcomes.iter().filter(|(_, ok, _)| *ok).count();
        eprintln!("replays that created their project: {passed} of {}", outcomes.len());
        for (variant, ok, run) in &outcomes {
            assert!(*ok, "the replay on the {} app: {run}", variant.name());
        }
    });
}
