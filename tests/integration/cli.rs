//! The `demoreel` binary: invalid options exit non-zero naming the field and write
//! nothing; a valid render prints one summary line.

use crate::common::{TempDir, synthetic};
use demoreel::geometry::Size;
use std::process::Command;

fn demoreel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_demoreel"))
}

#[test]
fn invalid_options_name_the_field_and_write_nothing() {
    let _machine = crate::common::shared_machine();
    let recording = synthetic(8, Size { width: 640, height: 360 });
    let dir = TempDir::new("cli-invalid");
    let cases = [
        (r##"{"video": {"background": {"type": "solid", "color": "blue"}}}"##, "video.background.color"),
        (r##"{"video": {"size": {"width": 1279, "height": 720}}}"##, "video.size.width"),
        (r##"{"video": {"size": {"content": {"scale": 1.5}}, "background": {"type": "solid", "color": "#000000"}}}"##, "video.size.content.scale"),
        (r##"{"video": {"cursor": "giant"}}"##, "video.cursor"),
        (r##"{"video": {"background": {"type": "gradient", "from": "#000000", "to": "#ffffff", "direction": "radial"}}}"##, "video.background.direction"),
        (r##"{"video": {"fps": 29}}"##, "video.fps"),
        (r##"{"video": "##, "invalid JSON"),
    ];
    for (i, (options, field)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let result = demoreel().arg("render").arg(&recording).arg("--out").arg(&out).arg("--options").arg(options).output().unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{options} must fail");
        assert!(stderr.contains(field), "{options}: the message names {field}: {stderr}");
        assert!(!out.exists(), "{options}: nothing is written");
    }
}

#[test]
fn options_from_a_file_render_and_summarize() {
    let _machine = crate::common::shared_machine();
    let recording = synthetic(8, Size { width: 640, height: 360 });
    let dir = TempDir::new("cli-ok");
    let options = dir.path().join("options.json");
    std::fs::write(&options, r##"{"video": {"size": {"width": 480, "height": 270}, "background": {"type": "gradient", "from": "#6366f1", "to": "#ec4899"}}}"##).unwrap();
    let out = dir.path().join("out");
    let result = demoreel()
        .arg("render").arg(&recording).arg("--out").arg(&out)
        .arg("--options").arg(format!("@{}", options.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one summary line: {stdout}");
    assert!(lines[0].contains("raw.mp4 (240 frames") && lines[0].contains("demo.mp4") && lines[0].contains("realtime"), "{stdout}");
    assert!(out.join("raw.mp4").is_file() && out.join("demo.mp4").is_file());

    // The rendered demo.mp4 becomes a GIF at the asked width, as a run's demo.gif.
    let gif = dir.path().join("demo.gif");
    let result = demoreel()
        .arg("gif").arg(out.join("demo.mp4")).arg("--out").arg(&gif)
        .arg("--options").arg(r#"{"artifacts": {"gif_width": 320, "gif_fps": 10}}"#)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(stdout.contains("320x180"), "{stdout}");
    let bytes = std::fs::read(&gif).unwrap();
    assert!(bytes.starts_with(b"GIF89a"));
    assert_eq!(u16::from_le_bytes([bytes[6], bytes[7]]), 320, "logical screen width");
}

#[test]
fn gif_names_a_bad_field_or_a_missing_video_and_writes_nothing() {
    let dir = TempDir::new("cli-gif");
    let gif = dir.path().join("demo.gif");
    let missing = dir.path().join("absent.mp4");
    let result = demoreel().arg("gif").arg(&missing).arg("--out").arg(&gif).output().unwrap();
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("absent.mp4"));
    std::fs::write(&missing, b"not a video").unwrap();
    let result = demoreel().arg("gif").arg(&missing).arg("--out").arg(&gif).arg("--options").arg(r#"{"artifacts": {"gif_fps": 99}}"#).output().unwrap();
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("artifacts.gif_fps"), "{}", String::from_utf8_lossy(&result.stderr));
    let result = demoreel().arg("gif").arg(&missing).arg("--out").arg(&gif).output().unwrap();
    assert!(!result.status.success(), "a file that is no video fails");
    assert!(String::from_utf8_lossy(&result.stderr).contains("absent.mp4"), "{}", String::from_utf8_lossy(&result.stderr));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no GIF and no partial left");
}

#[test]
fn a_bad_recording_path_is_named() {
    let dir = TempDir::new("cli-missing");
    let missing = dir.path().join("nope");
    let result = demoreel().arg("render").arg(&missing).arg("--out").arg(dir.path().join("o")).output().unwrap();
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("nope"));
}

#[test]
fn record_refuses_bad_steps_and_urls_before_starting_a_browser() {
    let dir = TempDir::new("cli-record");
    let steps = dir.path().join("steps.json");
    std::fs::write(&steps, r#"[{"action": "pause", "ms": 10}, {"action": "click"}]"#).unwrap();
    let out = dir.path().join("rec");
    let result = demoreel().arg("record").arg("http://127.0.0.1:9/").arg("--steps").arg(&steps).arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(stderr.contains("steps[1]"), "names the step: {stderr}");
    assert!(!out.exists(), "nothing is written");

    let result = demoreel().arg("record").arg("example.com").arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(stderr.contains("URL") && stderr.contains("example.com"), "names the URL: {stderr}");
    assert!(!out.exists(), "nothing is written");
}

/// `demoreel runs download` against a server whose download answers 302 to another
/// origin (as with an S3 store and presigned links): the file arrives whole, and the
/// API key goes to the API only, never on to the store. The two HTTP servers here stand
/// in for the API's listing and redirect and for the store's presigned GET, so the test
/// can see which headers each was sent.
#[test]
fn a_download_redirected_to_the_store_does_not_carry_the_api_key_there() {
    use axum::{Router, extract::State, http::HeaderMap, routing::get};
    use std::sync::{Arc, Mutex};
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("cli-redirect");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let body = b"the artifact's bytes".to_vec();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    };
    type Seen = Arc<Mutex<Vec<Option<String>>>>;
    let (api_seen, store_seen): (Seen, Seen) = Default::default();
    let (api_url, _servers) = runtime.block_on(async {
        let (store_listener, store_port) = crate::common::loopback_port().await;
        let store_url = format!("http://127.0.0.1:{store_port}");
        let bytes = body.clone();
        let store = Router::new()
            .route("/bucket/demo.mp4", get(move |State(seen): State<Seen>, headers: HeaderMap| async move {
                seen.lock().unwrap().push(headers.get("x-api-key").map(|v| v.to_str().unwrap().to_string()));
                bytes
            }))
            .with_state(store_seen.clone());
        let listing = serde_json::json!({"data": [{"id": "a1", "name": "demo.mp4", "size_bytes": body.len(), "sha256": sha}]});
        let api = Router::new()
            .route("/v1/agent/runs/r1/artifacts", get(move || async move { axum::Json(listing) }))
            .route("/v1/downloads/a1", get(move |State(seen): State<Seen>, headers: HeaderMap| async move {
                seen.lock().unwrap().push(headers.get("x-api-key").map(|v| v.to_str().unwrap().to_string()));
                (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, format!("{store_url}/bucket/demo.mp4?X-Amz-Signature=abc"))])
            }))
            .with_state(api_seen.clone());
        let store_server = crate::common::serve(store_listener, store);
        let (api_url, api_server) = crate::common::serve_locally(api).await;
        (api_url, [store_server, api_server])
    });
    let out = dir.path().join("out");
    let result = demoreel()
        .args(["runs", "download", "r1", "--all", "--dir"])
        .arg(&out)
        .env("DEMOREEL_SERVER", &api_url)
        .env("DEMOREEL_API_KEY", "dr_secret_key_for_the_api_only")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert_eq!(std::fs::read(out.join("demo.mp4")).unwrap(), body, "the file arrives whole");
    assert_eq!(*api_seen.lock().unwrap(), vec![Some("dr_secret_key_for_the_api_only".to_string())], "the API gets the key");
    assert_eq!(*store_seen.lock().unwrap(), vec![None], "the store never sees the API key");
}

/// `options.intro` makes demo.mp4 start on the card, as a run's does: the video is longer
/// by the card and opens on it; a template that does not exist or content that does not
/// fit its schema is named, and nothing is written.
#[test]
fn render_starts_demo_mp4_on_the_intro_card_options_ask_for() {
    let _machine = crate::common::shared_machine();
    let recording = synthetic(8, Size { width: 640, height: 360 });
    let dir = TempDir::new("cli-intro");
    let render = |name: &str, options: &str| {
        let out = dir.path().join(name);
        let result = demoreel().arg("render").arg(&recording).arg("--out").arg(&out).arg("--only").arg("demo").arg("--options").arg(options).output().unwrap();
        (out, result)
    };
    let size = r#""video": {"size": {"width": 640, "height": 360}}"#;
    let (plain, result) = render("plain", &format!("{{{size}}}"));
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let (carded, result) = render("carded", &format!(r##"{{{size}, "intro": {{"template": "simple", "content": {{"text": "Meet Orbit"}}, "style": {{"background": {{"type": "solid", "color": "#111827"}}}}}}}}"##));
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(stdout.contains("starting on the simple"), "the summary names the card: {stdout}");
    let frames = |out: &std::path::Path| crate::privacy::mp4_pictures(&out.join("demo.mp4"));
    let (plain, carded) = (frames(&plain), frames(&carded));
    assert!(carded.len() >= plain.len() + 30, "the card adds at least a second at 30 fps: {} vs {} frames", carded.len(), plain.len());
    // Early in the card: the dark background, not the recording's first frame.
    let early = &carded[5];
    let dark = early.rgba.chunks(4).filter(|p| (p[0] as u32 + p[1] as u32 + p[2] as u32) < 120).count();
    assert!(dark * 2 > early.rgba.len() / 4, "demo.mp4 opens on the card ({dark} dark pixels)");

    for (options, named) in [
        (r#"{"intro": {"template": "no-such-card", "content": {"text": "x"}}}"#, "options.intro.template"),
        (r#"{"intro": {"template": "simple", "content": {"text": 7}}}"#, "options.intro.content.text"),
    ] {
        let (out, result) = render("refused", options);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success() && stderr.contains(named), "{options}: {stderr}");
        assert!(!out.exists(), "{options}: nothing is written");
    }
}
