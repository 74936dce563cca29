//! Files written whole or not at all. Input: a target path and its bytes (or a finished
//! partial file). Output: the file under its name. Invariant: a reader never sees a file
//! half-written under its final name: bytes go to `.NAME.partial` beside it, are flushed
//! to disk (fsync), and only then renamed; the directory entry is flushed too, so a crash
//! right after keeps the file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The one spelling of a file being written: `.NAME.partial` beside `target` (hidden,
/// so listings and globs skip it).
pub fn partial_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "file".to_string());
    target.with_file_name(format!(".{name}.partial"))
}

/// Writes `bytes` to `target` atomically (see the module's invariant).
pub fn write_atomic(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(target, bytes, 0o644)
}

/// [`write_atomic`] for a file only its owner may read (0600): keys.
pub fn write_private(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(target, bytes, 0o600)
}

fn write_with_mode(target: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let partial = partial_path(target);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&partial)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    match written {
        Ok(()) => commit(&partial, target),
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// Moves a finished partial file to `target`: its bytes flushed first, the directory
/// entry after.
pub fn commit(partial: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::File::open(partial)?.sync_all()?;
    std::fs::rename(partial, target)?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Some file systems cannot open a directory for syncing; the rename stands.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// SHA-256 (hex) and length of a file, read in 64 KiB pieces.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut digest = Sha256Stream::default();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        digest.update(&buffer[..n]);
    }
    Ok(digest.finish())
}

/// SHA-256 of bytes that arrive in pieces (a download, a file read in chunks).
#[derive(Default)]
pub struct Sha256Stream {
    hasher: sha2::Sha256,
    length: u64,
}

impl Sha256Stream {
    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.hasher.update(bytes);
        self.length += bytes.len() as u64;
    }

    /// The hex digest and the number of bytes seen.
    pub fn finish(self) -> (String, u64) {
        use sha2::Digest;
        (hex::encode(self.hasher.finalize()), self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_only_the_whole_file() {
        let dir = std::env::temp_dir().join(format!("demoreel-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("plan.json");
        write_atomic(&target, b"{\"a\": 1}").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"{\"a\": 1}");
        assert!(!partial_path(&target).exists());
        assert_eq!(partial_path(&target).file_name().unwrap(), ".plan.json.partial");
        // A write that cannot happen (no such directory) leaves nothing.
        assert!(write_atomic(&dir.join("missing/x.json"), b"x").is_err());
        let (digest, length) = sha256_file(&target).unwrap();
        assert_eq!(length, 8);
        let mut stream = Sha256Stream::default();
        stream.update(b"{\"a\": ");
        stream.update(b"1}");
        assert_eq!(stream.finish(), (digest, 8));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
