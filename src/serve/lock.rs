//! One server per data directory. Input: the data directory. Output: a held lock on its
//! `lock` file (which names the holder's pid), released when the process ends however it
//! ends. Invariant: while one `demoreel serve` holds a data directory, another refuses to
//! start on it (two would claim the same runs and write the same files).

use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Held for the server's life; the kernel drops the lock with the last descriptor (the
/// file is opened close-on-exec, so a browser the server starts does not keep it).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    pub fn acquire(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        let path = data_dir.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        // SAFETY: flock(2) on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let by = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
            anyhow::bail!("--data-dir {} is in use by another demoreel serve{by}; stop it or choose another directory", data_dir.display());
        }
        file.set_len(0).and_then(|_| file.rewind()).and_then(|_| writeln!(file, "{}", std::process::id())).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(DataDirLock { _file: file })
    }
}
