//! The run's side of an input step. Input: a prompt from the capture. Output: the value
//! from the API (through the signals when the API is this process, else sealed through
//! the database), or why none came: the window expired or the run was cancelled.
//! Invariant: the run is `awaiting_input` in the database exactly while it waits, and the
//! value itself is never written down in the clear.

use super::job::Job;
use super::lifecycle;
use crate::agent::act::Journal;
use crate::capture::{InputSource, NoValue};
use crate::db::{self, AwaitingInput};
use serde_json::json;
use std::sync::Arc;

pub(super) struct RunInput {
    pub(super) job: Arc<Job>,
}

impl InputSource for RunInput {
    fn ask<'a>(&'a self, prompt: &'a str) -> futures::future::BoxFuture<'a, Result<String, NoValue>> {
        Box::pin(async move {
            let job = &self.job;
            let id = job.id();
            let signals = &job.runner.signals;
            let window = job.runner.config.input_window;
            let receiver = signals.expect_input(&id);
            let waiting = AwaitingInput { prompt: prompt.to_string(), requested_at: db::now(), expires_at: db::later(window.as_secs().max(1)) };
            lifecycle::await_input(&mut job.run.lock().unwrap(), waiting.clone(), &db::now());
            job.event("awaiting_input", json!({"prompt": waiting.prompt, "expires_at": waiting.expires_at}));
            if job.save().await.is_err() {
                signals.stop_expecting_input(&id);
                return Err(NoValue::Cancelled);
            }
            let answer = tokio::select! {
                // The signals drop the sender only when the run is finished.
                value = receiver => value.map_err(|_| NoValue::Cancelled),
                value = value_from_elsewhere(job) => Ok(value),
                _ = tokio::time::sleep(window) => Err(NoValue::Expired { seconds: window.as_secs() }),
                _ = job.cancel.cancelled() => Err(NoValue::Cancelled),
            };
            signals.stop_expecting_input(&id);
            lifecycle::resume(&mut job.run.lock().unwrap(), &db::now());
            match &answer {
                // The value itself is never written down.
                Ok(_) => job.event("input_received", json!({})),
                Err(reason) => job.event("input_missing", json!({"reason": reason.to_string()})),
            }
            if answer.is_ok() {
                job.save().await.map_err(|_| NoValue::Cancelled)?;
            }
            answer
        })
    }
}

/// A value an API in another process left for this run: sealed with the operator's key,
/// taken (and so deleted) from the database, looked for four times a second. Without the
/// key no process can leave one, and this waits forever (the other branches end the wait).
async fn value_from_elsewhere(job: &Job) -> String {
    let Some(sealer) = job.runner.sealer.clone() else { return std::future::pending().await };
    let id = job.id();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        match job.runner.db.take_run_input(&id, &db::now()).await {
            Ok(Some(sealed)) => match sealer.open(&sealed) {
                Ok(value) => return value,
                // Sealed with another key: an operator's mistake, not the person's.
                Err(error) => tracing::error!(run = %id, error = %error, "an input value sealed with another key than this process's"),
            },
            Ok(None) => {}
            Err(error) => tracing::warn!(run = %id, error = %error, "looking for an input value in the database"),
        }
    }
}
