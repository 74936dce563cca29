//! The flags of a process that records runs, shared by `demoreel serve` and `demoreel
//! worker --record-slots`. Input: arguments and `DEMOREEL_*` variables. Output: the
//! browser's confinement, the operator's key, the target policy and the run limits.
//! Invariant: both commands check the same flags the same way, so a run records alike
//! wherever it lands.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct RecordingArgs {
    /// Seconds a run waits for input (a one-time code) before it fails `input_expired`.
    #[arg(long, env = "DEMOREEL_INPUT_WINDOW_SECS", default_value_t = 300)]
    pub input_window_secs: u64,
    /// Seconds a run may take once started (recording and rendering) before it fails
    /// `time_limit`.
    #[arg(long, env = "DEMOREEL_MAX_RUN_SECS", default_value_t = 900)]
    pub max_run_secs: u64,
    /// File holding the 32-byte key (hex or base64) that encrypts stored passwords and
    /// one-time codes passed between processes; DEMOREEL_SECRET_KEY may hold the key
    /// itself instead. Every process sharing a database needs the same key.
    #[arg(long, env = "DEMOREEL_SECRET_KEY_FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,
    /// Networks (CIDRs, addresses) and host names runs may reach beyond the public
    /// internet, comma-separated: `127.0.0.1/32,staging.internal`. By default loopback,
    /// private, link-local and other inward addresses are refused, in the browser too.
    #[arg(long, env = "DEMOREEL_ALLOW_TARGETS", default_value = "")]
    pub allow_targets: String,
    /// Runs of one API key recording or rendering at once in this process (default: as
    /// many as it records at once); keys take turns for the browser slots either way.
    #[arg(long, env = "DEMOREEL_MAX_ACTIVE_PER_KEY")]
    pub max_active_per_key: Option<u32>,
    /// Hours an ended run's small work files (its recording's index and timeline,
    /// events, plan) are kept under the data directory's `runs/`; 0 keeps them. Frames
    /// and videos go when the run ends (the videos are artifacts by then).
    #[arg(long, env = "DEMOREEL_WORK_RETENTION_HOURS", default_value_t = 168)]
    pub work_retention_hours: u64,
    /// The system user a run's browser runs as, with Chromium's sandbox, when this
    /// process runs as root (`scripts/setup.sh` creates it). `root` keeps the browser as
    /// root, without its sandbox. Ignored when the process is not root (the browser then
    /// runs as its user).
    #[arg(long, env = "DEMOREEL_BROWSER_USER", default_value = "demoreel-browser")]
    pub browser_user: String,
    /// Memory cap, in MiB, on a run's browser and every process it starts (a cgroup,
    /// where this process may make one); 0 for none.
    #[arg(long, env = "DEMOREEL_BROWSER_MEMORY_MB", default_value_t = 2048)]
    pub browser_memory_mb: u64,
}

impl RecordingArgs {
    /// The limits every recording process needs, checked by flag name.
    pub fn check(&self) -> Result<()> {
        if self.input_window_secs == 0 || self.max_run_secs == 0 {
            bail!("--input-window-secs and --max-run-secs must be at least 1");
        }
        if self.max_active_per_key == Some(0) {
            bail!("--max-active-per-key must be at least 1");
        }
        if self.browser_memory_mb != 0 && self.browser_memory_mb < 256 {
            bail!("--browser-memory-mb must be 0 (no cap) or at least 256, not {}", self.browser_memory_mb);
        }
        Ok(())
    }

    pub fn input_window(&self) -> Duration {
        Duration::from_secs(self.input_window_secs)
    }

    pub fn max_run(&self) -> Duration {
        Duration::from_secs(self.max_run_secs)
    }

    pub fn work_retention(&self) -> Option<Duration> {
        (self.work_retention_hours > 0).then(|| Duration::from_secs(self.work_retention_hours * 3600))
    }

    pub fn targets(&self) -> Result<crate::egress::TargetPolicy> {
        crate::egress::TargetPolicy::parse(&self.allow_targets, "--allow-targets").map_err(anyhow::Error::msg)
    }

    /// The operator's key for stored passwords and sealed input values: the file
    /// --secret-key-file names, else DEMOREEL_SECRET_KEY itself, else none.
    pub fn secret_key(&self) -> Result<Option<[u8; 32]>> {
        Ok(match (&self.secret_key_file, std::env::var("DEMOREEL_SECRET_KEY").ok().filter(|k| !k.is_empty())) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("--secret-key-file {}", path.display()))?;
                Some(crate::secrets::parse_key(&text, &format!("--secret-key-file {}", path.display()))?)
            }
            (None, Some(text)) => Some(crate::secrets::parse_key(&text, "DEMOREEL_SECRET_KEY")?),
            (None, None) => None,
        })
    }

    /// As whom and how big a run's browser runs, from `--browser-user` and
    /// `--browser-memory-mb`; the profiles go under the data directory.
    pub fn confinement(&self, data_dir: &Path) -> Result<crate::capture::confine::Confinement> {
        use crate::capture::confine::{BrowserUser, Confinement, running_as_root};
        let user = if !running_as_root() || self.browser_user == "root" {
            if running_as_root() {
                tracing::warn!("--browser-user root: the browser runs as root, without its sandbox");
            }
            None
        } else {
            let user = BrowserUser::lookup(&self.browser_user).with_context(|| {
                format!(
                    "--browser-user {}: no such user (scripts/setup.sh creates demoreel-browser; `--browser-user root` keeps the browser as root, without its sandbox)",
                    self.browser_user
                )
            })?;
            if user.uid == 0 {
                bail!("--browser-user {}: has uid 0; give an unprivileged user (or `root` to mean root)", self.browser_user);
            }
            Some(user)
        };
        let profiles = match &user {
            Some(user) if !crate::capture::confine::reachable_by(user, data_dir) => {
                let outside = crate::capture::confine::profiles_outside(data_dir).map_err(anyhow::Error::msg)?;
                tracing::warn!(
                    data_dir = %data_dir.display(),
                    profiles = %outside.display(),
                    "the browser user cannot reach the data directory (a folder above it is private); browser profiles go elsewhere"
                );
                outside
            }
            _ => data_dir.join("browsers"),
        };
        Ok(Confinement {
            user,
            profiles: Some(profiles),
            memory_limit_mb: (self.browser_memory_mb > 0).then_some(self.browser_memory_mb),
        })
    }
}
