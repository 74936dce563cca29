//! The terminal: secret input without echo or from piped stdin, and the progress bar of a
//! render. Input: a prompt, or render progress. Output: a line read, a bar drawn on
//! stderr. Invariant: a secret typed at the prompt is never echoed, and the terminal's
//! settings are restored.

use crate::options::RenderOptions;
use crate::recording::Recording;
use crate::render::intro::IntroRequest;
use crate::render::{self, Outputs, Progress};
use anyhow::Result;
use std::path::Path;

pub(super) fn render_with_bar(
    recording: &Recording,
    options: &RenderOptions,
    intro: Option<&IntroRequest>,
    out: &Path,
    outputs: Outputs,
) -> Result<render::RenderSummary> {
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
    let summary = render::render_with_intro(recording, options, intro, out, outputs, &mut |p| {
        match p {
            Progress::Started { video, frames } => {
                bar.reset();
                bar.set_length(frames);
                bar.set_prefix(video);
            }
            Progress::Advanced { done, .. } => bar.set_position(done),
            Progress::Finished { .. } => {}
        }
        render::Flow::Continue
    });
    bar.finish_and_clear();
    Ok(summary?)
}

/// Input steps of `demoreel record` ask on the terminal (the value is not echoed) or read
/// the next line of piped stdin.
pub(super) struct TerminalInput;

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


/// The first line of stdin, for a secret that must not be an argument (`--api-key-stdin`,
/// `--password-stdin`, `--value-stdin`); `flag` names where it was asked for.
pub(super) fn stdin_secret_line(flag: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let secret = line.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        anyhow::bail!("{flag}: stdin held nothing");
    }
    Ok(secret)
}
