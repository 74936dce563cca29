//! Recording Orbit, the bundled sample app, with real Chromium: sign-in with a one-time
//! code read from the app's outbox (an input step), no readable e-mail address (nor any
//! part of one) in any frame of raw.mp4, demo.mp4 or demo.gif with `blur_emails` (while
//! the same OCR reads them without it), the code never readable in any of them, secrets
//! never written down, and a person's input reported by the page's own listeners.

use crate::common::TempDir;
use crate::privacy;
use demoreel::capture::{self, InputSource, NoValue, RecordOptions};
use demoreel::compose::layout::page_for_content;
use demoreel::render::live;
use demoreel::steps;
use demoreel::geometry::Size;
use demoreel::recording::{CursorShape, Event, Recording};
use demoreel::sample_app;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;

/// A plain HTTP/1.0 GET on loopback, answering the body.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// Answers an input step with the newest code in the sample app's outbox, the way the
/// main job does; remembers the codes it gave.
struct Outbox {
    addr: SocketAddr,
    given: std::sync::Mutex<Vec<String>>,
}

impl InputSource for Outbox {
    fn ask<'a>(&'a self, _prompt: &'a str) -> futures::future::BoxFuture<'a, Result<String, NoValue>> {
        Box::pin(async move {
            for _ in 0..50 {
                let mails: serde_json::Value = serde_json::from_str(&http_get(self.addr, "/api/outbox").await).unwrap();
                if let Some(code) = mails[0]["code"].as_str() {
                    self.given.lock().unwrap().push(code.to_string());
                    return Ok(code.to_string());
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(NoValue::Unavailable("no mail in the outbox".into()))
        })
    }
}

/// The address the steps type as a project's owner.
const NEW_OWNER: &str = "new.owner@orbit.test";

fn sign_in_steps() -> serde_json::Value {
    json!([
        {"action": "type", "role": "textbox", "name": "Work email", "text": sample_app::EMAIL},
        {"action": "type", "role": "textbox", "name": "Password", "text": sample_app::PASSWORD, "secret": true},
        {"action": "click", "role": "button", "name": "Sign in"},
        {"action": "input", "prompt": "One-time code", "selector": "input[autocomplete=one-time-code]"},
        {"action": "click", "role": "button", "name": "Verify"},
        {"action": "wait", "role": "heading", "name": "Projects"},
        {"action": "pause", "ms": 1500},
        {"action": "click", "role": "button", "name": "New project"},
        {"action": "type", "role": "textbox", "name": "Project name", "text": "Q4 launch"},
        {"action": "type", "role": "textbox", "name": "Owner email", "text": NEW_OWNER},
        {"action": "click", "role": "button", "name": "Create project"},
        {"action": "pause", "ms": 1500},
        {"action": "click", "role": "link", "name": "Settings"},
        {"action": "wait", "text": "Team members"},
        {"action": "pause", "ms": 1500}
    ])
}

fn render_demo(bundle: &Path, out: &Path, blur: bool) -> std::path::PathBuf {
    let options = demoreel::options::parse(&json!({"video": {"size": {"width": 1280, "height": 720}, "blur_emails": blur}})).unwrap();
    let recording = Recording::open(bundle).unwrap();
    demoreel::render::render(&recording, &options.options, out, demoreel::render::Outputs::DEMO, &mut |_| demoreel::render::Flow::Continue).unwrap();
    out.join("demo.mp4")
}

#[test]
fn sign_in_with_a_code_from_the_outbox_and_no_readable_address_in_any_video() {
    let _machine = crate::common::whole_machine();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(sample_app::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let parsed = steps::parse(&sign_in_steps()).unwrap();
    let dir = TempDir::new("sample-app-privacy");
    let mut unmasked_known = None;
    for blur in [false, true] {
        let out = dir.path().join(format!("rec-{blur}"));
        let options = RecordOptions { blur_emails: blur, ..RecordOptions::new(page_for_content(Size { width: 1280, height: 720 })) };
        let outbox = Outbox { addr: app.addr, given: Default::default() };
        let summary = runtime.block_on(live::record(&app.url("/login"), &parsed, &out, &options, 30, &outbox)).unwrap();
        let recording = Recording::open(&out).unwrap();

        // The wait for the code is marked, and the run went on to the settings page.
        let starts = recording.events.iter().filter(|e| matches!(e.event, Event::AwaitingInputStart { .. })).count();
        let ends = recording.events.iter().filter(|e| matches!(e.event, Event::AwaitingInputEnd {})).count();
        assert_eq!((starts, ends), (1, 1));
        assert!(recording.events.iter().any(|e| matches!(&e.event, Event::Navigation { url } if url.ends_with("/settings"))));

        // Neither the password nor the code is written anywhere in the bundle.
        let code = outbox.given.lock().unwrap()[0].clone();
        for entry in std::fs::read_dir(&out).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.extension().is_some_and(|e| e == "json" || e == "jsonl") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(!text.contains(sample_app::PASSWORD), "{} holds the password", path.display());
                assert!(!text.contains(&code), "{} holds the one-time code", path.display());
            }
        }

        let demo = render_demo(&out, &dir.path().join(format!("out-{blur}")), blur);
        let gif = dir.path().join(format!("out-{blur}/demo.gif"));
        demoreel::gif::from_mp4(&demo, &gif, 1280, 12, None).unwrap();
        // The code was typed into a plain text field: masked with or without blur_emails.
        let raw_text = privacy::read_every_frame(privacy::mp4_pictures(&summary.raw_mp4), dir.path(), "raw");
        if !blur {
            // Without masking the addresses are read (the check can fail), but not the code.
            let gif_text = privacy::read_every_frame(privacy::gif_pictures(&gif), dir.path(), "gif");
            let known = privacy::Known::from(&raw_text, &[sample_app::EMAIL, NEW_OWNER]);
            let (in_raw, in_gif) = (privacy::leaks(&raw_text, Some(&known), Some(&code)), privacy::leaks(&gif_text, Some(&known), None));
            eprintln!("blur_emails off: {} addresses known; raw.mp4 shows {in_raw:?}, demo.gif {in_gif:?}", known.len());
            assert!(in_raw.len() >= 5 && in_gif.len() >= 5, "OCR reads the addresses in raw.mp4 and demo.gif: {in_raw:?} {in_gif:?}");
            assert!(!in_raw.iter().any(|t| t.starts_with("code digits")), "the one-time code is readable in raw.mp4: {in_raw:?}");
            unmasked_known = Some(known);
            continue;
        }
        let known = unmasked_known.as_ref().expect("the unmasked recording comes first");
        let in_raw = privacy::leaks(&raw_text, Some(known), Some(&code));
        let in_demo = privacy::leaks(&privacy::read_every_frame(privacy::mp4_pictures(&demo), dir.path(), "demo"), Some(known), Some(&code));
        let in_gif = privacy::leaks(&privacy::read_every_frame(privacy::gif_pictures(&gif), dir.path(), "gif"), Some(known), Some(&code));
        assert!(
            in_raw.is_empty() && in_demo.is_empty() && in_gif.is_empty(),
            "with masking, OCR of every frame still reads {in_raw:?} in raw.mp4, {in_demo:?} in demo.mp4, {in_gif:?} in demo.gif"
        );
    }
}

#[test]
fn a_persons_input_is_reported_by_the_page_itself() {
    let _machine = crate::common::whole_machine();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(sample_app::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let dir = TempDir::new("sample-app-person");
    let out = dir.path().join("rec");
    // The driver's own input goes unrecorded in this mode: everything below on the
    // timeline came through the page's listeners.
    let options = RecordOptions { person_drives: true, ..RecordOptions::new(page_for_content(Size { width: 1280, height: 720 })) };
    let parsed = steps::parse(&json!([
        {"action": "type", "role": "textbox", "name": "Work email", "text": "ada@orbit.test"},
        {"action": "type", "role": "textbox", "name": "Password", "text": sample_app::PASSWORD, "secret": true},
        {"action": "press", "key": "k", "modifiers": ["ctrl"]},
        {"action": "scroll", "dy": 120},
        {"action": "click", "role": "button", "name": "Sign in"},
        {"action": "wait", "text": "Check your email"}
    ]))
    .unwrap();
    runtime.block_on(live::record(&app.url("/login"), &parsed, &out, &options, 30, &capture::NoInput)).unwrap();
    let timeline = std::fs::read_to_string(out.join("timeline.jsonl")).unwrap();
    assert!(!timeline.contains(sample_app::PASSWORD), "the password reached the timeline");
    let recording = Recording::open(&out).unwrap();
    let events: Vec<&Event> = recording.events.iter().map(|e| &e.event).collect();

    let typed: String = events.iter().filter_map(|e| if let Event::Key { text: Some(t), .. } = e { Some(t.as_str()) } else { None }).collect();
    assert_eq!(typed, "ada@orbit.test", "the typed e-mail, key by key");
    let masked = events.iter().filter(|e| matches!(e, Event::Key { key, text: None, .. } if key == "•")).count();
    assert_eq!(masked, sample_app::PASSWORD.chars().count(), "each password key reported masked");
    assert!(events.iter().any(|e| matches!(e, Event::Key { key, modifiers, .. } if key == "k" && modifiers == &[demoreel::recording::Modifier::Ctrl])));
    assert!(events.iter().any(|e| matches!(e, Event::Scroll { dy, .. } if *dy == 120.0)));
    assert!(events.iter().any(|e| matches!(e, Event::CursorShape { shape: CursorShape::Text })));
    assert!(events.iter().any(|e| matches!(e, Event::CursorShape { shape: CursorShape::Pointer })), "the Sign in button shows a hand");

    // Three clicks (email field, password field, button), each on the pointer's own
    // down and up, going down the form.
    let clicks: Vec<(f64, f64, f64)> = recording
        .events
        .iter()
        .filter_map(|e| if let Event::Click { x, y, .. } = e.event { Some((e.t_ms, x, y)) } else { None })
        .collect();
    assert_eq!(clicks.len(), 3, "{clicks:?}");
    assert!(clicks[0].2 < clicks[1].2 && clicks[1].2 < clicks[2].2, "email, password, button from top to bottom: {clicks:?}");
    for (t, x, y) in &clicks {
        let down = recording.events.iter().rev().find(|e| e.t_ms <= *t && matches!(e.event, Event::PointerDown { .. })).unwrap();
        let Event::PointerDown { x: dx, y: dy, .. } = down.event else { unreachable!() };
        assert!((dx - x).abs() < 1.0 && (dy - y).abs() < 1.0 && t - down.t_ms < 500.0, "click at ({x}, {y}) follows its press");
    }
    // The page's event times are on the recording's clock: the button's click falls
    // inside its step.
    let step_time = |ty: &str| {
        recording.events.iter().find(|e| match &e.event {
            Event::StepStart { label } if ty == "start" => label.contains("Sign in"),
            Event::StepEnd { label, .. } if ty == "end" => label.contains("Sign in"),
            _ => false,
        }).unwrap().t_ms
    };
    let (start, end, click) = (step_time("start"), step_time("end"), clicks[2].0);
    assert!(start - 20.0 <= click && click <= end + 20.0, "click at {click} ms outside its step ({start}..{end} ms)");
}
