//! Signals between the API and the runners: an input value for a waiting run, a cancel
//! request, "a run (or a re-render job) was queued". Input: API calls. Output: wake-ups in runners.
//! Invariant: the database holds the state; signals only carry what must arrive at once
//! (a one-time code is handed over here and never stored).
//!
//! [`Signals`] is the interface; [`InProcess`] serves API and runners in one process. A
//! deployment with separate workers implements it over a shared channel.

use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, oneshot};

pub trait Signals: Send + Sync {
    /// The API delivers a value; answers false if no runner waits for one.
    fn give_input(&self, run_id: &str, value: String) -> bool;
    /// The API asks a running run to stop; answers whether a runner here holds it.
    fn cancel(&self, run_id: &str) -> bool;
    /// The API queued a run: an idle dispatcher looks at once.
    fn run_queued(&self);
    /// The API queued a re-render job: an idle render worker here looks at once (workers
    /// elsewhere find it at their next poll).
    fn render_queued(&self);

    /// A runner waits for input: the receiver gets the value.
    fn expect_input(&self, run_id: &str) -> oneshot::Receiver<String>;
    fn stop_expecting_input(&self, run_id: &str);
    /// A runner registers its run; the flag lives until [`Signals::finished`].
    fn cancel_flag(&self, run_id: &str) -> Arc<Cancel>;
    fn finished(&self, run_id: &str);
    /// A dispatcher with nothing to do waits here for a queued run.
    fn queued(&self) -> BoxFuture<'_, ()>;
    /// A render worker with nothing to do waits here for a queued job.
    fn render_waiting(&self) -> BoxFuture<'_, ()>;
}

/// A run's cancel flag: runners check it at checkpoints and can wait on it.
#[derive(Default)]
pub struct Cancel {
    flag: AtomicBool,
    notify: Notify,
}

impl Cancel {
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// Signals within one process.
#[derive(Default)]
pub struct InProcess {
    inputs: Mutex<HashMap<String, oneshot::Sender<String>>>,
    cancels: Mutex<HashMap<String, Arc<Cancel>>>,
    queued: Notify,
    render_queued: Notify,
}

impl Signals for InProcess {
    fn give_input(&self, run_id: &str, value: String) -> bool {
        match self.inputs.lock().unwrap().remove(run_id) {
            Some(tx) => tx.send(value).is_ok(),
            None => false,
        }
    }

    fn cancel(&self, run_id: &str) -> bool {
        match self.cancels.lock().unwrap().get(run_id) {
            Some(cancel) => {
                cancel.set();
                true
            }
            None => false,
        }
    }

    fn run_queued(&self) {
        self.queued.notify_one();
    }

    fn render_queued(&self) {
        // Every waiting worker looks: a job of many runs can keep them all busy.
        self.render_queued.notify_waiters();
    }

    fn expect_input(&self, run_id: &str) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        self.inputs.lock().unwrap().insert(run_id.to_string(), tx);
        rx
    }

    fn stop_expecting_input(&self, run_id: &str) {
        self.inputs.lock().unwrap().remove(run_id);
    }

    fn cancel_flag(&self, run_id: &str) -> Arc<Cancel> {
        self.cancels.lock().unwrap().entry(run_id.to_string()).or_default().clone()
    }

    fn finished(&self, run_id: &str) {
        self.cancels.lock().unwrap().remove(run_id);
        self.inputs.lock().unwrap().remove(run_id);
    }

    fn queued(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.queued.notified())
    }

    fn render_waiting(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.render_queued.notified())
    }
}
