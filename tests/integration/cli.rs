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
