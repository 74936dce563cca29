//! Command-line edge. Input: argv. Output: the command run, a progress bar on a terminal
//! and one summary line on stdout. Invariant: arguments are validated into typed values
//! before anything is written.

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
    let layout = crate::compose::Layout::for_demo(
        Size { width: parsed.options.video.width, height: parsed.options.video.height },
        1.0,
        &parsed.options.video,
    );
    let content = Size { width: layout.mapping.dest.width, height: layout.mapping.dest.height };
    let mut record_options = crate::capture::RecordOptions::for_content(content, parsed.options.video.fps);
    record_options.blur_emails = parsed.options.video.blur_emails;
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
    fn ask<'a>(&'a self, prompt: &'a str) -> futures::future::BoxFuture<'a, Result<String, String>> {
        let prompt = prompt.to_string();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || read_secret_line(&prompt)).await.map_err(|e| e.to_string())?
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
