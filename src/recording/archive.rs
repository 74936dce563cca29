//! A finished recording as one file: how a run keeps its recording in the artifact store
//! for re-renders. Input: a bundle directory (to pack) or an archive (to unpack, from a
//! store that may have been tampered with). Output: an uncompressed tar of the bundle's
//! own files (the JPEG frames are compressed already), or a bundle directory that
//! [`Recording::open`] then checks. Invariant: unpacking writes only the bundle's own
//! names (`meta.json`, `frames.jsonl`, `timeline.jsonl`, `frames/NAME`) as regular files
//! inside the target directory, within size bounds; anything else is refused by name.

use super::{FRAMES_DIR, FRAMES_FILE, META_FILE, Recording, RecordingError, TIMELINE_FILE};
use std::io::{Read, Write};
use std::path::Path;

/// An archive holds at most this many files (a frame each, plus three).
pub const MAX_FILES: u64 = 500_000;
/// No file of a bundle is larger (a 4K JPEG frame is well under 10 MiB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Nor the whole unpacked bundle.
pub const MAX_TOTAL_BYTES: u64 = 32 << 30;

/// Packs the finished bundle at `bundle` (checked by opening it) into `target`, written
/// under a partial name and renamed when whole. Answers the number of frames packed.
pub fn pack(bundle: &Path, target: &Path) -> Result<usize, RecordingError> {
    let recording = Recording::open(bundle)?;
    let fail = |reason: String| RecordingError::file(target, reason);
    let partial = crate::files::partial_path(target);
    let written = (|| -> std::io::Result<()> {
        let mut builder = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(&partial)?));
        for name in [META_FILE, FRAMES_FILE, TIMELINE_FILE] {
            builder.append_path_with_name(bundle.join(name), name)?;
        }
        for frame in &recording.frames {
            let name = frame.path.strip_prefix(bundle).map_err(|_| std::io::Error::other(format!("frame {} is outside the bundle", frame.path.display())))?;
            builder.append_path_with_name(&frame.path, name)?;
        }
        let mut out = builder.into_inner()?;
        out.flush()?;
        out.get_ref().sync_all()
    })();
    match written.and_then(|()| crate::files::commit(&partial, target)) {
        Ok(()) => Ok(recording.frames.len()),
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(fail(error.to_string()))
        }
    }
}

/// Whether `name` is one of a bundle's own files.
fn is_bundle_name(name: &str) -> bool {
    if [META_FILE, FRAMES_FILE, TIMELINE_FILE].contains(&name) {
        return true;
    }
    let Some(file) = name.strip_prefix(FRAMES_DIR).and_then(|rest| rest.strip_prefix('/')) else { return false };
    !file.is_empty() && !file.starts_with('.') && file.len() <= 64 && file.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Unpacks `archive` into the empty or absent directory `dir` and opens the bundle.
pub fn unpack(archive: &Path, dir: &Path) -> Result<Recording, RecordingError> {
    let fail = |reason: String| RecordingError::file(archive, reason);
    std::fs::create_dir_all(dir.join(FRAMES_DIR)).map_err(|e| RecordingError::file(dir, e.to_string()))?;
    let file = std::fs::File::open(archive).map_err(|e| fail(e.to_string()))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let (mut files, mut total) = (0u64, 0u64);
    for entry in tar.entries().map_err(|e| fail(e.to_string()))? {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        let name = entry.path().map_err(|e| fail(e.to_string()))?.to_string_lossy().to_string();
        if !entry.header().entry_type().is_file() || !is_bundle_name(&name) {
            return Err(fail(format!("{name:?} is not a file of a recording bundle")));
        }
        let size = entry.size();
        files += 1;
        total += size;
        if files > MAX_FILES || size > MAX_FILE_BYTES || total > MAX_TOTAL_BYTES {
            return Err(fail(format!("{name:?}: the archive is larger than a recording may be ({MAX_FILES} files, {MAX_FILE_BYTES} bytes each, {MAX_TOTAL_BYTES} in all)")));
        }
        // Written by hand rather than by the tar's own unpack: no mode, owner or time
        // of the archive's choosing, and a name checked above is the only path used.
        let mut bytes = Vec::with_capacity(size as usize);
        entry.by_ref().take(size).read_to_end(&mut bytes).map_err(|e| fail(format!("{name}: {e}")))?;
        std::fs::write(dir.join(&name), &bytes).map_err(|e| RecordingError::file(&dir.join(&name), e.to_string()))?;
    }
    Recording::open(dir)
}

#[cfg(test)]
mod tests {
    use super::{is_bundle_name, tempfile_free, unpack};

    /// An archive of one entry named `name` (written into the header as is, so names the
    /// tar crate would refuse can be made) of `kind`.
    fn archive_of(name: &[u8], kind: tar::EntryType) -> tempfile_free::Dir {
        let dir = tempfile_free::Dir::new();
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_size(if kind.is_file() { 4 } else { 0 });
        header.set_mode(0o644);
        if !kind.is_file() {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        let mut builder = tar::Builder::new(std::fs::File::create(dir.path().join("a.tar")).unwrap());
        let data: &[u8] = if kind.is_file() { b"evil" } else { b"" };
        builder.append(&header, data).unwrap();
        builder.into_inner().unwrap();
        dir
    }

    #[test]
    fn an_archive_climbing_out_or_linking_is_refused_by_name_and_writes_nothing_outside() {
        for (name, kind) in [(&b"../evil"[..], tar::EntryType::Regular), (b"/tmp/evil", tar::EntryType::Regular), (b"meta.json", tar::EntryType::Symlink), (b"frames/x.jpg", tar::EntryType::Link)] {
            let dir = archive_of(name, kind);
            let error = unpack(&dir.path().join("a.tar"), &dir.path().join("out")).unwrap_err().to_string();
            assert!(error.contains("is not a file of a recording bundle"), "{}: {error}", String::from_utf8_lossy(name));
            assert!(!dir.path().join("evil").exists() && !dir.path().join("out/meta.json").exists());
        }
    }

    #[test]
    fn only_a_bundles_own_names_unpack() {
        for good in ["meta.json", "frames.jsonl", "timeline.jsonl", "frames/000001.jpg", "frames/a-b_c.jpg"] {
            assert!(is_bundle_name(good), "{good}");
        }
        for bad in ["../meta.json", "/etc/passwd", "frames/../x", "frames/", "frames/.hidden", "frames/a/b.jpg", "raw.mp4", "framesx/1.jpg", "frames/a b.jpg", "meta.json/"] {
            assert!(!is_bundle_name(bad), "{bad}");
        }
    }
}

/// A temporary directory for the tests above (the crate has no tempfile dependency).
#[cfg(test)]
mod tempfile_free {
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!("demoreel-archive-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
