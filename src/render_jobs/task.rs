//! One claimed render task. Input: a task, its job's options, and the lease on it.
//! Output: the run's recording fetched and rendered again, the new artifacts stored as
//! the task's generation, the task ended in the database. Invariant: the lease is renewed
//! (and the job's cancel flag read) every poll while the task works; nothing is stored
//! once the lease is lost or the job cancelled, and the work folder is removed whatever
//! the outcome.

use super::RenderWorker;
use crate::db::render_jobs::{ClaimedTask, Lease, TaskError};
use crate::db::{RenderTask, TaskStatus};
use crate::produce::{Generation, ProduceError, RenderMeter, events};
use crate::render::Outputs;
use crate::render::intro::IntroOutcome;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Why a task stopped short.
enum TaskStop {
    Cancelled,
    /// Another worker holds the task now: this one writes nothing more.
    LeaseLost,
    Failed(TaskError),
}

fn failed(code: &str, message: impl Into<String>) -> TaskStop {
    TaskStop::Failed(TaskError { code: code.to_string(), message: message.into() })
}

impl From<ProduceError> for TaskStop {
    fn from(error: ProduceError) -> TaskStop {
        match error {
            ProduceError::Cancelled => TaskStop::Cancelled,
            ProduceError::RecordingMissing(message) => failed("recording_missing", message),
            ProduceError::RecordingDamaged(message) => failed("recording_damaged", message),
            ProduceError::Render(message) | ProduceError::Gif(message) => failed("render_failed", message),
            ProduceError::Store { .. } => failed("internal", error.to_string()),
        }
    }
}

/// What the watch over a working task has seen.
#[derive(Default)]
struct Watch {
    cancelled: AtomicBool,
    lease_lost: AtomicBool,
}

impl Watch {
    fn stop_requested(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst) || self.lease_lost.load(Ordering::SeqCst)
    }

    fn checkpoint(&self) -> Result<(), TaskStop> {
        if self.lease_lost.load(Ordering::SeqCst) {
            Err(TaskStop::LeaseLost)
        } else if self.cancelled.load(Ordering::SeqCst) {
            Err(TaskStop::Cancelled)
        } else {
            Ok(())
        }
    }
}

impl RenderWorker {
    pub(super) async fn execute(self: &Arc<Self>, claimed: ClaimedTask) {
        let ClaimedTask { task, options } = claimed;
        let span = tracing::info_span!("render_task", job = %task.job_id, run = %task.run_id, attempt = task.attempts);
        tracing::info!(parent: &span, "render task started");
        let dir = self.config.work_dir.join(&task.job_id).join(format!("{}.{}", task.position, task.attempts));
        let (watch, meter) = (Arc::new(Watch::default()), Arc::new(RenderMeter::default()));
        self.in_flight.lock().unwrap().push(task.clone());
        let watcher = tokio::spawn(self.clone().watch(task.clone(), watch.clone(), meter.clone()));
        let outcome = self.work(&task, &options, &dir, &watch, &meter).await;
        watcher.abort();
        self.in_flight.lock().unwrap().retain(|t| (&t.job_id, t.position) != (&task.job_id, task.position));
        let _ = tokio::fs::remove_dir_all(&dir).await;
        let (status, error) = match outcome {
            Ok(()) => (TaskStatus::Succeeded, None),
            Err(TaskStop::Cancelled) => (TaskStatus::Cancelled, None),
            Err(TaskStop::Failed(error)) => (TaskStatus::Failed, Some(error)),
            Err(TaskStop::LeaseLost) => {
                tracing::warn!(parent: &span, "render task given up: its lease went to another worker");
                return;
            }
        };
        tracing::info!(parent: &span, status = status.as_str(), error = ?error, "render task ended");
        // The outcome must land, or the task would be tried again after its lease: a busy
        // or briefly unreachable database gets ten tries, a second apart.
        for attempt in 1..=10 {
            match self.db.finish_render_task(&task, &self.id, status, error.as_ref(), &crate::db::now()).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(parent: &span, attempt, error = %e, "saving a render task's outcome");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Every poll: renews the lease with the progress so far and reads the job's cancel
    /// flag. The lease counts as lost once another worker has it, or once no renewal
    /// succeeded for a whole lease (the database was out of reach that long).
    async fn watch(self: Arc<Self>, task: RenderTask, watch: Arc<Watch>, meter: Arc<RenderMeter>) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.config.poll).await;
            let (done, total) = (meter.done.load(Ordering::Relaxed), meter.total.load(Ordering::Relaxed));
            match self.db.renew_render_task(&task, &self.id, &self.lease_until(), done, total).await {
                Ok(Lease::Held { cancel_requested }) => {
                    last_renewed = Instant::now();
                    if cancel_requested {
                        watch.cancelled.store(true, Ordering::SeqCst);
                    }
                }
                Ok(Lease::Lost) => watch.lease_lost.store(true, Ordering::SeqCst),
                Err(error) => {
                    tracing::warn!(error = %error, "renewing a render task's lease");
                    if last_renewed.elapsed() >= self.config.lease {
                        watch.lease_lost.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
    }

    /// Recording → videos (→ GIF) → stored as the task's generation.
    async fn work(&self, task: &RenderTask, options_json: &Value, dir: &Path, watch: &Arc<Watch>, meter: &Arc<RenderMeter>) -> Result<(), TaskStop> {
        let options = crate::options::parse(options_json).map_err(|e| failed("internal", format!("the job's stored options: {e}")))?.options;
        let mut intro_errors = Vec::new();
        let intro = crate::run_spec::IntroSpec::parse(options_json.get("intro"), "options.intro", &mut intro_errors);
        if let Some(error) = intro_errors.first() {
            return Err(failed("internal", format!("the job's stored options: {}: {}", error.field, error.message)));
        }
        let intro = match &intro {
            // A job that asks for a card fails without it, rather than quietly shipping
            // videos that lack it (a run, which cannot be repeated cheaply, goes on).
            Some(intro) => Some(
                crate::template_library::prepare_intro(self.db.as_ref(), &task.owner, intro, &self.config.targets)
                    .await
                    .map_err(|unavailable| failed("intro_failed", unavailable.to_string()))?,
            ),
            None => None,
        };
        let bundle = self.producer.fetch_recording(&task.run_id, dir).await?;
        watch.checkpoint()?;
        let out = dir.join("out");
        let stop = watch.clone();
        let cancelled: Arc<dyn Fn() -> bool + Send + Sync> = Arc::new(move || stop.stop_requested());
        let outcome = self.producer.render_outputs(&bundle, &options, intro, Outputs::RESTYLED, &out, cancelled.clone(), meter.clone()).await.map_err(|e| match watch.checkpoint() {
            Err(stop) => stop,
            Ok(()) => TaskStop::from(e),
        })?;
        // The generation's own events.jsonl says how it was made, as a run's does.
        let mut said = vec![("render", serde_json::json!({"render_job_id": task.job_id, "generation": task.generation, "attempt": task.attempts}))];
        match &outcome {
            Some(IntroOutcome::Failed { template, reason }) => return Err(failed("intro_failed", format!("{template}: {reason}"))),
            Some(added) => said.push(events::intro(added)),
            None => {}
        }
        let mut made = vec![(out.join(crate::render::RAW_MP4), "raw.mp4", "video/mp4"), (out.join(crate::render::DEMO_MP4), "demo.mp4", "video/mp4")];
        if options.artifacts.gif {
            watch.checkpoint()?;
            let gif = self.producer.gif(&out.join(crate::render::DEMO_MP4), &options.artifacts, &out, cancelled).await.map_err(|e| match watch.checkpoint() {
                Err(stop) => stop,
                Ok(()) => TaskStop::from(e),
            })?;
            said.extend(events::gif(&gif, options.artifacts.gif_max_bytes));
            made.push((gif.path, "demo.gif", "image/gif"));
        }
        let events_file = out.join("events.jsonl");
        events::write(&events_file, said).map_err(|e| failed("internal", format!("{}: {e}", events_file.display())))?;
        made.push((events_file, "events.jsonl", "application/x-ndjson"));
        let generation = Generation { number: task.generation, render_job_id: Some(task.job_id.clone()), attempt: task.attempts };
        for (path, name, content_type) in made {
            watch.checkpoint()?;
            self.producer.store_in(&task.run_id, &generation, &path, name, content_type).await?;
        }
        Ok(())
    }
}
