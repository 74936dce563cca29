//! Any bytes as a recording bundle: split at NUL bytes into meta.json, frames.jsonl and
//! timeline.jsonl, beside three frame files, a link out and a folder linked from outside.
//! An opened bundle has frames inside it, monotonic and within its capped duration.
#![no_main]
use demoreel::recording::{MAX_DURATION_MS, Recording};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn bundle() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("demoreel-fuzz-bundle-{}", std::process::id()));
        let dir = base.join("bundle");
        std::fs::create_dir_all(dir.join("frames")).unwrap();
        std::fs::create_dir_all(base.join("elsewhere")).unwrap();
        for i in 0..3 {
            std::fs::write(dir.join(format!("frames/{i}.jpg")), b"\xff\xd8\xff").unwrap();
        }
        std::fs::write(base.join("outside.jpg"), b"secret").unwrap();
        std::fs::write(base.join("elsewhere/0.jpg"), b"secret").unwrap();
        let _ = std::os::unix::fs::symlink(base.join("outside.jpg"), dir.join("frames/link.jpg"));
        let _ = std::os::unix::fs::symlink(base.join("elsewhere"), dir.join("linked"));
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = bundle();
    let mut parts = data.splitn(3, |&b| b == 0);
    for name in ["meta.json", "frames.jsonl", "timeline.jsonl"] {
        std::fs::write(dir.join(name), parts.next().unwrap_or_default()).unwrap();
    }
    let Ok(recording) = Recording::open(dir) else { return };
    assert!(recording.meta.duration_ms > 0.0 && recording.meta.duration_ms <= MAX_DURATION_MS);
    let root = dir.canonicalize().unwrap();
    let mut previous = 0.0;
    for frame in &recording.frames {
        assert!(frame.t_ms >= previous && frame.t_ms <= recording.meta.duration_ms);
        previous = frame.t_ms;
        assert!(std::fs::symlink_metadata(&frame.path).unwrap().is_file());
        assert!(frame.path.canonicalize().unwrap().starts_with(&root));
    }
});
