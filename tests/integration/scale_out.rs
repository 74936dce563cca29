//! Scale-out on PostgreSQL (a real server, see `postgres.rs`): a `demoreel worker` process
//! renders through a database restart; a `demoreel serve --workers 0` answering the API
//! and a `demoreel worker --record-slots 1` recording share the database and a store: a
//! one-time code and a cancel given to the first reach the run in the second, and a
//! worker told to stop settles the run it held at once; a demonstration held by one
//! server and stopped through another closes its browser.

use crate::postgres::PgServer;
use crate::render_jobs::{service_on, worker_process_on};
use crate::service::{Client, Server, browsers_of, demoreel, sha256_hex, terminal};
use demoreel::sample_app;
use axum::http::StatusCode;
use demoreel::db::DatabaseLocation;
use demoreel::store::LocalStore;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The job as the API answers it, or `None` while the API cannot reach its database.
async fn job_state(service: &crate::render_jobs::Service, id: &str) -> Option<Value> {
    let (status, job, _) = service.call(&service.alice, "GET", &format!("/v1/render-jobs/{id}"), None).await;
    match status {
        StatusCode::OK => Some(job),
        status if status.is_server_error() => None,
        status => panic!("GET /v1/render-jobs/{id}: {status} {job}"),
    }
}

#[test]
fn a_job_on_postgres_goes_on_through_a_worker_process_and_a_database_restart() {
    let _machine = crate::common::shared_machine();
    let server = PgServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let url = server.new_database().await;
        let dir = crate::common::TempDir::new("scale-out");
        let artifacts = Arc::new(LocalStore::new(&dir.path().join("artifacts")));
        let service = service_on(&DatabaseLocation::Postgres(url.clone()), None, artifacts, dir).await;
        let run = service.finished_run(20).await;
        let body = json!({"run_ids": [run], "options": {"video": {"size": {"width": 1280, "height": 720}}, "artifacts": {"gif": true}}});
        let (status, created, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{created}");
        let job_id = created["job_id"].as_str().unwrap().to_string();
        // A lease of 15 s outlasts the restart (about a second): the worker keeps its task.
        let mut worker = worker_process_on(service.dir.path(), 15, Some(&url));

        let started = Instant::now();
        loop {
            let job = job_state(&service, &job_id).await.unwrap();
            if job["progress"]["frames_done"].as_u64().unwrap_or(0) > 30 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "the worker did not start rendering: {job:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.pg_ctl("restart");

        let (mut job, mut unreachable) = (Value::Null, 0);
        while started.elapsed() < Duration::from_secs(300) {
            match job_state(&service, &job_id).await {
                Some(state) if state["status"] != "queued" && state["status"] != "running" => {
                    job = state;
                    break;
                }
                Some(_) => {}
                None => unreachable += 1,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        worker.kill().unwrap();
        worker.wait().unwrap();
        eprintln!("PostgreSQL restarted mid-render: {unreachable} API answers lost to it; the job ended after {:.1} s", started.elapsed().as_secs_f64());
        assert_eq!(job["status"], "succeeded", "{job:#} (API answers lost to the restart: {unreachable})");
        assert_eq!(job["runs"][0]["attempts"], 1, "the worker kept its task through the restart: {job:#}");
        let (_, listed, _) = service.call(&service.alice, "GET", &format!("/v1/agent/runs/{run}/artifacts?generation=1"), None).await;
        let names: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 4, "raw.mp4, demo.mp4, demo.gif and events.jsonl, each once: {names:?}");
        for artifact in listed["data"].as_array().unwrap() {
            let (status, _, bytes) = service.call(&service.alice, "GET", &format!("/v1/downloads/{}", artifact["id"].as_str().unwrap()), None).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(sha256_hex(&bytes), artifact["sha256"].as_str().unwrap(), "{} is whole", artifact["name"]);
        }
    });
}

/// `demoreel serve` on its own data directory, sharing `database` and `store` with others.
fn server_sharing(data: &std::path::Path, database: &str, store: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--database", database, "--store", store.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(data, &args)
}

/// `demoreel worker` recording runs (and rendering none) on its own data directory,
/// sharing `database` and `store`, with the operator key `Server::start` writes; killed
/// when dropped.
struct RecordingWorker(std::process::Child);

impl RecordingWorker {
    fn start(data: &std::path::Path, database: &str, store: &std::path::Path) -> RecordingWorker {
        use std::io::BufRead;
        std::fs::create_dir_all(data).unwrap();
        let key_file = data.join("secret.key");
        std::fs::write(&key_file, "ab".repeat(32)).unwrap();
        let mut child = demoreel()
            .args(["worker", "--record-slots", "1", "--render-slots", "0", "--database", database, "--store", store.to_str().unwrap()])
            .args(["--allow-targets", "127.0.0.1/32", "--data-dir"])
            .arg(data)
            .arg("--secret-key-file")
            .arg(&key_file)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(data.join("worker.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("demoreel worker ") && line.contains("recording 1"), "the worker did not start: {line:?}");
        RecordingWorker(child)
    }

    /// Stops the worker as a service manager would (SIGTERM) and waits for it to exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on a child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        self.0.wait().unwrap()
    }
}

impl Drop for RecordingWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls run `id` until `done` holds of it; answers it and how long that took.
async fn until(client: &Client, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let run = client.run(id).await;
        if done(&run) {
            return (run, started.elapsed());
        }
        assert!(started.elapsed() < limit, "the run did not get there within {limit:?}: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_run_recorded_by_a_worker_takes_its_code_and_a_cancel_through_an_api_only_server_sharing_postgres() {
    let _machine = crate::common::whole_machine();
    let postgres = PgServer::start();
    let dir = crate::common::TempDir::new("scale-out-runs");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(postgres.new_database());
    let app = runtime.block_on(sample_app::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let store = dir.path().join("shared-artifacts");
    // Both processes get the same operator key (the helpers write the same one into each
    // data directory): the credential and the code are sealed by one, opened by the other.
    let api_only = server_sharing(&dir.path().join("api"), &url, &store, &["--workers", "0"]);
    let mut recorder = RecordingWorker::start(&dir.path().join("recorder"), &url, &store);
    let made = demoreel().args(["keys", "create", "--label", "test", "--database", &url, "--data-dir"]).arg(dir.path().join("api")).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key = serde_json::from_slice::<Value>(&made.stdout).unwrap()["key"].as_str().unwrap().to_string();
    runtime.block_on(async {
        let client = Client::new(&api_only, &key);
        let credential = json!({"label": "Orbit", "domain": "127.0.0.1", "email": sample_app::EMAIL, "password": sample_app::PASSWORD, "is_default": true});
        assert_eq!(client.call(reqwest::Method::POST, "/v1/agent/credentials", Some(credential)).await.0, 201);
        let goal = "Sign in, create a new project and open the analytics dashboard";
        let id = client.create(json!({"target_url": app.url("/login"), "goal": goal, "options": {"auth": {"source": "default"}, "video": {"size": {"width": 1280, "height": 720}}}})).await;
        let (waiting, _) = until(&client, &id, Duration::from_secs(120), |r| r["status"] == "awaiting_input" || terminal(r)).await;
        assert_eq!(waiting["status"], "awaiting_input", "{waiting}");
        assert_eq!(browsers_of(api_only.pid()), 0, "the API-only server starts no browser");
        assert!(dir.path().join("recorder/runs").join(&id).exists(), "the worker records the run");

        let outbox: Value = reqwest::get(app.url("/api/outbox")).await.unwrap().json().await.unwrap();
        let code = outbox[0]["code"].as_str().unwrap().to_string();
        let (status, answer) = client.call(reqwest::Method::POST, &format!("/v1/agent/runs/{id}/input"), Some(json!({"value": code}))).await;
        assert_eq!(status, 204, "{answer}");
        let (_, reached) = until(&client, &id, Duration::from_secs(10), |r| r["status"] != "awaiting_input").await;
        eprintln!("the code reached the worker's run in {} ms", reached.as_millis());
        assert!(reached < Duration::from_millis(1500), "the code took {reached:?} to reach the run");
        let (done, _) = until(&client, &id, Duration::from_secs(240), terminal).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{id}/artifacts"), None).await;
        for artifact in listed["data"].as_array().unwrap() {
            let response = reqwest::Client::new().get(format!("{}/v1/downloads/{}", api_only.url, artifact["id"].as_str().unwrap())).header("x-api-key", &key).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200, "{} through the API-only server", artifact["name"]);
            assert_eq!(sha256_hex(&response.bytes().await.unwrap()), artifact["sha256"].as_str().unwrap());
        }

        // A cancel given to the API-only server stops the run recording in the worker.
        let id = client.create(json!({"target_url": app.url("/login"), "goal": goal, "options": {"auth": {"source": "default"}}})).await;
        until(&client, &id, Duration::from_secs(120), |r| r["status"] == "awaiting_input" || terminal(r)).await;
        assert_eq!(client.call(reqwest::Method::POST, &format!("/v1/agent/runs/{id}/cancel"), None).await.0, 204);
        let (cancelled, took) = until(&client, &id, Duration::from_secs(30), terminal).await;
        eprintln!("the cancel ended the worker's run in {} ms", took.as_millis());
        assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
        assert!(took < Duration::from_secs(3), "the cancel took {took:?}");

        // A worker stopped by SIGTERM settles the run it was recording as it goes, rather
        // than leaving it to wait out its 15-second lease.
        let id = client.create(json!({"target_url": app.url("/login"), "goal": goal, "options": {"auth": {"source": "default"}}})).await;
        until(&client, &id, Duration::from_secs(120), |r| r["status"] == "awaiting_input" || terminal(r)).await;
        let stopped_at = Instant::now();
        let exit = recorder.terminate();
        assert!(exit.success(), "the worker exits cleanly on SIGTERM: {exit:?}");
        let (settled, _) = until(&client, &id, Duration::from_secs(30), terminal).await;
        let took = stopped_at.elapsed();
        eprintln!("the stopped worker's run was settled {} ms after SIGTERM", took.as_millis());
        assert_eq!(settled["status"], "failed", "{settled}");
        assert_eq!(settled["error"]["code"], "interrupted", "{settled}");
        // Left to its lease, the run would be settled 15-20 s later by the API server.
        assert!(took < Duration::from_secs(8), "settling took {took:?}");
    });
    drop(recorder);
}

#[test]
fn a_demonstration_stopped_through_another_server_closes_its_browser() {
    let _machine = crate::common::whole_machine();
    let postgres = PgServer::start();
    let dir = crate::common::TempDir::new("scale-out-demonstration");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(postgres.new_database());
    let app = runtime.block_on(sample_app::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let store = dir.path().join("shared-artifacts");
    let holder = server_sharing(&dir.path().join("holder"), &url, &store, &[]);
    let other = server_sharing(&dir.path().join("other"), &url, &store, &[]);
    let made = demoreel().args(["keys", "create", "--label", "test", "--database", &url, "--data-dir"]).arg(dir.path().join("other")).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key = serde_json::from_slice::<Value>(&made.stdout).unwrap()["key"].as_str().unwrap().to_string();
    runtime.block_on(async {
        let (at_holder, elsewhere) = (Client::new(&holder, &key), Client::new(&other, &key));
        let create = json!({"task_name": "t", "task_description": "d", "session_config": {"browser": {"start_url": app.url("/")}}});
        let (code, created) = at_holder.call(reqwest::Method::POST, "/v1/demonstrations", Some(create)).await;
        assert_eq!(code, 201, "{created}");
        let id = created["session_id"].as_str().unwrap();
        let started = Instant::now();
        while browsers_of(holder.pid()) == 0 {
            assert!(started.elapsed() < Duration::from_secs(30), "the holder started the session's browser");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (code, answer) = elsewhere.call(reqwest::Method::POST, &format!("/v1/demonstrations/{id}/stop"), None).await;
        assert_eq!((code, answer), (200, json!({"success": true})));
        let stopped = Instant::now();
        while browsers_of(holder.pid()) > 0 {
            assert!(stopped.elapsed() < Duration::from_secs(10), "the holder closed the browser of a session stopped elsewhere");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("the holder closed the browser {} ms after the stop through the other server", stopped.elapsed().as_millis());
        let (_, status) = elsewhere.call(reqwest::Method::GET, &format!("/v1/demonstrations/{id}"), None).await;
        assert_eq!(status["status"], json!("stopped"), "{status}");
    });
}
