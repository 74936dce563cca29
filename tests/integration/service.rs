//! The service end to end: the real `demoreel serve` process on a loopback port, real
//! Chromium, the sample app. A sign-in run answered through the input endpoint (demo.mp4
//! shorter than raw.mp4 by the wait, every artifact downloadable and seekable, no secret
//! in any answer, log, file the server keeps or frame of the videos), cancel during
//! recording, input expiry, and a server killed mid-run.

use crate::common::TempDir;
use demoreel::sample_app;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = sample_app::PASSWORD;

pub(crate) fn demoreel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_demoreel"))
}

/// A `demoreel serve` child process; killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(data, extra, &[])
    }

    /// A server with extra environment variables (the server's own secrets, say).
    pub(crate) fn start_with_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let key_file = data.join("secret.key");
        if !key_file.exists() {
            std::fs::write(&key_file, "ab".repeat(32)).unwrap();
        }
        let log = data.join(format!("serve-{}.log", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()));
        let mut child = demoreel()
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .arg("--secret-key-file")
            .arg(&key_file)
            // The sample app and the test pages listen on loopback, which runs may not
            // reach by default.
            .args(["--allow-targets", "127.0.0.1/32"])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = match line.trim().strip_prefix("demoreel serving on ") {
            Some(url) => url.to_string(),
            None => {
                // What the server said before it ended: the reason it could not start.
                let _ = child.wait();
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = said.lines().rev().take(20).collect();
                panic!("server did not start: {line:?}; its log {}:\n{}", log.display(), tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
        };
        Server { child, url }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test's world: a data directory, the sample app, a running server and a key.
pub(crate) struct World {
    pub(crate) dir: TempDir,
    pub(crate) data: std::path::PathBuf,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) app: sample_app::SampleApp,
    pub(crate) server: Server,
    pub(crate) key: String,
}

impl World {
    pub(crate) fn new(label: &str, serve_args: &[&str]) -> World {
        let dir = TempDir::new(label);
        let data = dir.path().join("data");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let app = runtime.block_on(sample_app::start("127.0.0.1:0".parse().unwrap())).unwrap();
        let server = Server::start(&data, serve_args);
        let key = api_key(&data);
        World { dir, data, runtime, app, server, key }
    }
}

pub(crate) fn api_key(data: &Path) -> String {
    let out = demoreel().args(["keys", "create", "--label", "test", "--data-dir"]).arg(data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["key"].as_str().unwrap().to_string()
}

/// Talks to the server, keeping every answer's text for the secrets check.
pub(crate) struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
    pub(crate) answers: std::sync::Mutex<Vec<String>>,
}

impl Client {
    pub(crate) fn new(server: &Server, key: &str) -> Client {
        Client { http: reqwest::Client::new(), url: server.url.clone(), key: key.to_string(), answers: Default::default() }
    }

    pub(crate) async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        self.answers.lock().unwrap().push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Downloads an artifact's bytes with the key.
    pub(crate) async fn download(&self, artifact_id: &str) -> (u16, Vec<u8>) {
        let response = self.http.get(format!("{}/v1/downloads/{artifact_id}", self.url)).header("x-api-key", &self.key).send().await.unwrap();
        (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
    }

    pub(crate) async fn run(&self, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/v1/agent/runs/{id}"), None).await.1
    }

    pub(crate) async fn create(&self, body: Value) -> String {
        let (status, answer) = self.call(reqwest::Method::POST, "/v1/agent/runs", Some(body)).await;
        assert_eq!(status, 201, "{answer}");
        answer["run_id"].as_str().unwrap().to_string()
    }

    /// Polls until `done(run)` holds; panics with the run after `limit`.
    pub(crate) async fn wait_for(&self, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let run = self.run(id).await;
            if done(&run) {
                return run;
            }
            assert!(started.elapsed() < limit, "run did not get there in {limit:?}: {run}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

pub(crate) fn terminal(run: &Value) -> bool {
    matches!(run["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))
}

/// Chromium processes a server process started and left running.
pub(crate) fn browsers_of(pid: u32) -> usize {
    demoreel::capture::browser::processes_of(pid).len()
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Whether the one-time code `code` (six digits) stands in `bytes` as a number of its
/// own. Not counted: six digits inside a longer run of digits (a timestamp's fraction, a
/// size) and a captured frame's file name (`000123.jpg`, numbered from 0), which a random
/// code equals by chance once in a few thousand runs.
fn holds_code(bytes: &[u8], code: &str) -> bool {
    let code = code.as_bytes();
    bytes.windows(code.len()).enumerate().any(|(at, window)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = &bytes[at + code.len()..];
        window == code && !before.is_some_and(|b| b.is_ascii_digit()) && !after.first().is_some_and(|b| b.is_ascii_digit()) && !after.starts_with(b".jpg")
    })
}

#[test]
fn holds_code_finds_a_code_of_its_own_and_not_inside_other_numbers() {
    assert!(holds_code(br#"{"value":"042917"}"#, "042917"));
    assert!(holds_code(b"code 042917", "042917"));
    assert!(!holds_code(br#"{"t_ms":1042917.5}"#, "042917"), "inside a longer number");
    assert!(!holds_code(br#"{"path":"frames/042917.jpg"}"#, "042917"), "a frame's name");
    assert!(!holds_code(b"", "042917"));
}

#[test]
fn a_sign_in_run_waits_for_its_code_and_ships_every_artifact_without_a_secret() {
    let _machine = crate::common::whole_machine();
    let world = World::new("service-login", &[]);
    let (dir, data, app, server) = (&world.dir, &world.data, &world.app, &world.server);
    world.runtime.block_on(async {
        let client = Client::new(server, &world.key);
        let (status, _) = client
            .call(reqwest::Method::POST, "/v1/agent/credentials", Some(json!({"label": "Orbit", "domain": "127.0.0.1", "email": sample_app::EMAIL, "password": PASSWORD, "is_default": true})))
            .await;
        assert_eq!(status, 201);
        let id = client
            .create(json!({
                "target_url": app.url("/login"),
                "goal": "Sign in, create a new project and open the analytics dashboard",
                "options": {"auth": {"source": "default"}, "video": {"size": {"width": 1280, "height": 720}, "blur_emails": true, "shortcuts": true}, "artifacts": {"gif": true, "gif_width": 480}}
            }))
            .await;
        let waiting = client.wait_for(&id, Duration::from_secs(90), |r| r["status"] == "awaiting_input" || terminal(r)).await;
        assert_eq!(waiting["status"], "awaiting_input", "{waiting}");
        assert!(waiting["awaiting_input"]["prompt"].as_str().is_some_and(|p| !p.is_empty()));
        // A person takes a moment to find the code.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let outbox: Value = reqwest::get(app.url("/api/outbox")).await.unwrap().json().await.unwrap();
        let code = outbox[0]["code"].as_str().unwrap().to_string();
        let (status, _) = client.call(reqwest::Method::POST, &format!("/v1/agent/runs/{id}/input"), Some(json!({"value": code}))).await;
        assert_eq!(status, 204);
        let done = client.wait_for(&id, Duration::from_secs(240), terminal).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert!(done["error"].is_null() && done["finished_at"].is_string());

        let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{id}/artifacts"), None).await;
        let artifacts = listed["data"].as_array().unwrap().clone();
        let mut names: Vec<&str> = artifacts.iter().map(|a| a["name"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["demo.gif", "demo.mp4", "events.jsonl", "plan.json", "raw.mp4"]);
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let mut files = Vec::new();
        for artifact in &artifacts {
            let response = client.http.get(format!("{}/v1/downloads/{}", client.url, artifact["id"].as_str().unwrap())).header("x-api-key", &client.key).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let bytes = response.bytes().await.unwrap().to_vec();
            assert_eq!(bytes.len() as u64, artifact["size_bytes"].as_u64().unwrap());
            assert_eq!(sha256_hex(&bytes), artifact["sha256"].as_str().unwrap(), "{} arrives whole", artifact["name"]);
            let path = downloads.join(artifact["name"].as_str().unwrap());
            std::fs::write(&path, &bytes).unwrap();
            files.push((path, bytes));
        }

        // demo.mp4 = raw.mp4 less the wait for the code, within a frame.
        let timeline = std::fs::read_to_string(data.join("runs").join(&id).join("recording").join("timeline.jsonl")).unwrap();
        let at = |kind: &str| timeline.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["type"] == kind).unwrap()["t_ms"].as_f64().unwrap();
        let wait_ms = at("awaiting_input_end") - at("awaiting_input_start");
        assert!(wait_ms > 2000.0, "the wait was recorded: {wait_ms} ms");
        let raw = demoreel::encode::decode::probe(&downloads.join("raw.mp4")).unwrap();
        let demo = demoreel::encode::decode::probe(&downloads.join("demo.mp4")).unwrap();
        let (raw_ms, demo_ms) = (raw.duration_ns as f64 / 1e6, demo.duration_ns as f64 / 1e6);
        eprintln!("raw.mp4 {raw_ms:.0} ms, demo.mp4 {demo_ms:.0} ms, wait {wait_ms:.0} ms");
        assert!((raw_ms - demo_ms - wait_ms).abs() <= 1000.0 / 30.0 + 1.0, "raw {raw_ms} − demo {demo_ms} ≠ wait {wait_ms}");
        let gif = &files.iter().find(|(p, _)| p.ends_with("demo.gif")).unwrap().1;
        assert!(gif.starts_with(b"GIF89a"));
        // The run's events say how the GIF was made; no budget was given, so nothing lowered.
        let events = String::from_utf8(files.iter().find(|(p, _)| p.ends_with("events.jsonl")).unwrap().1.clone()).unwrap();
        let made: Value = events.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["type"] == "gif").unwrap_or_else(|| panic!("no gif event: {events}"));
        assert_eq!((made["width"].clone(), made["fps"].clone(), made["colours"].clone(), made["lossiness"].clone()), (json!(480), json!(12), json!(255), json!(0)), "{made}");
        assert_eq!(made["bytes"].as_u64(), Some(gif.len() as u64), "{made}");
        assert!(!events.contains("gif_budget_step"), "{events}");

        // A player can seek: the index is up front, and the signed URL answers ranges.
        let boxes = demoreel::encode::decode::mp4_top_level_boxes(&downloads.join("demo.mp4")).unwrap();
        let position = |name: &str| boxes.iter().position(|b| b == name).unwrap();
        assert!(position("moov") < position("mdat"));
        let demo_artifact = artifacts.iter().find(|a| a["name"] == "demo.mp4").unwrap();
        let signed = demo_artifact["download_url"].as_str().unwrap();
        let part = client.http.get(signed).header("range", "bytes=1000-4999").send().await.unwrap();
        assert_eq!(part.status().as_u16(), 206);
        let total = demo_artifact["size_bytes"].as_u64().unwrap();
        assert_eq!(part.headers()["content-range"], format!("bytes 1000-4999/{total}").as_str());
        let demo_bytes = &files.iter().find(|(p, _)| p.ends_with("demo.mp4")).unwrap().1;
        assert_eq!(part.bytes().await.unwrap().to_vec(), demo_bytes[1000..5000]);

        // Neither the password nor the code is in any artifact, log line or API answer.
        let mut haystacks: Vec<(String, Vec<u8>)> = files.iter().map(|(p, b)| (p.display().to_string(), b.clone())).collect();
        haystacks.push(("server log".into(), std::fs::read(data.read_dir().unwrap().flatten().find(|e| e.file_name().to_string_lossy().starts_with("serve-")).unwrap().path()).unwrap()));
        haystacks.push(("the recording's timeline".into(), timeline.into_bytes()));
        for (i, answer) in client.answers.lock().unwrap().iter().enumerate() {
            haystacks.push((format!("API answer {i}"), answer.clone().into_bytes()));
        }
        // …nor in any file the server keeps: the database and its journal, the work
        // files of the run (the recording, its frames, render scratch), stored artifacts.
        let mut kept = 0;
        for path in files_under(data) {
            kept += 1;
            let bytes = std::fs::read(&path).unwrap_or_default();
            if path.extension().is_some_and(|e| e == "tar") {
                // The kept recording: each member's bytes, not the tar's headers, whose
                // octal sizes, times and checksums hold six-digit runs a code may match
                // by chance (seen once: a code of digits 0-7 found in a header).
                let mut archive = tar::Archive::new(std::io::Cursor::new(bytes));
                for entry in archive.entries().unwrap() {
                    let mut entry = entry.unwrap();
                    let name = format!("{} member {}", path.display(), entry.path().unwrap().display());
                    let mut member = Vec::new();
                    std::io::Read::read_to_end(&mut entry, &mut member).unwrap();
                    haystacks.push((name, member));
                }
                continue;
            }
            haystacks.push((path.display().to_string(), bytes));
        }
        assert!(haystacks.iter().any(|(name, _)| name.ends_with(".db")), "the database was read ({kept} files)");
        for (name, bytes) in &haystacks {
            assert!(!bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()), "{name} holds a secret");
            assert!(!holds_code(bytes, &code), "{name} holds a secret");
        }
        // …nor readable on screen: OCR of every frame of the three videos (the code is
        // typed into a plain field; the password field shows discs).
        for name in ["raw.mp4", "demo.mp4", "demo.gif"] {
            let path = downloads.join(name);
            let pictures = if name.ends_with(".gif") { crate::privacy::gif_pictures(&path) } else { crate::privacy::mp4_pictures(&path) };
            let text = crate::privacy::read_every_frame(pictures, dir.path(), name);
            let leaks: Vec<String> = crate::privacy::leaks(&text, None, Some(&code)).into_iter().filter(|l| l.starts_with("code digits")).collect();
            assert!(leaks.is_empty(), "the one-time code is readable in {name}: {leaks:?}");
            assert!(!text.to_lowercase().contains(&PASSWORD[..8]), "the password is readable in {name}");
        }
    });
}

/// Every regular file under `dir`, at any depth (links are not followed).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => todo.push(entry.path()),
                Ok(kind) if kind.is_file() => out.push(entry.path()),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn cancel_stops_a_recording_and_its_browser() {
    let _machine = crate::common::whole_machine();
    let world = World::new("service-cancel", &[]);
    let (app, server) = (&world.app, &world.server);
    world.runtime.block_on(async {
        let client = Client::new(server, &world.key);
        let id = client
            .create(json!({"target_url": app.url("/login"), "goal": "Wait a long time", "options": {"workflow": {"steps": [{"action": "pause", "ms": 60000}]}, "video": {"size": {"width": 960, "height": 540}}}}))
            .await;
        client.wait_for(&id, Duration::from_secs(60), |r| r["progress_stage"] == "executing").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(browsers_of(server.pid()) > 0, "a browser records");
        let asked = Instant::now();
        let (status, _) = client.call(reqwest::Method::POST, &format!("/v1/agent/runs/{id}/cancel"), None).await;
        assert_eq!(status, 204);
        let run = client.wait_for(&id, Duration::from_secs(20), terminal).await;
        eprintln!("cancelled {:.1} s after the request", asked.elapsed().as_secs_f64());
        assert_eq!(run["status"], "cancelled", "{run}");
        assert!(asked.elapsed() < Duration::from_secs(10), "stopped at the next checkpoint");
        let (status, _) = client.call(reqwest::Method::POST, &format!("/v1/agent/runs/{id}/cancel"), None).await;
        assert_eq!(status, 409);
        for _ in 0..40 {
            if browsers_of(server.pid()) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(browsers_of(server.pid()), 0, "no browser outlives the cancelled run");
    });
}

/// Cancels run `id` (204) and waits until it shows `cancelled`; answers how long that took.
async fn cancel_until_ended(client: &Client, id: &str) -> Duration {
    let asked = Instant::now();
    let (status, _) = client.call(reqwest::Method::POST, &format!("/v1/agent/runs/{id}/cancel"), None).await;
    assert_eq!(status, 204);
    let ended = client.wait_for(id, Duration::from_secs(30), terminal).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    asked.elapsed()
}

#[test]
fn cancel_works_while_a_run_waits_for_the_render_slot_and_during_its_gif() {
    let _machine = crate::common::whole_machine();
    let world = World::new("service-cancel-render", &["--recordings-at-once", "2", "--renders-at-once", "1", "--rate-limit", "1000", "--rate-burst", "1000"]);
    let (app, server) = (&world.app, &world.server);
    world.runtime.block_on(async {
        let client = Client::new(server, &world.key);
        let run = |pause_ms: u64, size: u32| {
            json!({"target_url": app.url("/login"), "goal": "Show the sign-in page", "options": {
                "workflow": {"steps": [{"action": "type", "selector": "#email", "text": "ada@orbit.test"}, {"action": "pause", "ms": pause_ms}]},
                "video": {"size": {"width": size * 16 / 9, "height": size}}, "artifacts": {"gif": true}}})
        };
        // A renders a 1080p video and its GIF: seconds of work holding the one render slot
        // (12 s of pause make its render outlast B's recording and cancel with room to
        // spare on a loaded machine; 6 s once let A finish while B's cancel was answered).
        let a = client.create(run(12000, 1080)).await;
        client.wait_for(&a, Duration::from_secs(90), |r| r["progress_stage"] == "rendering_demo_video" || terminal(r)).await;
        // B records meanwhile, stores raw.mp4 and then waits for A's slot.
        let b = client.create(run(300, 360)).await;
        let started = Instant::now();
        loop {
            let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{b}/artifacts"), None).await;
            if listed["data"].as_array().is_some_and(|l| l.iter().any(|x| x["name"] == "raw.mp4")) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "B never finished recording: {}", client.run(&b).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let a_now = client.run(&a).await;
        assert!(a_now["status"] == "running" && a_now["progress_stage"].as_str().is_some_and(|s| s.starts_with("rendering")), "A still renders: {a_now}");
        assert_eq!(client.run(&b).await["progress_stage"], "executing", "B waits for the slot before its render stage");
        let took = cancel_until_ended(&client, &b).await;
        eprintln!("B cancelled while waiting for the render slot in {:?}", took);
        assert!(took < Duration::from_secs(3), "cancel waited for another run's render: {took:?}");
        assert!(!terminal(&client.run(&a).await), "A was still rendering when B ended");

        // A's GIF: cancelled mid-encoding, it ends at once and lists no demo.gif.
        client.wait_for(&a, Duration::from_secs(120), |r| r["progress_stage"] == "rendering_gif" || terminal(r)).await;
        let took = cancel_until_ended(&client, &a).await;
        eprintln!("A cancelled during its GIF in {:?}", took);
        // The encoding stops at the next frame; the decoder still reads to the end of the
        // video (2.8 s measured here, against 8.4 s for a whole 1080p GIF in the main job).
        assert!(took < Duration::from_secs(5), "cancel waited for the GIF: {took:?}");
        let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{a}/artifacts"), None).await;
        assert!(!listed["data"].as_array().unwrap().iter().any(|x| x["name"] == "demo.gif"), "{listed}");
    });
}

#[test]
fn unanswered_input_expires() {
    let _machine = crate::common::whole_machine();
    let world = World::new("service-expiry", &["--input-window-secs", "3"]);
    let (app, server) = (&world.app, &world.server);
    world.runtime.block_on(async {
        let client = Client::new(server, &world.key);
        let id = client
            .create(json!({"target_url": app.url("/login"), "goal": "Ask for a code", "options": {"workflow": {"steps": [{"action": "input", "prompt": "Code", "selector": "#email"}]}, "video": {"size": {"width": 960, "height": 540}}}}))
            .await;
        let waiting = client.wait_for(&id, Duration::from_secs(60), |r| r["status"] == "awaiting_input" || terminal(r)).await;
        assert_eq!(waiting["awaiting_input"]["prompt"], "Code");
        let requested = humantime::parse_rfc3339(waiting["awaiting_input"]["requested_at"].as_str().unwrap()).unwrap();
        let expires = humantime::parse_rfc3339(waiting["awaiting_input"]["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(expires.duration_since(requested).unwrap().as_secs(), 3);
        let run = client.wait_for(&id, Duration::from_secs(30), terminal).await;
        assert_eq!(run["status"], "failed");
        assert_eq!(run["error"]["code"], "input_expired", "{run}");
        let (status, _) = client.call(reqwest::Method::POST, &format!("/v1/agent/runs/{id}/input"), Some(json!({"value": "123456"}))).await;
        assert_eq!(status, 409, "too late");
    });
}

#[test]
fn a_killed_server_leaves_no_run_running_after_restart() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("service-restart");
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let app = sample_app::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let key = api_key(&data);
        let mut first = Server::start(&data, &[]);
        let client = Client::new(&first, &key);
        let steps = |ms: u64| json!({"workflow": {"steps": [{"action": "pause", "ms": ms}]}, "video": {"size": {"width": 960, "height": 540}}});
        let recording = client.create(json!({"target_url": app.url("/login"), "goal": "Wait", "options": steps(60_000)})).await;
        let queued = client.create(json!({"target_url": app.url("/login"), "goal": "Wait briefly", "options": steps(500)})).await;
        // Recording has begun once the first frame is in the run's bundle.
        let frames = data.join("runs").join(&recording).join("recording").join("frames");
        client.wait_for(&recording, Duration::from_secs(60), |_| std::fs::read_dir(&frames).is_ok_and(|mut d| d.next().is_some())).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(client.run(&queued).await["status"], "queued", "one recording at a time");
        let dead_pid = first.pid();
        first.child.kill().unwrap();
        first.child.wait().unwrap();
        assert!(browsers_of(dead_pid) > 0, "the killed server's browser is orphaned");

        let second = Server::start(&data, &[]);
        let client = Client::new(&second, &key);
        let interrupted = client.run(&recording).await;
        assert_eq!(interrupted["status"], "failed", "{interrupted}");
        assert_eq!(interrupted["error"]["code"], "interrupted");
        let (_, running) = client.call(reqwest::Method::GET, "/v1/agent/runs?status=running", None).await;
        assert!(running["data"].as_array().unwrap().iter().all(|r| r["id"] == queued.as_str()), "only the re-queued run may be running: {running}");
        assert_eq!(browsers_of(dead_pid), 0, "the orphaned browser was ended at start-up");
        let finished = client.wait_for(&queued, Duration::from_secs(120), terminal).await;
        assert_eq!(finished["status"], "succeeded", "the queued run ran after the restart: {finished}");
    });
}

#[test]
fn the_cli_creates_waits_with_exit_codes_and_downloads() {
    let _machine = crate::common::whole_machine();
    let world = World::new("service-cli", &["--input-window-secs", "4"]);
    let (dir, app, server, key) = (&world.dir, &world.app, &world.server, &world.key);
    let cli = |args: &[&str]| {
        demoreel()
            .args(args)
            .env("DEMOREEL_SERVER", &server.url)
            .env("DEMOREEL_API_KEY", &key)
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .output()
            .unwrap()
    };
    let options = json!({"workflow": {"steps": [{"action": "input", "prompt": "Code", "selector": "#email"}]}, "video": {"size": {"width": 960, "height": 540}}}).to_string();
    let created = cli(&["runs", "create", &app.url("/login"), "--goal", "Ask for a code", "--options", &options]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let id = serde_json::from_slice::<Value>(&created.stdout).unwrap()["run_id"].as_str().unwrap().to_string();

    let waited = cli(&["runs", "wait", &id, "--timeout", "60"]);
    assert_eq!(waited.status.code(), Some(10), "awaiting input: {}", String::from_utf8_lossy(&waited.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&waited.stdout).unwrap()["status"], "awaiting_input");
    // Waiting again while it still waits answers 10 again; once the window (4 s) has
    // passed, 11. A loaded machine may settle the expiry late: ask until it has.
    let asked = Instant::now();
    let waited = loop {
        std::thread::sleep(Duration::from_secs(1));
        let waited = cli(&["runs", "wait", &id, "--timeout", "60", "--output", "text"]);
        if waited.status.code() != Some(10) || asked.elapsed() > Duration::from_secs(30) {
            break waited;
        }
    };
    assert_eq!(waited.status.code(), Some(11), "failed (the code never came)");
    assert!(String::from_utf8_lossy(&waited.stdout).contains("failed"));

    // The value comes from the environment (or stdin), not an argument.
    let no_value = cli(&["runs", "input", &id]);
    assert!(!no_value.status.success() && String::from_utf8_lossy(&no_value.stderr).contains("DEMOREEL_INPUT_VALUE"));
    let refused = demoreel()
        .args(["runs", "input", &id])
        .env("DEMOREEL_SERVER", &server.url)
        .env("DEMOREEL_API_KEY", key)
        .env("DEMOREEL_INPUT_VALUE", "123456")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("409"), "{}", String::from_utf8_lossy(&refused.stderr));

    let out = dir.path().join("out");
    let downloaded = cli(&["runs", "download", &id, "--all", "--dir", out.to_str().unwrap()]);
    assert!(downloaded.status.success(), "{}", String::from_utf8_lossy(&downloaded.stderr));
    for name in ["raw.mp4", "plan.json", "events.jsonl"] {
        assert!(out.join(name).is_file(), "a failed run keeps {name}");
    }
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    assert!(events.contains("input_expired"));
    let missing = cli(&["runs", "download", &id, "--artifact", "demo.mp4", "--dir", out.to_str().unwrap()]);
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("no artifact"));
    let no_key = demoreel().args(["runs", "list"]).env("DEMOREEL_SERVER", &server.url).env_remove("DEMOREEL_API_KEY").env("XDG_CONFIG_HOME", dir.path().join("empty")).output().unwrap();
    assert!(!no_key.status.success() && String::from_utf8_lossy(&no_key.stderr).contains("no API key"));
}

#[test]
fn stored_passwords_need_their_key_to_start() {
    let dir = TempDir::new("service-key");
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = Server::start(&data, &[]);
        let client = Client::new(&server, &api_key(&data));
        let (status, _) = client
            .call(reqwest::Method::POST, "/v1/agent/credentials", Some(json!({"label": "x", "domain": "a.example", "email": "a@a.example", "password": "pw-123"})))
            .await;
        assert_eq!(status, 201);
    });
    let refused = demoreel().args(["serve", "--addr", "127.0.0.1:0", "--data-dir"]).arg(&data).env_remove("DEMOREEL_SECRET_KEY").env_remove("DEMOREEL_SECRET_KEY_FILE").output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("DEMOREEL_SECRET_KEY") && stderr.contains("encrypted passwords"), "{stderr}");
    let database = std::fs::read(data.join("demoreel.db")).unwrap();
    assert!(!database.windows(6).any(|w| w == b"pw-123"), "the password is not in the database as text");
}
