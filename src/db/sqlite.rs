//! The embedded database: one SQLite file (WAL, so the api reads while a runner writes).
//! Input: a path. Output: a [`Database`]. Invariant: the schema is migrated (sqlx's
//! migrator, over the files of `migrations/sqlite/` built into the binary) before the
//! first query; each migration is applied once, in a transaction.

use super::*;
use sqlx::Row;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use std::path::Path;

/// The schema's history, `migrations/sqlite/NNNN_description.sql`: a new migration is
/// appended, never edited (sqlx refuses a changed checksum).
const MIGRATIONS: [(i64, &str, &str); 4] = [
    (1, "init", include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, "key lifecycle", include_str!("../../migrations/sqlite/0002_key_lifecycle.sql")),
    (3, "templates", include_str!("../../migrations/sqlite/0003_templates.sql")),
    (4, "render jobs", include_str!("../../migrations/sqlite/0004_render_jobs.sql")),
];

/// The migrations as sqlx's migrator reads them, from the binary rather than the disk.
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> futures::future::BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| Migration::new(version, description.into(), MigrationType::Simple, sql.into(), false))
                .collect())
        })
    }
}

pub struct SqliteDatabase {
    pub(super) pool: SqlitePool,
}

impl SqliteDatabase {
    /// The key `query` finds by `value`, if it is neither revoked nor expired now
    /// (`query` binds the value, then the time).
    async fn live_key(&self, query: &'static str, value: &str) -> DbResult<Option<ApiKey>> {
        let row = sqlx::query(query).bind(value).bind(now()).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| ApiKey { id: r.get("id"), label: r.get("label") }))
    }
}

impl SqliteDatabase {
    pub async fn open(path: &Path) -> DbResult<SqliteDatabase> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Corrupt(format!("{}: {e}", parent.display())))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Migrator::new(Embedded).await?.run(&pool).await?;
        Ok(SqliteDatabase { pool })
    }
}

fn run_from(row: &SqliteRow) -> DbResult<Run> {
    let status: String = row.get("status");
    let options: String = row.get("options");
    let prompt: Option<String> = row.get("awaiting_prompt");
    let code: Option<String> = row.get("error_code");
    Ok(Run {
        id: row.get("id"),
        owner: row.get("owner"),
        status: RunStatus::parse(&status).ok_or_else(|| DbError::Corrupt(format!("unknown run status {status:?}")))?,
        progress_stage: row.get::<Option<String>, _>("progress_stage").as_deref().and_then(Stage::parse),
        target_url: row.get("target_url"),
        goal: row.get("goal"),
        options: serde_json::from_str(&options).map_err(|e| DbError::Corrupt(format!("run options: {e}")))?,
        awaiting_input: prompt.map(|prompt| AwaitingInput {
            prompt,
            requested_at: row.get::<Option<String>, _>("awaiting_requested").unwrap_or_default(),
            expires_at: row.get::<Option<String>, _>("awaiting_expires").unwrap_or_default(),
        }),
        // A code this version does not know (written by a newer one) still fails the run.
        error: code.map(|code| RunError { code: ErrorCode::parse(&code).unwrap_or(ErrorCode::Internal), message: row.get::<Option<String>, _>("error_message").unwrap_or_default() }),
        recording_started: row.get::<i64, _>("recording_started") != 0,
        cancel_requested: row.get::<i64, _>("cancel_requested") != 0,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
    })
}

fn artifact_from(row: &SqliteRow) -> Artifact {
    Artifact {
        id: row.get("id"),
        run_id: row.get("run_id"),
        name: row.get("name"),
        content_type: row.get("content_type"),
        size_bytes: row.get("size_bytes"),
        sha256: row.get("sha256"),
        storage_key: row.get("storage_key"),
        created_at: row.get("created_at"),
        generation: row.get::<i64, _>("generation") as u32,
        render_job_id: row.get("render_job_id"),
    }
}

fn credential_from(row: &SqliteRow) -> Credential {
    Credential {
        id: row.get("id"),
        owner: row.get("owner"),
        label: row.get("label"),
        domain: row.get("domain"),
        email: row.get("email"),
        password_sealed: row.get("password_sealed"),
        is_default: row.get::<i64, _>("is_default") != 0,
        created_at: row.get("created_at"),
    }
}

#[async_trait::async_trait]
impl KeyRepo for SqliteDatabase {
    async fn create_key(&self, label: &str, key_hash: &str, expires_at: Option<&str>) -> DbResult<ApiKey> {
        let id = new_id();
        sqlx::query("INSERT INTO api_keys (id, label, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&id)
            .bind(label)
            .bind(key_hash)
            .bind(now())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(ApiKey { id, label: label.to_string() })
    }

    async fn key_by_hash(&self, key_hash: &str) -> DbResult<Option<ApiKey>> {
        self.live_key("SELECT id, label FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", key_hash).await
    }

    async fn key_by_id(&self, id: &str) -> DbResult<Option<ApiKey>> {
        self.live_key("SELECT id, label FROM api_keys WHERE id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", id).await
    }

    async fn list_keys(&self) -> DbResult<Vec<KeyInfo>> {
        let rows = sqlx::query("SELECT id, label, created_at, expires_at, revoked_at FROM api_keys ORDER BY created_at, id").fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| KeyInfo {
                id: r.get("id"),
                label: r.get("label"),
                created_at: r.get("created_at"),
                expires_at: r.get("expires_at"),
                revoked_at: r.get("revoked_at"),
            })
            .collect())
    }

    async fn revoke_key(&self, id: &str, at: &str) -> DbResult<bool> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?").bind(at).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait::async_trait]
impl RunRepo for SqliteDatabase {
    async fn insert_run(&self, run: &Run) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO runs (id, seq, owner, status, progress_stage, target_url, goal, options, created_at, updated_at) \
             VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&run.id)
        .bind(&run.owner)
        .bind(run.status.as_str())
        .bind(run.progress_stage.map(Stage::as_str))
        .bind(&run.target_url)
        .bind(&run.goal)
        .bind(run.options.to_string())
        .bind(&run.created_at)
        .bind(&run.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn run(&self, owner: &str, id: &str) -> DbResult<Option<Run>> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = ? AND owner = ?").bind(id).bind(owner).fetch_optional(&self.pool).await?;
        row.as_ref().map(run_from).transpose()
    }

    async fn run_by_id(&self, id: &str) -> DbResult<Option<Run>> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(run_from).transpose()
    }

    async fn list_runs(&self, owner: &str, status: Option<RunStatus>, limit: u32, cursor: Option<&str>) -> DbResult<Page<Run>> {
        let before_seq = cursor.and_then(decode_cursor).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT * FROM runs WHERE owner = ? AND (? IS NULL OR status = ?) AND seq < ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(owner)
        .bind(status.map(RunStatus::as_str))
        .bind(status.map(RunStatus::as_str))
        .bind(before_seq)
        .bind(limit as i64 + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows.iter().map(run_from).collect::<DbResult<Vec<_>>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            rows.get(limit as usize - 1).map(|r| encode_cursor(r.get("seq")))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn claim_next_run(&self, now: &str, max_active_per_owner: u32) -> DbResult<Option<Run>> {
        // Round-robin across keys in one statement (SQLite serializes writers, so two
        // claimers never take the same run): per queued run, its key's runs at work and
        // the last time its key had a run started.
        let row = sqlx::query(
            "UPDATE runs SET status = 'running', started_at = ?, updated_at = ? \
             WHERE id = ( \
               SELECT q.id FROM runs q \
               LEFT JOIN (SELECT owner, SUM(status IN ('running', 'awaiting_input')) AS active, MAX(started_at) AS served \
                          FROM runs GROUP BY owner) k ON k.owner = q.owner \
               WHERE q.status = 'queued' AND COALESCE(k.active, 0) < ? \
               ORDER BY COALESCE(k.active, 0), COALESCE(k.served, ''), q.seq LIMIT 1) \
             AND status = 'queued' RETURNING *",
        )
        .bind(now)
        .bind(now)
        .bind(max_active_per_owner.max(1) as i64)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from).transpose()
    }

    async fn queued_runs(&self, owner: &str) -> DbResult<u32> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE owner = ? AND status = 'queued'").bind(owner).fetch_one(&self.pool).await?;
        Ok(count as u32)
    }

    async fn save_run_progress(&self, run: &Run) -> DbResult<bool> {
        let (prompt, requested, expires) = match &run.awaiting_input {
            Some(a) => (Some(a.prompt.as_str()), Some(a.requested_at.as_str()), Some(a.expires_at.as_str())),
            None => (None, None, None),
        };
        let done = sqlx::query(
            "UPDATE runs SET status = ?, progress_stage = ?, awaiting_prompt = ?, awaiting_requested = ?, awaiting_expires = ?, \
             error_code = ?, error_message = ?, recording_started = ?, updated_at = ?, started_at = ?, finished_at = ? \
             WHERE id = ? AND status NOT IN ('succeeded', 'failed', 'cancelled')",
        )
        .bind(run.status.as_str())
        .bind(run.progress_stage.map(Stage::as_str))
        .bind(prompt)
        .bind(requested)
        .bind(expires)
        .bind(run.error.as_ref().map(|e| e.code.as_str()))
        .bind(run.error.as_ref().map(|e| e.message.as_str()))
        .bind(run.recording_started as i64)
        .bind(&run.updated_at)
        .bind(&run.started_at)
        .bind(&run.finished_at)
        .bind(&run.id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn request_cancel(&self, owner: &str, id: &str, now: &str) -> DbResult<Option<RunStatus>> {
        let mut tx = self.pool.begin().await?;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM runs WHERE id = ? AND owner = ?").bind(id).bind(owner).fetch_optional(&mut *tx).await?;
        let Some(status) = status.as_deref().and_then(RunStatus::parse) else {
            return Ok(None);
        };
        match status {
            RunStatus::Queued => {
                sqlx::query(
                    "UPDATE runs SET status = 'cancelled', cancel_requested = 1, progress_stage = NULL, updated_at = ?, finished_at = ? WHERE id = ?",
                )
                .bind(now)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            RunStatus::Running | RunStatus::AwaitingInput => {
                sqlx::query("UPDATE runs SET cancel_requested = 1, updated_at = ? WHERE id = ?").bind(now).bind(id).execute(&mut *tx).await?;
            }
            _ => {}
        }
        tx.commit().await?;
        Ok(Some(status))
    }

    async fn recover_interrupted(&self, now: &str) -> DbResult<Recovered> {
        let mut tx = self.pool.begin().await?;
        let requeued: Vec<String> = sqlx::query_scalar(
            "UPDATE runs SET status = 'queued', progress_stage = NULL, awaiting_prompt = NULL, awaiting_requested = NULL, \
             awaiting_expires = NULL, started_at = NULL, updated_at = ? \
             WHERE status IN ('running', 'awaiting_input') AND recording_started = 0 AND cancel_requested = 0 RETURNING id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let failed: Vec<String> = sqlx::query_scalar(
            "UPDATE runs SET status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'failed' END, \
             error_code = CASE WHEN cancel_requested = 1 THEN NULL ELSE 'interrupted' END, \
             error_message = CASE WHEN cancel_requested = 1 THEN NULL ELSE 'the service stopped while this run was recording or rendering; create it again' END, \
             progress_stage = NULL, awaiting_prompt = NULL, awaiting_requested = NULL, awaiting_expires = NULL, \
             updated_at = ?, finished_at = ? WHERE status IN ('running', 'awaiting_input') RETURNING id",
        )
        .bind(now)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Recovered { requeued, failed })
    }

}

#[async_trait::async_trait]
impl ArtifactRepo for SqliteDatabase {
    async fn insert_artifact(&self, a: &Artifact) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO artifacts (id, run_id, name, content_type, size_bytes, sha256, storage_key, created_at, generation, render_job_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, name, generation) DO UPDATE SET id = excluded.id, content_type = excluded.content_type, size_bytes = excluded.size_bytes, \
             sha256 = excluded.sha256, storage_key = excluded.storage_key, created_at = excluded.created_at",
        )
        .bind(&a.id)
        .bind(&a.run_id)
        .bind(&a.name)
        .bind(&a.content_type)
        .bind(a.size_bytes)
        .bind(&a.sha256)
        .bind(&a.storage_key)
        .bind(&a.created_at)
        .bind(a.generation as i64)
        .bind(&a.render_job_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn artifacts(&self, run_id: &str) -> DbResult<Vec<Artifact>> {
        // A re-render's generation is listed only once its task succeeded: a render cut
        // short (a crash, a cancel) never shadows the generation before it.
        let rows = sqlx::query(
            "SELECT * FROM artifacts a WHERE run_id = ? AND (generation = 0 OR EXISTS (
               SELECT 1 FROM render_tasks t WHERE t.run_id = a.run_id AND t.generation = a.generation AND t.status = 'succeeded'))
             ORDER BY generation, created_at, name",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(artifact_from).collect())
    }

    async fn artifact(&self, id: &str) -> DbResult<Option<(Artifact, String)>> {
        let row = sqlx::query("SELECT artifacts.*, runs.owner AS run_owner FROM artifacts JOIN runs ON runs.id = artifacts.run_id WHERE artifacts.id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (artifact_from(&r), r.get("run_owner"))))
    }

}

#[async_trait::async_trait]
impl CredentialRepo for SqliteDatabase {
    async fn insert_credential(&self, c: &Credential) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        if c.is_default {
            sqlx::query("UPDATE credentials SET is_default = 0 WHERE owner = ? AND domain = ?").bind(&c.owner).bind(&c.domain).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO credentials (id, owner, label, domain, email, password_sealed, is_default, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(&c.owner)
        .bind(&c.label)
        .bind(&c.domain)
        .bind(&c.email)
        .bind(&c.password_sealed)
        .bind(c.is_default as i64)
        .bind(&c.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn credentials(&self, owner: &str) -> DbResult<Vec<Credential>> {
        let rows = sqlx::query("SELECT * FROM credentials WHERE owner = ? ORDER BY created_at DESC, id DESC").bind(owner).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(credential_from).collect())
    }

    async fn credential(&self, owner: &str, id: &str) -> DbResult<Option<Credential>> {
        let row = sqlx::query("SELECT * FROM credentials WHERE owner = ? AND id = ?").bind(owner).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(credential_from))
    }

    async fn update_credential(&self, c: &Credential) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        if c.is_default {
            sqlx::query("UPDATE credentials SET is_default = 0 WHERE owner = ? AND domain = ? AND id != ?")
                .bind(&c.owner)
                .bind(&c.domain)
                .bind(&c.id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE credentials SET label = ?, domain = ?, email = ?, password_sealed = ?, is_default = ? WHERE owner = ? AND id = ?")
            .bind(&c.label)
            .bind(&c.domain)
            .bind(&c.email)
            .bind(&c.password_sealed)
            .bind(c.is_default as i64)
            .bind(&c.owner)
            .bind(&c.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_default_credential(&self, owner: &str, id: &str) -> DbResult<Option<Credential>> {
        let Some(mut credential) = self.credential(owner, id).await? else { return Ok(None) };
        credential.is_default = true;
        self.update_credential(&credential).await?;
        Ok(Some(credential))
    }

    async fn delete_credential(&self, owner: &str, id: &str) -> DbResult<bool> {
        let done = sqlx::query("DELETE FROM credentials WHERE owner = ? AND id = ?").bind(owner).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn any_stored_password(&self) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE password_sealed IS NOT NULL").fetch_one(&self.pool).await?;
        Ok(n > 0)
    }

}

#[async_trait::async_trait]
impl FeedbackRepo for SqliteDatabase {
    async fn insert_feedback(&self, owner: &str, id: &str, feedback: &str, run_ids: &[String], now: &str) -> DbResult<()> {
        sqlx::query("INSERT INTO feedback (id, owner, feedback, run_ids, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(owner)
            .bind(feedback)
            .bind(serde_json::to_string(run_ids).unwrap_or_default())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
