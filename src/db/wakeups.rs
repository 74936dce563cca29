//! Wake-ups across processes on PostgreSQL. Input: runs and re-render jobs stored by any
//! process (the transaction that stores one sends a notification, delivered when it
//! commits). Output: a call of each listening process's `on_queued` within milliseconds,
//! rather than at its next poll. Invariant: a wake-up is only a hint: one lost with a
//! dropped connection costs a poll interval, never a run (every worker still polls); on
//! SQLite there are none, and the polls are the wake-up.

use super::sql::SqlDatabase;
use super::connect::Dialect;
use super::DbResult;
use std::time::Duration;

/// What was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    Run,
    RenderJob,
}

impl Queued {
    fn channel(self) -> &'static str {
        match self {
            Queued::Run => "demoreel_run_queued",
            Queued::RenderJob => "demoreel_render_job_queued",
        }
    }
}

/// Inside the transaction that stores a run or a job: every listener hears of it once the
/// transaction commits (and never if it rolls back).
pub(super) async fn announce(tx: &mut sqlx::Transaction<'_, sqlx::Any>, dialect: Dialect, queued: Queued) -> DbResult<()> {
    if dialect == Dialect::Postgres {
        sqlx::query(&format!("NOTIFY {}", queued.channel())).execute(&mut **tx).await?;
    }
    Ok(())
}

impl SqlDatabase {
    /// Calls `on_queued` whenever any process stores a run or a job, for as long as the
    /// returned task lives; `None` on SQLite, which has no notifications. Answers once
    /// the listening has begun, so anything stored after it is heard.
    pub async fn relay_wakeups(&self, on_queued: impl Fn(Queued) + Send + Sync + 'static) -> DbResult<Option<tokio::task::JoinHandle<()>>> {
        let Some(url) = self.listen_url.clone() else { return Ok(None) };
        let channels = [Queued::Run, Queued::RenderJob];
        let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
        listener.listen_all(channels.map(Queued::channel)).await?;
        Ok(Some(tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(notification) => {
                        if let Some(queued) = channels.into_iter().find(|q| q.channel() == notification.channel()) {
                            on_queued(queued);
                        }
                    }
                    Err(error) => {
                        // The listener connects again at its next receive; what was sent
                        // meanwhile is lost, so everyone looks once, as a poll would.
                        tracing::warn!(%error, "listening for queued work; connecting again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        channels.into_iter().for_each(&on_queued);
                    }
                }
            }
        })))
    }
}
