//! Artifact bytes. Input: finished files of a run. Output: where a download reads them.
//! Invariant: an artifact is stored whole before it is listed (the database row comes
//! after `put` returns), so a file being written is never visible.
//!
//! [`ArtifactStore`] is the interface; [`LocalStore`] (a directory) the embedded default.

use std::path::{Path, PathBuf};

/// Where a download's bytes are.
pub enum Location {
    /// A local file the api streams (with ranges).
    File(PathBuf),
    /// A URL the client is redirected to (a presigned object-store URL).
    Redirect(String),
}

#[async_trait::async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Stores `source` under `key` (e.g. `RUN_ID/demo.mp4`).
    async fn put(&self, key: &str, source: &Path) -> std::io::Result<()>;
    async fn locate(&self, key: &str) -> std::io::Result<Location>;
    /// Copies what is stored under `key` to the local file `target` (a worker reading a
    /// run's recording); `NotFound` when nothing is stored there.
    async fn fetch(&self, key: &str, target: &Path) -> std::io::Result<()>;
}

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: &Path) -> LocalStore {
        LocalStore { root: root.to_path_buf() }
    }

    fn path(&self, key: &str) -> std::io::Result<PathBuf> {
        // Keys are made by the runner (uuid/name); refuse anything that climbs out.
        if key.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad artifact key {key:?}")));
        }
        Ok(self.root.join(key))
    }
}

#[async_trait::async_trait]
impl ArtifactStore for LocalStore {
    async fn put(&self, key: &str, source: &Path) -> std::io::Result<()> {
        let target = self.path(key)?;
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        // Copied under a partial name, flushed, then renamed: readers see all of it or nothing.
        let partial = crate::files::partial_path(&target);
        let stored = match tokio::fs::copy(source, &partial).await {
            Ok(_) => {
                let partial = partial.clone();
                tokio::task::spawn_blocking(move || crate::files::commit(&partial, &target)).await.map_err(std::io::Error::other)?
            }
            Err(error) => Err(error),
        };
        if stored.is_err() {
            // A full disk leaves a partial copy behind: give its space back.
            let _ = tokio::fs::remove_file(&partial).await;
        }
        stored
    }

    async fn locate(&self, key: &str) -> std::io::Result<Location> {
        let path = self.path(key)?;
        tokio::fs::metadata(&path).await?;
        Ok(Location::File(path))
    }

    async fn fetch(&self, key: &str, target: &Path) -> std::io::Result<()> {
        tokio::fs::copy(self.path(key)?, target).await.map(|_| ())
    }
}
