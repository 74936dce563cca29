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
const RUNS: usize = 5;

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
    let gradient = r##""background": {"type": "gradient", "from": "#6366f1", "to": "#ec4899"}"##;
    // Overlays off: no cursor, no chips, and no redact events.
    let mut bare = recording.clone();
    bare.events.retain(|e| !matches!(e.event, demoreel::recording::Event::Redact { .. }));
    let cases = [
        ("framed, overlays off", format!(r#"{{"video": {{{gradient}, "cursor": "none"}}}}"#), &bare),
        ("framed, all overlays", format!(r#"{{"video": {{{gradient}, "shortcuts": true}}}}"#), &recording),
        ("edge to edge, overlays off", r#"{"video": {"cursor": "none"}}"#.to_string(), &bare),
    ];
    // Runs interleave the cases, so a slow spell of this shared machine hits them alike.
    let parsed: Vec<_> = cases.iter().map(|(_, json, _)| options::parse(&serde_json::from_str(json).unwrap()).unwrap().options).collect();
    let mut walls = vec![Vec::new(); cases.len()];
    let mut cpus = vec![Vec::new(); cases.len()];
    let mut summaries = vec![None; cases.len()];
    for _ in 0..RUNS {
        for (i, (_, _, recording)) in cases.iter().enumerate() {
            let out = dir.join("out");
            let (started, cpu) = (Instant::now(), cpu_seconds());
            let summary = render::render(recording, &parsed[i], &out, Outputs::DEMO, &mut |_| render::Flow::Continue).unwrap();
            walls[i].push(started.elapsed().as_secs_f64());
            cpus[i].push(cpu_seconds() - cpu);
            summaries[i] = Some(summary);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut medians = Vec::new();
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let (wall, cpu) = (median(&mut walls[i]), median(&mut cpus[i]));
        medians.push((wall, cpu));
        let video = &summaries[i].as_ref().unwrap().videos[0];
        println!(
            "demo.mp4 {name}: median {wall:.2} s wall, {cpu:.2} s CPU over {RUNS} runs, {:.2}x realtime, {} frames, {} composited",
            video.duration.as_secs_f64() / wall,
            video.frames,
            video.composed
        );
    }
    println!(
        "all overlays cost {:+.1}% wall, {:+.1}% CPU over none (framed)",
        (medians[1].0 / medians[0].0 - 1.0) * 100.0,
        (medians[1].1 / medians[0].1 - 1.0) * 100.0
    );
}

/// CPU time (user + system) this process has used, from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0.0) + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}
