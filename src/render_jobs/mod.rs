//! Re-render workers: recordings rendered again with other options, without a browser.
//! Input: render tasks queued in the database by `POST /v1/render-jobs`. Output: a new
//! generation of each run's artifacts (`raw.mp4` and `demo.mp4` at the asked size,
//! `demo.gif` when asked) and the task's outcome and progress in the database.
//! Invariant: a worker renders a task only while it holds the task's lease (renewed
//! every third of the lease; a lost lease stops the render), its artifacts become listed
//! only when the task succeeded, and a cancel of the job stops the render within a
//! second (the flag is read from the database, so it reaches workers in any process).
//!
//! The queue is the `render_tasks` table itself (claims are conditional updates; see
//! `db::render_jobs` and `docs/architecture.md` for why no queue library).

mod task;
pub mod workspace;

use crate::db::Database;
use crate::produce::Producer;
use crate::runs::signals::Signals;
use crate::store::ArtifactStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Where tasks unpack recordings and render (one folder per task, removed after).
    pub work_dir: PathBuf,
    /// Tasks rendered at once by this worker.
    pub slots: usize,
    /// How long a claim holds without renewal: a worker that dies is replaced after it.
    pub lease: Duration,
    /// Claims a task gets before it fails `interrupted`.
    pub max_attempts: u32,
    /// How often the worker looks for work when nothing woke it, and how often a render
    /// reads its job's cancel flag (at most a quarter of a second, for the one-second
    /// promise).
    pub poll: Duration,
    /// Where an intro's images may be fetched from.
    pub targets: crate::egress::TargetPolicy,
}

impl WorkerConfig {
    pub fn new(work_dir: PathBuf, targets: crate::egress::TargetPolicy) -> WorkerConfig {
        WorkerConfig { work_dir, slots: 1, lease: Duration::from_secs(30), max_attempts: 3, poll: Duration::from_millis(250), targets }
    }
}

pub struct RenderWorker {
    pub(crate) db: Arc<dyn Database>,
    pub(crate) producer: Producer,
    pub(crate) signals: Arc<dyn Signals>,
    pub(crate) config: WorkerConfig,
    /// This worker's name on its leases (unique per process start).
    pub(crate) id: String,
    slots: Arc<Semaphore>,
    /// The tasks this worker is rendering, to give back if it is stopped.
    pub(crate) in_flight: std::sync::Mutex<Vec<crate::db::RenderTask>>,
}

impl RenderWorker {
    pub fn new(db: Arc<dyn Database>, artifacts: Arc<dyn ArtifactStore>, signals: Arc<dyn Signals>, config: WorkerConfig) -> RenderWorker {
        let slots = Arc::new(Semaphore::new(config.slots.max(1)));
        let id = format!("{}-{}", hostname(), &crate::db::new_id()[..8]);
        RenderWorker { producer: Producer { db: db.clone(), artifacts }, db, signals, config, id, slots, in_flight: Default::default() }
    }

    /// Gives every task this worker is rendering back to the queue, for another worker
    /// to take at once rather than after the lease. The caller stops the worker first
    /// (a render cut short here stores nothing more: its lease is gone).
    pub async fn release(&self) -> usize {
        self.slots.close();
        let tasks = std::mem::take(&mut *self.in_flight.lock().unwrap());
        let mut released = 0;
        for task in tasks {
            match self.db.release_render_task(&task, &self.id, &crate::db::now()).await {
                Ok(true) => released += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(job = %task.job_id, run = %task.run_id, error = %error, "giving a render task back (its lease will run out instead)"),
            }
        }
        released
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claims tasks as slots free up, for as long as the process lives.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let Ok(permit) = self.slots.clone().acquire_owned().await else { return };
                match self.claim().await {
                    Ok(Some(claimed)) => {
                        let worker = self.clone();
                        tokio::spawn(async move {
                            worker.execute(claimed).await;
                            drop(permit);
                        });
                    }
                    Ok(None) => {
                        drop(permit);
                        let _ = tokio::time::timeout(Duration::from_secs(1), self.signals.render_waiting()).await;
                    }
                    Err(error) => {
                        drop(permit);
                        tracing::error!(error = %error, "claiming a render task");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        })
    }

    /// Gives lost tasks back to the queue (or up), then takes the next one.
    async fn claim(&self) -> crate::db::DbResult<Option<crate::db::render_jobs::ClaimedTask>> {
        let now = crate::db::now();
        let moved = self.db.requeue_lost_render_tasks(&now, self.config.max_attempts).await?;
        if moved > 0 {
            tracing::warn!(moved, "render tasks whose worker stopped renewing its lease were queued again or given up");
        }
        self.db.claim_render_task(&self.id, &now, &self.lease_until()).await
    }

    pub(crate) fn lease_until(&self) -> String {
        humantime::format_rfc3339_millis(std::time::SystemTime::now() + self.config.lease).to_string()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "worker".into())
}
