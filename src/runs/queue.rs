//! The run queue as a runner sees it. Input: runs the API queued. Output: the next run
//! this process may take (keys take turns; at most `max_active_per_key` of one key at
//! work), its hold renewed while it works with any cancel asked through another process,
//! and the runs of processes that stopped renewing settled. Invariant: a run is worked on
//! by one process at a time: it is taken only when queued, and a holder whose hold is
//! gone (another process settled the run) learns it at its next renewal.
//!
//! [`RunQueue`] is the interface the dispatcher, the lease keeper and the settler use;
//! [`DatabaseRunQueue`] implements it on the shared database (a conditional update takes a
//! run, the row's lease columns hold it) with the process's signals as the wake-up.

use super::signals::Signals;
use crate::db::{self, Database, DbResult, Recovered, Run};
use std::sync::Arc;
use std::time::Duration;

/// How long a run stays its holder's without a renewal: a process that died leaves its
/// runs to be settled after this long.
pub const RUN_LEASE: Duration = Duration::from_secs(15);

#[async_trait::async_trait]
pub trait RunQueue: Send + Sync {
    /// The name this process holds its runs by.
    fn holder(&self) -> &str;

    /// Takes the next run this process may work on, marked running and held by it;
    /// `None` when no queued run may start now.
    async fn take(&self) -> DbResult<Option<Run>>;

    /// Extends the hold on run `run_id`: `Some(cancel_requested)` while this process holds
    /// it, `None` once it does not (the run was settled elsewhere).
    async fn renew(&self, run_id: &str) -> DbResult<Option<bool>>;

    /// Settles the runs whose holder stopped renewing them, and with `including_own` this
    /// process's own too (at start-up or at a planned stop): re-queued if their recording
    /// had not begun, else failed `interrupted` (cancelled if a cancel was asked).
    async fn settle_left_behind(&self, including_own: bool) -> DbResult<Recovered>;

    /// Waits until a run may have been queued, at most `at_most` (runs queued through
    /// another process are seen at the next poll).
    async fn wait_for_more(&self, at_most: Duration);
}

/// The queue on the database every process shares.
pub struct DatabaseRunQueue {
    db: Arc<dyn Database>,
    signals: Arc<dyn Signals>,
    holder: String,
    max_active_per_key: u32,
}

impl DatabaseRunQueue {
    pub fn new(db: Arc<dyn Database>, signals: Arc<dyn Signals>, holder: impl Into<String>, max_active_per_key: u32) -> DatabaseRunQueue {
        DatabaseRunQueue { db, signals, holder: holder.into(), max_active_per_key }
    }

    fn lease_until() -> String {
        humantime::format_rfc3339_millis(std::time::SystemTime::now() + RUN_LEASE).to_string()
    }
}

#[async_trait::async_trait]
impl RunQueue for DatabaseRunQueue {
    fn holder(&self) -> &str {
        &self.holder
    }

    async fn take(&self) -> DbResult<Option<Run>> {
        self.db.claim_next_run(&db::now(), self.max_active_per_key, &self.holder, &Self::lease_until()).await
    }

    async fn renew(&self, run_id: &str) -> DbResult<Option<bool>> {
        self.db.renew_run(run_id, &self.holder, &Self::lease_until()).await
    }

    async fn settle_left_behind(&self, including_own: bool) -> DbResult<Recovered> {
        self.db.recover_interrupted(&db::now(), including_own.then_some(self.holder.as_str())).await
    }

    async fn wait_for_more(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.signals.queued()).await;
    }
}
