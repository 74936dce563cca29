//! Commands that work on this machine without a server: render, record, fixtures, the
//! sample app, and keys made straight in a data directory. Input: parsed arguments.
//! Output: files and one summary line on stdout. Invariant: options and steps are
//! validated before anything is written.

use super::{FixtureCommand, OnlyVideo, runtime, terminal};
use crate::geometry::Size;
use crate::gif::GifSettings;
use crate::options;
use crate::recording::Recording;
use crate::render::Outputs;
use anyhow::{Context, Result, bail};
use std::path::Path;

pub(super) fn parse_size(text: &str) -> Result<Size, String> {
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(|| format!("{text:?} is not WxH"))?;
    let number = |s: &str| s.trim().parse::<u32>().map_err(|_| format!("{text:?} is not WxH"));
    Ok(Size { width: number(w)?, height: number(h)? })
}

/// Reads `--options`: inline JSON (starts with `{`), `@file`, or a file path.
pub fn read_options(arg: Option<&str>) -> Result<options::Parsed> {
    parse_options(&read_options_json(arg)?)
}

/// `--options` as JSON, not yet checked; `{}` when not given.
fn read_options_json(arg: Option<&str>) -> Result<serde_json::Value> {
    Ok(options_arg(arg)?.unwrap_or_else(|| serde_json::json!({})))
}

/// The one rule for reading an `--options` argument, local and remote commands alike:
/// inline JSON (it starts with `{`), or a file named bare or as `@file`.
pub(super) fn options_arg(arg: Option<&str>) -> Result<Option<serde_json::Value>> {
    let Some(arg) = arg else { return Ok(None) };
    let text = if arg.trim_start().starts_with('{') {
        arg.to_string()
    } else {
        let path = arg.strip_prefix('@').unwrap_or(arg);
        std::fs::read_to_string(path).with_context(|| format!("--options: cannot read {path}"))?
    };
    Ok(Some(serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--options: invalid JSON: {e}"))?))
}

fn parse_options(value: &serde_json::Value) -> Result<options::Parsed> {
    options::parse(value).map_err(|e| {
        let lines: Vec<String> = e.details.iter().map(|d| format!("  {}: {}", d.field, d.message)).collect();
        anyhow::anyhow!("invalid options:\n{}", lines.join("\n"))
    })
}

pub(super) fn render(recording: &Path, out: &Path, options: Option<&str>, only: Option<OnlyVideo>) -> Result<()> {
    // Everything is checked before anything is written.
    let json = read_options_json(options)?;
    let parsed = parse_options(&json)?;
    for warning in &parsed.warnings {
        eprintln!("warning: {warning}");
    }
    // `options.intro`: demo.mp4 starts on the card, as a run's does.
    let intro = match json.get("intro").filter(|intro| !intro.is_null()) {
        Some(intro) if only != Some(OnlyVideo::Raw) => Some(super::templates::intro_request(intro)?),
        _ => None,
    };
    let recording = Recording::open(recording)?;
    let outputs = match only {
        None => Outputs::BOTH,
        Some(OnlyVideo::Raw) => Outputs::RAW,
        Some(OnlyVideo::Demo) => Outputs::DEMO,
    };
    if out.exists() && !out.is_dir() {
        bail!("--out {} exists and is not a directory", out.display());
    }
    let summary = terminal::render_with_bar(&recording, &parsed.options, intro.as_ref(), out, outputs)?;
    if let Some(crate::render::intro::IntroOutcome::Failed { template, reason }) = &summary.intro {
        eprintln!("warning: the intro card ({template}) could not be made, so demo.mp4 has none: {reason}");
    }
    let parts: Vec<String> = summary
        .videos
        .iter()
        .map(|v| format!("{} ({} frames, {:.2} s)", v.name, v.frames, v.duration.as_secs_f64()))
        .collect();
    let video_seconds: f64 = summary.videos.iter().map(|v| v.duration.as_secs_f64()).sum();
    let wall = summary.wall.as_secs_f64();
    let card = match &summary.intro {
        Some(crate::render::intro::IntroOutcome::Added { template, duration_ms, .. }) => format!(", demo.mp4 starting on the {template} intro card ({:.1} s)", duration_ms / 1000.0),
        _ => String::new(),
    };
    println!(
        "rendered {} into {} in {wall:.2} s ({:.1}× realtime){card}",
        parts.join(" and "),
        out.display(),
        video_seconds / wall.max(1e-9)
    );
    Ok(())
}

pub(super) fn gif(video: &Path, out: &Path, options: Option<&str>) -> Result<()> {
    let parsed = read_options(options)?;
    for warning in &parsed.warnings {
        eprintln!("warning: {warning}");
    }
    if !video.is_file() {
        bail!("{}: no such video file", video.display());
    }
    let artifacts = &parsed.options.artifacts;
    let started = std::time::Instant::now();
    let made = crate::gif::from_mp4(video, out, artifacts.gif_width, artifacts.gif_fps, artifacts.gif_max_bytes)?;
    for step in &made.budget_steps {
        eprintln!("gif_max_bytes: {} bytes is over the budget; {} lowered from {} to {}", step.bytes_before, step.lowered.name(), step.from, step.to);
    }
    if made.over_budget {
        eprintln!("warning: gif_max_bytes: the smallest settings still make {} bytes; kept that GIF", made.bytes);
    }
    let GifSettings { fps, colours, lossiness, .. } = made.settings;
    println!(
        "wrote {} ({}x{}, {fps} fps, {colours} colours, lossiness {lossiness}, {} frames, {} bytes) in {:.2} s",
        out.display(),
        made.width,
        made.height,
        made.frames,
        made.bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(super) fn record(url: &str, steps: Option<&Path>, out: &Path, options: Option<&str>) -> Result<()> {
    let parsed = read_options(options)?;
    let step_list = match steps {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("--steps: cannot read {}", path.display()))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--steps {}: invalid JSON: {e}", path.display()))?;
            crate::steps::parse(&value).map_err(|e| anyhow::anyhow!("--steps {}: {e}", path.display()))?
        }
    };
    crate::steps::url::check(url, crate::steps::Schemes::WebAndFile).map_err(|e| anyhow::anyhow!("URL: {e}"))?;
    let video = &parsed.options.video;
    let record_options = crate::render::live::record_options_for(video);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = runtime.block_on(crate::render::live::record(url, &step_list, out, &record_options, video.fps, &terminal::TerminalInput))?;
    let how = match summary.raw_missed_live {
        None => "encoded live".to_string(),
        Some(missed) => format!("rendered from the recording: the live encoder fell {missed} frames behind"),
    };
    println!(
        "recorded {} frames over {:.2} s into {} (raw.mp4 at {}, {how})",
        summary.frames,
        summary.duration_ms / 1000.0,
        summary.bundle.display(),
        summary.raw_mp4.display()
    );
    Ok(())
}

pub(super) fn sample_app(addr: std::net::SocketAddr) -> Result<()> {
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

pub(super) fn fixture(command: FixtureCommand) -> Result<()> {
    match command {
        FixtureCommand::Synth { out, seconds, size } => {
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
        FixtureCommand::Background { out, options, frame_size } => {
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

/// `keys create | list | revoke`, straight on the server's database (a running
/// server sees the change on its next request: keys are not cached).
pub(super) fn keys(command: super::KeysCommand) -> Result<()> {
    use super::KeysCommand;
    use crate::db::KeyRepo;
    match command {
        KeysCommand::Create { label, state, save, server, expires_in } => {
            if label.trim().is_empty() || label.chars().count() > 200 {
                bail!("--label must be 1 to 200 characters");
            }
            let key = crate::secrets::new_api_key();
            let expires_at = expires_in.map(|d| crate::db::later(d.as_secs()));
            let created = runtime()?.block_on(async {
                let db = crate::serve::open_database(&state.data_dir, state.database.as_deref()).await?;
                Ok::<_, anyhow::Error>(db.create_key(&label, &crate::secrets::hash_api_key(&key), expires_at.as_deref()).await?)
            })?;
            let saved = if save { Some(super::client::save_config(server.as_deref(), &key)?) } else { None };
            let shown = serde_json::json!({"id": created.id, "label": created.label, "key": key, "expires_at": expires_at, "saved_to": saved});
            println!("{}", serde_json::to_string_pretty(&shown)?);
            eprintln!("this key is shown once; demoreel keeps only its hash");
        }
        KeysCommand::List { state } => {
            let keys = runtime()?.block_on(async { Ok::<_, anyhow::Error>(crate::serve::open_database(&state.data_dir, state.database.as_deref()).await?.list_keys().await?) })?;
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({"data": keys}))?);
        }
        KeysCommand::Revoke { id, state } => {
            let revoked = runtime()?.block_on(async {
                Ok::<_, anyhow::Error>(crate::serve::open_database(&state.data_dir, state.database.as_deref()).await?.revoke_key(&crate::db::KeyId::new(id.clone()), &crate::db::now()).await?)
            })?;
            if !revoked {
                bail!("no key has the id {id:?} (see `demoreel keys list`)");
            }
            eprintln!("key {id} revoked");
        }
    }
    Ok(())
}

/// A key's lifetime: a humantime duration (`90d`, `12h`, `30m`), at least a second.
pub(super) fn parse_lifetime(text: &str) -> Result<std::time::Duration, String> {
    let lifetime = humantime::parse_duration(text).map_err(|e| format!("{e} (write it like 90d, 12h or 30m)"))?;
    if lifetime.as_secs() == 0 {
        return Err("must be at least 1s".into());
    }
    Ok(lifetime)
}
