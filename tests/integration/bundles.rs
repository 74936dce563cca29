//! The recording reader refuses malformed, truncated and unknown-version bundles with an
//! error naming the file (and line), and reads what the writer wrote back unchanged.

use crate::common::{TempDir, synthetic};
use demoreel::geometry::Size;
use demoreel::recording::{Button, Event, Modifier, Recording, RecordingWriter, TimedEvent};
use std::path::{Path, PathBuf};

/// A small, valid bundle written by the writer.
fn small_bundle(dir: &Path) -> PathBuf {
    let bundle = dir.join("rec");
    let size = Size { width: 64, height: 48 };
    let mut writer = RecordingWriter::create(&bundle, size, 1.0, size, std::time::SystemTime::now()).unwrap();
    let jpeg = std::fs::read(synthetic(8, Size { width: 640, height: 360 }).join("frames/000000.jpg")).unwrap();
    writer.add_frame(0.0, &jpeg).unwrap();
    writer.add_frame(40.0, &jpeg).unwrap();
    writer.add_frame(25.0, &jpeg).unwrap();
    for (t_ms, event) in events() {
        writer.add_event(&TimedEvent { t_ms, event }).unwrap();
    }
    writer.finish(1000.0).unwrap();
    bundle
}

fn events() -> Vec<(f64, Event)> {
    vec![
        (1.0, Event::PointerMove { x: 1.0, y: 2.0 }),
        (2.0, Event::Click { x: 1.0, y: 2.0, button: Button::Left }),
        (3.0, Event::Key { key: "k".into(), code: "KeyK".into(), modifiers: vec![Modifier::Meta], text: None }),
        (4.0, Event::AwaitingInputStart { prompt: Some("code".into()) }),
        (5.0, Event::AwaitingInputEnd {}),
        (6.0, Event::Redact { x: 0.0, y: 0.0, width: 10.0, height: 5.0, duration_ms: 100.0 }),
    ]
}

fn error_of(bundle: &Path) -> String {
    Recording::open(bundle).unwrap_err().to_string()
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

#[test]
fn what_the_writer_writes_reads_back() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("bundle-ok");
    let bundle = small_bundle(dir.path());
    let recording = Recording::open(&bundle).unwrap();
    assert_eq!(recording.frames.len(), 3);
    // Frames are put in drawing order: the one delivered last but drawn at 25 ms is second.
    let times: Vec<f64> = recording.frames.iter().map(|f| f.t_ms).collect();
    assert_eq!(times, [0.0, 25.0, 40.0]);
    let index = std::fs::read_to_string(bundle.join("frames.jsonl")).unwrap();
    let delivered_last: serde_json::Value = serde_json::from_str(index.lines().nth(2).unwrap()).unwrap();
    assert!(recording.frames[1].path.ends_with(delivered_last["file"].as_str().unwrap()), "{:?}", recording.frames[1].path);
    let read: Vec<(f64, Event)> = recording.events.into_iter().map(|e| (e.t_ms, e.event)).collect();
    assert_eq!(read, events());
}

#[test]
fn an_unfinished_bundle_is_refused() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("bundle-unfinished");
    let bundle = small_bundle(dir.path());
    std::fs::remove_file(bundle.join("meta.json")).unwrap();
    let error = error_of(&bundle);
    assert!(error.contains("meta.json") && error.contains("not finished"), "{error}");
}

#[test]
fn unknown_versions_and_formats_are_refused() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("bundle-version");
    let bundle = small_bundle(dir.path());
    edit(&bundle.join("meta.json"), |t| t.replace("\"version\": 1", "\"version\": 2"));
    let error = error_of(&bundle);
    assert!(error.contains("meta.json") && error.contains("unsupported version 2"), "{error}");

    let bundle = small_bundle(&dir.path().join("b"));
    edit(&bundle.join("meta.json"), |t| t.replace("demoreel.recording", "other.thing"));
    let error = error_of(&bundle);
    assert!(error.contains("meta.json") && error.contains("other.thing"), "{error}");
}

#[test]
fn a_truncated_index_is_refused_with_its_line() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("bundle-truncated");
    let bundle = small_bundle(dir.path());
    edit(&bundle.join("frames.jsonl"), |t| t[..t.len() - 12].to_string());
    let error = error_of(&bundle);
    assert!(error.contains("frames.jsonl:3"), "{error}");
}

#[test]
fn a_malformed_timeline_line_is_named() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("bundle-malformed");
    let bundle = small_bundle(dir.path());
    edit(&bundle.join("timeline.jsonl"), |t| {
        let mut lines: Vec<&str> = t.lines().collect();
        lines[2] = "{\"t_ms\": 3, \"type\": \"key\", \"key\": 5}";
        lines.join("\n") + "\n"
    });
    let error = error_of(&bundle);
    assert!(error.contains("timeline.jsonl:3"), "{error}");

    let bundle = small_bundle(&dir.path().join("b"));
    edit(&bundle.join("timeline.jsonl"), |t| t + "{\"t_ms\": 9, \"type\": \"teleport\"}\n");
    let error = error_of(&bundle);
    assert!(error.contains("timeline.jsonl:7") && error.contains("teleport"), "{error}");

    let bundle = small_bundle(&dir.path().join("c"));
    edit(&bundle.join("timeline.jsonl"), |t| t + "{\"t_ms\": -4, \"type\": \"navigation\", \"url\": \"x\"}\n");
    let error = error_of(&bundle);
    assert!(error.contains("timeline.jsonl:7") && error.contains("t_ms"), "{error}");
}

#[test]
fn missing_or_escaping_frame_files_are_refused() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("bundle-frames");
    let bundle = small_bundle(dir.path());
    std::fs::remove_file(bundle.join("frames/000001.jpg")).unwrap();
    let error = error_of(&bundle);
    assert!(error.contains("frames.jsonl:2") && error.contains("000001.jpg"), "{error}");

    let bundle = small_bundle(&dir.path().join("b"));
    edit(&bundle.join("frames.jsonl"), |t| t.replacen("frames/000000.jpg", "../../etc/passwd", 1));
    let error = error_of(&bundle);
    assert!(error.contains("frames.jsonl:1") && error.contains("inside the bundle"), "{error}");

    let bundle = small_bundle(&dir.path().join("c"));
    std::fs::write(bundle.join("frames.jsonl"), "").unwrap();
    let error = error_of(&bundle);
    assert!(error.contains("frames.jsonl") && error.contains("no frames"), "{error}");
}

#[test]
fn links_out_of_a_bundle_and_endless_durations_are_refused() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("bundle-links");
    let secret = dir.path().join("secret.jpg");
    std::fs::write(&secret, b"not yours").unwrap();

    let bundle = small_bundle(&dir.path().join("a"));
    std::fs::remove_file(bundle.join("frames/000001.jpg")).unwrap();
    std::os::unix::fs::symlink(&secret, bundle.join("frames/000001.jpg")).unwrap();
    let error = error_of(&bundle);
    assert!(error.contains("frames.jsonl:2") && error.contains("is a link"), "{error}");

    // A linked folder: every frame file in it is a regular file, outside the bundle.
    let bundle = small_bundle(&dir.path().join("b"));
    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(bundle.join("frames"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, bundle.join("frames")).unwrap();
    let error = error_of(&bundle);
    assert!(error.contains("frames.jsonl:1") && error.contains("outside the bundle"), "{error}");

    let bundle = small_bundle(&dir.path().join("c"));
    let meta = std::fs::read_to_string(bundle.join("meta.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&meta).unwrap();
    value["duration_ms"] = serde_json::json!(3.0e13);
    std::fs::write(bundle.join("meta.json"), value.to_string()).unwrap();
    let error = error_of(&bundle);
    assert!(error.contains("meta.json") && error.contains("duration_ms"), "{error}");

    let bundle = small_bundle(&dir.path().join("d"));
    std::fs::rename(bundle.join("meta.json"), dir.path().join("meta.json")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("meta.json"), bundle.join("meta.json")).unwrap();
    assert!(error_of(&bundle).contains("is a link"));
}

#[test]
fn a_file_is_not_a_bundle() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("bundle-file");
    let file = dir.path().join("x");
    std::fs::write(&file, "x").unwrap();
    assert!(error_of(&file).contains("not a recording directory"));
}

#[test]
fn a_page_resized_mid_recording_states_the_size_most_frames_have() {
    let dir = TempDir::new("bundle-resized");
    let jpeg = std::fs::read(synthetic(8, Size { width: 640, height: 360 }).join("frames/000000.jpg")).unwrap();
    let write = |name: &str, before: usize, after: usize| {
        let bundle = dir.path().join(name);
        // A 640×360 CSS px page at 1.5: frames of 960×540, then a window that asked for
        // 800×600 CSS px: frames of 1200×900.
        let mut writer = RecordingWriter::create(&bundle, Size { width: 640, height: 360 }, 1.5, Size { width: 960, height: 540 }, std::time::SystemTime::now()).unwrap();
        for i in 0..before {
            writer.add_frame(i as f64 * 40.0, &jpeg).unwrap();
        }
        writer.set_frame_size(Size { width: 1200, height: 900 });
        for i in 0..after {
            writer.add_frame((before + i) as f64 * 40.0, &jpeg).unwrap();
        }
        writer.finish(1000.0).unwrap();
        Recording::open(&bundle).unwrap().meta
    };
    let resized = write("mostly-resized", 2, 3);
    assert_eq!((resized.frame_size, resized.viewport), (Size { width: 1200, height: 900 }, Size { width: 800, height: 600 }));
    let kept = write("mostly-first", 3, 2);
    assert_eq!((kept.frame_size, kept.viewport), (Size { width: 960, height: 540 }, Size { width: 640, height: 360 }));
    // A tie keeps the first.
    let tie = write("tie", 2, 2);
    assert_eq!(tie.frame_size, Size { width: 960, height: 540 });
}
