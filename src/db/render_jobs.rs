//! Re-render jobs and their tasks, and where each run's recording is kept. Input: jobs
//! created by the api, claims and reports from render workers. Output: jobs read back by
//! owner, tasks handed to one worker at a time. Invariant: a task is held by at most one
//! worker at once (a lease, renewed while it renders; every write of a worker is
//! conditional on still holding it), a lost task is queued again after a backoff until it
//! has had its tries, and each task of a run renders a generation number no other task of
//! that run has.

use super::sql::SqlDatabase;
use super::{Admission, AdmissionChecks, DbError, DbResult, KeyId, Page, decode_cursor, encode_cursor};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [TaskStatus::Queued, TaskStatus::Running, TaskStatus::Succeeded, TaskStatus::Failed, TaskStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Cancelled)
    }
}

/// Why a task failed: a code of `docs/api.md` (`recording_missing`, `render_failed`,
/// `interrupted`, `internal`) and a sentence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskError {
    pub code: String,
    pub message: String,
}

/// One run of a job.
#[derive(Debug, Clone)]
pub struct RenderTask {
    pub job_id: String,
    pub position: u32,
    pub run_id: String,
    pub owner: KeyId,
    /// The generation of artifacts this task adds to its run.
    pub generation: u32,
    pub status: TaskStatus,
    /// Claims so far (a worker that vanished cost one).
    pub attempts: u32,
    pub frames_done: u64,
    pub frames_total: u64,
    pub error: Option<TaskError>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RenderJob {
    pub id: String,
    pub owner: KeyId,
    /// The new render's options as checked (an intro pinned to `name@version`).
    pub options: serde_json::Value,
    pub cancel_requested: bool,
    pub created_at: String,
    pub updated_at: String,
    /// In the order the job named its runs.
    pub tasks: Vec<RenderTask>,
}

/// A task a worker claimed, with the options of its job.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    pub task: RenderTask,
    pub options: serde_json::Value,
}

/// What became of a worker's lease when it reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    Held { cancel_requested: bool },
    /// Another worker has the task now (this one was too slow to renew), or it ended.
    Lost,
}

#[async_trait::async_trait]
pub trait RenderJobRepo: Send + Sync {
    /// Records that run `run_id`'s recording is stored under `key` with this digest.
    async fn set_run_recording(&self, run_id: &str, key: &str, sha256: &str) -> DbResult<()>;
    /// Where run `run_id`'s recording is kept and its digest, if it was kept.
    async fn run_recording(&self, run_id: &str) -> DbResult<Option<(String, String)>>;
    /// Stores a job with one queued task per run, each given its run's next generation.
    async fn insert_render_job(&self, id: &str, owner: &KeyId, options: &serde_json::Value, run_ids: &[String], now: &str) -> DbResult<()>;
    /// [`RenderJobRepo::insert_render_job`] unless `owner` already has
    /// `checks.max_waiting` jobs with a task to end, or the template version it pins
    /// (`checks.template`) is gone. One step under the key's lock, like
    /// [`super::RunRepo::insert_run_within`] (and so two jobs of the key on one run never
    /// take the same generation).
    async fn insert_render_job_within(&self, id: &str, owner: &KeyId, options: &serde_json::Value, run_ids: &[String], now: &str, checks: &AdmissionChecks<'_>) -> DbResult<Admission>;
    /// The job if `owner` may see it.
    async fn render_job(&self, owner: &KeyId, id: &str) -> DbResult<Option<RenderJob>>;
    async fn list_render_jobs(&self, owner: &KeyId, limit: u32, cursor: Option<&str>) -> DbResult<Page<RenderJob>>;
    /// How many of `owner`'s jobs have a task still to end.
    async fn unfinished_render_jobs(&self, owner: &KeyId) -> DbResult<u32>;
    /// Flags the job cancelled and cancels its queued tasks at once (running ones stop
    /// when their worker sees the flag). `None` if `owner` cannot see it; `Some(false)` if
    /// every task had ended already.
    async fn cancel_render_job(&self, owner: &KeyId, id: &str, now: &str) -> DbResult<Option<bool>>;
    /// Tasks whose worker stopped renewing its lease: queued again, not before `now` plus
    /// a backoff that doubles with each try, or failed `interrupted` once they had
    /// `max_attempts`; tasks of cancelled jobs are cancelled. Answers how many moved.
    async fn requeue_lost_render_tasks(&self, now: &str, max_attempts: u32) -> DbResult<u32>;
    /// Takes the next task for `worker` until `lease_until`, fairly across keys: a key with
    /// fewer tasks rendering goes first, then the oldest job.
    async fn claim_render_task(&self, worker: &str, now: &str, lease_until: &str) -> DbResult<Option<ClaimedTask>>;
    /// Renews the lease and records progress; says whether the job was cancelled.
    async fn renew_render_task(&self, task: &RenderTask, worker: &str, lease_until: &str, frames_done: u64, frames_total: u64) -> DbResult<Lease>;
    /// Gives a task `worker` holds back to the queue at once, the try not counted (a
    /// worker stopping on purpose); answers whether it held it.
    async fn release_render_task(&self, task: &RenderTask, worker: &str, now: &str) -> DbResult<bool>;
    /// Ends the task (if `worker` still holds it); answers whether it did.
    async fn finish_render_task(&self, task: &RenderTask, worker: &str, status: TaskStatus, error: Option<&TaskError>, now: &str) -> DbResult<bool>;
}

/// The backoff before a lost task is tried again: 2, 4, 8 … s, at most 5 min.
pub fn retry_backoff(attempts: u32) -> std::time::Duration {
    std::time::Duration::from_secs(2u64.saturating_pow(attempts.clamp(1, 8)).min(300))
}

fn task_from(row: &AnyRow) -> DbResult<RenderTask> {
    let status: String = row.get("status");
    let code: Option<String> = row.get("error_code");
    Ok(RenderTask {
        job_id: row.get("job_id"),
        position: row.get::<i64, _>("position") as u32,
        run_id: row.get("run_id"),
        owner: row.get("owner"),
        generation: row.get::<i64, _>("generation") as u32,
        status: TaskStatus::parse(&status).ok_or_else(|| DbError::Corrupt(format!("unknown render task status {status:?}")))?,
        attempts: row.get::<i64, _>("attempts") as u32,
        frames_done: row.get::<i64, _>("frames_done") as u64,
        frames_total: row.get::<i64, _>("frames_total") as u64,
        error: code.map(|code| TaskError { code, message: row.get::<Option<String>, _>("error_message").unwrap_or_default() }),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
    })
}

fn options_from(text: &str) -> DbResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| DbError::Corrupt(format!("render job options: {e}")))
}

impl SqlDatabase {
    async fn job_with_tasks(&self, row: &AnyRow) -> DbResult<RenderJob> {
        let id: String = row.get("id");
        let tasks = sqlx::query("SELECT * FROM render_tasks WHERE job_id = $1 ORDER BY position").bind(&id).fetch_all(&self.pool).await?;
        Ok(RenderJob {
            id,
            owner: row.get("owner"),
            options: options_from(&row.get::<String, _>("options"))?,
            cancel_requested: row.get::<i64, _>("cancel_requested") != 0,
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            tasks: tasks.iter().map(task_from).collect::<DbResult<_>>()?,
        })
    }
}

#[async_trait::async_trait]
impl RenderJobRepo for SqlDatabase {
    async fn set_run_recording(&self, run_id: &str, key: &str, sha256: &str) -> DbResult<()> {
        sqlx::query("UPDATE runs SET recording_key = $1, recording_sha256 = $2 WHERE id = $3").bind(key).bind(sha256).bind(run_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn run_recording(&self, run_id: &str) -> DbResult<Option<(String, String)>> {
        let row = sqlx::query("SELECT recording_key, recording_sha256 FROM runs WHERE id = $1 AND recording_key IS NOT NULL").bind(run_id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| (r.get("recording_key"), r.get("recording_sha256"))))
    }

    async fn insert_render_job(&self, id: &str, owner: &KeyId, options: &serde_json::Value, run_ids: &[String], now: &str) -> DbResult<()> {
        self.insert_render_job_within(id, owner, options, run_ids, now, &AdmissionChecks::NONE).await.map(|_| ())
    }

    async fn insert_render_job_within(&self, id: &str, owner: &KeyId, options: &serde_json::Value, run_ids: &[String], now: &str, checks: &AdmissionChecks<'_>) -> DbResult<Admission> {
        let mut tx = self.pool.begin().await?;
        // The key's lock first: the count below, and each run's next generation, are
        // then read with no other creation of this key between them and the insert (a
        // run belongs to one key).
        super::sql::hold_key(&mut tx, owner).await?;
        let unfinished: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT job_id) FROM render_tasks WHERE owner = $1 AND status IN ('queued', 'running')")
            .bind(owner)
            .fetch_one(&mut *tx)
            .await?;
        if unfinished >= i64::from(checks.max_waiting) {
            return Ok(Admission::QueueFull);
        }
        if let Some(need) = checks.template
            && !super::templates::template_present(&mut tx, owner, need).await?
        {
            return Ok(Admission::TemplateGone);
        }
        let insert = format!("INSERT INTO render_jobs (id, seq, owner, options, created_at, updated_at) VALUES ($1, {}, $2, $3, $4, $5)", self.dialect.next_seq("render_jobs"));
        sqlx::query(&insert)
            .bind(id)
            .bind(owner)
            .bind(options.to_string())
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for (position, run_id) in run_ids.iter().enumerate() {
            // The next generation of the run: past every artifact and every task it had
            // (a task that failed keeps its number, so its partial files are never listed).
            let insert = format!(
                "INSERT INTO render_tasks (job_id, position, run_id, owner, generation, status, not_before)
                 SELECT $1, $2, $3, $4, 1 + {}(COALESCE((SELECT MAX(generation) FROM artifacts WHERE run_id = $5), 0),
                                             COALESCE((SELECT MAX(generation) FROM render_tasks WHERE run_id = $6), 0)), 'queued', $7",
                self.dialect.greatest()
            );
            sqlx::query(&insert)
            .bind(id)
            .bind(position as i64)
            .bind(run_id)
            .bind(owner)
            .bind(run_id)
            .bind(run_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        super::wakeups::announce(&mut tx, self.dialect, super::wakeups::Queued::RenderJob).await?;
        tx.commit().await?;
        Ok(Admission::Stored)
    }

    async fn render_job(&self, owner: &KeyId, id: &str) -> DbResult<Option<RenderJob>> {
        let row = sqlx::query("SELECT * FROM render_jobs WHERE id = $1 AND owner = $2").bind(id).bind(owner).fetch_optional(&self.pool).await?;
        match row {
            Some(row) => Ok(Some(self.job_with_tasks(&row).await?)),
            None => Ok(None),
        }
    }

    async fn list_render_jobs(&self, owner: &KeyId, limit: u32, cursor: Option<&str>) -> DbResult<Page<RenderJob>> {
        let before_seq = cursor.and_then(decode_cursor).unwrap_or(i64::MAX);
        let rows = sqlx::query("SELECT * FROM render_jobs WHERE owner = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3")
            .bind(owner)
            .bind(before_seq)
            .bind(limit as i64 + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut items = Vec::new();
        for row in rows.iter().take(limit as usize) {
            items.push(self.job_with_tasks(row).await?);
        }
        let next_cursor = (rows.len() > limit as usize).then(|| rows.get(limit as usize - 1).map(|r| encode_cursor(r.get("seq")))).flatten();
        Ok(Page { items, next_cursor })
    }

    async fn unfinished_render_jobs(&self, owner: &KeyId) -> DbResult<u32> {
        let row = sqlx::query("SELECT COUNT(DISTINCT job_id) AS n FROM render_tasks WHERE owner = $1 AND status IN ('queued', 'running')").bind(owner).fetch_one(&self.pool).await?;
        Ok(row.get::<i64, _>("n") as u32)
    }

    async fn cancel_render_job(&self, owner: &KeyId, id: &str, now: &str) -> DbResult<Option<bool>> {
        let mut tx = self.pool.begin().await?;
        let flagged = sqlx::query(
            "UPDATE render_jobs SET cancel_requested = 1, updated_at = $1 WHERE id = $2 AND owner = $3
             AND EXISTS (SELECT 1 FROM render_tasks WHERE job_id = render_jobs.id AND status IN ('queued', 'running'))",
        )
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if flagged.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM render_jobs WHERE id = $1 AND owner = $2").bind(id).bind(owner).fetch_optional(&mut *tx).await?;
            return Ok(exists.map(|_| false));
        }
        sqlx::query("UPDATE render_tasks SET status = 'cancelled', finished_at = $1 WHERE job_id = $2 AND status = 'queued'").bind(now).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(true))
    }

    async fn requeue_lost_render_tasks(&self, now: &str, max_attempts: u32) -> DbResult<u32> {
        let mut moved = sqlx::query(
            "UPDATE render_tasks SET status = 'cancelled', finished_at = $1, lease_owner = NULL
             WHERE status = 'running' AND lease_expires <= $2 AND job_id IN (SELECT id FROM render_jobs WHERE cancel_requested = 1)",
        )
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        moved += sqlx::query(
            "UPDATE render_tasks SET status = 'failed', finished_at = $1, lease_owner = NULL, error_code = 'interrupted',
             error_message = 'the worker rendering it stopped ' || attempts || ' times; given up'
             WHERE status = 'running' AND lease_expires <= $2 AND attempts >= $3",
        )
        .bind(now)
        .bind(now)
        .bind(max_attempts as i64)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let lost = sqlx::query("SELECT job_id, position, attempts, lease_expires FROM render_tasks WHERE status = 'running' AND lease_expires <= $1").bind(now).fetch_all(&self.pool).await?;
        for row in lost {
            let attempts = row.get::<i64, _>("attempts") as u32;
            let not_before = humantime::format_rfc3339_millis(std::time::SystemTime::now() + retry_backoff(attempts)).to_string();
            // Conditional on the lease it had: a worker that renewed meanwhile keeps it.
            moved += sqlx::query(
                "UPDATE render_tasks SET status = 'queued', lease_owner = NULL, not_before = $1 WHERE job_id = $2 AND position = $3 AND status = 'running' AND lease_expires = $4",
            )
            .bind(not_before)
            .bind(row.get::<String, _>("job_id"))
            .bind(row.get::<i64, _>("position"))
            .bind(row.get::<String, _>("lease_expires"))
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(moved as u32)
    }

    async fn claim_render_task(&self, worker: &str, now: &str, lease_until: &str) -> DbResult<Option<ClaimedTask>> {
        // One statement. Two workers never take one task: SQLite serializes writers, and on
        // PostgreSQL the pick skips a task another worker has locked, while the update
        // re-checks that the task is still queued.
        let claim = format!(
            "UPDATE render_tasks SET status = 'running', attempts = attempts + 1, lease_owner = $1, lease_expires = $2, started_at = COALESCE(started_at, $3)
             WHERE (job_id, position) = (
               SELECT t.job_id, t.position FROM render_tasks t JOIN render_jobs j ON j.id = t.job_id
               WHERE t.status = 'queued' AND t.not_before <= $4 AND j.cancel_requested = 0
               ORDER BY (SELECT COUNT(*) FROM render_tasks r WHERE r.owner = t.owner AND r.status = 'running'), j.seq, t.position
               LIMIT 1{})
             AND status = 'queued'
             RETURNING *",
            self.dialect.skip_locked("t")
        );
        let row = sqlx::query(&claim)
        .bind(worker)
        .bind(lease_until)
        .bind(now)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let task = task_from(&row)?;
        let options: String = sqlx::query("SELECT options FROM render_jobs WHERE id = $1").bind(&task.job_id).fetch_one(&self.pool).await?.get("options");
        Ok(Some(ClaimedTask { task, options: options_from(&options)? }))
    }

    async fn renew_render_task(&self, task: &RenderTask, worker: &str, lease_until: &str, frames_done: u64, frames_total: u64) -> DbResult<Lease> {
        let renewed = sqlx::query(
            "UPDATE render_tasks SET lease_expires = $1, frames_done = $2, frames_total = $3
             WHERE job_id = $4 AND position = $5 AND status = 'running' AND lease_owner = $6",
        )
        .bind(lease_until)
        .bind(frames_done as i64)
        .bind(frames_total as i64)
        .bind(&task.job_id)
        .bind(task.position as i64)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        if renewed.rows_affected() == 0 {
            return Ok(Lease::Lost);
        }
        let row = sqlx::query("SELECT cancel_requested FROM render_jobs WHERE id = $1").bind(&task.job_id).fetch_one(&self.pool).await?;
        Ok(Lease::Held { cancel_requested: row.get::<i64, _>("cancel_requested") != 0 })
    }

    async fn release_render_task(&self, task: &RenderTask, worker: &str, now: &str) -> DbResult<bool> {
        let release = format!(
            "UPDATE render_tasks SET status = 'queued', lease_owner = NULL, lease_expires = NULL, not_before = $1, attempts = {}(attempts - 1, 0)
             WHERE job_id = $2 AND position = $3 AND status = 'running' AND lease_owner = $4",
            self.dialect.greatest()
        );
        let done = sqlx::query(&release)
        .bind(now)
        .bind(&task.job_id)
        .bind(task.position as i64)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_render_task(&self, task: &RenderTask, worker: &str, status: TaskStatus, error: Option<&TaskError>, now: &str) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE render_tasks SET status = $1, error_code = $2, error_message = $3, finished_at = $4, lease_owner = NULL,
             frames_done = CASE WHEN $5 = 'succeeded' THEN frames_total ELSE frames_done END
             WHERE job_id = $6 AND position = $7 AND status = 'running' AND lease_owner = $8",
        )
        .bind(status.as_str())
        .bind(error.map(|e| e.code.as_str()))
        .bind(error.map(|e| e.message.as_str()))
        .bind(now)
        .bind(status.as_str())
        .bind(&task.job_id)
        .bind(task.position as i64)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            sqlx::query("UPDATE render_jobs SET updated_at = $1 WHERE id = $2").bind(now).bind(&task.job_id).execute(&self.pool).await?;
        }
        Ok(done.rows_affected() == 1)
    }
}
