//! `cargo bench`: renders demo.mp4 from a synthetic 1920×1080 recording, framed on a
//! gradient and edge to edge, and prints the median wall time and × realtime of each.
//! The side-by-side comparison with ffmpeg is `benches/compare-ffmpeg.sh`.

use demoreel::fixture::{SynthOptions, synth};
use demoreel::geometry::Size;
use demoreel::options;
use demoreel::recording::Recording;
use demoreel::render::{self, Outputs};
use std::path::PathBuf;
use std::time::Instant;

const SECONDS: f64 = 30.0;
const RUNS: usize = 3;

fn work_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench-render")
}

fn main() {
    // `cargo test --benches` runs this too: keep that quick.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let dir = work_dir();
    let recording_dir = dir.join(format!("recording-{SECONDS}s-1080p"));
    if !recording_dir.join("meta.json").exists() {
        let _ = std::fs::remove_dir_all(&recording_dir);
        synth(&recording_dir, &SynthOptions { seconds: SECONDS, size: Size { width: 1920, height: 1080 } }).unwrap();
    }
    let recording = Recording::open(&recording_dir).unwrap();
    println!("recording: {SECONDS} s at 1920x1080, {} captured frames", recording.frames.len());
    let cases = [
        ("framed, gradient", r##"{"video": {"background": {"type": "gradient", "from": "#6366f1", "to": "#ec4899"}}}"##),
        ("edge to edge", r#"{"video": {}}"#),
    ];
    for (name, json) in cases {
        let opts = options::parse(&serde_json::from_str(json).unwrap()).unwrap().options;
        let mut walls = Vec::new();
        let mut summary = None;
        for _ in 0..RUNS {
            let out = dir.join("out");
            let started = Instant::now();
            summary = Some(render::render(&recording, &opts, &out, Outputs { raw: false, demo: true }, &mut |_| {}).unwrap());
            walls.push(started.elapsed().as_secs_f64());
        }
        walls.sort_by(f64::total_cmp);
        let median = walls[RUNS / 2];
        let video = &summary.unwrap().videos[0];
        println!(
            "demo.mp4 {name}: median {median:.2} s over {RUNS} runs ({:?}), {:.2}x realtime, {} frames, {} composited",
            walls.iter().map(|w| format!("{w:.2}")).collect::<Vec<_>>(),
            video.duration.as_secs_f64() / median,
            video.frames,
            video.composed
        );
    }
}
