//! The SQL database behind every repository: SQLite embedded, or PostgreSQL shared by many
//! processes, through one code path (see [`super::connect`]). Input: rows from the api, the
//! runners and the workers. Output: the same rows, read back by owner. Invariant: every
//! conditional update states its condition in SQL, so two processes sharing the database
//! cannot both win a race (a claim, a cancel, a finish).

use super::connect::Dialect;
use super::*;
use sqlx::Row;
use sqlx::AnyPool;
use sqlx::any::AnyRow;

pub struct SqlDatabase {
    pub(super) pool: AnyPool,
    pub(super) dialect: Dialect,
    /// PostgreSQL's URL, for the one connection that listens for wake-ups
    /// ([`SqlDatabase::relay_wakeups`]); `None` on SQLite.
    pub(super) listen_url: Option<String>,
}

impl SqlDatabase {
    /// The key `query` finds by `value`, if it is neither revoked nor expired now
    /// (`query` binds the value, then the time).
    async fn live_key(&self, query: &'static str, value: &str) -> DbResult<Option<ApiKey>> {
        let row = sqlx::query(query).bind(value).bind(now()).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| ApiKey { id: r.get("id"), label: r.get("label") }))
    }
}

fn run_from(row: &AnyRow) -> DbResult<Run> {
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

fn artifact_from(row: &AnyRow) -> Artifact {
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

fn credential_from(row: &AnyRow) -> Credential {
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
impl KeyRepo for SqlDatabase {
    async fn create_key(&self, label: &str, key_hash: &str, expires_at: Option<&str>) -> DbResult<ApiKey> {
        let id = new_id();
        sqlx::query("INSERT INTO api_keys (id, label, key_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(label)
            .bind(key_hash)
            .bind(now())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(ApiKey { id: KeyId::new(id), label: label.to_string() })
    }

    async fn key_by_hash(&self, key_hash: &str) -> DbResult<Option<ApiKey>> {
        self.live_key("SELECT id, label FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)", key_hash).await
    }

    async fn key_by_id(&self, id: &KeyId) -> DbResult<Option<ApiKey>> {
        self.live_key("SELECT id, label FROM api_keys WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)", id.as_str()).await
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

    async fn revoke_key(&self, id: &KeyId, at: &str) -> DbResult<bool> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2").bind(at).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Takes key `owner`'s lock for the rest of the transaction: a write to its row (that
/// changes nothing), which PostgreSQL holds as a row lock and SQLite as its one writer
/// lock until commit. Creations that count the key's queue before adding to it take it
/// first, so two of them never both see room for one.
pub(super) async fn hold_key(tx: &mut sqlx::Transaction<'_, sqlx::Any>, owner: &KeyId) -> DbResult<()> {
    sqlx::query("UPDATE api_keys SET revoked_at = revoked_at WHERE id = $1").bind(owner).execute(&mut **tx).await?;
    Ok(())
}

#[async_trait::async_trait]
impl RunRepo for SqlDatabase {
    async fn insert_run(&self, run: &Run) -> DbResult<()> {
        self.insert_run_within(run, &AdmissionChecks::NONE).await.map(|_| ())
    }

    async fn insert_run_within(&self, run: &Run, checks: &AdmissionChecks<'_>) -> DbResult<Admission> {
        let mut tx = self.pool.begin().await?;
        hold_key(&mut tx, &run.owner).await?;
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE owner = $1 AND status = 'queued'").bind(&run.owner).fetch_one(&mut *tx).await?;
        if queued >= i64::from(checks.max_waiting) {
            return Ok(Admission::QueueFull);
        }
        if let Some(need) = checks.template
            && !super::templates::template_present(&mut tx, &run.owner, need).await?
        {
            return Ok(Admission::TemplateGone);
        }
        let insert = format!(
            "INSERT INTO runs (id, seq, owner, status, progress_stage, target_url, goal, options, created_at, updated_at) \
             VALUES ($1, {}, $2, $3, $4, $5, $6, $7, $8, $9)",
            self.dialect.next_seq("runs")
        );
        sqlx::query(&insert)
            .bind(&run.id)
            .bind(&run.owner)
            .bind(run.status.as_str())
            .bind(run.progress_stage.map(Stage::as_str))
            .bind(&run.target_url)
            .bind(&run.goal)
            .bind(run.options.to_string())
            .bind(&run.created_at)
            .bind(&run.updated_at)
            .execute(&mut *tx)
            .await?;
        super::wakeups::announce(&mut tx, self.dialect, super::wakeups::Queued::Run).await?;
        tx.commit().await?;
        Ok(Admission::Stored)
    }

    async fn run(&self, owner: &KeyId, id: &str) -> DbResult<Option<Run>> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = $1 AND owner = $2").bind(id).bind(owner).fetch_optional(&self.pool).await?;
        row.as_ref().map(run_from).transpose()
    }

    async fn run_by_id(&self, id: &str) -> DbResult<Option<Run>> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(run_from).transpose()
    }

    async fn list_runs(&self, owner: &KeyId, status: Option<RunStatus>, limit: u32, cursor: Option<&str>) -> DbResult<Page<Run>> {
        let before_seq = cursor.and_then(decode_cursor).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT * FROM runs WHERE owner = $1 AND ($2 IS NULL OR status = $3) AND seq < $4 ORDER BY seq DESC LIMIT $5",
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

    async fn claim_next_run(&self, now: &str, max_active_per_owner: u32, holder: &str, lease_until: &str) -> DbResult<Option<Run>> {
        // Round-robin across keys in one statement: per queued run, its key's runs at work
        // and the last time its key had a run started. Two claimers never take the same
        // run: SQLite serializes writers, and on PostgreSQL the pick skips rows another
        // claimer has locked while the update re-checks that the run is still queued.
        let claim = format!(
            "UPDATE runs SET status = 'running', started_at = $1, updated_at = $2, lease_owner = $4, lease_expires = $5 \
             WHERE id = ( \
               SELECT q.id FROM runs q \
               LEFT JOIN (SELECT owner, SUM(CASE WHEN status IN ('running', 'awaiting_input') THEN 1 ELSE 0 END) AS active, MAX(started_at) AS served \
                          FROM runs GROUP BY owner) k ON k.owner = q.owner \
               WHERE q.status = 'queued' AND COALESCE(k.active, 0) < $3 \
               ORDER BY COALESCE(k.active, 0), COALESCE(k.served, ''), q.seq LIMIT 1{}) \
             AND status = 'queued' RETURNING *",
            self.dialect.skip_locked("q")
        );
        let row = sqlx::query(&claim)
        .bind(now)
        .bind(now)
        .bind(max_active_per_owner.max(1) as i64)
        .bind(holder)
        .bind(lease_until)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from).transpose()
    }

    async fn queued_runs(&self, owner: &KeyId) -> DbResult<u32> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE owner = $1 AND status = 'queued'").bind(owner).fetch_one(&self.pool).await?;
        Ok(count as u32)
    }

    async fn save_run_progress(&self, run: &Run, holder: &str) -> DbResult<bool> {
        let (prompt, requested, expires) = match &run.awaiting_input {
            Some(a) => (Some(a.prompt.as_str()), Some(a.requested_at.as_str()), Some(a.expires_at.as_str())),
            None => (None, None, None),
        };
        let done = sqlx::query(
            "UPDATE runs SET status = $1, progress_stage = $2, awaiting_prompt = $3, awaiting_requested = $4, awaiting_expires = $5, \
             error_code = $6, error_message = $7, recording_started = $8, updated_at = $9, started_at = $10, finished_at = $11 \
             WHERE id = $12 AND lease_owner = $13 AND status NOT IN ('succeeded', 'failed', 'cancelled')",
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
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn request_cancel(&self, owner: &KeyId, id: &str, now: &str) -> DbResult<Option<RunStatus>> {
        // Each step is one conditional update, so a claim (or the run ending) between them,
        // from this process or another, is seen rather than overwritten.
        let cancelled = sqlx::query(
            "UPDATE runs SET status = 'cancelled', cancel_requested = 1, progress_stage = NULL, updated_at = $1, finished_at = $2 \
             WHERE id = $3 AND owner = $4 AND status = 'queued'",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        if cancelled.rows_affected() == 1 {
            return Ok(Some(RunStatus::Queued));
        }
        let flagged: Option<String> = sqlx::query_scalar(
            "UPDATE runs SET cancel_requested = 1, updated_at = $1 WHERE id = $2 AND owner = $3 AND status IN ('running', 'awaiting_input') RETURNING status",
        )
        .bind(now)
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        let status = match flagged {
            Some(status) => Some(status),
            None => sqlx::query_scalar("SELECT status FROM runs WHERE id = $1 AND owner = $2").bind(id).bind(owner).fetch_optional(&self.pool).await?,
        };
        Ok(status.as_deref().and_then(RunStatus::parse))
    }

    async fn recover_interrupted(&self, now: &str, previous: Option<&str>) -> DbResult<Recovered> {
        // A run is left behind when no live process holds it: its lease ran out (or it has
        // none, from before leases), or `previous`, the holder now starting again, held it.
        const LEFT_BEHIND: &str = "status IN ('running', 'awaiting_input') AND (lease_expires IS NULL OR lease_expires <= $1 OR lease_owner = $2)";
        let mut tx = self.pool.begin().await?;
        let requeue = format!(
            "UPDATE runs SET status = 'queued', progress_stage = NULL, awaiting_prompt = NULL, awaiting_requested = NULL, \
             awaiting_expires = NULL, started_at = NULL, lease_owner = NULL, lease_expires = NULL, updated_at = $1 \
             WHERE {LEFT_BEHIND} AND recording_started = 0 AND cancel_requested = 0 RETURNING id"
        );
        let requeued: Vec<String> = sqlx::query_scalar(&requeue).bind(now).bind(previous).fetch_all(&mut *tx).await?;
        let fail = format!(
            "UPDATE runs SET status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'failed' END, \
             error_code = CASE WHEN cancel_requested = 1 THEN NULL ELSE 'interrupted' END, \
             error_message = CASE WHEN cancel_requested = 1 THEN NULL ELSE 'the service stopped while this run was recording or rendering; create it again' END, \
             progress_stage = NULL, awaiting_prompt = NULL, awaiting_requested = NULL, awaiting_expires = NULL, \
             lease_owner = NULL, lease_expires = NULL, updated_at = $1, finished_at = $1 WHERE {LEFT_BEHIND} RETURNING id"
        );
        let failed: Vec<String> = sqlx::query_scalar(&fail).bind(now).bind(previous).fetch_all(&mut *tx).await?;
        sqlx::query("DELETE FROM run_inputs WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Recovered { requeued, failed })
    }
}

#[async_trait::async_trait]
impl ArtifactRepo for SqlDatabase {
    async fn insert_artifact(&self, a: &Artifact) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO artifacts (id, run_id, name, content_type, size_bytes, sha256, storage_key, created_at, generation, render_job_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (run_id, name, generation) DO UPDATE SET id = excluded.id, content_type = excluded.content_type, size_bytes = excluded.size_bytes, \
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
            "SELECT * FROM artifacts a WHERE run_id = $1 AND (generation = 0 OR EXISTS (
               SELECT 1 FROM render_tasks t WHERE t.run_id = a.run_id AND t.generation = a.generation AND t.status = 'succeeded'))
             ORDER BY generation, created_at, name",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(artifact_from).collect())
    }

    async fn artifact(&self, id: &str) -> DbResult<Option<(Artifact, KeyId)>> {
        let row = sqlx::query("SELECT artifacts.*, runs.owner AS run_owner FROM artifacts JOIN runs ON runs.id = artifacts.run_id WHERE artifacts.id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (artifact_from(&r), r.get("run_owner"))))
    }

}

#[async_trait::async_trait]
impl CredentialRepo for SqlDatabase {
    async fn insert_credential(&self, c: &Credential) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        if c.is_default {
            sqlx::query("UPDATE credentials SET is_default = 0 WHERE owner = $1 AND domain = $2").bind(&c.owner).bind(&c.domain).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO credentials (id, owner, label, domain, email, password_sealed, is_default, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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

    async fn credentials(&self, owner: &KeyId) -> DbResult<Vec<Credential>> {
        let rows = sqlx::query("SELECT * FROM credentials WHERE owner = $1 ORDER BY created_at DESC, id DESC").bind(owner).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(credential_from).collect())
    }

    async fn credential(&self, owner: &KeyId, id: &str) -> DbResult<Option<Credential>> {
        let row = sqlx::query("SELECT * FROM credentials WHERE owner = $1 AND id = $2").bind(owner).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(credential_from))
    }

    async fn update_credential(&self, c: &Credential) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        if c.is_default {
            sqlx::query("UPDATE credentials SET is_default = 0 WHERE owner = $1 AND domain = $2 AND id != $3")
                .bind(&c.owner)
                .bind(&c.domain)
                .bind(&c.id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE credentials SET label = $1, domain = $2, email = $3, password_sealed = $4, is_default = $5 WHERE owner = $6 AND id = $7")
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

    async fn set_default_credential(&self, owner: &KeyId, id: &str) -> DbResult<Option<Credential>> {
        let Some(mut credential) = self.credential(owner, id).await? else { return Ok(None) };
        credential.is_default = true;
        self.update_credential(&credential).await?;
        Ok(Some(credential))
    }

    async fn delete_credential(&self, owner: &KeyId, id: &str) -> DbResult<bool> {
        let done = sqlx::query("DELETE FROM credentials WHERE owner = $1 AND id = $2").bind(owner).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn any_stored_password(&self) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM credentials WHERE password_sealed IS NOT NULL) + (SELECT COUNT(*) FROM identities)",
        ).fetch_one(&self.pool).await?;
        Ok(n > 0)
    }

}

#[async_trait::async_trait]
impl FeedbackRepo for SqlDatabase {
    async fn insert_feedback(&self, owner: &KeyId, id: &str, feedback: &str, run_ids: &[String], now: &str) -> DbResult<()> {
        sqlx::query("INSERT INTO feedback (id, owner, feedback, run_ids, created_at) VALUES ($1, $2, $3, $4, $5)")
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
