//! Uploaded intro templates: every upload of a name is a new version, never changed
//! afterwards. Input: a checked template's files from the api. Output: the files of a
//! version, read back by owner. Invariant: a version number is given once per owner and
//! name, deleted versions included (a plan that recorded `name@3` can never meet another
//! `name@3`), and another key's templates read as missing; a version is deleted only
//! under its key's lock, the lock that storing a run or a job that names it takes, so no
//! unfinished run or job is ever left naming a deleted version.

use super::sql::SqlDatabase;
use super::{DbError, DbResult, KeyId};
use base64::Engine;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// One version of an uploaded template.
#[derive(Debug, Clone)]
pub struct StoredTemplate {
    pub id: String,
    pub owner: KeyId,
    pub name: String,
    pub version: u32,
    pub description: String,
    /// `manifest.json`, `scene.svg`, `assets/NAME`; empty in listings.
    pub files: HashMap<String, Vec<u8>>,
    pub size_bytes: i64,
    pub created_at: String,
}

#[async_trait::async_trait]
pub trait TemplateRepo: Send + Sync {
    /// Stores `files` as the next version of `owner`'s template `name`; answers the row.
    async fn insert_template(&self, owner: &KeyId, name: &str, description: &str, files: &HashMap<String, Vec<u8>>, now: &str) -> DbResult<StoredTemplate>;
    /// Version `version` of `name` (the latest when `None`), with its files, if `owner`
    /// has it and it is not deleted.
    async fn template(&self, owner: &KeyId, name: &str, version: Option<u32>) -> DbResult<Option<StoredTemplate>>;
    /// `owner`'s versions that are not deleted (of `name`, or of every name), without
    /// files, by name then version.
    async fn template_versions(&self, owner: &KeyId, name: Option<&str>) -> DbResult<Vec<StoredTemplate>>;
    /// Deletes `owner`'s versions of `name` (`asked`, or all) that `pins` does not keep
    /// (their files go, their numbers stay taken). One step under the key's lock: `pins`
    /// is given the id and options of each of the key's runs and jobs that has not ended,
    /// read inside that step, so a run or job stored at the same moment is either among
    /// them or finds its version gone ([`TemplateNeed`]).
    async fn delete_unpinned_template_versions(&self, owner: &KeyId, name: &str, asked: Option<u32>, now: &str, pins: &PinFinder<'_>) -> DbResult<TemplateDeletion>;
}

/// Given the unfinished runs' and jobs' `(id, options)` and the latest version, the
/// versions they may still draw, each with the ids that need it.
pub type PinFinder<'a> = dyn Fn(&[(String, serde_json::Value)], Option<u32>) -> HashMap<u32, Vec<String>> + Send + Sync + 'a;

/// What a delete found and did.
#[derive(Debug, Default, PartialEq)]
pub struct TemplateDeletion {
    /// The versions that existed (not deleted) when the delete began.
    pub existing: Vec<u32>,
    pub deleted: Vec<u32>,
    /// Versions asked for and kept, with the runs and jobs that need them.
    pub kept: Vec<(u32, Vec<String>)>,
}

/// An uploaded template a new run or job will draw: `version`, or the latest when
/// `None`. Storing the run or job checks it is still there, under the key's lock.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateNeed {
    pub name: String,
    pub version: Option<u32>,
}

/// Whether `need` is still there for `owner`, read inside `tx` (which holds the key's lock).
pub(super) async fn template_present(tx: &mut sqlx::Transaction<'_, sqlx::Any>, owner: &KeyId, need: &TemplateNeed) -> DbResult<bool> {
    let versions = live_versions(tx, owner, &need.name).await?;
    Ok(match need.version {
        Some(version) => versions.contains(&version),
        None => !versions.is_empty(),
    })
}

/// `owner`'s versions of `name` that are not deleted, oldest first, read inside `tx`.
async fn live_versions(tx: &mut sqlx::Transaction<'_, sqlx::Any>, owner: &KeyId, name: &str) -> DbResult<Vec<u32>> {
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM templates WHERE owner = $1 AND name = $2 AND deleted_at IS NULL ORDER BY version")
        .bind(owner)
        .bind(name)
        .fetch_all(&mut **tx)
        .await?;
    Ok(versions.into_iter().map(|v| v as u32).collect())
}

fn encode_files(files: &HashMap<String, Vec<u8>>) -> String {
    let encoded: serde_json::Map<String, serde_json::Value> =
        files.iter().map(|(name, bytes)| (name.clone(), base64::engine::general_purpose::STANDARD.encode(bytes).into())).collect();
    serde_json::Value::Object(encoded).to_string()
}

fn decode_files(text: &str) -> DbResult<HashMap<String, Vec<u8>>> {
    let corrupt = |reason: String| DbError::Corrupt(format!("template files: {reason}"));
    let map: HashMap<String, String> = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    map.into_iter()
        .map(|(name, encoded)| base64::engine::general_purpose::STANDARD.decode(encoded).map(|bytes| (name, bytes)).map_err(|e| corrupt(e.to_string())))
        .collect()
}

fn template_from(row: &AnyRow, with_files: bool) -> DbResult<StoredTemplate> {
    Ok(StoredTemplate {
        id: row.get("id"),
        owner: row.get("owner"),
        name: row.get("name"),
        version: row.get::<i64, _>("version") as u32,
        description: row.get("description"),
        files: if with_files { decode_files(&row.get::<String, _>("files"))? } else { HashMap::new() },
        size_bytes: row.get("size_bytes"),
        created_at: row.get("created_at"),
    })
}

#[async_trait::async_trait]
impl TemplateRepo for SqlDatabase {
    async fn insert_template(&self, owner: &KeyId, name: &str, description: &str, files: &HashMap<String, Vec<u8>>, now: &str) -> DbResult<StoredTemplate> {
        let size: usize = files.values().map(Vec::len).sum();
        // One statement picks the number and inserts the row, so two uploads of a name
        // at once cannot take the same number (and UNIQUE holds it if they tried).
        let row = sqlx::query(
            "INSERT INTO templates (id, owner, name, version, description, files, size_bytes, created_at)
             SELECT $1, $2, $3, COALESCE(MAX(version), 0) + 1, $4, $5, $6, $7 FROM templates WHERE owner = $8 AND name = $9
             RETURNING id, owner, name, version, description, files, size_bytes, created_at",
        )
        .bind(super::new_id())
        .bind(owner)
        .bind(name)
        .bind(description)
        .bind(encode_files(files))
        .bind(size as i64)
        .bind(now)
        .bind(owner)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        template_from(&row, true)
    }

    async fn template(&self, owner: &KeyId, name: &str, version: Option<u32>) -> DbResult<Option<StoredTemplate>> {
        let row = match version {
            Some(version) => {
                sqlx::query("SELECT * FROM templates WHERE owner = $1 AND name = $2 AND version = $3 AND deleted_at IS NULL")
                    .bind(owner)
                    .bind(name)
                    .bind(version as i64)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM templates WHERE owner = $1 AND name = $2 AND deleted_at IS NULL ORDER BY version DESC LIMIT 1")
                    .bind(owner)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        row.as_ref().map(|row| template_from(row, true)).transpose()
    }

    async fn template_versions(&self, owner: &KeyId, name: Option<&str>) -> DbResult<Vec<StoredTemplate>> {
        let rows = sqlx::query(
            "SELECT id, owner, name, version, description, size_bytes, created_at FROM templates
             WHERE owner = $1 AND ($2 IS NULL OR name = $3) AND deleted_at IS NULL ORDER BY name, version",
        )
        .bind(owner)
        .bind(name)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| template_from(row, false)).collect()
    }

    async fn delete_unpinned_template_versions(&self, owner: &KeyId, name: &str, asked: Option<u32>, now: &str, pins: &PinFinder<'_>) -> DbResult<TemplateDeletion> {
        let mut tx = self.pool.begin().await?;
        super::sql::hold_key(&mut tx, owner).await?;
        let existing = live_versions(&mut tx, owner, name).await?;
        let pinned = pins(&unfinished_options(&mut tx, owner).await?, existing.last().copied());
        let mut outcome = TemplateDeletion { existing: existing.clone(), ..TemplateDeletion::default() };
        for version in existing.into_iter().filter(|v| asked.is_none_or(|asked| asked == *v)) {
            if let Some(users) = pinned.get(&version) {
                outcome.kept.push((version, users.clone()));
                continue;
            }
            sqlx::query("UPDATE templates SET files = '{}', size_bytes = 0, deleted_at = $1 WHERE owner = $2 AND name = $3 AND version = $4 AND deleted_at IS NULL")
                .bind(now)
                .bind(owner)
                .bind(name)
                .bind(version as i64)
                .execute(&mut *tx)
                .await?;
            outcome.deleted.push(version);
        }
        tx.commit().await?;
        Ok(outcome)
    }
}

/// The id and options of each of `owner`'s runs and re-render jobs that has not ended:
/// what may still draw a template version.
async fn unfinished_options(tx: &mut sqlx::Transaction<'_, sqlx::Any>, owner: &KeyId) -> DbResult<Vec<(String, serde_json::Value)>> {
    let rows = sqlx::query(
        "SELECT id, options FROM runs WHERE owner = $1 AND status NOT IN ('succeeded', 'failed', 'cancelled')
         UNION ALL
         SELECT id, options FROM render_jobs j WHERE owner = $2 AND EXISTS (SELECT 1 FROM render_tasks t WHERE t.job_id = j.id AND t.status IN ('queued', 'running'))",
    )
    .bind(owner)
    .bind(owner)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            let options: String = row.get("options");
            serde_json::from_str(&options).map(|o| (row.get("id"), o)).map_err(|e| DbError::Corrupt(format!("run options: {e}")))
        })
        .collect()
}
