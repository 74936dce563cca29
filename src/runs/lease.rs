//! A run's hold while this process works on it, and the settling of runs whose process
//! is gone, both through the run queue. Input: the runs this process took. Output: their
//! holds renewed every second; a cancel asked for through any process sharing the
//! database set on the run's flag within a second; runs of processes that died re-queued
//! or failed. Invariant: a run this process no longer holds (its lease ran out and another
//! process settled it) is stopped here as well, so no run is worked on by two processes.

use super::Runner;
use super::queue::RUN_LEASE;
use super::signals::Cancel;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a held run's lease is renewed (and its cancel flag read).
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How often this process looks for runs left behind by others.
const SETTLE_EVERY: Duration = Duration::from_secs(5);

impl Runner {
    /// Renews run `run_id`'s hold every second until the task is aborted. Sets `cancel`
    /// when a cancel was asked for, when another process settled the run, or when no
    /// renewal succeeded for a whole lease (the database was out of reach that long).
    pub(super) fn keep_lease(self: &Arc<Self>, run_id: String, cancel: Arc<Cancel>) -> tokio::task::JoinHandle<()> {
        let queue = self.queue.clone();
        tokio::spawn(async move {
            let mut last_renewed = Instant::now();
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                match queue.renew(&run_id).await {
                    Ok(Some(cancel_requested)) => {
                        last_renewed = Instant::now();
                        if cancel_requested {
                            cancel.set();
                        }
                    }
                    Ok(None) => {
                        tracing::warn!(run = %run_id, "the run was settled by another process (its lease ran out): stopping it here");
                        cancel.set();
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(run = %run_id, error = %error, "renewing a run's lease");
                        if last_renewed.elapsed() >= RUN_LEASE {
                            cancel.set();
                        }
                    }
                }
            }
        })
    }

    /// Every few seconds, for as long as the process lives: runs whose process is gone
    /// (their lease ran out) are re-queued or failed, and expired input values dropped.
    pub fn spawn_settler(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SETTLE_EVERY).await;
                match self.queue.settle_left_behind(false).await {
                    Ok(recovered) if !recovered.requeued.is_empty() || !recovered.failed.is_empty() => {
                        tracing::warn!(requeued = ?recovered.requeued, failed = ?recovered.failed, "runs whose process stopped renewing them");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(error = %error, "settling runs of stopped processes"),
                }
            }
        })
    }
}
