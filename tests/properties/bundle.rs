//! The recording-bundle reader on bundles from elsewhere: a valid bundle with one part of
//! its `meta.json`, a frame line or an event replaced, frame files that are links or lie
//! outside, and lines of garbage. An opened bundle keeps the promises of
//! `recording::Recording::open`: frames exist inside the bundle as regular files, their
//! times are monotonic within the duration, the duration is capped, events are in order.

use crate::generate::{json, mutate};
use demoreel::recording::{MAX_DURATION_MS, Recording};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

fn valid_meta() -> Value {
    json!({
        "format": "demoreel.recording", "version": 1,
        "viewport": {"width": 640, "height": 360}, "device_scale_factor": 1.0,
        "frame_size": {"width": 640, "height": 360},
        "started_at": "2026-12-01T10:00:00Z", "duration_ms": 1000.0
    })
}

/// One line of `frames.jsonl`: usually a frame of the bundle, sometimes a path that
/// leaves it, names a link or a folder, or any JSON.
fn frame_line() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (-10.0f64..2000.0, 0usize..3).prop_map(|(t, i)| json!({"t_ms": t, "file": format!("frames/{i}.jpg")}).to_string()),
        1 => (0.0f64..2000.0, prop::sample::select(vec!["/etc/passwd", "../outside.jpg", "frames/link.jpg", "inner/../../outside.jpg", "linked/0.jpg", "frames", "frames/missing.jpg", ""]))
            .prop_map(|(t, file)| json!({"t_ms": t, "file": file}).to_string()),
        1 => json().prop_map(|v| v.to_string()),
        1 => "[ -~]{0,30}",
    ]
}

fn event_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0.0f64..2000.0, -10.0f64..700.0, -10.0f64..400.0).prop_map(|(t, x, y)| json!({"t_ms": t, "type": "pointer_move", "x": x, "y": y}).to_string()),
        1 => (0.0f64..2000.0).prop_map(|t| json!({"t_ms": t, "type": "navigation", "url": "https://example.com/"}).to_string()),
        1 => json().prop_map(|v| v.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn opened_bundles_keep_their_promises(
        meta_at in any::<prop::sample::Index>(),
        meta_replacement in json(),
        break_meta in any::<bool>(),
        frames in prop::collection::vec(frame_line(), 0..12),
        events in prop::collection::vec(event_line(), 0..12),
    ) {
        let dir = Bundle::new();
        let meta = if break_meta { mutate(&valid_meta(), meta_at, meta_replacement) } else { valid_meta() };
        dir.write("meta.json", &meta.to_string());
        dir.write("frames.jsonl", &frames.join("\n"));
        dir.write("timeline.jsonl", &events.join("\n"));
        let Ok(recording) = Recording::open(&dir.0) else { return Ok(()) };

        prop_assert!(recording.meta.duration_ms > 0.0 && recording.meta.duration_ms <= MAX_DURATION_MS);
        prop_assert!(!recording.frames.is_empty());
        let root = dir.0.canonicalize().unwrap();
        let mut previous = 0.0;
        for frame in &recording.frames {
            prop_assert!(frame.t_ms >= previous && frame.t_ms <= recording.meta.duration_ms, "{} after {previous}", frame.t_ms);
            previous = frame.t_ms;
            let metadata = std::fs::symlink_metadata(&frame.path).unwrap();
            prop_assert!(metadata.is_file(), "{} is not a plain file", frame.path.display());
            prop_assert!(frame.path.canonicalize().unwrap().starts_with(&root), "{} lies outside", frame.path.display());
        }
        prop_assert!(recording.events.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        prop_assert!(recording.events.iter().all(|e| e.t_ms.is_finite() && e.t_ms >= 0.0));
    }
}

/// A bundle folder with three frames, a link to a file outside, a folder linked from
/// outside and a file outside next to it.
struct Bundle(PathBuf);

impl Bundle {
    fn new() -> Bundle {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let base = std::env::temp_dir().join(format!("demoreel-bundle-props-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("bundle");
        std::fs::create_dir_all(dir.join("frames")).unwrap();
        std::fs::create_dir_all(base.join("elsewhere")).unwrap();
        for i in 0..3 {
            std::fs::write(dir.join(format!("frames/{i}.jpg")), b"\xff\xd8\xff").unwrap();
        }
        std::fs::write(base.join("outside.jpg"), b"secret").unwrap();
        std::fs::write(base.join("elsewhere/0.jpg"), b"secret").unwrap();
        std::os::unix::fs::symlink(base.join("outside.jpg"), dir.join("frames/link.jpg")).unwrap();
        std::os::unix::fs::symlink(base.join("elsewhere"), dir.join("linked")).unwrap();
        Bundle(dir)
    }

    fn write(&self, name: &str, text: &str) {
        let mut file = std::fs::File::create(self.path(name)).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        Path::new(&self.0).join(name)
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}
