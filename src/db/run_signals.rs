//! What reaches a run across processes: its lease, a cancel, a value for an input step.
//! Input: renewals from the process recording the run, sealed values from the api.
//! Output: whether the run is still held and whether a cancel was asked for; a value,
//! once. Invariant: only the holder renews a run's lease; a value is stored only sealed
//! (by the caller, with the operator's key), only while its run awaits input, and is
//! deleted when it is taken.

use super::DbResult;
use super::sql::SqlDatabase;
use sqlx::Row;

#[async_trait::async_trait]
pub trait RunSignalRepo: Send + Sync {
    /// Extends `holder`'s lease on run `id` to `lease_until`; answers whether a cancel was
    /// asked for, or `None` when `holder` no longer holds a run at work (it ended, or its
    /// lease ran out and another process settled it).
    async fn renew_run(&self, id: &str, holder: &str, lease_until: &str) -> DbResult<Option<bool>>;
    /// Leaves `sealed` for run `id` until `expires_at` if the run awaits input, and marks
    /// it `running` (its awaited input cleared) in the same step; answers whether it did.
    async fn put_run_input(&self, id: &str, sealed: &[u8], now: &str, expires_at: &str) -> DbResult<bool>;
    /// Takes the value left for run `id`, deleting it; `None` if there is none, or only an
    /// expired one (deleted too).
    async fn take_run_input(&self, id: &str, now: &str) -> DbResult<Option<Vec<u8>>>;
}

#[async_trait::async_trait]
impl RunSignalRepo for SqlDatabase {
    async fn renew_run(&self, id: &str, holder: &str, lease_until: &str) -> DbResult<Option<bool>> {
        let cancel: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET lease_expires = $1 WHERE id = $2 AND lease_owner = $3 AND status IN ('running', 'awaiting_input') RETURNING cancel_requested",
        )
        .bind(lease_until)
        .bind(id)
        .bind(holder)
        .fetch_optional(&self.pool)
        .await?;
        Ok(cancel.map(|flag| flag != 0))
    }

    async fn put_run_input(&self, id: &str, sealed: &[u8], now: &str, expires_at: &str) -> DbResult<bool> {
        // The run leaves `awaiting_input` with its answer, in one transaction, as it does
        // when the answer reaches a runner in the same process: a client polling the run
        // sees it move on at once and does not answer twice (a second answer gets 409).
        let mut tx = self.pool.begin().await?;
        let answered = sqlx::query(
            "UPDATE runs SET status = 'running', awaiting_prompt = NULL, awaiting_requested = NULL, awaiting_expires = NULL, updated_at = $1 \
             WHERE id = $2 AND status = 'awaiting_input'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if answered.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO run_inputs (run_id, value_sealed, created_at, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (run_id) DO UPDATE SET value_sealed = excluded.value_sealed, created_at = excluded.created_at, expires_at = excluded.expires_at",
        )
        .bind(id)
        .bind(sealed)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn take_run_input(&self, id: &str, now: &str) -> DbResult<Option<Vec<u8>>> {
        let row = sqlx::query("DELETE FROM run_inputs WHERE run_id = $1 RETURNING value_sealed, expires_at").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.filter(|r| r.get::<String, _>("expires_at").as_str() > now).map(|r| r.get("value_sealed")))
    }
}
