//! Faults. Crash injection: the real `demoreel serve` killed with SIGKILL at twenty points spread
//! over a run's life (queued and claimed, recording, rendering, storing, concluding) and
//! started again on the same data directory each time. After every restart no browser
//! of the dead process is left and every run ends (re-queued runs run again); at the end
//! no run is `running` or `awaiting_input`, and every listed artifact downloads whole
//! and matches its size and sha256. A full disk (a small tmpfs as the data directory):
//! the run fails `internal` saying so, the API answers throughout, nothing partial is
//! listed, the space comes back and the next run succeeds.

use crate::common::TempDir;
use crate::service::{Client, Server, api_key, sha256_hex, terminal};
use serde_json::json;
use std::time::{Duration, Instant};

const KILLS: usize = 20;
/// A run's stretches in order, as its status and `progress_stage` show them.
const STAGES: [&str; 6] = ["queued", "normalizing_goal", "executing", "rendering_demo_video", "rendering_gif", "ended"];

fn stage_of(run: &serde_json::Value) -> usize {
    if terminal(run) {
        return STAGES.len() - 1;
    }
    run["progress_stage"].as_str().and_then(|stage| STAGES.iter().position(|s| *s == stage)).unwrap_or(0)
}

/// Polls (every 20 ms) until the run has reached stretch `index` or one after it.
async fn until(client: &Client, id: &str, index: usize) {
    let started = Instant::now();
    while stage_of(&client.run(id).await) < index {
        assert!(started.elapsed() < Duration::from_secs(120), "run {id} did not reach {}", STAGES[index]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_server_killed_at_twenty_points_of_its_runs_loses_nothing() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("crash");
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(demoreel::sample_app::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let body = json!({
        "target_url": app.url("/login"),
        "goal": "Show the sign-in page",
        "options": {
            "workflow": {"steps": [{"action": "click", "selector": "#email"}, {"action": "pause", "ms": 800}]},
            "video": {"size": {"width": 1280, "height": 720}},
            "artifacts": {"gif": true}
        }
    });
    // Polled every 20 ms: above the default per-key rate.
    let serve_args = ["--rate-limit", "1000", "--rate-burst", "1000"];
    let mut server = Server::start(&data, &serve_args);
    let key = api_key(&data);
    runtime.block_on(async {
        let mut ids = Vec::new();
        // One run left alone: when it reaches each stage, from its creation.
        let client = Client::new(&server, &key);
        let started = Instant::now();
        let id = client.create(body.clone()).await;
        let mut reached = [Duration::ZERO; STAGES.len()];
        for (i, slot) in reached.iter_mut().enumerate().skip(1) {
            until(&client, &id, i).await;
            *slot = started.elapsed();
        }
        let run = client.run(&id).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        ids.push(id);
        eprintln!("an uninterrupted run reaches {:?} at {reached:?}", STAGES);

        // Four kills in each of five stretches of a run: queued or being claimed, recording,
        // rendering demo.mp4, rendering demo.gif, storing and concluding. Each kill waits
        // for its stretch to begin, then a fixed pseudo-random part of how long that
        // stretch lasted undisturbed.
        let mut seed: u64 = 0x2026_1201;
        let mut outcomes = Vec::new();
        for i in 0..KILLS {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let jitter = (seed % 1000) as f64 / 1000.0;
            let stretch = [0, 2, 3, 4, 4][i % 5];
            let client = Client::new(&server, &key);
            let id = client.create(body.clone()).await;
            until(&client, &id, stretch).await;
            let (from, to) = match i % 5 {
                // After rendering_gif begins, the tail (the GIF, storing, concluding).
                4 => (reached[4] + (reached[5] - reached[4]).mul_f64(0.5), reached[5]),
                _ => (reached[stretch], reached[(stretch + 1).min(STAGES.len() - 1)]),
            };
            let skip = if i % 5 == 4 { (reached[5] - reached[4]).mul_f64(0.5) } else { Duration::ZERO };
            tokio::time::sleep(skip + (to.saturating_sub(from)).mul_f64(jitter)).await;
            let seen = client.run(&id).await;
            let dead = server.pid();
            let _ = server.child.kill();
            let _ = server.child.wait();
            server = Server::start(&data, &serve_args);
            assert!(demoreel::capture::browser::processes_of(dead).is_empty(), "kill {i}: a browser of the killed server is left");
            let client = Client::new(&server, &key);
            let run = client.wait_for(&id, Duration::from_secs(120), terminal).await;
            // A run re-queued after the kill had not begun recording: it was killed while
            // being claimed or starting its browser.
            let phase = match STAGES[stage_of(&seen)] {
                "queued" | "normalizing_goal" => "claimed, before recording",
                "executing" if run["status"] == "succeeded" => "claimed, before recording",
                "executing" => "recording",
                "rendering_gif" => "rendering demo.gif, storing, concluding",
                other => other,
            };
            eprintln!("kill {i} in {phase}: {} {}", run["status"], run["error"]["code"]);
            assert!(run["status"] == "succeeded" || run["error"]["code"] == "interrupted", "kill {i} ({phase}): {run}");
            outcomes.push((phase, run["status"].as_str().unwrap().to_string()));
            ids.push(id);
        }
        let phases: std::collections::BTreeSet<&str> = outcomes.iter().map(|(p, _)| *p).collect();
        eprintln!("stretches hit: {phases:?}");
        assert!(phases.len() >= 4, "the kills fell in too few stretches: {phases:?}");
        assert!(outcomes.iter().any(|(_, s)| s == "succeeded") && outcomes.iter().any(|(_, s)| s == "failed"), "{outcomes:?}");

        // Nothing stays in flight, and what is listed is whole.
        let client = Client::new(&server, &key);
        let mut checked = 0;
        for id in &ids {
            let run = client.run(id).await;
            assert!(terminal(&run), "{run}");
            let (status, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{id}/artifacts"), None).await;
            assert_eq!(status, 200);
            for artifact in listed["data"].as_array().unwrap() {
                let (status, bytes) = client.download(artifact["id"].as_str().unwrap()).await;
                assert_eq!(status, 200, "{artifact}");
                assert_eq!(bytes.len() as u64, artifact["size_bytes"].as_u64().unwrap(), "{artifact} arrives whole");
                assert_eq!(sha256_hex(&bytes), artifact["sha256"].as_str().unwrap(), "{artifact} matches its digest");
                checked += 1;
            }
            if run["status"] == "succeeded" {
                let names: Vec<&str> = listed["data"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
                for name in ["raw.mp4", "demo.mp4", "demo.gif"] {
                    assert!(names.contains(&name), "a succeeded run lists {name}: {names:?}");
                }
            }
        }
        eprintln!("{checked} artifacts of {} runs download whole", ids.len());
    });
}

/// A page that paints full-frame noise every frame: the biggest frames a capture gets.
async fn serve_noise_page() -> String {
    const PAGE: &str = r#"<!doctype html><title>noise</title><style>html,body{margin:0}canvas{display:block;width:100vw;height:100vh}</style>
<canvas id="c"></canvas><script>
const c = document.getElementById('c'); c.width = innerWidth; c.height = innerHeight;
const ctx = c.getContext('2d'); const img = ctx.createImageData(c.width, c.height);
function paint() { const d = new Uint32Array(img.data.buffer); for (let i = 0; i < d.length; i++) d[i] = (Math.random() * 0xffffffff) | 0xff000000; ctx.putImageData(img, 0, 0); requestAnimationFrame(paint); }
paint();
</script>"#;
    let app = axum::Router::new().route("/noise", axum::routing::get(|| async { axum::response::Html(PAGE) }));
    let (base, _server) = crate::common::serve_locally(app).await;
    format!("{base}/noise")
}

/// Bytes in use on the file system holding `path`.
fn used_bytes(path: &std::path::Path) -> u64 {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs fills `stats`, a plain struct, for a NUL-terminated path.
    assert_eq!(unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) }, 0);
    (stats.f_blocks - stats.f_bfree) * stats.f_frsize
}

/// Unmounts the data directory's file system when the test ends (after the server).
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_run_cleanly_keeps_the_server_answering_and_gives_the_space_back() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("disk-full");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // The data directory on a 32 MiB file system of its own.
    let mounted = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"]).arg(&data).status().unwrap();
    assert!(mounted.success(), "mounting a tmpfs (the suite runs as root)");
    let _mounted = Mounted(data.clone());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(demoreel::sample_app::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let server = Server::start(&data, &[]);
    let key = api_key(&data);
    runtime.block_on(async {
        let client = Client::new(&server, &key);
        let noise = serve_noise_page().await;
        let before = used_bytes(&data);
        let id = client
            .create(json!({
                "target_url": noise,
                "goal": "Show the noise",
                "options": {"workflow": {"steps": [{"action": "pause", "ms": 8000}]}, "video": {"size": {"width": 1280, "height": 720}}, "artifacts": {"gif": true}}
            }))
            .await;
        // The server answers throughout, disk full or not.
        let started = Instant::now();
        let mut slowest = Duration::ZERO;
        let mut fullest = 0;
        let run = loop {
            let asked = Instant::now();
            let health = reqwest::get(format!("{}/healthz", server.url)).await.unwrap();
            assert_eq!(health.status(), 200);
            slowest = slowest.max(asked.elapsed());
            fullest = fullest.max(used_bytes(&data));
            let run = client.run(&id).await;
            if terminal(&run) {
                break run;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "the run did not end: {run}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        eprintln!("disk full: {} {}; used {} → {} KiB at most; /healthz within {:?}", run["status"], run["error"], before / 1024, fullest / 1024, slowest);
        assert!(fullest > 28 * 1024 * 1024, "the disk filled ({} KiB)", fullest / 1024);
        assert_eq!(run["status"], "failed", "{run}");
        assert_eq!(run["error"]["code"], "internal", "{run}");
        assert!(run["error"]["message"].as_str().unwrap().contains("No space left"), "the reason says why: {run}");
        assert!(slowest < Duration::from_secs(1), "the API stalled for {slowest:?}");

        // What is listed is whole; nothing partial.
        let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{id}/artifacts"), None).await;
        for artifact in listed["data"].as_array().unwrap() {
            let (status, bytes) = client.download(artifact["id"].as_str().unwrap()).await;
            assert_eq!(status, 200);
            assert_eq!(sha256_hex(&bytes), artifact["sha256"].as_str().unwrap(), "{artifact} is whole");
        }
        // The space comes back: what stays is the run's small files.
        let after = used_bytes(&data);
        assert!(after < before + 2 * 1024 * 1024, "the space came back: {} KiB before, {} KiB after", before / 1024, after / 1024);

        // And the next run works on the same disk.
        let id = client
            .create(json!({
                "target_url": app.url("/login"),
                "goal": "Show the sign-in page",
                "options": {"workflow": {"steps": [{"action": "pause", "ms": 500}]}, "video": {"size": {"width": 640, "height": 360}}}
            }))
            .await;
        let run = client.wait_for(&id, Duration::from_secs(120), terminal).await;
        assert_eq!(run["status"], "succeeded", "{run}");
    });
}
