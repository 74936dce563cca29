//! `demoreel serve`: flags and environment resolved into one [`crate::serve::ServeConfig`].
//! Input: arguments and `DEMOREEL_*` variables. Output: a running server until Ctrl-C.
//! Invariant: every value is checked before the server starts; the secret key is read
//! from a file or the environment, never from an argument.

use super::runtime;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "DEMOREEL_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Where state lives: the SQLite database, artifacts, work files, the URL-signing key.
    #[arg(long, env = "DEMOREEL_DATA_DIR", default_value = "demoreel-data")]
    pub data_dir: PathBuf,
    /// The database, if not DATA_DIR/demoreel.db: a path, `sqlite://PATH`, or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (shared with `demoreel worker`s).
    #[arg(long, env = "DEMOREEL_DATABASE")]
    pub database: Option<String>,
    /// Where artifacts and kept recordings go: a directory (or `file://DIR`), or an
    /// S3-compatible bucket, `s3://BUCKET/PREFIX?endpoint=URL&region=R&downloads=redirect|stream`,
    /// with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set (default: DATA_DIR/artifacts).
    #[arg(long, env = "DEMOREEL_STORE")]
    pub store: Option<String>,
    /// Browsers recording at once.
    #[arg(long, env = "DEMOREEL_RECORDINGS_AT_ONCE", default_value_t = 1)]
    pub recordings_at_once: usize,
    /// Renders at once.
    #[arg(long, env = "DEMOREEL_RENDERS_AT_ONCE", default_value_t = 1)]
    pub renders_at_once: usize,
    /// Re-render tasks this process renders at once (0: it renders none, and leaves them
    /// to workers elsewhere sharing the database).
    #[arg(long, env = "DEMOREEL_RENDER_JOB_SLOTS", default_value_t = 1)]
    pub render_job_slots: usize,
    /// In-process workers: 1 records runs (`--recordings-at-once` browsers) and renders
    /// re-render tasks (`--render-job-slots`) here; 0 answers the API only, leaving the
    /// work to other `demoreel serve` processes and `demoreel worker`s sharing the database.
    #[arg(long, env = "DEMOREEL_WORKERS", default_value_t = 1)]
    pub workers: u32,
    /// Seconds a run waits for input (a one-time code) before it fails `input_expired`.
    #[arg(long, env = "DEMOREEL_INPUT_WINDOW_SECS", default_value_t = 300)]
    pub input_window_secs: u64,
    /// Seconds a run may take once started (recording and rendering) before it fails
    /// `time_limit`.
    #[arg(long, env = "DEMOREEL_MAX_RUN_SECS", default_value_t = 900)]
    pub max_run_secs: u64,
    /// File holding the 32-byte key (hex or base64) that encrypts stored passwords;
    /// DEMOREEL_SECRET_KEY may hold the key itself instead.
    #[arg(long, env = "DEMOREEL_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Requests per second one API key may make (sustained).
    #[arg(long, env = "DEMOREEL_RATE_LIMIT", default_value_t = 20.0)]
    pub rate_limit: f64,
    /// Requests one API key may make in a burst above the rate.
    #[arg(long, env = "DEMOREEL_RATE_BURST", default_value_t = 60.0)]
    pub rate_burst: f64,
    /// Largest request body, in bytes.
    #[arg(long, env = "DEMOREEL_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Base URL of the signed download links (default: the Host the client used).
    #[arg(long, env = "DEMOREEL_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Networks (CIDRs, addresses) and host names runs may reach beyond the public
    /// internet, comma-separated: `127.0.0.1/32,staging.internal`. By default loopback,
    /// private, link-local and other inward addresses are refused, in the browser too.
    #[arg(long, env = "DEMOREEL_ALLOW_TARGETS", default_value = "")]
    pub allow_targets: String,
    /// Runs one API key may have queued; more get 429 (`queue_full`).
    #[arg(long, env = "DEMOREEL_MAX_QUEUED_PER_KEY", default_value_t = 50)]
    pub max_queued_per_key: u32,
    /// Runs of one API key recording or rendering at once (default: --recordings-at-once);
    /// keys take turns for the browser slots either way.
    #[arg(long, env = "DEMOREEL_MAX_ACTIVE_PER_KEY")]
    pub max_active_per_key: Option<u32>,
    /// Seconds a client has to send a request's head (a keep-alive connection's next
    /// one too) before the connection is closed.
    #[arg(long, env = "DEMOREEL_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a request may take, its body included, before it is answered 408.
    #[arg(long, env = "DEMOREEL_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Most client connections open at once; more wait to be accepted.
    #[arg(long, env = "DEMOREEL_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a signed download link works.
    #[arg(long, env = "DEMOREEL_DOWNLOAD_TTL_SECS", default_value_t = 3600)]
    pub download_ttl_secs: u64,
    /// Hours an ended run's small work files (its recording's index and timeline,
    /// events, plan) are kept under the data directory's `runs/`; 0 keeps them. Frames
    /// and videos go when the run ends (the videos are artifacts by then).
    #[arg(long, env = "DEMOREEL_WORK_RETENTION_HOURS", default_value_t = 168)]
    pub work_retention_hours: u64,
    /// The system user a run's browser runs as, with Chromium's sandbox, when the server
    /// runs as root (`scripts/setup.sh` creates it). `root` keeps the browser as root,
    /// without its sandbox. Ignored when the server is not root (the browser then runs as
    /// the server's user).
    #[arg(long, env = "DEMOREEL_BROWSER_USER", default_value = "demoreel-browser")]
    pub browser_user: String,
    /// Memory cap, in MiB, on a run's browser and every process it starts (a cgroup,
    /// where this process may make one); 0 for none.
    #[arg(long, env = "DEMOREEL_BROWSER_MEMORY_MB", default_value_t = 2048)]
    pub browser_memory_mb: u64,
}

/// As whom and how big a run's browser runs, from `--browser-user` and
/// `--browser-memory-mb`; the profiles go under the data directory.
fn confinement(args: &ServeArgs) -> Result<crate::capture::confine::Confinement> {
    use crate::capture::confine::{BrowserUser, Confinement, running_as_root};
    let user = if !running_as_root() || args.browser_user == "root" {
        if running_as_root() {
            tracing::warn!("--browser-user root: the browser runs as root, without its sandbox");
        }
        None
    } else {
        let user = BrowserUser::lookup(&args.browser_user).with_context(|| {
            format!(
                "--browser-user {}: no such user (scripts/setup.sh creates demoreel-browser; `--browser-user root` keeps the browser as root, without its sandbox)",
                args.browser_user
            )
        })?;
        if user.uid == 0 {
            bail!("--browser-user {}: has uid 0; give an unprivileged user (or `root` to mean root)", args.browser_user);
        }
        Some(user)
    };
    if args.browser_memory_mb != 0 && args.browser_memory_mb < 256 {
        bail!("--browser-memory-mb must be 0 (no cap) or at least 256, not {}", args.browser_memory_mb);
    }
    let profiles = match &user {
        Some(user) if !crate::capture::confine::reachable_by(user, &args.data_dir) => {
            let outside = crate::capture::confine::profiles_outside(&args.data_dir).map_err(anyhow::Error::msg)?;
            tracing::warn!(
                data_dir = %args.data_dir.display(),
                profiles = %outside.display(),
                "the browser user cannot reach the data directory (a folder above it is private); browser profiles go elsewhere"
            );
            outside
        }
        _ => args.data_dir.join("browsers"),
    };
    Ok(Confinement {
        user,
        profiles: Some(profiles),
        memory_limit_mb: (args.browser_memory_mb > 0).then_some(args.browser_memory_mb),
    })
}

/// The operator's key for stored passwords and sealed input values: the file
/// --secret-key-file names, else DEMOREEL_SECRET_KEY itself, else none.
fn secret_key(args: &ServeArgs) -> Result<Option<[u8; 32]>> {
    Ok(match (&args.secret_key_file, std::env::var("DEMOREEL_SECRET_KEY").ok().filter(|k| !k.is_empty())) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("--secret-key-file {}", path.display()))?;
            Some(crate::secrets::parse_key(&text, &format!("--secret-key-file {}", path.display()))?)
        }
        (None, Some(text)) => Some(crate::secrets::parse_key(&text, "DEMOREEL_SECRET_KEY")?),
        (None, None) => None,
    })
}

pub(super) fn run(args: ServeArgs) -> Result<()> {
    let secret_key = secret_key(&args)?;
    if !(args.rate_limit > 0.0 && args.rate_burst >= 1.0) {
        bail!("--rate-limit must be above 0 and --rate-burst at least 1");
    }
    if args.workers > 1 {
        bail!("--workers must be 0 (the API only) or 1 (runs and renders here too, the default), not {}; more work at once is --recordings-at-once and --render-job-slots", args.workers);
    }
    if args.recordings_at_once == 0 || args.renders_at_once == 0 || args.input_window_secs == 0 || args.max_run_secs == 0 {
        bail!("--recordings-at-once, --renders-at-once, --input-window-secs and --max-run-secs must be at least 1");
    }
    if args.header_timeout_secs == 0 || args.request_timeout_secs == 0 || args.max_connections == 0 {
        bail!("--header-timeout-secs, --request-timeout-secs and --max-connections must be at least 1");
    }
    if args.max_queued_per_key == 0 || args.max_active_per_key == Some(0) {
        bail!("--max-queued-per-key and --max-active-per-key must be at least 1");
    }
    let targets = crate::egress::TargetPolicy::parse(&args.allow_targets, "--allow-targets").map_err(anyhow::Error::msg)?;
    let browser = confinement(&args)?;
    let config = crate::serve::ServeConfig {
        browser,
        work_retention: (args.work_retention_hours > 0).then(|| std::time::Duration::from_secs(args.work_retention_hours * 3600)),
        addr: args.addr,
        data_dir: args.data_dir,
        database: args.database,
        store: args.store,
        recordings_at_once: args.recordings_at_once,
        renders_at_once: args.renders_at_once,
        render_job_slots: args.render_job_slots,
        workers: args.workers == 1,
        input_window: std::time::Duration::from_secs(args.input_window_secs),
        max_run: std::time::Duration::from_secs(args.max_run_secs),
        secret_key,
        api: crate::api::ApiConfig {
            max_body_bytes: args.max_body_bytes,
            download_ttl_s: args.download_ttl_secs,
            rate_per_second: args.rate_limit,
            rate_burst: args.rate_burst,
            public_url: args.public_url,
            targets,
            max_queued_per_key: args.max_queued_per_key,
        },
        max_active_per_key: args.max_active_per_key.unwrap_or(args.recordings_at_once as u32),
        http: crate::serve::http::HttpLimits {
            header_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
            request_timeout: std::time::Duration::from_secs(args.request_timeout_secs),
            max_connections: args.max_connections,
        },
    };
    let runtime = runtime()?;
    let served = runtime.block_on(async {
        let mut server = crate::serve::start(config).await?;
        // The one line scripts wait for.
        println!("demoreel serving on http://{}", server.addr);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SIGTERM (a service manager, `docker stop`) stops like Ctrl-C: the runs in flight
        // end with their browsers, and the next start settles them (re-queued, or failed
        // `interrupted`).
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            _ = server.wait() => {}
            _ = tokio::signal::ctrl_c() => eprintln!("demoreel: stopping (interrupt)"),
            _ = terminate.recv() => eprintln!("demoreel: stopping (terminate)"),
        }
        server.release_render_tasks().await;
        drop(server);
        Ok(())
    });
    // Tasks end with the runtime (a recording's browser with its capture); a render on a
    // blocking thread is not waited for: its run is settled at the next start.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    served
}

