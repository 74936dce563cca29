//! Launching Debian's Chromium for one recording. Input: nothing but the machine's
//! `/usr/bin/chromium`. Output: a connected [`Session`] whose handler runs on the tokio
//! runtime. Invariant: every exit path — `close`, an error, a panic, a dropped future —
//! ends the browser and every process it started, and removes its profile directory.

use super::CaptureError;
use chromiumoxide::browser::{Browser, BrowserConfig};
use futures::StreamExt;
use std::path::{Path, PathBuf};

/// Debian's Chromium; `DEMOREEL_CHROMIUM` overrides it.
pub fn executable() -> PathBuf {
    std::env::var_os("DEMOREEL_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Flags a root, network-less machine needs: no sandbox (root), nothing that phones home.
const FLAGS: [&str; 9] = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
];

pub struct Session {
    pub(super) browser: Browser,
    profile: ProfileDir,
    handler: tokio::task::JoinHandle<()>,
}

/// The per-session profile directory; removing it also sweeps any process still using it.
struct ProfileDir(PathBuf);

impl Drop for ProfileDir {
    fn drop(&mut self) {
        kill_processes_using(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Session {
    pub async fn launch() -> Result<Session, CaptureError> {
        let executable = executable();
        if !executable.is_file() {
            return Err(CaptureError::Browser(format!("{} not found (run scripts/setup.sh)", executable.display())));
        }
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let profile = ProfileDir(std::env::temp_dir().join(format!("demoreel-chromium-{}-{n}", std::process::id())));
        let _ = std::fs::remove_dir_all(&profile.0);
        std::fs::create_dir_all(&profile.0).map_err(|e| CaptureError::Browser(format!("{}: {e}", profile.0.display())))?;
        let config = BrowserConfig::builder()
            .chrome_executable(&executable)
            .no_sandbox()
            .new_headless_mode()
            .user_data_dir(&profile.0)
            .viewport(None)
            .args(FLAGS)
            .launch_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(CaptureError::Browser)?;
        let (browser, mut events) = Browser::launch(config).await.map_err(|e| CaptureError::Browser(e.to_string()))?;
        // chromiumoxide needs its handler polled for anything to happen.
        let handler = tokio::spawn(async move { while events.next().await.is_some() {} });
        Ok(Session { browser, profile, handler })
    }

    /// Closes the browser and waits for it to exit; the profile goes with the session.
    pub async fn close(mut self) {
        let closed = tokio::time::timeout(std::time::Duration::from_secs(5), self.browser.close()).await;
        if !matches!(closed, Ok(Ok(_))) {
            let _ = self.browser.kill().await;
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.browser.wait()).await;
        self.handler.abort();
        kill_processes_using(&self.profile.0);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.handler.abort();
        // The main process is killed on drop (kill_on_drop); its helpers are swept by the
        // profile directory's drop, which runs right after this.
    }
}

/// Kills every process whose command line names `profile` (Chromium's helpers carry the
/// `--user-data-dir` flag), so nothing outlives a session.
pub fn kill_processes_using(profile: &Path) {
    let needle = profile.to_string_lossy().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            // SIGKILL: the session is over; nothing of it is worth a graceful exit.
            // SAFETY: kill(2) with a pid read from /proc; no memory is shared.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Processes still running with a demoreel profile directory of this process (for
/// checks and tests).
pub fn leftover_processes() -> Vec<i32> {
    processes_of(std::process::id())
}

/// Live (not zombie) browser processes whose profile directory belongs to the demoreel
/// process `owner`.
pub fn processes_of(owner: u32) -> Vec<i32> {
    let needle = format!("demoreel-chromium-{owner}-");
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let state = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = state.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            (String::from_utf8_lossy(&cmdline).contains(&needle) && !zombie).then_some(pid)
        })
        .collect()
}

/// Ends browsers a dead demoreel process left behind (it was killed before it could close
/// them) and removes their profile directories. Profiles are named after the process that
/// made them, so a live process's browsers are never touched.
pub fn sweep_orphans() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return 0 };
    let mut swept = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(owner) = name.strip_prefix("demoreel-chromium-").and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = owner == std::process::id() as i32 || std::path::Path::new(&format!("/proc/{owner}")).exists();
        if !alive {
            kill_processes_using(&entry.path());
            let _ = std::fs::remove_dir_all(entry.path());
            swept += 1;
        }
    }
    swept
}
