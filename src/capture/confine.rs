//! Confining the service's browser. Input: a [`Confinement`] (a system user, a folder for
//! profiles, a memory cap) and one session's profile name. Output: a [`Cell`]: the
//! profile folder, owned by the user and private to it, an executable wrapper that
//! starts Chromium as that user in a clean environment inside a memory-capped cgroup,
//! and the cleanup of both. Invariant: nothing of the server's environment (keys, tokens)
//! reaches the browser, and every folder and cgroup a cell made is removed when it drops.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where, as whom and how big a service's browser runs. The default (`demoreel record`
/// on the operator's own machine) is the operator's user and the temp folder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Confinement {
    /// The system user Chromium runs as, with its sandbox (the service, started as root).
    pub user: Option<BrowserUser>,
    /// The folder for profiles (the data directory's `browsers/`); the temp folder if none.
    pub profiles: Option<PathBuf>,
    /// A cap on the memory of the browser and every process it starts, where the
    /// machine lets this process make a cgroup.
    pub memory_limit_mb: Option<u64>,
}

impl Confinement {
    /// Whether the browser starts through a wrapper (a clean environment at least).
    pub fn wraps(&self) -> bool {
        self.user.is_some() || self.profiles.is_some() || self.memory_limit_mb.is_some()
    }
}

/// A user from the system's user database.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl BrowserUser {
    /// Looks `name` up (`/etc/passwd` through the C library, so NSS sources count too).
    pub fn lookup(name: &str) -> Option<BrowserUser> {
        let c_name = std::ffi::CString::new(name).ok()?;
        let mut record: libc::passwd = unsafe { std::mem::zeroed() };
        let mut buffer = vec![0 as libc::c_char; 16 * 1024];
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: getpwnam_r writes only into `record` and `buffer`, whose sizes it is
        // given; `found` points at `record` or is null.
        let status = unsafe { libc::getpwnam_r(c_name.as_ptr(), &mut record, buffer.as_mut_ptr(), buffer.len(), &mut found) };
        (status == 0 && !found.is_null()).then(|| BrowserUser { name: name.to_string(), uid: record.pw_uid, gid: record.pw_gid })
    }
}

/// Whether `user` can pass through every existing folder on the way to `path` (a data
/// directory under a private folder, such as `mktemp -d`'s, is out of its reach).
pub fn reachable_by(user: &BrowserUser, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(absolute) = std::path::absolute(path) else { return false };
    absolute.ancestors().skip(1).all(|folder| match std::fs::metadata(folder) {
        Ok(meta) => {
            let mode = meta.mode();
            (meta.uid() == user.uid && mode & 0o100 != 0) || (meta.gid() == user.gid && mode & 0o010 != 0) || mode & 0o001 != 0
        }
        // Not made yet: the server makes it (0711 for the data directory).
        Err(_) => true,
    })
}

/// A folder for profiles where `user` can reach them, when the data directory is out of
/// its reach: `demoreel-browsers-<digest of the data directory>` in the temp folder,
/// owned by this process's user (a folder there of that name owned by anyone else, or a
/// link, is refused: another local user could have planted it).
pub fn profiles_outside(data_dir: &Path) -> Result<PathBuf, String> {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;
    let key = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = hex::encode(sha2::Sha256::digest(key.as_os_str().as_encoded_bytes()));
    let folder = std::env::temp_dir().join(format!("demoreel-browsers-{}", &digest[..12]));
    let _ = std::fs::create_dir(&folder);
    let meta = std::fs::symlink_metadata(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me {
        return Err(format!("{} is not a folder of this user's (refused: it may have been planted)", folder.display()));
    }
    Ok(folder)
}

/// Whether this process runs as root (only root can hand the browser to another user).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// One session's confinement, undone on drop.
pub struct Cell {
    pub profile: PathBuf,
    /// The program chromiumoxide starts: the wrapper, or Chromium itself.
    pub executable: PathBuf,
    wrapper: Option<PathBuf>,
    cgroup: Option<PathBuf>,
}

impl Cell {
    /// Makes the profile folder `name` (0700, owned by the browser's user), and, when
    /// confined, the cgroup and the wrapper that starts `chromium` inside both.
    pub fn make(confinement: &Confinement, name: &str, chromium: &Path) -> Result<Cell, String> {
        let root = confinement.profiles.clone().unwrap_or_else(std::env::temp_dir);
        let profile = root.join(name);
        let _ = std::fs::remove_dir_all(&profile);
        use std::os::unix::fs::DirBuilderExt;
        // 0711 on the folder of profiles: the browser's user may pass through to its own
        // profile, and list nothing.
        if confinement.profiles.is_some() {
            // Set after creating: the server's umask (077) would take the 0011 off.
            use std::os::unix::fs::PermissionsExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .create(&root)
                .and_then(|()| std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o711)))
                .map_err(|e| format!("{}: {e}", root.display()))?;
        }
        // 0700: the profile holds the pages' cookies and storage; nobody else reads it.
        std::fs::DirBuilder::new().mode(0o700).create(&profile).map_err(|e| format!("{}: {e}", profile.display()))?;
        let mut cell = Cell { profile, executable: chromium.to_path_buf(), wrapper: None, cgroup: None };
        if !confinement.wraps() {
            return Ok(cell);
        }
        if let Some(user) = &confinement.user {
            std::os::unix::fs::chown(&cell.profile, Some(user.uid), Some(user.gid)).map_err(|e| format!("{}: {e}", cell.profile.display()))?;
        }
        cell.cgroup = match confinement.memory_limit_mb {
            Some(mb) => memory_cgroup(name, mb * 1024 * 1024),
            None => None,
        };
        let wrapper = root.join(format!("{name}.launch"));
        let script = wrapper_script(confinement.user.as_ref(), cell.cgroup.as_deref(), &cell.profile, chromium)?;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(&wrapper);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&wrapper)
            .map_err(|e| format!("{}: {e}", wrapper.display()))?;
        file.write_all(script.as_bytes()).map_err(|e| format!("{}: {e}", wrapper.display()))?;
        drop(file);
        cell.executable = wrapper.clone();
        cell.wrapper = Some(wrapper);
        Ok(cell)
    }

    /// The cgroup the browser runs in, if the machine let us make one.
    pub fn cgroup(&self) -> Option<&Path> {
        self.cgroup.as_deref()
    }

    /// Moves the cell out, leaving one whose drop does nothing: for a cleanup that must
    /// happen on another thread than the owner's drop.
    pub(super) fn take(&mut self) -> Cell {
        std::mem::replace(self, Cell { profile: PathBuf::new(), executable: PathBuf::new(), wrapper: None, cgroup: None })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.profile.as_os_str().is_empty()
    }
}

impl Drop for Cell {
    fn drop(&mut self) {
        // A cell moved out: an empty path would name every process.
        if self.is_empty() {
            return;
        }
        // Every process still using the profile ends first (a dropped session's helpers);
        // a cgroup can only go once it is empty, which takes the kernel a moment after.
        super::browser::wait_gone(&super::browser::kill_processes_using(&self.profile), std::time::Duration::from_secs(2));
        if let Some(cgroup) = &self.cgroup {
            for _ in 0..50 {
                if std::fs::remove_dir(cgroup).is_ok() || !cgroup.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        if let Some(wrapper) = &self.wrapper {
            let _ = std::fs::remove_file(wrapper);
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The shell script chromiumoxide runs in Chromium's place: it joins the cgroup (as
/// root, before anything starts), drops to the browser's user with no supplementary
/// groups, and starts Chromium with nothing of the server's environment.
fn wrapper_script(user: Option<&BrowserUser>, cgroup: Option<&Path>, profile: &Path, chromium: &Path) -> Result<String, String> {
    let quote = |path: &Path| -> Result<String, String> {
        let text = path.to_str().ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
        if text.contains('\'') {
            return Err(format!("{text} holds a quote"));
        }
        Ok(format!("'{text}'"))
    };
    let mut script = String::from("#!/bin/sh\n# Starts the browser of one demoreel session; removed with the session.\n");
    if let Some(cgroup) = cgroup {
        script += &format!("echo $$ > {} || exit 70\n", quote(&cgroup.join("cgroup.procs"))?);
    }
    let switch = match user {
        Some(user) => format!("/usr/bin/setpriv --reuid={} --regid={} --clear-groups -- ", user.uid, user.gid),
        None => String::new(),
    };
    script += &format!(
        "exec {switch}/usr/bin/env -i HOME={profile} PATH=/usr/bin:/bin LANG=C.UTF-8 {chromium} \"$@\"\n",
        profile = quote(profile)?,
        chromium = quote(chromium)?
    );
    Ok(script)
}

/// Makes a memory cgroup capped at `bytes` (cgroup v2's `memory.max`, or v1's
/// `memory.limit_in_bytes`), or `None` (with a warning, once) where this process may not.
fn memory_cgroup(name: &str, bytes: u64) -> Option<PathBuf> {
    let v2 = Path::new("/sys/fs/cgroup");
    let attempts = [
        (v2.join(name), "memory.max", std::fs::read_to_string(v2.join("cgroup.subtree_control")).is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"))),
        (v2.join("memory").join(name), "memory.limit_in_bytes", v2.join("memory/memory.limit_in_bytes").exists()),
    ];
    for (dir, limit_file, available) in attempts {
        if !available {
            continue;
        }
        if std::fs::create_dir(&dir).is_ok() || dir.is_dir() {
            if std::fs::write(dir.join(limit_file), bytes.to_string()).is_ok() {
                return Some(dir);
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| tracing::warn!("no memory cgroup could be made here: the browser's memory is not capped"));
    None
}

/// Removes the cgroups of sessions whose demoreel process is gone (see
/// `browser::sweep_orphans`, which ends their processes first).
pub fn remove_orphan_cgroups(is_alive: impl Fn(i32) -> bool) {
    for parent in ["/sys/fs/cgroup", "/sys/fs/cgroup/memory"] {
        let Ok(entries) = std::fs::read_dir(parent) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let owner = name.strip_prefix("demoreel-chromium-").and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<i32>().ok());
            if owner.is_some_and(|owner| !is_alive(owner)) {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_drops_to_the_user_in_a_clean_environment() {
        let user = BrowserUser { name: "b".into(), uid: 990, gid: 985 };
        let script = wrapper_script(Some(&user), Some(Path::new("/sys/fs/cgroup/memory/x")), Path::new("/d/browsers/p"), Path::new("/usr/bin/chromium")).unwrap();
        assert!(script.contains("echo $$ > '/sys/fs/cgroup/memory/x/cgroup.procs' || exit 70"));
        assert!(script.contains("setpriv --reuid=990 --regid=985 --clear-groups -- /usr/bin/env -i HOME='/d/browsers/p'"));
        assert!(script.trim_end().ends_with("'/usr/bin/chromium' \"$@\""));
        assert!(wrapper_script(None, None, Path::new("/tmp/it's"), Path::new("/usr/bin/chromium")).is_err());
    }
}
