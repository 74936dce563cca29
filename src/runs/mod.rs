//! Runs: queued requests become recordings and videos. Input: runs queued by the API.
//! Output: the run's status and progress in the database, its artifacts in the artifact
//! store, `events.jsonl` and `plan.json`. Invariant: a run moves only forward through
//! `queued → running ⇄ awaiting_input → succeeded | failed | cancelled` (`lifecycle`); it
//! stops at the next checkpoint after a cancel (between actions, between render stages,
//! and inside a render within a second); passwords and input values never reach the
//! database, the events or the plan.
//!
//! The dispatcher keeps at most `recordings_at_once` browsers and `renders_at_once`
//! renders busy (default one each: a 2-core machine records one run while it renders
//! the previous one). A run's work is in `job`, its waits for input in `input`; the act
//! loop that drives the browser is `agent::act`.

mod input;
mod job;
pub mod lease;
pub mod lifecycle;
pub mod queue;
pub mod signals;

use crate::agent::Planner;
use crate::agent::act::{Journal, Stop};
use crate::db::{self, Database, ErrorCode, Run};
use crate::produce::Producer;
use crate::secrets::Sealer;
use crate::store::ArtifactStore;
use queue::{DatabaseRunQueue, RunQueue};
use serde_json::json;
use signals::Signals;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Where runs keep their recording and videos while they work.
    pub work_dir: PathBuf,
    pub recordings_at_once: usize,
    pub renders_at_once: usize,
    /// How long a run waits in `awaiting_input`.
    pub input_window: Duration,
    /// The longest a run may take, queue time excepted (`--max-run-secs`).
    pub max_run: Duration,
    /// Where a run's browser may connect (enforced by the egress proxy).
    pub targets: crate::egress::TargetPolicy,
    /// Runs of one key at work at once (`--max-active-per-key`); keys take turns.
    pub max_active_per_key: u32,
    /// How long an ended run's small work files (its recording's index and timeline,
    /// events, plan) are kept (`--work-retention-hours`); `None` keeps them.
    pub work_retention: Option<Duration>,
    /// As whom, where and how big a run's browser runs (`--browser-user`,
    /// `--browser-memory-mb`; profiles under the data directory).
    pub confinement: crate::capture::confine::Confinement,
    /// The name this process holds its runs by in the database (see `lease`).
    pub holder: String,
}

pub struct Runner {
    pub db: Arc<dyn Database>,
    pub signals: Arc<dyn Signals>,
    pub sealer: Option<Arc<Sealer>>,
    pub planner: Arc<dyn Planner>,
    pub config: RunnerConfig,
    /// Where this process takes its runs from and holds them while it works.
    pub queue: Arc<dyn RunQueue>,
    producer: Producer,
    record_slots: Arc<Semaphore>,
    render_slots: Arc<Semaphore>,
}

impl Runner {
    pub fn new(
        db: Arc<dyn Database>,
        artifacts: Arc<dyn ArtifactStore>,
        signals: Arc<dyn Signals>,
        sealer: Option<Arc<Sealer>>,
        planner: Arc<dyn Planner>,
        config: RunnerConfig,
    ) -> Runner {
        let record_slots = Arc::new(Semaphore::new(config.recordings_at_once.max(1)));
        let render_slots = Arc::new(Semaphore::new(config.renders_at_once.max(1)));
        let producer = Producer { db: db.clone(), artifacts };
        let queue = Arc::new(DatabaseRunQueue::new(db.clone(), signals.clone(), config.holder.clone(), config.max_active_per_key));
        Runner { db, signals, sealer, planner, config, queue, producer, record_slots, render_slots }
    }

    /// The browsers this process may have open at once, shared with the live
    /// demonstrations it holds.
    pub fn record_slots(&self) -> Arc<Semaphore> {
        self.record_slots.clone()
    }

    /// Takes queued runs as recording slots free up, for as long as the process lives.
    pub fn spawn_dispatcher(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let Ok(permit) = self.record_slots.clone().acquire_owned().await else { return };
                match self.queue.take().await {
                    Ok(Some(run)) => {
                        let runner = self.clone();
                        tokio::spawn(async move { runner.execute(run, permit).await });
                    }
                    Ok(None) => {
                        drop(permit);
                        self.queue.wait_for_more(Duration::from_secs(2)).await;
                    }
                    Err(e) => {
                        drop(permit);
                        tracing::error!(error = %e, "claiming a queued run");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        })
    }

    /// Runs the job's stages on their own task, within the run's time cap: a run past
    /// its cap is stopped (its browser closes with the dropped capture) and fails
    /// `time_limit`; a panic in the stages fails the run `internal` instead of leaving it
    /// `running`.
    async fn supervise(&self, job: Arc<job::Job>, record_permit: tokio::sync::OwnedSemaphorePermit) -> Result<(), Stop> {
        let mut work = tokio::spawn(job.work(record_permit));
        match tokio::time::timeout(self.config.max_run, &mut work).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(error)) => {
                tracing::error!(error = %error, "a run's stages panicked");
                Err(Stop::failed(ErrorCode::Internal, "the run stopped on an internal error"))
            }
            Err(_) => {
                work.abort();
                let _ = work.await;
                Err(Stop::failed(ErrorCode::TimeLimit, format!("the run passed its time limit of {} s", self.config.max_run.as_secs())))
            }
        }
    }

    async fn execute(self: Arc<Self>, run: Run, record_permit: tokio::sync::OwnedSemaphorePermit) {
        let run_id = run.id.clone();
        // Every line this run logs carries its id.
        let span = tracing::info_span!("run", id = %run_id);
        let cancel = self.signals.cancel_flag(&run_id);
        let dir = self.config.work_dir.join(&run_id);
        let job = match job::Job::new(self.clone(), run.clone(), &dir, cancel.clone()) {
            Ok(job) => Arc::new(job),
            Err(e) => {
                // Nothing can be recorded without a work directory: fail the run, never strand it.
                tracing::error!(parent: &span, dir = %dir.display(), error = %e, "cannot create the run's work directory");
                if let Ok(Some(mut run)) = self.db.run_by_id(&run_id).await {
                    lifecycle::fail_unstarted(&mut run, "the server could not create the run's work directory", &db::now());
                    let _ = self.db.save_run_progress(&run, &self.config.holder).await;
                }
                self.signals.finished(&run_id);
                return;
            }
        };
        // A cancel that arrived while queued-but-claimed, or in the database from elsewhere.
        if run.cancel_requested {
            cancel.set();
        }
        tracing::info!(parent: &span, "run started");
        job.event("run_started", json!({}));
        let lease = self.keep_lease(run_id.clone(), cancel.clone());
        let outcome = self.supervise(job.clone(), record_permit).await;
        lease.abort();
        tracing::info!(parent: &span, outcome = ?outcome.as_ref().err(), "run finished");
        // Before the final status is written: on a full disk, this is what frees the
        // space that write needs.
        release_work_files(&dir).await;
        job.conclude(outcome).await;
        self.signals.finished(&run_id);
    }
}

impl Runner {
    /// Every hour (and once now), removes the work directories of ended runs untouched
    /// for longer than the retention.
    pub fn spawn_work_sweeper(self: Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let retention = self.config.work_retention?;
        Some(tokio::spawn(async move {
            loop {
                let removed = self.sweep_work_dirs(retention).await;
                if removed > 0 {
                    tracing::info!(removed, "removed the work files of runs that ended long ago");
                }
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }))
    }

    async fn sweep_work_dirs(&self, retention: Duration) -> usize {
        let root = self.config.work_dir.clone();
        let stale: Vec<(String, std::path::PathBuf)> = tokio::task::spawn_blocking(move || {
            let now = std::time::SystemTime::now();
            std::fs::read_dir(&root)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|entry| {
                    let modified = entry.metadata().and_then(|m| m.modified()).ok();
                    modified.and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age > retention)
                })
                .map(|entry| (entry.file_name().to_string_lossy().to_string(), entry.path()))
                .collect()
        })
        .await
        .unwrap_or_default();
        let mut removed = 0;
        for (id, path) in stale {
            // A run in flight keeps its files, however old the folder looks.
            let ended = match self.db.run_by_id(&id).await {
                Ok(Some(run)) => run.status.is_terminal(),
                Ok(None) => true,
                Err(_) => false,
            };
            if ended && tokio::task::spawn_blocking(move || std::fs::remove_dir_all(path)).await.is_ok_and(|r| r.is_ok()) {
                removed += 1;
            }
        }
        removed
    }
}

/// Removes the bulky part of an ended run's work directory: the captured frames, the
/// videos (stored as artifacts, or failed) and any partial file. The small files (the
/// recording's index and timeline, events, plan) stay until the retention sweep.
async fn release_work_files(dir: &std::path::Path) {
    let dir = dir.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_dir_all(dir.join("recording").join("frames"));
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".mp4") || name.ends_with(".gif") || name.ends_with(".partial") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    })
    .await;
}
