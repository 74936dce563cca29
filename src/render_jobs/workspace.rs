//! Render workers' scratch folders, and the sweep of the folders whose worker is gone.
//! Input: the folder the workers of a data directory share (`DATA_DIR/render-jobs`) and a
//! worker's name. Output: a folder only this worker uses, empty when claimed; the folders
//! of workers that died without cleaning up (SIGKILL, a crash, a power cut) removed, with
//! the recordings they unpacked and the renders they left half-written. Invariant: a
//! folder is removed only when no live process holds its lock: an advisory lock on
//! `NAME.lock` beside it, taken when the folder is claimed, held for the worker's life,
//! and released by the kernel when its process ends, however it ends.
//!
//! A folder without a lock file beside it is never swept: it is not a worker's.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// A worker's claimed folder; the claim lasts as long as this value (the lock's file
/// stays open).
#[derive(Debug)]
pub struct Workspace {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
    /// The periodic sweep of the other folders, stopped with the claim.
    sweeper: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(sweeper) = &self.sweeper {
            sweeper.abort();
        }
    }
}

impl Workspace {
    /// Claims folder `root/name` for this process: takes its lock (an error if another
    /// live process holds it), then empties what a dead holder of the same name left.
    pub fn claim(root: &Path, name: &str) -> io::Result<Workspace> {
        std::fs::create_dir_all(root)?;
        let lock_path = root.join(format!("{name}.lock"));
        let lock = take_lock(&lock_path).map_err(|error| match error.kind() {
            io::ErrorKind::WouldBlock => io::Error::new(io::ErrorKind::AlreadyExists, format!("{} is in use by another process", root.join(name).display())),
            _ => error,
        })?;
        let dir = root.join(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        std::fs::create_dir(&dir)?;
        Ok(Workspace { dir, lock_path, _lock: lock, sweeper: None })
    }

    /// What a render worker starting under `root` does: sweeps the folders of workers
    /// that died, claims `root/name`, and sweeps again every [`SWEEP_EVERY`] while the
    /// claim lasts (within a tokio runtime).
    pub fn start_worker(root: &Path, name: &str) -> io::Result<Workspace> {
        match sweep_abandoned(root) {
            Ok(removed) if !removed.is_empty() => tracing::info!(?removed, "removed the folders of render workers that stopped without cleaning up"),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "sweeping the render workers' folders"),
        }
        let mut workspace = Workspace::claim(root, name)?;
        workspace.sweeper = Some(spawn_sweeper(root.to_path_buf()));
        Ok(workspace)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Ends the claim at a planned stop: the folder and its lock file are removed.
    pub fn release(self) {
        if let Some(sweeper) = &self.sweeper {
            sweeper.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Opens (or creates) the lock file at `path` and takes its lock. A sweep holds a dead
/// worker's lock only while it removes the folder, so a claim waits up to a second for
/// it; the lock taken must be on the file the path names still (a sweep that finished
/// meanwhile unlinked the one opened), else the claim starts again.
fn take_lock(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::MetadataExt;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        match lock.try_lock() {
            Ok(()) => {
                let named = std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
                let held = lock.metadata().map(|m| (m.dev(), m.ino()))?;
                if named == Some(held) {
                    return Ok(lock);
                }
            }
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(io::ErrorKind::WouldBlock.into()),
            Err(std::fs::TryLockError::Error(error)) => return Err(error),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Removes every folder under `root` whose lock no live process holds, with its lock
/// file; answers the names removed.
pub fn sweep_abandoned(root: &Path) -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(error) => return Err(error),
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some(name) = file_name.strip_suffix(".lock") else { continue };
        let Ok(lock) = std::fs::OpenOptions::new().write(true).open(entry.path()) else { continue };
        // Held: its worker is alive. Taken here: its worker is gone, and no one can claim
        // the name while the lock is ours.
        if lock.try_lock().is_err() {
            continue;
        }
        let dir = root.join(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => removed.push(name.to_string()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(dir = %dir.display(), error = %error, "removing an abandoned worker's folder");
                continue;
            }
        }
        let _ = std::fs::remove_file(entry.path());
    }
    Ok(removed)
}

/// How often a running worker looks for folders of workers that died since it started.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Sweeps `root` every [`SWEEP_EVERY`], off the async workers, for as long as the task
/// lives (the first sweep is the caller's, at start-up).
fn spawn_sweeper(root: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let root = root.clone();
            match tokio::task::spawn_blocking(move || sweep_abandoned(&root)).await {
                Ok(Ok(removed)) if !removed.is_empty() => tracing::info!(?removed, "removed the folders of render workers that stopped without cleaning up"),
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(error = %error, "sweeping the render workers' folders"),
                Err(_) => {}
            }
        }
    })
}
