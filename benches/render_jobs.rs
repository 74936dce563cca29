//! `cargo bench --bench render_jobs`: what re-render jobs cost and how they scale here.
//! 1. A batch of 20 re-renders (runs keeping a synthetic 10 s 1280×720 recording, each
//!    rendered again at 1280×720: raw.mp4 and demo.mp4) by one `demoreel worker` process
//!    and by two, interleaved rounds: wall time from the job's creation to its last run
//!    ended, throughput, and the ratio.
//! 2. The queue's own cost per task: a job of 500 tasks claimed, renewed once and ended
//!    by the database calls a worker makes, with no render in between (median and p95
//!    per task), and the idle gap a worker leaves between one task's end and the next
//!    one's start in the batches of 1. On SQLite, and on PostgreSQL too when
//!    `DEMOREEL_BENCH_POSTGRES` holds the URL of an empty database.
//!
//! `cargo bench --bench render_jobs -- queue` measures only the queue (2).

use demoreel::db::render_jobs::RenderJobRepo;
use demoreel::db::{DatabaseLocation, SqlDatabase};
use demoreel::db::{self, KeyId, KeyRepo, Run, RunRepo, RunStatus, TaskStatus};
use demoreel::fixture::{SynthOptions, synth};
use demoreel::geometry::Size;
use demoreel::produce::Producer;
use demoreel::store::LocalStore;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 20;
const ROUNDS: usize = 2;
const QUEUE_TASKS: usize = 500;

fn work_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench-render-jobs")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn parse_time(text: &str) -> std::time::SystemTime {
    humantime::parse_rfc3339(text).unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let dir = work_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = Arc::new(SqlDatabase::open_sqlite(&dir.join("demoreel.db")).await.unwrap());
        let owner = db.create_key("bench", "bench-key-hash", None).await.unwrap().id;
        let producer = Producer { db: db.clone(), artifacts: Arc::new(LocalStore::new(&dir.join("artifacts"))) };
        let recording = dir.join("synth").join("recording");
        synth(&recording, &SynthOptions { seconds: 10.0, size: Size { width: 1280, height: 720 } }).unwrap();
        let queue_only = std::env::args().any(|a| a == "queue");
        let mut runs = Vec::new();
        for _ in 0..if queue_only { 1 } else { BATCH } {
            runs.push(finished_run(&db, &producer, &owner, &recording).await);
        }
        if !queue_only {
            batches(&dir, &db, &owner, &runs).await;
        }
        queue_overhead(&db, "SQLite", &owner, &runs[0]).await;
        if let Ok(url) = std::env::var("DEMOREEL_BENCH_POSTGRES") {
            let postgres = SqlDatabase::open(&DatabaseLocation::Postgres(url)).await.unwrap();
            let owner = postgres.create_key("bench", &format!("bench-key-hash-{}", db::new_id()), None).await.unwrap().id;
            let run = db::new_id();
            let row = Run { id: run.clone(), owner: owner.clone(), ..db.run_by_id(&runs[0]).await.unwrap().unwrap() };
            postgres.insert_run(&row).await.unwrap();
            queue_overhead(&postgres, "PostgreSQL", &owner, &run).await;
        }
    });
}

async fn finished_run(db: &SqlDatabase, producer: &Producer, owner: &KeyId, recording: &Path) -> String {
    let now = db::now();
    let id = db::new_id();
    let run = Run {
        id: id.clone(),
        owner: owner.clone(),
        status: RunStatus::Succeeded,
        progress_stage: None,
        target_url: "https://app.example.com/".into(),
        goal: "bench".into(),
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
    db.insert_run(&run).await.unwrap();
    producer.keep_recording(&id, recording).await.unwrap();
    id
}

fn worker(dir: &Path) -> std::process::Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_demoreel"))
        .args(["worker", "--data-dir"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    child
}

/// Interleaved rounds of the batch by one worker and by two.
async fn batches(dir: &Path, db: &SqlDatabase, owner: &KeyId, runs: &[String]) {
    let options = json!({"video": {"size": {"width": 1280, "height": 720}}});
    let mut walls: Vec<(usize, f64)> = Vec::new();
    let mut gaps: Vec<f64> = Vec::new();
    for round in 0..ROUNDS {
        for workers in [1usize, 2] {
            let job_id = db::new_id();
            let mut children: Vec<_> = (0..workers).map(|_| worker(dir)).collect();
            let started = Instant::now();
            db.insert_render_job(&job_id, owner, &options, runs, &db::now()).await.unwrap();
            let job = loop {
                let job = db.render_job(owner, &job_id).await.unwrap().unwrap();
                if job.tasks.iter().all(|t| t.status.is_terminal()) {
                    break job;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let wall = started.elapsed().as_secs_f64();
            for child in &mut children {
                let _ = child.kill();
                let _ = child.wait();
            }
            assert!(job.tasks.iter().all(|t| t.status == TaskStatus::Succeeded), "every re-render succeeds");
            let frames: u64 = job.tasks.iter().map(|t| t.frames_total).sum();
            println!("round {round}, {workers} worker(s): {BATCH} re-renders ({frames} frames) in {wall:.1} s = {:.1} per minute", BATCH as f64 * 60.0 / wall);
            walls.push((workers, wall));
            if workers == 1 {
                let mut spans: Vec<(std::time::SystemTime, std::time::SystemTime)> =
                    job.tasks.iter().map(|t| (parse_time(t.started_at.as_deref().unwrap()), parse_time(t.finished_at.as_deref().unwrap()))).collect();
                spans.sort();
                gaps.extend(spans.windows(2).map(|w| w[1].0.duration_since(w[0].1).unwrap_or_default().as_secs_f64() * 1000.0));
            }
        }
    }
    let median = |n: usize| {
        let mut list: Vec<f64> = walls.iter().filter(|(w, _)| *w == n).map(|(_, s)| *s).collect();
        list.sort_by(f64::total_cmp);
        (list[(list.len() - 1) / 2] + list[list.len() / 2]) / 2.0
    };
    let (one, two) = (median(1), median(2));
    println!("median: 1 worker {one:.1} s, 2 workers {two:.1} s; throughput ratio (2 over 1) {:.2}", one / two);
    gaps.sort_by(f64::total_cmp);
    println!("idle gap between a worker's tasks: median {:.0} ms, p95 {:.0} ms", percentile(&gaps, 0.5), percentile(&gaps, 0.95));
}

/// Claim, one renewal and the end of each of QUEUE_TASKS tasks, with no render between.
async fn queue_overhead(db: &SqlDatabase, database: &str, owner: &KeyId, run: &str) {
    let job_id = db::new_id();
    let runs: Vec<String> = (0..QUEUE_TASKS).map(|_| run.to_string()).collect();
    // The same run many times over: each task still gets its own generation.
    db.insert_render_job(&job_id, owner, &json!({}), &runs, &db::now()).await.unwrap();
    let mut costs = Vec::new();
    loop {
        let started = Instant::now();
        let now = db::now();
        let lease = humantime::format_rfc3339_millis(std::time::SystemTime::now() + Duration::from_secs(30)).to_string();
        db.requeue_lost_render_tasks(&now, 3).await.unwrap();
        let Some(claimed) = db.claim_render_task("bench", &now, &lease).await.unwrap() else { break };
        db.renew_render_task(&claimed.task, "bench", &lease, 1, 1).await.unwrap();
        db.finish_render_task(&claimed.task, "bench", TaskStatus::Succeeded, None, &db::now()).await.unwrap();
        costs.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    assert_eq!(costs.len(), QUEUE_TASKS);
    costs.sort_by(f64::total_cmp);
    println!(
        "queue overhead per task (requeue sweep, claim, one renewal, end; {database}): median {:.2} ms, p95 {:.2} ms over {QUEUE_TASKS} tasks",
        percentile(&costs, 0.5),
        percentile(&costs, 0.95)
    );
}
