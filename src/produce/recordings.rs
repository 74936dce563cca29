//! A run's recording, kept for re-renders. Input: a finished bundle (to keep) or a run
//! id (to fetch). Output: the bundle packed as one archive in the artifact store with its
//! SHA-256 on the run's row; or the bundle unpacked again into a work directory.
//! Invariant: a fetched recording is the one kept, byte for byte (its digest is checked
//! before it is unpacked), and unpacks only into the bundle's own names.

use super::{ProduceError, Producer};
use crate::recording::archive;
use std::path::{Path, PathBuf};

/// The archive's name, in the work directory and in the store (`RUN_ID/recording.tar`).
pub const RECORDING_ARCHIVE: &str = "recording.tar";

impl Producer {
    /// Packs the finished bundle at `bundle` and stores it as run `run_id`'s recording.
    /// Answers the archive's size in bytes.
    pub async fn keep_recording(&self, run_id: &str, bundle: &Path) -> Result<u64, ProduceError> {
        let fail = |reason: String| ProduceError::Store { name: RECORDING_ARCHIVE.to_string(), reason };
        let archive_path = bundle.with_file_name(format!("{run_id}.{RECORDING_ARCHIVE}"));
        let (source, target) = (bundle.to_path_buf(), archive_path.clone());
        let (sha256, size) = tokio::task::spawn_blocking(move || {
            archive::pack(&source, &target).map_err(|e| e.to_string())?;
            crate::files::sha256_file(&target).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(fail)?;
        let key = format!("{run_id}/{RECORDING_ARCHIVE}");
        let stored = self.artifacts.put(&key, &archive_path, &sha256).await;
        let _ = tokio::fs::remove_file(&archive_path).await;
        stored.map_err(|e| fail(e.to_string()))?;
        self.db.set_run_recording(run_id, &key, &sha256).await.map_err(|e| fail(e.to_string()))?;
        Ok(size)
    }

    /// Fetches run `run_id`'s recording into `work_dir` and unpacks it there; answers the
    /// bundle's directory.
    pub async fn fetch_recording(&self, run_id: &str, work_dir: &Path) -> Result<PathBuf, ProduceError> {
        let internal = |reason: String| ProduceError::Store { name: RECORDING_ARCHIVE.to_string(), reason };
        let Some((key, sha256)) = self.db.run_recording(run_id).await.map_err(|e| internal(e.to_string()))? else {
            return Err(ProduceError::RecordingMissing("the run kept no recording: it never recorded, or it ran before recordings were kept".into()));
        };
        tokio::fs::create_dir_all(work_dir).await.map_err(|e| internal(format!("{}: {e}", work_dir.display())))?;
        let archive_path = work_dir.join(RECORDING_ARCHIVE);
        if let Err(error) = self.artifacts.fetch(&key, &archive_path).await {
            return Err(match error.kind() {
                std::io::ErrorKind::NotFound => ProduceError::RecordingMissing("the run's recording is no longer in the artifact store".into()),
                _ => internal(format!("reading the run's recording: {error}")),
            });
        }
        let bundle = work_dir.join("recording");
        let (archive_for_check, bundle_for_unpack) = (archive_path.clone(), bundle.clone());
        let unpacked = tokio::task::spawn_blocking(move || {
            let (found, _) = crate::files::sha256_file(&archive_for_check).map_err(|e| ProduceError::RecordingDamaged(format!("reading the run's recording: {e}")))?;
            if found != sha256 {
                return Err(ProduceError::RecordingDamaged(format!("the stored recording is not the one the run kept (SHA-256 {found}, kept {sha256})")));
            }
            let _ = std::fs::remove_dir_all(&bundle_for_unpack);
            archive::unpack(&archive_for_check, &bundle_for_unpack).map_err(|e| ProduceError::RecordingDamaged(format!("the stored recording: {e}")))
        })
        .await
        .map_err(|e| internal(e.to_string()))?;
        let _ = tokio::fs::remove_file(&archive_path).await;
        unpacked.map(|_| bundle)
    }
}
