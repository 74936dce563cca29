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
    /// Browsers recording at once.
    #[arg(long, env = "DEMOREEL_RECORDINGS_AT_ONCE", default_value_t = 1)]
    pub recordings_at_once: usize,
    /// Renders at once.
    #[arg(long, env = "DEMOREEL_RENDERS_AT_ONCE", default_value_t = 1)]
    pub renders_at_once: usize,
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
    /// Seconds a signed download link works.
    #[arg(long, env = "DEMOREEL_DOWNLOAD_TTL_SECS", default_value_t = 3600)]
    pub download_ttl_secs: u64,
}

pub(super) fn run(args: ServeArgs) -> Result<()> {
    let secret_key = match (&args.secret_key_file, std::env::var("DEMOREEL_SECRET_KEY").ok().filter(|k| !k.is_empty())) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("--secret-key-file {}", path.display()))?;
            Some(crate::secrets::parse_key(&text, &format!("--secret-key-file {}", path.display()))?)
        }
        (None, Some(text)) => Some(crate::secrets::parse_key(&text, "DEMOREEL_SECRET_KEY")?),
        (None, None) => None,
    };
    if !(args.rate_limit > 0.0 && args.rate_burst >= 1.0) {
        bail!("--rate-limit must be above 0 and --rate-burst at least 1");
    }
    if args.recordings_at_once == 0 || args.renders_at_once == 0 || args.input_window_secs == 0 || args.max_run_secs == 0 {
        bail!("--recordings-at-once, --renders-at-once, --input-window-secs and --max-run-secs must be at least 1");
    }
    let targets = crate::egress::TargetPolicy::parse(&args.allow_targets, "--allow-targets").map_err(anyhow::Error::msg)?;
    let config = crate::serve::ServeConfig {
        addr: args.addr,
        data_dir: args.data_dir,
        recordings_at_once: args.recordings_at_once,
        renders_at_once: args.renders_at_once,
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
        },
    };
    runtime()?.block_on(async {
        let mut server = crate::serve::start(config).await?;
        // The one line scripts wait for.
        println!("demoreel serving on http://{}", server.addr);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::select! {
            _ = server.wait() => {}
            _ = tokio::signal::ctrl_c() => eprintln!("demoreel: stopping"),
        }
        Ok(())
    })
}

