//! Re-render jobs through the HTTP API (the router in-process) with a real render worker:
//! recordings kept by runs rendered again at another size with real GStreamer, no
//! browser; per-run outcomes; cancel mid-render; a task whose worker vanished taken over
//! after its lease; the originals kept and the newest generation listed by default.

use crate::common::{TempDir, synthetic};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use demoreel::api::{self, ApiConfig, AppState, Services};
use demoreel::db::render_jobs::RenderJobRepo;
use demoreel::db::{DatabaseLocation, SqlDatabase};
use demoreel::db::{self, KeyRepo, Run, RunRepo, RunStatus};
use demoreel::geometry::Size;
use demoreel::produce::Producer;
use demoreel::render_jobs::{RenderWorker, WorkerConfig};
use demoreel::runs::signals::InProcess;
use demoreel::secrets::{self, UrlSigner};
use demoreel::store::{ArtifactStore, LocalStore};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

pub struct Service {
    router: axum::Router,
    db: Arc<SqlDatabase>,
    producer: Producer,
    pub dir: TempDir,
    pub alice: String,
    alice_id: demoreel::db::KeyId,
    bob: String,
    _worker: Option<tokio::task::JoinHandle<()>>,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The API, a database and a store in a temporary folder, and a render worker with
/// `lease` (none when `lease` is None).
async fn service(lease: Option<Duration>) -> Service {
    let dir = TempDir::new("render-jobs");
    let artifacts = Arc::new(LocalStore::new(&dir.path().join("artifacts")));
    service_with(lease, artifacts, dir).await
}

/// [`service`] with the artifact store `artifacts`, its other files in `dir`.
pub async fn service_with(lease: Option<Duration>, artifacts: Arc<dyn ArtifactStore>, dir: TempDir) -> Service {
    let database = DatabaseLocation::Sqlite(dir.path().join("demoreel.db"));
    service_on(&database, lease, artifacts, dir).await
}

/// [`service_with`] on the database at `database`.
pub async fn service_on(database: &DatabaseLocation, lease: Option<Duration>, artifacts: Arc<dyn ArtifactStore>, dir: TempDir) -> Service {
    let db = Arc::new(SqlDatabase::open(database).await.unwrap());
    let signals = Arc::new(InProcess::default());
    let (alice, bob) = (secrets::new_api_key(), secrets::new_api_key());
    let alice_id = db.create_key("alice", &secrets::hash_api_key(&alice), None).await.unwrap().id;
    db.create_key("bob", &secrets::hash_api_key(&bob), None).await.unwrap();
    let worker = lease.map(|lease| {
        let config = WorkerConfig { lease, ..WorkerConfig::new(dir.path().join("render-jobs"), demoreel::egress::TargetPolicy::public_only()) };
        Arc::new(RenderWorker::new(db.clone(), artifacts.clone(), signals.clone(), config)).spawn()
    });
    let state = AppState::new(Services {
        db: db.clone(),
        artifacts: artifacts.clone(),
        signer: UrlSigner::load_or_create(&dir.path().join("signing.key")).unwrap(),
        sealer: None,
        signals,
        demonstrations: None,
        // Tests make many calls at once; the rate limit has tests of its own.
        config: ApiConfig { rate_per_second: 1000.0, rate_burst: 1000.0, ..ApiConfig::default() },
    });
    let producer = Producer { db: db.clone(), artifacts };
    Service { router: api::router(state), db, producer, dir, alice, alice_id, bob, _worker: worker }
}

impl Service {
    pub async fn call(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value, Vec<u8>) {
        let (status, _, bytes) = self.call_with(key, method, path, body, &[]).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes)
    }

    /// [`Service::call`] with request `headers`, answering the response's headers too.
    pub async fn call_with(&self, key: &str, method: &str, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path).header("x-api-key", key).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec())
    }

    /// A finished run of alice's that kept the synthetic recording of `seconds`, with an
    /// original `demo.mp4` artifact (generation 0).
    pub async fn finished_run(&self, seconds: u32) -> String {
        let now = db::now();
        let id = db::new_id();
        let run = Run {
            id: id.clone(),
            owner: self.alice_id.clone(),
            status: RunStatus::Succeeded,
            progress_stage: None,
            target_url: "https://app.example.com/".into(),
            goal: "Open the dashboard".into(),
            options: json!({}),
            awaiting_input: None,
            error: None,
            recording_started: true,
            cancel_requested: false,
            created_at: now.clone(),
            updated_at: now.clone(),
            started_at: Some(now.clone()),
            finished_at: Some(now),
        };
        self.db.insert_run(&run).await.unwrap();
        let bundle = synthetic(seconds, Size { width: 1280, height: 720 });
        assert!(self.producer.keep_recording(&id, &bundle).await.unwrap() > 0);
        let original = self.dir.path().join(format!("{id}-original.mp4"));
        std::fs::write(&original, b"the run's own demo.mp4").unwrap();
        self.producer.store(&id, &original, "demo.mp4", "video/mp4").await.unwrap();
        id
    }

    async fn job(&self, id: &str) -> Value {
        let (status, job, _) = self.call(&self.alice, "GET", &format!("/v1/render-jobs/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        job
    }

    /// Polls the job until `done` holds of it, at most `limit`.
    pub async fn until(&self, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(started.elapsed() < limit, "the job did not get there within {limit:?}: {job:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Downloads an artifact (by id, with the key) into the temporary folder.
    async fn download(&self, artifact: &Value) -> std::path::PathBuf {
        let (status, _, bytes) = self.call(&self.alice, "GET", &format!("/v1/downloads/{}", artifact["id"].as_str().unwrap()), None).await;
        assert_eq!(status, StatusCode::OK);
        let path = self.dir.path().join(format!("{}-{}", artifact["id"].as_str().unwrap(), artifact["name"].as_str().unwrap()));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

fn names(artifacts: &Value) -> Vec<(String, u64)> {
    let mut list: Vec<_> = artifacts.as_array().unwrap().iter().map(|a| (a["name"].as_str().unwrap().to_string(), a["generation"].as_u64().unwrap())).collect();
    list.sort();
    list
}

#[test]
fn a_re_render_makes_new_videos_at_another_size_without_a_browser_and_keeps_the_originals() {
    let _machine = crate::common::shared_machine();
    rt().block_on(async {
        let service = service(Some(Duration::from_secs(30))).await;
        let run = service.finished_run(8).await;
        let options = json!({
            "video": {"size": {"width": 640, "height": 360}, "background": {"type": "solid", "color": "#FF0000"}},
            "artifacts": {"gif": true, "gif_width": 320, "gif_max_bytes": 10000}
        });
        let (status, created, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(json!({"run_ids": [run], "options": options}))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{created}");
        let job_id = created["job_id"].as_str().unwrap().to_string();
        let job = service.until(&job_id, Duration::from_secs(180), |j| j["status"] != "queued" && j["status"] != "running").await;
        assert_eq!(job["status"], "succeeded", "{job:#}");
        let task = &job["runs"][0];
        assert_eq!((task["status"].as_str(), task["generation"].as_u64()), (Some("succeeded"), Some(1)), "{task:#}");
        assert!(task["frames_total"].as_u64().unwrap() > 0 && task["frames_done"] == task["frames_total"], "{task:#}");
        assert_eq!(names(&task["artifacts"]), vec![("demo.gif".into(), 1), ("demo.mp4".into(), 1), ("events.jsonl".into(), 1), ("raw.mp4".into(), 1)]);

        // Both videos at the new size; the demo's frame shows the red background around the page.
        for artifact in task["artifacts"].as_array().unwrap() {
            let path = service.download(artifact).await;
            match artifact["name"].as_str().unwrap() {
                "demo.gif" => assert_eq!(&std::fs::read(&path).unwrap()[..6], b"GIF89a"),
                // The generation says how it was made, as a run's events do: the GIF was
                // lowered to meet its 10,000-byte budget, each step named.
                "events.jsonl" => {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
                    assert_eq!(events[0]["type"], "render", "{text}");
                    assert_eq!((events[0]["render_job_id"].as_str(), events[0]["generation"].as_u64()), (Some(job_id.as_str()), Some(1)), "{text}");
                    let steps = events.iter().filter(|e| e["type"] == "gif_budget_step").count();
                    let gif = events.iter().find(|e| e["type"] == "gif").unwrap_or_else(|| panic!("no gif event: {text}"));
                    assert!(steps >= 1 && gif["bytes"].as_u64().unwrap() > 0, "{text}");
                    let gif_bytes = task["artifacts"].as_array().unwrap().iter().find(|a| a["name"] == "demo.gif").unwrap()["size_bytes"].as_u64();
                    assert_eq!(gif["bytes"].as_u64(), gif_bytes, "{text}");
                }
                name => {
                    let mut corner = None;
                    let facts = demoreel::encode::decode::decode(&path, |frame| {
                        if frame.index == 0 {
                            corner = Some(frame.rgba[..3].to_vec());
                        }
                    })
                    .unwrap();
                    assert_eq!((facts.size.width, facts.size.height), (640, 360), "{name}");
                    // raw.mp4 is the whole capture; demo.mp4 has its waits cut.
                    let seconds = facts.duration_ns as f64 / 1e9;
                    assert!(if name == "raw.mp4" { (7.5..8.6).contains(&seconds) } else { (1.0..8.6).contains(&seconds) }, "{name}: {seconds} s");
                    let corner = corner.unwrap();
                    if name == "demo.mp4" {
                        assert!(corner[0] > 200 && corner[1] < 60 && corner[2] < 60, "demo.mp4's corner is {corner:?}, not the red background");
                    } else {
                        assert!(!(corner[0] > 200 && corner[1] < 60), "raw.mp4 has no background: {corner:?}");
                    }
                }
            }
        }

        // The run lists the newest of each name by default; its own demo.mp4 stays.
        let path = format!("/v1/agent/runs/{run}/artifacts");
        let (_, latest, _) = service.call(&service.alice, "GET", &path, None).await;
        assert_eq!(names(&latest["data"]), vec![("demo.gif".into(), 1), ("demo.mp4".into(), 1), ("events.jsonl".into(), 1), ("raw.mp4".into(), 1)]);
        assert!(latest["data"].as_array().unwrap().iter().all(|a| a["render_job_id"] == job_id.as_str()));
        let (_, original, _) = service.call(&service.alice, "GET", &format!("{path}?generation=0"), None).await;
        assert_eq!(names(&original["data"]), vec![("demo.mp4".into(), 0)]);
        assert_eq!(std::fs::read(service.download(&original["data"][0]).await).unwrap(), b"the run's own demo.mp4");
        let (_, all, _) = service.call(&service.alice, "GET", &format!("{path}?generation=all"), None).await;
        assert_eq!(all["data"].as_array().unwrap().len(), 5, "the run's demo.mp4 and the four of the re-render");
        let (status, _, _) = service.call(&service.alice, "GET", &format!("{path}?generation=newest"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Another key sees neither the job nor the runs; a cancel of an ended job is 409.
        let (status, _, _) = service.call(&service.bob, "GET", &format!("/v1/render-jobs/{job_id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, listed, _) = service.call(&service.bob, "GET", "/v1/render-jobs", None).await;
        assert_eq!((status, listed["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
        let (status, _, _) = service.call(&service.alice, "POST", &format!("/v1/render-jobs/{job_id}/cancel"), None).await;
        assert_eq!(status, StatusCode::CONFLICT);
    });
}

#[test]
fn a_job_reports_each_run_and_a_run_whose_recording_is_gone_fails_alone() {
    let _machine = crate::common::shared_machine();
    rt().block_on(async {
        let service = service(Some(Duration::from_secs(30))).await;
        let runs = [service.finished_run(8).await, service.finished_run(8).await, service.finished_run(8).await, service.finished_run(8).await];
        std::fs::remove_file(service.dir.path().join("artifacts").join(&runs[1]).join("recording.tar")).unwrap();
        // Another archive in the store's place: refused by its digest before it is unpacked.
        let stored = service.dir.path().join("artifacts").join(&runs[3]).join("recording.tar");
        std::fs::copy(service.dir.path().join("artifacts").join(&runs[0]).join("recording.tar"), &stored).unwrap();
        let mut bytes = std::fs::read(&stored).unwrap();
        let last = bytes.len() - 2000;
        bytes[last] ^= 0xff;
        std::fs::write(&stored, bytes).unwrap();
        let body = json!({"run_ids": runs, "options": {"video": {"size": {"width": 480, "height": 270}}}});
        let (status, created, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{created}");
        let job_id = created["job_id"].as_str().unwrap();
        let job = service.until(job_id, Duration::from_secs(240), |j| j["progress"]["runs_ended"] == 4).await;
        assert_eq!(job["status"], "failed", "{job:#}");
        let outcome: Vec<_> = job["runs"].as_array().unwrap().iter().map(|r| (r["status"].as_str().unwrap(), r["error"]["code"].as_str())).collect();
        assert_eq!(outcome, vec![("succeeded", None), ("failed", Some("recording_missing")), ("succeeded", None), ("failed", Some("recording_damaged"))], "{job:#}");
        assert!(job["runs"][1]["error"]["message"].as_str().unwrap().contains("no longer in the artifact store"));
        assert!(job["runs"][1]["artifacts"].is_null());
        let (_, listed, _) = service.call(&service.alice, "GET", "/v1/render-jobs?limit=1", None).await;
        assert_eq!(listed["data"][0]["id"], job_id);

        // What cannot be rendered again is refused at once, by field.
        let queued = {
            let (_, run, _) = service.call(&service.alice, "POST", "/v1/agent/runs", Some(json!({"target_url": "https://app.example.com/", "goal": "Open it"}))).await;
            run["run_id"].as_str().unwrap().to_string()
        };
        let cases = [
            (json!({"run_ids": []}), vec!["run_ids"]),
            (json!({"run_ids": [runs[0], runs[0]]}), vec!["run_ids[1]"]),
            (json!({"run_ids": [queued, "not-an-id", db::new_id()]}), vec!["run_ids[1]", "run_ids[0]", "run_ids[2]"]),
            (json!({"run_ids": [runs[0]], "options": {"workflow": {}, "video": {"fps": 7}}}), vec!["options.video.fps", "options.workflow"]),
            (json!({"run_ids": [runs[0]], "options": {"intro": {"template": "no-such-card"}}}), vec!["options.intro.template"]),
        ];
        for (body, fields) in cases {
            let (status, answer, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            let named: Vec<&str> = answer["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
            assert_eq!(named, fields, "{body}: {answer}");
        }
        let (status, answer, _) = service.call(&service.bob, "POST", "/v1/render-jobs", Some(json!({"run_ids": [runs[0]]}))).await;
        assert_eq!((status, answer["details"][0]["message"].as_str()), (StatusCode::BAD_REQUEST, Some("no such run")));
    });
}

#[test]
fn a_cancel_stops_a_render_within_a_second_and_lists_nothing_of_it() {
    let _machine = crate::common::shared_machine();
    rt().block_on(async {
        let service = service(Some(Duration::from_secs(30))).await;
        let run = service.finished_run(60).await;
        let body = json!({"run_ids": [run], "options": {"video": {"size": {"width": 1920, "height": 1080}}}});
        let (_, created, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(body)).await;
        let job_id = created["job_id"].as_str().unwrap();
        let job = service.until(job_id, Duration::from_secs(60), |j| j["progress"]["frames_done"].as_u64().unwrap_or(0) > 30).await;
        assert_eq!(job["status"], "running");
        let asked = Instant::now();
        let (status, _, _) = service.call(&service.alice, "POST", &format!("/v1/render-jobs/{job_id}/cancel"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let job = service.until(job_id, Duration::from_secs(10), |j| j["runs"][0]["status"] != "running").await;
        let took = asked.elapsed();
        assert_eq!((job["status"].as_str(), job["runs"][0]["status"].as_str()), (Some("cancelled"), Some("cancelled")), "{job:#}");
        assert!(took < Duration::from_millis(1000), "the render stopped {took:?} after the cancel");
        assert!(job["runs"][0]["frames_done"].as_u64().unwrap() < job["runs"][0]["frames_total"].as_u64().unwrap());
        let (_, listed, _) = service.call(&service.alice, "GET", &format!("/v1/agent/runs/{run}/artifacts?generation=all"), None).await;
        assert_eq!(names(&listed["data"]), vec![("demo.mp4".into(), 0)], "a cancelled render lists nothing");
    });
}

#[test]
fn a_task_whose_worker_vanished_is_taken_over_after_its_lease_and_stored_once() {
    let _machine = crate::common::shared_machine();
    rt().block_on(async {
        // No worker yet: the task is claimed by one that then "dies" (never renews).
        let mut service = service(None).await;
        let run = service.finished_run(8).await;
        let (_, created, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(json!({"run_ids": [run], "options": {"video": {"size": {"width": 480, "height": 270}}}}))).await;
        let job_id = created["job_id"].as_str().unwrap().to_string();
        let lease_until = humantime::format_rfc3339_millis(std::time::SystemTime::now() + Duration::from_millis(500)).to_string();
        let claimed = service.db.claim_render_task("vanished-worker", &db::now(), &lease_until).await.unwrap().expect("the queued task");
        assert_eq!(claimed.task.attempts, 1);
        assert!(service.db.claim_render_task("another", &db::now(), &lease_until).await.unwrap().is_none(), "a held task is not claimed twice");

        // A key's unfinished jobs are capped like its queued runs; a cancel ends queued ones at once.
        let mut extra = Vec::new();
        loop {
            let (status, answer, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(json!({"run_ids": [run]}))).await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(answer["code"], "queue_full", "{answer}");
                break;
            }
            assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
            extra.push(answer["job_id"].as_str().unwrap().to_string());
        }
        assert_eq!(extra.len(), 49, "50 unfinished jobs a key, the first one included");
        for id in &extra {
            let (status, _, _) = service.call(&service.alice, "POST", &format!("/v1/render-jobs/{id}/cancel"), None).await;
            assert_eq!(status, StatusCode::NO_CONTENT);
            assert_eq!(service.job(id).await["status"], "cancelled");
        }

        // A live worker takes it over once the lease ran out (and a backoff of 2 s).
        let config = WorkerConfig { lease: Duration::from_secs(30), ..WorkerConfig::new(service.dir.path().join("render-jobs"), demoreel::egress::TargetPolicy::public_only()) };
        let artifacts = Arc::new(LocalStore::new(&service.dir.path().join("artifacts")));
        service._worker = Some(Arc::new(RenderWorker::new(service.db.clone(), artifacts, Arc::new(InProcess::default()), config)).spawn());
        let job = service.until(&job_id, Duration::from_secs(90), |j| j["status"] == "succeeded" || j["status"] == "failed").await;
        assert_eq!((job["status"].as_str(), job["runs"][0]["attempts"].as_u64()), (Some("succeeded"), Some(2)), "{job:#}");
        // The vanished worker's late report changes nothing.
        assert!(!service.db.finish_render_task(&claimed.task, "vanished-worker", db::TaskStatus::Failed, None, &db::now()).await.unwrap());
        let made = &job["runs"][0]["artifacts"];
        assert_eq!(names(made), vec![("demo.mp4".into(), 1), ("events.jsonl".into(), 1), ("raw.mp4".into(), 1)]);
        for artifact in made.as_array().unwrap() {
            let (sha256, _) = demoreel::files::sha256_file(&service.download(artifact).await).unwrap();
            assert_eq!(sha256, artifact["sha256"].as_str().unwrap(), "{} is whole", artifact["name"]);
        }
    });
}

/// `demoreel worker` on the service's data directory, its first line read.
fn worker_process(data_dir: &std::path::Path, lease_secs: u64) -> std::process::Child {
    worker_process_on(data_dir, lease_secs, None)
}

/// [`worker_process`] on the database `database` if given.
pub fn worker_process_on(data_dir: &std::path::Path, lease_secs: u64, database: Option<&str>) -> std::process::Child {
    use std::io::BufRead;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_demoreel"));
    command.arg("worker");
    if let Some(database) = database {
        command.args(["--database", database]);
    }
    let mut child = command
        .args(["--lease-secs", &lease_secs.to_string(), "--data-dir"])
        .arg(data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("demoreel worker "), "{line:?}");
    child
}

/// Whether a process holds the lock on `path` (a probe that takes it lets it go at once).
fn lock_held(path: &std::path::Path) -> bool {
    std::fs::OpenOptions::new().write(true).open(path).map(|f| f.try_lock().is_err()).unwrap_or(false)
}

/// The folders render workers leave when they die are swept, and only those: a folder
/// whose lock a live process holds (another process, or this one) stays; one whose holder
/// was killed goes with its lock file; a folder with no lock file is never a worker's. A
/// held name is not claimed twice, and a claim starts with an empty folder.
#[test]
fn folders_of_workers_that_died_are_swept_and_live_ones_kept() {
    use demoreel::render_jobs::workspace::{Workspace, sweep_abandoned};
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("worker-folders");
    let root = dir.path().join("render-jobs");
    let ours = Workspace::claim(&root, "worker-ours").unwrap();
    std::fs::write(ours.dir().join("frame.jpg"), b"left over").unwrap();
    assert!(Workspace::claim(&root, "worker-ours").is_err(), "a held folder is not claimed twice");

    // Another live process holds worker-live's lock (flock(1) keeps it, its command does not).
    std::fs::create_dir_all(root.join("worker-live").join("job")).unwrap();
    let mut holder = std::process::Command::new("flock").arg("-o").arg(root.join("worker-live.lock")).args(["sleep", "60"]).process_group(0).spawn().unwrap();
    let started = Instant::now();
    while !lock_held(&root.join("worker-live.lock")) {
        assert!(started.elapsed() < Duration::from_secs(10), "flock took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A dead worker's folder: a lock file nobody holds, its half-written render left.
    std::fs::create_dir_all(root.join("worker-dead").join("job").join("0.1")).unwrap();
    std::fs::write(root.join("worker-dead").join("job").join("0.1").join(".demo.mp4.partial"), b"half").unwrap();
    std::fs::write(root.join("worker-dead.lock"), b"").unwrap();
    std::fs::create_dir_all(root.join("not-a-worker")).unwrap();

    assert_eq!(sweep_abandoned(&root).unwrap(), vec!["worker-dead".to_string()]);
    assert!(!root.join("worker-dead").exists() && !root.join("worker-dead.lock").exists());
    assert!(ours.dir().join("frame.jpg").exists(), "this process's folder stays");
    assert!(root.join("worker-live").join("job").exists() && root.join("not-a-worker").exists());

    // SIGKILL to the holder's group: the kernel lets the lock go.
    unsafe { libc::kill(-(holder.id() as i32), libc::SIGKILL) };
    holder.wait().unwrap();
    assert_eq!(sweep_abandoned(&root).unwrap(), vec!["worker-live".to_string()], "its holder was killed");
    assert!(root.join("not-a-worker").exists() && ours.dir().exists());

    drop(ours);
    let again = Workspace::claim(&root, "worker-ours").unwrap();
    assert!(!again.dir().join("frame.jpg").exists(), "a claimed folder starts empty");
    let claimed = again.dir().to_path_buf();
    again.release();
    assert!(!claimed.exists() && !root.join("worker-ours.lock").exists(), "a planned stop removes the folder and its lock");
}

#[test]
fn a_worker_process_killed_mid_render_is_replaced_and_the_artifacts_are_whole_and_single() {
    let _machine = crate::common::shared_machine();
    rt().block_on(async {
        let service = service(None).await;
        let run = service.finished_run(20).await;
        let body = json!({"run_ids": [run], "options": {"video": {"size": {"width": 1280, "height": 720}}, "artifacts": {"gif": true}}});
        let (_, created, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(body)).await;
        let job_id = created["job_id"].as_str().unwrap().to_string();
        let mut first = worker_process(service.dir.path(), 2);
        service.until(&job_id, Duration::from_secs(60), |j| j["progress"]["frames_done"].as_u64().unwrap_or(0) > 60).await;
        let first_folder = service.dir.path().join("render-jobs").join(format!("worker-{}", first.id()));
        assert!(first_folder.exists(), "the worker renders in its own folder");
        first.kill().unwrap(); // SIGKILL: no goodbye, the lease just stops being renewed
        first.wait().unwrap();
        let mut second = worker_process(service.dir.path(), 2);
        assert!(!first_folder.exists(), "the killed worker's folder is swept when the next one starts");
        let job = service.until(&job_id, Duration::from_secs(240), |j| j["progress"]["runs_ended"] == 1).await;
        second.kill().unwrap();
        second.wait().unwrap();
        assert_eq!((job["status"].as_str(), job["runs"][0]["attempts"].as_u64()), (Some("succeeded"), Some(2)), "{job:#}");
        let (_, listed, _) = service.call(&service.alice, "GET", &format!("/v1/agent/runs/{run}/artifacts?generation=1"), None).await;
        assert_eq!(names(&listed["data"]), vec![("demo.gif".into(), 1), ("demo.mp4".into(), 1), ("events.jsonl".into(), 1), ("raw.mp4".into(), 1)], "each once");
        for artifact in listed["data"].as_array().unwrap() {
            let path = service.download(artifact).await;
            let (sha256, size) = demoreel::files::sha256_file(&path).unwrap();
            assert_eq!((sha256.as_str(), size as i64), (artifact["sha256"].as_str().unwrap(), artifact["size_bytes"].as_i64().unwrap()), "{}", artifact["name"]);
            if artifact["name"] == "raw.mp4" {
                let facts = demoreel::encode::decode::probe(&path).unwrap();
                assert!(facts.duration_ns > 19_500_000_000, "raw.mp4 is the whole 20 s: {} ns", facts.duration_ns);
            }
        }
    });
}

#[test]
fn a_real_runs_recording_is_rendered_again_through_the_cli_at_another_size_with_an_intro() {
    let _machine = crate::common::whole_machine();
    let world = crate::service::World::new("service-render-job", &[]);
    let run = world.runtime.block_on(async {
        let client = crate::service::Client::new(&world.server, &world.key);
        let run = client
            .create(json!({"target_url": world.app.url("/login"), "goal": "Show the sign-in page", "options": {
                "workflow": {"steps": [{"action": "pause", "ms": 1500}]}, "video": {"size": {"width": 1280, "height": 720}}}}))
            .await;
        let done = client.wait_for(&run, Duration::from_secs(120), crate::service::terminal).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        run
    });
    let cli = |args: &[&str]| {
        let out = crate::service::demoreel().args(args).env("DEMOREEL_SERVER", &world.server.url).env("DEMOREEL_API_KEY", &world.key).output().unwrap();
        (out.status.code(), serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let options = r##"{"video": {"size": {"width": 960, "height": 540}, "background": {"type": "solid", "color": "#1E3A8A"}},
                       "intro": {"template": "simple", "content": {"text": "Sign-in"}}, "artifacts": {"gif": true}}"##;
    let (code, created, stderr) = cli(&["jobs", "create", &run, "--options", options]);
    assert_eq!(code, Some(0), "{stderr}");
    let job_id = created["job_id"].as_str().unwrap().to_string();
    let (code, job, stderr) = cli(&["jobs", "wait", &job_id, "--timeout", "240"]);
    assert_eq!(code, Some(0), "jobs wait: {stderr} {job:#}");
    assert_eq!(job["options"]["intro"]["template"], "simple@1", "pinned to the version it named");
    world.runtime.block_on(async {
        let client = crate::service::Client::new(&world.server, &world.key);
        let made = job["runs"][0]["artifacts"].as_array().unwrap();
        assert_eq!(names(&job["runs"][0]["artifacts"]), vec![("demo.gif".into(), 1), ("demo.mp4".into(), 1), ("events.jsonl".into(), 1), ("raw.mp4".into(), 1)]);
        let dir = TempDir::new("service-render-job-videos");
        let mut seconds = std::collections::HashMap::new();
        for artifact in made.iter().filter(|a| a["name"] == "raw.mp4" || a["name"] == "demo.mp4") {
            let (status, bytes) = client.download(artifact["id"].as_str().unwrap()).await;
            assert_eq!(status, 200);
            let path = dir.path().join(artifact["name"].as_str().unwrap());
            std::fs::write(&path, bytes).unwrap();
            let facts = demoreel::encode::decode::probe(&path).unwrap();
            assert_eq!((facts.size.width, facts.size.height), (960, 540), "{}", artifact["name"]);
            seconds.insert(artifact["name"].as_str().unwrap().to_string(), facts.duration_ns as f64 / 1e9);
        }
        // demo.mp4 opens on the built-in card (2.8 s), then the recording with its waits cut.
        assert!(seconds["demo.mp4"] > 2.8 + 1.0, "{seconds:?}");
        // The re-render's own events say so, as a run's would.
        let said = made.iter().find(|a| a["name"] == "events.jsonl").unwrap();
        let said = String::from_utf8(client.download(said["id"].as_str().unwrap()).await.1).unwrap();
        let types: Vec<String> = said.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].as_str().unwrap().to_string()).collect();
        assert_eq!(types, ["render", "intro", "gif"], "{said}");
        assert!(said.contains("\"template\":\"simple@1\""), "{said}");
        let (_, original) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{run}/artifacts?generation=0"), None).await;
        let original: Vec<&str> = original["data"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert!(original.contains(&"raw.mp4") && original.contains(&"demo.mp4"), "the run's own videos stay: {original:?}");
    });
    let events = world.runtime.block_on(async {
        let client = crate::service::Client::new(&world.server, &world.key);
        let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{run}/artifacts?generation=0"), None).await;
        let events = listed["data"].as_array().unwrap().iter().find(|a| a["name"] == "events.jsonl").unwrap()["id"].as_str().unwrap().to_string();
        String::from_utf8(client.download(&events).await.1).unwrap()
    });
    assert!(events.contains("\"recording_kept\""), "{events}");
}

#[test]
fn a_worker_process_stopped_with_sigterm_gives_its_task_back_at_once() {
    let _machine = crate::common::shared_machine();
    rt().block_on(async {
        let service = service(None).await;
        let run = service.finished_run(20).await;
        let body = json!({"run_ids": [run], "options": {"video": {"size": {"width": 1280, "height": 720}}}});
        let (_, created, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(body)).await;
        let job_id = created["job_id"].as_str().unwrap().to_string();
        // A long lease: only a hand-back lets another worker start before it runs out.
        let mut first = worker_process(service.dir.path(), 30);
        service.until(&job_id, Duration::from_secs(60), |j| j["progress"]["frames_done"].as_u64().unwrap_or(0) > 30).await;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
        assert!(first.wait().unwrap().success(), "the worker stops cleanly on SIGTERM");
        let handed_back = service.job(&job_id).await;
        assert_eq!((handed_back["runs"][0]["status"].as_str(), handed_back["runs"][0]["attempts"].as_u64()), (Some("queued"), Some(0)), "{handed_back:#}");
        let mut second = worker_process(service.dir.path(), 30);
        let job = service.until(&job_id, Duration::from_secs(120), |j| j["progress"]["runs_ended"] == 1).await;
        second.kill().unwrap();
        second.wait().unwrap();
        assert_eq!((job["status"].as_str(), job["runs"][0]["attempts"].as_u64()), (Some("succeeded"), Some(1)), "{job:#}");
    });
}
