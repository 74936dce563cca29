//! Demonstrations and the tasks they make. Input: sessions created by the api, their
//! lifecycle moves from the process holding the live browser, and the workflow a finished
//! one produced. Output: the rows, read back by owner. Invariant: a status moves only
//! `recording → processing → completed | failed`, or to `stopped` from `recording`
//! (or `failed` from either live state), each move a conditional update that one caller
//! wins; a task version is numbered once per task by the statement that inserts it.

use super::sql::SqlDatabase;
use super::{DbError, DbResult, KeyId, Page, decode_cursor, encode_cursor};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DemoStatus {
    Recording,
    Processing,
    Completed,
    Failed,
    Stopped,
}

impl DemoStatus {
    pub const ALL: [DemoStatus; 5] = [DemoStatus::Recording, DemoStatus::Processing, DemoStatus::Completed, DemoStatus::Failed, DemoStatus::Stopped];

    pub fn as_str(self) -> &'static str {
        match self {
            DemoStatus::Recording => "recording",
            DemoStatus::Processing => "processing",
            DemoStatus::Completed => "completed",
            DemoStatus::Failed => "failed",
            DemoStatus::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Option<DemoStatus> {
        DemoStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, DemoStatus::Completed | DemoStatus::Failed | DemoStatus::Stopped)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Demonstration {
    pub id: String,
    pub owner: KeyId,
    pub task_id: String,
    pub tool_id: String,
    pub task_name: String,
    pub task_description: String,
    pub user_name: Option<String>,
    pub start_url: String,
    pub identity_id: Option<String>,
    /// With an identity: whether the session starts anyway when its sign-in fails.
    pub identity_skip_validation: bool,
    pub max_duration_s: u64,
    pub idle_timeout_s: u64,
    pub status: DemoStatus,
    pub task_version_id: Option<String>,
    /// The run holding the session's recording and videos.
    pub run_id: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
    pub ended_at: Option<String>,
}

/// What a create stores: the demonstration and its task (named and described).
#[derive(Debug, Clone)]
pub struct NewDemonstration {
    pub id: String,
    pub owner: KeyId,
    pub task_id: String,
    pub tool_id: String,
    pub task_name: String,
    pub task_description: String,
    pub user_name: Option<String>,
    pub start_url: String,
    pub identity_id: Option<String>,
    /// With an identity: whether the session starts anyway when its sign-in fails.
    pub identity_skip_validation: bool,
    pub max_duration_s: u64,
    pub idle_timeout_s: u64,
    pub holder: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskVersion {
    pub id: String,
    pub task_id: String,
    pub version: u32,
    pub start_url: String,
    /// The workflow's steps (`docs/steps.md`).
    pub steps: serde_json::Value,
    /// Declared parameters (name, type, example).
    pub parameters: serde_json::Value,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tool_id: String,
    pub created_at: String,
}

#[async_trait::async_trait]
pub trait DemonstrationRepo: Send + Sync {
    /// Stores the demonstration (status `recording`) and its task, in one transaction.
    async fn insert_demonstration(&self, new: &NewDemonstration, now: &str) -> DbResult<Demonstration>;
    /// The demonstration, if `owner` may see it (`None`: the holder of the session, or a
    /// share token naming it, asks).
    async fn demonstration(&self, owner: Option<&KeyId>, id: &str) -> DbResult<Option<Demonstration>>;
    async fn list_demonstrations(&self, owner: &KeyId, limit: u32, cursor: Option<&str>) -> DbResult<Page<Demonstration>>;
    /// Moves the status from one of `from` to `to` (with the error, if any); answers
    /// whether this call moved it.
    async fn move_demonstration(&self, id: &str, from: &[DemoStatus], to: DemoStatus, error: Option<&str>, now: &str) -> DbResult<bool>;
    /// Adds the next version of the demonstration's task and completes it (from
    /// `processing`); `None` if it was no longer processing.
    async fn complete_demonstration(&self, id: &str, start_url: &str, steps: &serde_json::Value, parameters: &serde_json::Value, now: &str) -> DbResult<Option<TaskVersion>>;
    /// Sessions `holder` left live when it stopped: failed, with the reason.
    async fn end_held_demonstrations(&self, holder: &str, reason: &str, now: &str) -> DbResult<u32>;
    async fn task(&self, owner: &KeyId, id: &str) -> DbResult<Option<(Task, Vec<TaskVersion>)>>;
    /// The key's tasks, newest first.
    async fn list_tasks(&self, owner: &KeyId, limit: u32, cursor: Option<&str>) -> DbResult<Page<Task>>;
    /// One version of the key's task; `None` for `version_id` is the latest.
    async fn task_version(&self, owner: &KeyId, task_id: &str, version_id: Option<&str>) -> DbResult<Option<(Task, TaskVersion)>>;
    /// The task a tool id names, with its latest version (none before the first
    /// demonstration of it completed).
    async fn tool(&self, owner: &KeyId, tool_id: &str) -> DbResult<Option<(Task, Option<TaskVersion>)>>;
    /// Names the run that holds the session's recording and videos.
    async fn set_demonstration_run(&self, id: &str, run_id: &str) -> DbResult<()>;
}

const SELECT_DEMONSTRATION: &str =
    "SELECT d.*, t.name AS task_name, t.description AS task_description, t.tool_id AS tool_id FROM demonstrations d JOIN tasks t ON t.id = d.task_id";

fn demonstration_from(row: &AnyRow) -> DbResult<Demonstration> {
    let status: String = row.get("status");
    Ok(Demonstration {
        id: row.get("id"),
        owner: row.get("owner"),
        task_id: row.get("task_id"),
        tool_id: row.get("tool_id"),
        task_name: row.get("task_name"),
        task_description: row.get("task_description"),
        user_name: row.get("user_name"),
        start_url: row.get("start_url"),
        identity_id: row.get("identity_id"),
        identity_skip_validation: row.get::<i64, _>("identity_skip_validation") != 0,
        max_duration_s: row.get::<i64, _>("max_duration_s") as u64,
        idle_timeout_s: row.get::<i64, _>("idle_timeout_s") as u64,
        status: DemoStatus::parse(&status).ok_or_else(|| DbError::Corrupt(format!("demonstration status {status:?}")))?,
        task_version_id: row.get("task_version_id"),
        run_id: row.get("run_id"),
        error: row.get("error"),
        created_at: row.get("created_at"),
        ended_at: row.get("ended_at"),
    })
}

fn task_from(row: &AnyRow) -> Task {
    Task { id: row.get("id"), name: row.get("name"), description: row.get("description"), tool_id: row.get("tool_id"), created_at: row.get("created_at") }
}

fn version_from(row: &AnyRow) -> DbResult<TaskVersion> {
    let json = |column: &str| -> DbResult<serde_json::Value> {
        serde_json::from_str(&row.get::<String, _>(column)).map_err(|e| DbError::Corrupt(format!("task version {column}: {e}")))
    };
    Ok(TaskVersion {
        id: row.get("id"),
        task_id: row.get("task_id"),
        version: row.get::<i64, _>("version") as u32,
        start_url: row.get("start_url"),
        steps: json("steps")?,
        parameters: json("parameters")?,
        created_at: row.get("created_at"),
    })
}

#[async_trait::async_trait]
impl DemonstrationRepo for SqlDatabase {
    async fn insert_demonstration(&self, new: &NewDemonstration, now: &str) -> DbResult<Demonstration> {
        let mut tx = self.pool.begin().await?;
        // Another demonstration of a task the key already has adds a version to it. One
        // statement, on the unique (owner, name): two first demonstrations of a name at
        // once make one task (the second updates the description the first wrote).
        let task = format!(
            "INSERT INTO tasks (id, seq, owner, name, description, tool_id, created_at) VALUES ($1, {}, $2, $3, $4, $5, $6)
             ON CONFLICT (owner, name) DO UPDATE SET description = excluded.description
             RETURNING id",
            self.dialect.next_seq("tasks")
        );
        let task_id: String = sqlx::query(&task)
            .bind(&new.task_id)
            .bind(&new.owner)
            .bind(&new.task_name)
            .bind(&new.task_description)
            .bind(&new.tool_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .get("id");
        let demonstration = format!(
            "INSERT INTO demonstrations (id, seq, owner, task_id, user_name, start_url, identity_id, identity_skip_validation, max_duration_s, idle_timeout_s, status, holder, created_at, updated_at)
             VALUES ($1, {}, $2, $3, $4, $5, $6, $7, $8, $9, 'recording', $10, $11, $12)",
            self.dialect.next_seq("demonstrations")
        );
        sqlx::query(&demonstration)
            .bind(&new.id)
            .bind(&new.owner)
            .bind(&task_id)
            .bind(new.user_name.clone())
            .bind(&new.start_url)
            .bind(new.identity_id.clone())
            .bind(new.identity_skip_validation as i64)
            .bind(new.max_duration_s as i64)
            .bind(new.idle_timeout_s as i64)
            .bind(&new.holder)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.demonstration(None, &new.id).await?.ok_or_else(|| DbError::Corrupt("a demonstration just stored is missing".into()))
    }

    async fn list_tasks(&self, owner: &KeyId, limit: u32, cursor: Option<&str>) -> DbResult<Page<Task>> {
        let before_seq = cursor.and_then(decode_cursor).unwrap_or(i64::MAX);
        let rows = sqlx::query("SELECT * FROM tasks WHERE owner = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3")
            .bind(owner)
            .bind(before_seq)
            .bind(limit as i64 + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().take(limit as usize).map(task_from).collect();
        let next_cursor = (rows.len() > limit as usize).then(|| rows.get(limit as usize - 1).map(|r| encode_cursor(r.get("seq")))).flatten();
        Ok(Page { items, next_cursor })
    }

    async fn task_version(&self, owner: &KeyId, task_id: &str, version_id: Option<&str>) -> DbResult<Option<(Task, TaskVersion)>> {
        let Some(row) = sqlx::query("SELECT * FROM tasks WHERE id = $1 AND owner = $2").bind(task_id).bind(owner).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let task = task_from(&row);
        let row = match version_id {
            Some(version_id) => sqlx::query("SELECT * FROM task_versions WHERE task_id = $1 AND id = $2").bind(task_id).bind(version_id).fetch_optional(&self.pool).await?,
            None => sqlx::query("SELECT * FROM task_versions WHERE task_id = $1 ORDER BY version DESC LIMIT 1").bind(task_id).fetch_optional(&self.pool).await?,
        };
        Ok(row.as_ref().map(version_from).transpose()?.map(|version| (task, version)))
    }

    async fn tool(&self, owner: &KeyId, tool_id: &str) -> DbResult<Option<(Task, Option<TaskVersion>)>> {
        let Some(row) = sqlx::query("SELECT * FROM tasks WHERE tool_id = $1 AND owner = $2").bind(tool_id).bind(owner).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let task = task_from(&row);
        let latest = self.task_version(owner, &task.id, None).await?.map(|(_, version)| version);
        Ok(Some((task, latest)))
    }

    async fn demonstration(&self, owner: Option<&KeyId>, id: &str) -> DbResult<Option<Demonstration>> {
        let row = match owner {
            Some(owner) => sqlx::query(&format!("{SELECT_DEMONSTRATION} WHERE d.id = $1 AND d.owner = $2")).bind(id).bind(owner).fetch_optional(&self.pool).await?,
            None => sqlx::query(&format!("{SELECT_DEMONSTRATION} WHERE d.id = $1")).bind(id).fetch_optional(&self.pool).await?,
        };
        row.as_ref().map(demonstration_from).transpose()
    }

    async fn list_demonstrations(&self, owner: &KeyId, limit: u32, cursor: Option<&str>) -> DbResult<Page<Demonstration>> {
        let before_seq = cursor.and_then(decode_cursor).unwrap_or(i64::MAX);
        let rows = sqlx::query(&format!("{SELECT_DEMONSTRATION} WHERE d.owner = $1 AND d.seq < $2 ORDER BY d.seq DESC LIMIT $3"))
            .bind(owner)
            .bind(before_seq)
            .bind(limit as i64 + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().take(limit as usize).map(demonstration_from).collect::<DbResult<Vec<_>>>()?;
        let next_cursor = (rows.len() > limit as usize).then(|| rows.get(limit as usize - 1).map(|r| encode_cursor(r.get("seq")))).flatten();
        Ok(Page { items, next_cursor })
    }

    async fn move_demonstration(&self, id: &str, from: &[DemoStatus], to: DemoStatus, error: Option<&str>, now: &str) -> DbResult<bool> {
        // The statuses are our own words, never a caller's: they are written in.
        let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let ended = if to.is_terminal() { Some(now) } else { None };
        let statement = format!("UPDATE demonstrations SET status = $1, error = $2, updated_at = $3, ended_at = $4 WHERE id = $5 AND status IN ({})", from.join(", "));
        let moved = sqlx::query(&statement).bind(to.as_str()).bind(error.map(str::to_string)).bind(now).bind(ended.map(str::to_string)).bind(id).execute(&self.pool).await?;
        Ok(moved.rows_affected() == 1)
    }

    async fn complete_demonstration(&self, id: &str, start_url: &str, steps: &serde_json::Value, parameters: &serde_json::Value, now: &str) -> DbResult<Option<TaskVersion>> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query("SELECT task_id FROM demonstrations WHERE id = $1 AND status = 'processing'").bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let task_id: String = row.get("task_id");
        let version_id = uuid::Uuid::new_v4().to_string();
        let row = sqlx::query(
            "INSERT INTO task_versions (id, task_id, version, start_url, steps, parameters, created_at)
             SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5, $6 FROM task_versions WHERE task_id = $7
             RETURNING *",
        )
        .bind(&version_id)
        .bind(&task_id)
        .bind(start_url)
        .bind(steps.to_string())
        .bind(parameters.to_string())
        .bind(now)
        .bind(&task_id)
        .fetch_one(&mut *tx)
        .await?;
        let version = version_from(&row)?;
        let completed = sqlx::query("UPDATE demonstrations SET status = 'completed', task_version_id = $1, updated_at = $2, ended_at = $3 WHERE id = $4 AND status = 'processing'")
            .bind(&version_id)
            .bind(now)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if completed.rows_affected() != 1 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(version))
    }

    async fn end_held_demonstrations(&self, holder: &str, reason: &str, now: &str) -> DbResult<u32> {
        let ended = sqlx::query("UPDATE demonstrations SET status = 'failed', error = $1, updated_at = $2, ended_at = $3 WHERE holder = $4 AND status IN ('recording', 'processing')")
            .bind(reason)
            .bind(now)
            .bind(now)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(ended.rows_affected() as u32)
    }

    async fn set_demonstration_run(&self, id: &str, run_id: &str) -> DbResult<()> {
        sqlx::query("UPDATE demonstrations SET run_id = $1 WHERE id = $2").bind(run_id).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn task(&self, owner: &KeyId, id: &str) -> DbResult<Option<(Task, Vec<TaskVersion>)>> {
        let Some(row) = sqlx::query("SELECT * FROM tasks WHERE id = $1 AND owner = $2").bind(id).bind(owner).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let task = task_from(&row);
        let rows = sqlx::query("SELECT * FROM task_versions WHERE task_id = $1 ORDER BY version").bind(id).fetch_all(&self.pool).await?;
        let versions = rows.iter().map(version_from).collect::<DbResult<Vec<_>>>()?;
        Ok(Some((task, versions)))
    }
}
