//! Launching Debian's Chromium for one recording. Input: nothing but the machine's
//! `/usr/bin/chromium`. Output: a connected [`Session`] whose handler runs on the tokio
//! runtime. Invariant: every exit path — `close`, an error, a panic, a dropped future —
//! ends the browser and every process it started, and removes its profile directory.

use super::CaptureError;
use crate::egress::TargetPolicy;
pub use crate::egress::proxy::Blocked;
use crate::egress::proxy::EgressProxy;
use chromiumoxide::cdp::browser_protocol::browser::{SetDownloadBehaviorBehavior, SetDownloadBehaviorParams};
use super::confine::{Cell, Confinement};
use chromiumoxide::browser::{Browser, BrowserConfig};
use futures::StreamExt;
use std::path::{Path, PathBuf};

/// Debian's Chromium; `DEMOREEL_CHROMIUM` overrides it.
pub fn executable() -> PathBuf {
    std::env::var_os("DEMOREEL_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// The browser's flags: chromiumoxide's defaults, with which the capture's timing was
/// measured (a list without `enable-automation` and the in-process network service put
/// 74-96% of the page clock test's frames within a frame interval instead of ≥97%),
/// less `disable-popup-blocking`: a page opens no window unless a click asked for one.
/// Written without the leading `--`: chromiumoxide adds it (`--x` would reach Chromium
/// as `----x`, a switch it does not know).
const FLAGS: &[&str] = &[
    "disable-background-networking",
    "enable-features=NetworkService,NetworkServiceInProcess",
    "disable-background-timer-throttling",
    "disable-backgrounding-occluded-windows",
    "disable-breakpad",
    "disable-client-side-phishing-detection",
    "disable-component-extensions-with-background-pages",
    "disable-default-apps",
    "disable-dev-shm-usage",
    // A cross-site frame in a process of its own (site isolation) is out of reach of the
    // page's document-start scripts (CDP adds them to the frames of the page's own
    // process), so an address inside an embedded widget painted unmasked with blur_emails
    // and a secret typed into one could not be marked. Each run's browser serves one
    // client's pages in a fresh profile, behind the sandbox and the egress guard; keeping
    // every frame of the page in the page's process is what lets masking reach it before
    // it paints.
    "disable-features=TranslateUI,IsolateOrigins,site-per-process",
    "disable-site-isolation-trials",
    "disable-hang-monitor",
    "disable-ipc-flooding-protection",
    "disable-prompt-on-repost",
    "disable-renderer-backgrounding",
    "disable-sync",
    "force-color-profile=srgb",
    "metrics-recording-only",
    "no-first-run",
    "enable-automation",
    "password-store=basic",
    "use-mock-keychain",
    "enable-blink-features=IdleDetection",
    "lang=en_US",
];

fn bare(flag: &str) -> String {
    flag.trim_start_matches("--").to_string()
}

/// The flag that makes Chromium paint, and screencast, at `device_scale_factor` device
/// pixels per CSS pixel. The device-metrics override alone changes what the page sees
/// (`devicePixelRatio`) but the screencast still delivers CSS pixels (1280×720 frames for
/// a 1920×1080 video at scale 1.5, measured), which the render would have to scale up.
fn device_scale_flag(device_scale_factor: f64) -> String {
    format!("force-device-scale-factor={device_scale_factor}")
}

fn browser_config(cell: &Cell, proxy_flags: &[String], device_scale_factor: f64, sandbox: bool) -> Result<BrowserConfig, CaptureError> {
    let mut builder = BrowserConfig::builder()
        .chrome_executable(&cell.executable)
        .new_headless_mode()
        .user_data_dir(&cell.profile)
        .viewport(None)
        .disable_default_args()
        .args(FLAGS.iter().copied().map(bare))
        .args(proxy_flags.iter().map(|flag| bare(flag)))
        .arg(device_scale_flag(device_scale_factor))
        .launch_timeout(std::time::Duration::from_secs(30));
    if !sandbox {
        builder = builder.no_sandbox();
    }
    builder.build().map_err(CaptureError::Browser)
}

pub struct Session {
    pub(super) browser: Browser,
    /// The filtering proxy every connection of this browser passes (a service run).
    egress: Option<EgressProxy>,
    profile: Cell,
    handler: tokio::task::JoinHandle<()>,
}

/// Set once a sandboxed start failed on this machine (no user namespaces, say): later
/// sessions start without the sandbox straight away.
static SANDBOX_UNAVAILABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Session {
    /// Launches a browser; with `egress`, every connection it makes goes through a
    /// filtering proxy holding it to that policy; `confinement` says as whom it runs,
    /// where its profile lives and how much memory it may take; it paints at
    /// `device_scale_factor` device pixels per CSS pixel.
    pub async fn launch(egress: Option<&TargetPolicy>, confinement: &Confinement, device_scale_factor: f64) -> Result<Session, CaptureError> {
        let executable = executable();
        if !executable.is_file() {
            return Err(CaptureError::Browser(format!("{} not found (run scripts/setup.sh)", executable.display())));
        }
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("demoreel-chromium-{}-{n}", std::process::id());
        let profile = Cell::make(confinement, &name, &executable).map_err(CaptureError::Browser)?;
        let egress = match egress {
            Some(policy) => Some(EgressProxy::start(policy.clone()).await.map_err(|e| CaptureError::Browser(format!("starting the egress proxy: {e}")))?),
            None => None,
        };
        let proxy_flags = egress.as_ref().map(EgressProxy::browser_flags).unwrap_or_default();
        // Chromium's sandbox needs a user other than root; as root there is none to have.
        let sandbox = confinement.user.is_some() && !SANDBOX_UNAVAILABLE.load(std::sync::atomic::Ordering::Relaxed);
        let launched = match Browser::launch(browser_config(&profile, &proxy_flags, device_scale_factor, sandbox)?).await {
            Err(e) if sandbox => {
                tracing::warn!(error = %e, "the browser did not start with its sandbox; starting it without (the machine may not allow user namespaces)");
                SANDBOX_UNAVAILABLE.store(true, std::sync::atomic::Ordering::Relaxed);
                kill_processes_using(&profile.profile);
                Browser::launch(browser_config(&profile, &proxy_flags, device_scale_factor, false)?).await
            }
            other => other,
        };
        let (browser, mut events) = launched.map_err(|e| CaptureError::Browser(e.to_string()))?;
        // chromiumoxide needs its handler polled for anything to happen.
        let handler = tokio::spawn(async move { while events.next().await.is_some() {} });
        let session = Session { browser, egress, profile, handler };
        // A page may not leave files on the operator's disk.
        session.browser.execute(SetDownloadBehaviorParams::new(SetDownloadBehaviorBehavior::Deny)).await.map_err(|e| CaptureError::Browser(e.to_string()))?;
        Ok(session)
    }

    /// The connections the egress proxy refused so far.
    pub fn blocked(&self) -> Vec<Blocked> {
        self.egress.as_ref().map(EgressProxy::blocked).unwrap_or_default()
    }

    /// Closes the browser and waits for it to exit; the profile goes with the session.
    pub async fn close(mut self) {
        let closed = tokio::time::timeout(std::time::Duration::from_secs(5), self.browser.close()).await;
        if !matches!(closed, Ok(Ok(_))) {
            let _ = self.browser.kill().await;
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.browser.wait()).await;
        self.handler.abort();
        // The sweep reads all of /proc, and the profile's drop waits up to 2 s for the
        // killed helpers to go: blocking work, kept off the async workers that also
        // answer the API.
        let profile = self.profile.take();
        drop(self);
        let _ = tokio::task::spawn_blocking(move || {
            kill_processes_using(&profile.profile);
            drop(profile);
        })
        .await;
    }

    /// The browser's profile directory (removed with the session).
    pub fn profile_dir(&self) -> &Path {
        &self.profile.profile
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.handler.abort();
        // The main process is killed on drop (kill_on_drop); its helpers are swept by the
        // profile directory's drop. Dropped without `close` on an async worker (an error
        // path, a cancelled task), that sweep, which reads all of /proc and may wait 2 s,
        // moves to a blocking thread, off the workers that also answer the API.
        if let (false, Ok(runtime)) = (self.profile.is_empty(), tokio::runtime::Handle::try_current()) {
            let profile = self.profile.take();
            runtime.spawn_blocking(move || drop(profile));
        }
    }
}

/// Kills every process with an argument naming `profile` or a path inside it (Chromium's
/// helpers carry `--user-data-dir`, its crash handler a folder within), so nothing
/// outlives a session and no other session's browser is touched: the path must end at
/// a component boundary (`…-1` is a prefix of `…-10`).
pub fn kill_processes_using(profile: &Path) -> Vec<i32> {
    let path = profile.to_string_lossy().to_string();
    let mut killed = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return killed };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if names_path(&String::from_utf8_lossy(&cmdline), &path) {
            // SIGKILL: the session is over; nothing of it is worth a graceful exit.
            // SAFETY: kill(2) with a pid read from /proc; no memory is shared.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            killed.push(pid);
        }
    }
    killed
}

/// Waits (up to `limit`) until none of `pids` runs any more (a killed process's
/// teardown takes a moment; a zombie counts as gone).
pub(super) fn wait_gone(pids: &[i32], limit: std::time::Duration) {
    let started = std::time::Instant::now();
    let running = |pid: &i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
    };
    while pids.iter().any(running) && started.elapsed() < limit {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether a command line holds `path` as a whole path: followed by its end, a `/`, or
/// the end of an argument (a NUL, or a space where a helper rewrote its title).
fn names_path(cmdline: &str, path: &str) -> bool {
    cmdline.match_indices(path).any(|(at, _)| matches!(cmdline[at + path.len()..].chars().next(), None | Some('/' | '\0' | ' ')))
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
/// them) and removes their profile directories, wrappers and cgroups, in the temp folder
/// and in `profiles`. Profiles are named after the process that made them, so a live
/// process's browsers are never touched.
pub fn sweep_orphans(profiles: Option<&Path>) -> usize {
    let alive = |owner: i32| owner == std::process::id() as i32 || std::path::Path::new(&format!("/proc/{owner}")).exists();
    let mut swept = 0;
    for folder in std::iter::once(std::env::temp_dir()).chain(profiles.map(Path::to_path_buf)) {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(owner) = name.strip_prefix("demoreel-chromium-").and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<i32>().ok()) else {
                continue;
            };
            if alive(owner) {
                continue;
            }
            if name.ends_with(".launch") {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            wait_gone(&kill_processes_using(&entry.path()), std::time::Duration::from_secs(2));
            let _ = std::fs::remove_dir_all(entry.path());
            swept += 1;
        }
    }
    super::confine::remove_orphan_cgroups(alive);
    swept
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_profile_matches_itself_and_its_insides_not_a_longer_name() {
        let path = "/tmp/demoreel-chromium-7-1";
        assert!(super::names_path("--user-data-dir=/tmp/demoreel-chromium-7-1", path));
        assert!(super::names_path("--database=/tmp/demoreel-chromium-7-1/Crashpad", path));
        assert!(!super::names_path("--user-data-dir=/tmp/demoreel-chromium-7-10", path));
        assert!(super::names_path("chromium --type=renderer --user-data-dir=/tmp/demoreel-chromium-7-1 --lang=en-US", path));
        assert!(super::names_path("chromium\0--user-data-dir=/tmp/demoreel-chromium-7-1\0--lang=en-US", path));
    }
}
