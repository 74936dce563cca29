//! Scale-out on PostgreSQL: the API in this process and a `demoreel worker` process share a
//! real PostgreSQL server (see `postgres.rs`); the server is restarted mid-render and the
//! job goes on to whole artifacts, rendered once.

use crate::postgres::PgServer;
use crate::render_jobs::{service_on, worker_process_on};
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
        assert_eq!(names.len(), 3, "each artifact once: {names:?}");
        for artifact in listed["data"].as_array().unwrap() {
            let (status, _, bytes) = service.call(&service.alice, "GET", &format!("/v1/downloads/{}", artifact["id"].as_str().unwrap()), None).await;
            assert_eq!(status, StatusCode::OK);
            let sha256 = {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(&bytes))
            };
            assert_eq!(sha256, artifact["sha256"].as_str().unwrap(), "{} is whole", artifact["name"]);
        }
    });
}
