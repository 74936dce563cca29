//! `demoreel serve`: flags and environment resolved into one [`crate::serve::ServeConfig`].
//! Input: arguments and `DEMOREEL_*` variables. Output: a running server until Ctrl-C.
//! Invariant: every value is checked before the server starts; the secret key is read
//! from a file or the environment, never from an argument.

use super::runtime;
use anyhow::{Context, Result, bail};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "DEMOREEL_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Where state lives, and the artifact store.
    #[command(flatten)]
    pub state: super::ProcessState,
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
    /// How runs record here: the browser, the operator's key, reachable targets, limits.
    #[command(flatten)]
    pub recording: super::recording::RecordingArgs,
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
    /// Runs one API key may have queued; more get 429 (`queue_full`).
    #[arg(long, env = "DEMOREEL_MAX_QUEUED_PER_KEY", default_value_t = 50)]
    pub max_queued_per_key: u32,
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
    /// Where a demonstration's browser starts when its request names no
    /// `session_config.browser.start_url` (without it, such a request is refused).
    #[arg(long, env = "DEMOREEL_DEMONSTRATION_START_URL")]
    pub demonstration_start_url: Option<String>,
    /// Seconds a signed download link works.
    #[arg(long, env = "DEMOREEL_DOWNLOAD_TTL_SECS", default_value_t = 3600)]
    pub download_ttl_secs: u64,
}

pub(super) fn run(args: ServeArgs) -> Result<()> {
    let recording = &args.recording;
    recording.check()?;
    let secret_key = recording.secret_key()?;
    if !(args.rate_limit > 0.0 && args.rate_burst >= 1.0) {
        bail!("--rate-limit must be above 0 and --rate-burst at least 1");
    }
    if args.workers > 1 {
        bail!("--workers must be 0 (the API only) or 1 (runs and renders here too, the default), not {}; more work at once is --recordings-at-once and --render-job-slots", args.workers);
    }
    if args.recordings_at_once == 0 || args.renders_at_once == 0 {
        bail!("--recordings-at-once and --renders-at-once must be at least 1");
    }
    if args.header_timeout_secs == 0 || args.request_timeout_secs == 0 || args.max_connections == 0 {
        bail!("--header-timeout-secs, --request-timeout-secs and --max-connections must be at least 1");
    }
    if args.max_queued_per_key == 0 {
        bail!("--max-queued-per-key must be at least 1");
    }
    let targets = recording.targets()?;
    if let Some(url) = &args.demonstration_start_url {
        crate::api::validate::http_url(url, &targets).map_err(|reason| anyhow::anyhow!("--demonstration-start-url: {reason}"))?;
    }
    let browser = recording.confinement(&args.state.location.data_dir)?;
    let config = crate::serve::ServeConfig {
        browser,
        work_retention: recording.work_retention(),
        addr: args.addr,
        data_dir: args.state.location.data_dir,
        database: args.state.location.database,
        store: args.state.store,
        recordings_at_once: args.recordings_at_once,
        renders_at_once: args.renders_at_once,
        render_job_slots: args.render_job_slots,
        workers: args.workers == 1,
        input_window: recording.input_window(),
        max_run: recording.max_run(),
        secret_key,
        api: crate::api::ApiConfig {
            max_body_bytes: args.max_body_bytes,
            download_ttl_s: args.download_ttl_secs,
            rate_per_second: args.rate_limit,
            rate_burst: args.rate_burst,
            public_url: args.public_url,
            targets,
            max_queued_per_key: args.max_queued_per_key,
            demonstration_start_url: args.demonstration_start_url,
        },
        max_active_per_key: recording.max_active_per_key.unwrap_or(args.recordings_at_once as u32),
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

