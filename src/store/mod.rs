//! Artifact bytes. Input: finished files of a run. Output: where a download reads them.
//! Invariant: an artifact is stored whole before it is listed (the database row comes
//! after `put` returns), so a file being written is never visible.
//!
//! [`ArtifactStore`] is the interface; [`LocalStore`] (a directory) the embedded default,
//! [`s3::S3Store`] an S3-compatible bucket shared by many workers; [`open`] picks one from
//! `--store`.

pub mod s3;
pub mod settings;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

/// Where a download's bytes are.
pub enum Location {
    /// A local file the api streams (with ranges).
    File(PathBuf),
    /// A URL the client is redirected to (a presigned object-store URL).
    Redirect(String),
    /// Bytes the api reads through [`ArtifactStore::read`] and streams on.
    Stream,
}

/// Bytes read from a store, piece by piece.
pub type ByteStream = Pin<Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>;

#[async_trait::async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Stores `source` under `key` (e.g. `RUN_ID/demo.mp4`); `sha256` (hex) is the
    /// file's digest, which a store may check the upload against and keeps beside it.
    async fn put(&self, key: &str, source: &Path, sha256: &str) -> std::io::Result<()>;
    async fn locate(&self, key: &str) -> std::io::Result<Location>;
    /// `length` bytes of what is stored under `key` from byte `start` (for
    /// [`Location::Stream`]).
    async fn read(&self, key: &str, start: u64, length: u64) -> std::io::Result<ByteStream> {
        let _ = (key, start, length);
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "this store hands out files, not streams"))
    }
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
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

/// Keys are made by the runner (`RUN_ID/name`); refuse anything that climbs out.
fn check_key(key: &str) -> std::io::Result<()> {
    if key.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad artifact key {key:?}")));
    }
    Ok(())
}

/// The store `--store` names (`spec`), or the directory `default_dir` when none is given.
pub fn open(spec: Option<&str>, default_dir: &Path) -> Result<Arc<dyn ArtifactStore>, String> {
    let settings = match spec {
        Some(value) => settings::StoreSettings::parse(value, "--store")?,
        None => settings::StoreSettings::Local(default_dir.to_path_buf()),
    };
    Ok(match settings {
        settings::StoreSettings::Local(dir) => Arc::new(LocalStore::new(&dir)),
        settings::StoreSettings::S3(s3) => Arc::new(s3::S3Store::from_environment(s3)?),
    })
}

#[async_trait::async_trait]
impl ArtifactStore for LocalStore {
    async fn put(&self, key: &str, source: &Path, _sha256: &str) -> std::io::Result<()> {
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
