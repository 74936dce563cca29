//! In-process signals between the api and the runners: an input value for a waiting run,
//! a cancel request, "a run was queued". Input: api calls. Output: wake-ups in runners.
//! Invariant: the database holds the state; the hub only carries what must arrive at
//! once (a one-time code is handed over here and never stored).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Notify, oneshot};

#[derive(Default)]
pub struct Hub {
    inputs: Mutex<HashMap<String, oneshot::Sender<String>>>,
    cancels: Mutex<HashMap<String, std::sync::Arc<Cancel>>>,
    /// Rung when a run is queued, so an idle dispatcher looks at once.
    pub queued: Notify,
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

    /// The flag as an `AtomicBool` for code that polls (the render loop).
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
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

impl Hub {
    /// A runner registers its run; the flag lives until [`Hub::finished`].
    pub fn cancel_flag(&self, run_id: &str) -> std::sync::Arc<Cancel> {
        self.cancels.lock().unwrap().entry(run_id.to_string()).or_default().clone()
    }

    /// The api asks a running run to stop; answers whether a runner here holds it.
    pub fn cancel(&self, run_id: &str) -> bool {
        match self.cancels.lock().unwrap().get(run_id) {
            Some(cancel) => {
                cancel.set();
                true
            }
            None => false,
        }
    }

    /// A runner waits for input: the receiver gets the value.
    pub fn expect_input(&self, run_id: &str) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        self.inputs.lock().unwrap().insert(run_id.to_string(), tx);
        rx
    }

    /// The api delivers a value; answers false if no runner waits for one.
    pub fn give_input(&self, run_id: &str, value: String) -> bool {
        match self.inputs.lock().unwrap().remove(run_id) {
            Some(tx) => tx.send(value).is_ok(),
            None => false,
        }
    }

    pub fn stop_expecting_input(&self, run_id: &str) {
        self.inputs.lock().unwrap().remove(run_id);
    }

    pub fn finished(&self, run_id: &str) {
        self.cancels.lock().unwrap().remove(run_id);
        self.inputs.lock().unwrap().remove(run_id);
    }
}
