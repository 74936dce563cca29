//! Command-line edge. Input: argv. Output: the command run, a progress bar on a terminal
//! and one summary line on stdout. Invariant: arguments are validated into typed values
//! before anything is written.

pub mod client;

use crate::geometry::Size;
use crate::options::{self, RenderOptions};
use crate::recording::Recording;
use crate::render::{self, Outputs, Progress};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(name = "demoreel", version, about = "Records a browser session and renders polished demo videos from it")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Render raw.mp4 and demo.mp4 from a recording bundle.
    Render {
        /// The recording bundle (a directory with meta.json).
        recording: PathBuf,
        /// Where the videos go (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Render options: inline JSON, a file, or @file (`{"video": {...}}`, spec/video.md).
        #[arg(long)]
        options: Option<String>,
        /// Render only one of the videos.
        #[arg(long, value_enum)]
        only: Option<OnlyVideo>,
    },
    /// Record URL in Chromium while running a step list: writes the recording bundle and
    /// raw.mp4 (encoded live) into --out.
    Record {
        url: String,
        /// The step list: a JSON file (`[...]` or `{"steps": [...]}`, docs/steps.md).
        #[arg(long)]
        steps: Option<PathBuf>,
        /// The recording bundle directory (must not hold a recording yet).
        #[arg(long)]
        out: PathBuf,
        /// Render options the capture is sized for (`video.size`, `video.fps`), as for `render`.
        #[arg(long)]
        options: Option<String>,
    },
    /// Serve the HTTP API with its runners (spec/api.md); state in --data-dir.
    Serve(ServeArgs),
    /// API keys (made directly in the data directory's database; shown once).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Runs through the API: create, status, list, wait, input, cancel, artifacts, download.
    Runs {
        #[command(flatten)]
        client: client::ClientArgs,
        #[command(subcommand)]
        command: client::RunsCommand,
    },
    /// Saved logins for target apps.
    Credentials {
        #[command(flatten)]
        client: client::ClientArgs,
        #[command(subcommand)]
        command: client::CredentialsCommand,
    },
    /// Send feedback about runs.
    Feedback {
        #[command(flatten)]
        client: client::ClientArgs,
        /// The feedback (1..10000 characters).
        #[arg(long)]
        text: String,
        /// A run it is about (repeatable, at most 20).
        #[arg(long = "run")]
        runs: Vec<String>,
    },
    /// Serve Orbit, the bundled sample product, until interrupted (sign in as
    /// ada@orbit.test / orbit-demo-2026; one-time codes appear at /outbox).
    SampleApp {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: std::net::SocketAddr,
    },
    /// Test fixtures.
    Fixture {
        #[command(subcommand)]
        command: FixtureCommand,
    },
}

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
    /// Seconds a signed download link works.
    #[arg(long, env = "DEMOREEL_DOWNLOAD_TTL_SECS", default_value_t = 3600)]
    pub download_ttl_secs: u64,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create an API key; it is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        label: String,
        #[arg(long, env = "DEMOREEL_DATA_DIR", default_value = "demoreel-data")]
        data_dir: PathBuf,
        /// Also save it (with --server) as the CLI's default key.
        #[arg(long)]
        save: bool,
        #[arg(long, env = "DEMOREEL_SERVER")]
        server: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum FixtureCommand {
    /// Write a synthetic recording of a scripted session with a sample product.
    Synth {
        #[arg(long)]
        out: PathBuf,
        /// Length in seconds (4..3600).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Frame size in pixels, WxH (even numbers).
        #[arg(long, default_value = "1280x720", value_parser = parse_size)]
        size: Size,
    },
    /// Write demo.mp4's static base (background and shadow, no page) as a PNG, for
    /// comparisons with other tools that must draw onto the same background.
    Background {
        #[arg(long)]
        out: PathBuf,
        /// Render options, as for `render`.
        #[arg(long)]
        options: Option<String>,
        /// Size of the captured frames the layout is made for, WxH.
        #[arg(long, default_value = "1920x1080", value_parser = parse_size)]
        frame_size: Size,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlyVideo {
    Raw,
    Demo,
}

fn parse_size(text: &str) -> Result<Size, String> {
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(|| format!("{text:?} is not WxH"))?;
    let number = |s: &str| s.trim().parse::<u32>().map_err(|_| format!("{text:?} is not WxH"));
    Ok(Size { width: number(w)?, height: number(h)? })
}

/// Reads `--options`: inline JSON (starts with `{`), `@file`, or a file path.
pub fn read_options(arg: Option<&str>) -> Result<options::Parsed> {
    let text = match arg {
        None => "{}".to_string(),
        Some(text) if text.trim_start().starts_with('{') => text.to_string(),
        Some(path) => {
            let path = path.strip_prefix('@').unwrap_or(path);
            std::fs::read_to_string(path).with_context(|| format!("--options: cannot read {path}"))?
        }
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--options: invalid JSON: {e}"))?;
    options::parse(&value).map_err(|e| {
        let lines: Vec<String> = e.details.iter().map(|d| format!("  {}: {}", d.field, d.message)).collect();
        anyhow::anyhow!("invalid options:\n{}", lines.join("\n"))
    })
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Render { recording, out, options, only } => render_command(&recording, &out, options.as_deref(), only),
        Command::Record { url, steps, out, options } => record_command(&url, steps.as_deref(), &out, options.as_deref()),
        Command::SampleApp { addr } => sample_app_command(addr),
        Command::Serve(args) => serve_command(args),
        Command::Keys { command: KeysCommand::Create { label, data_dir, save, server } } => keys_create(&label, &data_dir, save, server.as_deref()),
        Command::Runs { client, command } => exit_with(runtime()?.block_on(client::runs(&client, command))?),
        Command::Credentials { client, command } => exit_with(runtime()?.block_on(client::credentials(&client, command))?),
        Command::Feedback { client, text, runs } => exit_with(runtime()?.block_on(client::feedback(&client, text, runs))?),
        Command::Fixture { command: FixtureCommand::Synth { out, seconds, size } } => {
            let summary = crate::fixture::synth(&out, &crate::fixture::SynthOptions { seconds, size })?;
            println!(
                "wrote {}: {} frames, {} events, {:.2} s at {size}, awaiting input {:.2}–{:.2} s",
                out.display(),
                summary.frames,
                summary.events,
                summary.duration_ms / 1000.0,
                summary.awaiting_input.0 / 1000.0,
                summary.awaiting_input.1 / 1000.0
            );
            Ok(())
        }
        Command::Fixture { command: FixtureCommand::Background { out, options, frame_size } } => {
            let parsed = read_options(options.as_deref())?;
            let video = &parsed.options.video;
            let layout = crate::compose::Layout::for_demo(frame_size, 1.0, video);
            let base = crate::compose::Compositor::new(layout.clone(), &video.background, frame_size).base().to_vec();
            image::save_buffer(&out, &base, layout.output.width, layout.output.height, image::ExtendedColorType::Rgba8)
                .with_context(|| format!("writing {}", out.display()))?;
            let dest = layout.mapping.dest;
            println!("{} {} {} {}", dest.x, dest.y, dest.width, dest.height);
            Ok(())
        }
    }
}

fn record_command(url: &str, steps: Option<&Path>, out: &Path, options: Option<&str>) -> Result<()> {
    let parsed = read_options(options)?;
    let step_list = match steps {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("--steps: cannot read {}", path.display()))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--steps {}: invalid JSON: {e}", path.display()))?;
            crate::capture::steps::parse(&value).map_err(|e| anyhow::anyhow!("--steps {}: {e}", path.display()))?
        }
    };
    crate::capture::steps::check_url(url).map_err(|e| anyhow::anyhow!("URL: {e}"))?;
    let record_options = crate::capture::RecordOptions::for_video(&parsed.options.video);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = runtime.block_on(crate::capture::record(url, &step_list, out, &record_options, &TerminalInput))?;
    println!(
        "recorded {} frames over {:.2} s into {} (raw.mp4 at {})",
        summary.frames,
        summary.duration_ms / 1000.0,
        summary.bundle.display(),
        summary.raw_mp4.display()
    );
    Ok(())
}

fn render_command(recording: &Path, out: &Path, options: Option<&str>, only: Option<OnlyVideo>) -> Result<()> {
    // Everything is checked before anything is written.
    let parsed = read_options(options)?;
    for warning in &parsed.warnings {
        eprintln!("warning: {warning}");
    }
    let recording = Recording::open(recording)?;
    let outputs = match only {
        None => Outputs::BOTH,
        Some(OnlyVideo::Raw) => Outputs { raw: true, demo: false },
        Some(OnlyVideo::Demo) => Outputs { raw: false, demo: true },
    };
    if out.exists() && !out.is_dir() {
        bail!("--out {} exists and is not a directory", out.display());
    }
    let summary = render_with_bar(&recording, &parsed.options, out, outputs)?;
    let parts: Vec<String> = summary
        .videos
        .iter()
        .map(|v| format!("{} ({} frames, {:.2} s)", v.name, v.frames, v.duration.as_secs_f64()))
        .collect();
    let video_seconds: f64 = summary.videos.iter().map(|v| v.duration.as_secs_f64()).sum();
    let wall = summary.wall.as_secs_f64();
    println!(
        "rendered {} into {} in {wall:.2} s ({:.1}× realtime)",
        parts.join(" and "),
        out.display(),
        video_seconds / wall.max(1e-9)
    );
    Ok(())
}

fn render_with_bar(recording: &Recording, options: &RenderOptions, out: &Path, outputs: Outputs) -> Result<render::RenderSummary> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use std::io::IsTerminal;
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:40}] {pos}/{len} frames {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let summary = render::render(recording, options, out, outputs, &mut |p| match p {
        Progress::Started { video, frames } => {
            bar.reset();
            bar.set_length(frames);
            bar.set_prefix(video);
        }
        Progress::Advanced { done, .. } => bar.set_position(done),
        Progress::Finished { .. } => {}
    });
    bar.finish_and_clear();
    Ok(summary?)
}

fn sample_app_command(addr: std::net::SocketAddr) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let app = crate::sample_app::start(addr).await.with_context(|| format!("--addr {addr}: cannot listen"))?;
        // The one line a script waits for: where the app is.
        println!("sample app listening on {}", app.url("/"));
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        Ok(())
    })
}

/// Input steps of `demoreel record` ask on the terminal (the value is not echoed) or read
/// the next line of piped stdin.
struct TerminalInput;

impl crate::capture::InputSource for TerminalInput {
    fn ask<'a>(&'a self, prompt: &'a str) -> futures::future::BoxFuture<'a, Result<String, crate::capture::NoValue>> {
        use crate::capture::NoValue;
        let prompt = prompt.to_string();
        Box::pin(async move {
            let read = tokio::task::spawn_blocking(move || read_secret_line(&prompt)).await.map_err(|e| NoValue::Unavailable(e.to_string()))?;
            read.map_err(NoValue::Unavailable)
        })
    }
}

fn read_secret_line(prompt: &str) -> Result<String, String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    eprint!("{prompt}: ");
    let _ = std::io::stderr().flush();
    // SAFETY: termios calls on stdin's descriptor with a zeroed struct filled by tcgetattr.
    let saved = terminal.then(|| unsafe {
        let mut attrs: libc::termios = std::mem::zeroed();
        (libc::tcgetattr(0, &mut attrs) == 0).then(|| {
            let mut quiet = attrs;
            quiet.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &quiet);
            attrs
        })
    });
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(Some(attrs)) = saved {
        // SAFETY: restores the attributes read above.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &attrs) };
    }
    eprintln!();
    match read {
        Ok(0) => Err("stdin closed before a value was given".into()),
        Ok(_) if line.trim().is_empty() => Err("an empty value was given".into()),
        Ok(_) => Ok(line.trim().to_string()),
        Err(e) => Err(format!("reading stdin: {e}")),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

/// Client commands answer an exit code (`runs wait` has several).
fn exit_with(code: i32) -> Result<()> {
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

fn serve_command(args: ServeArgs) -> Result<()> {
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
    if args.recordings_at_once == 0 || args.renders_at_once == 0 || args.input_window_secs == 0 {
        bail!("--recordings-at-once, --renders-at-once and --input-window-secs must be at least 1");
    }
    let config = crate::serve::ServeConfig {
        addr: args.addr,
        data_dir: args.data_dir,
        recordings_at_once: args.recordings_at_once,
        renders_at_once: args.renders_at_once,
        input_window: std::time::Duration::from_secs(args.input_window_secs),
        secret_key,
        api: crate::api::ApiConfig {
            max_body_bytes: args.max_body_bytes,
            download_ttl_s: args.download_ttl_secs,
            rate_per_second: args.rate_limit,
            rate_burst: args.rate_burst,
            public_url: args.public_url,
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

fn keys_create(label: &str, data_dir: &Path, save: bool, server: Option<&str>) -> Result<()> {
    if label.trim().is_empty() || label.chars().count() > 200 {
        bail!("--label must be 1 to 200 characters");
    }
    let key = crate::secrets::new_api_key();
    let created = runtime()?.block_on(async {
        let store = crate::serve::open_store(data_dir).await?;
        use crate::db::Store;
        Ok::<_, anyhow::Error>(store.create_key(label, &crate::secrets::hash_api_key(&key)).await?)
    })?;
    let saved = if save { Some(client::save_config(server, &key)?) } else { None };
    println!("{}", serde_json::to_string_pretty(&serde_json::json!({"id": created.id, "label": created.label, "key": key, "saved_to": saved}))?);
    eprintln!("this key is shown once; demoreel keeps only its hash");
    Ok(())
}
