//! `raw.mp4` while recording: a subscriber of the capture's frame source. Input: captured
//! frames as they arrive (variable rate, now and then after a frame drawn later). Output:
//! a constant-rate `raw.mp4`, complete the moment the recording stops, or, when the
//! encoder (below the browser's priority) fell behind the capture, rendered from the
//! bundle right after. Invariant: slot `i`
//! shows the newest frame drawn at or before `i / fps` — the same rule as
//! `timeline::Schedule::raw` on the bundle — for every frame that arrives within
//! [`REORDER_MS`] of a later-drawn one; a frame superseded before any slot showed it is
//! never decoded.
//!
//! ```text
//!  capture ──FrameSource──▶ (broadcast) ──▶ LiveRaw thread: slots ─▶ compose ─▶ encode ─▶ raw.mp4
//! ```

use crate::capture::{Capture, CaptureError, InputSource, RecordOptions, RecordSummary};
use super::sink::{OutputSink, SinkError};
use crate::compose::{Compositor, ContentPicture, Layout, PageReuse};
use crate::encode::EncodedFile;
use crate::geometry::PageSize;
use crate::options::{Background, VideoOptions};
use crate::recording::{CapturedFrame, FrameSource};
use crate::steps::Step;
use crate::timeline::{overlays::OverlayFrame, slot_count, slot_pts_ns};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::broadcast::{Receiver, error::RecvError};

#[derive(Debug, thiserror::Error)]
pub enum LiveRawError {
    #[error("raw.mp4: {0}")]
    Encode(#[from] crate::encode::EncodeError),
    #[error("raw.mp4: frame at {t_ms:.0} ms: {source}")]
    Frame { t_ms: f64, source: crate::compose::ComposeError },
    #[error("raw.mp4: the encoding thread panicked")]
    Panicked,
    #[error("raw.mp4: the capture published no frame")]
    NoFrames,
    #[error("raw.mp4 from the recording {}: {reason}", bundle.display())]
    FromBundle { bundle: PathBuf, reason: String },
}

/// How far (in drawing time) the slots being written stay behind the newest frame, so
/// that a frame delivered after a later-drawn one still lands in the slots of its own
/// time. Chromium's delivery jitter is tens of ms; what arrives later than this is
/// dropped (a newer frame is on screen by then).
pub const REORDER_MS: f64 = 300.0;

/// The encoder side of a live `raw.mp4`.
struct LiveRaw {
    fps: u32,
    sink: OutputSink,
    /// Frames received and not yet placed in a slot, in drawing order.
    waiting: Vec<Arc<CapturedFrame>>,
    /// The newest drawing time received.
    newest_ms: f64,
    /// The frame on screen now (not yet decoded if no slot has shown it).
    current: Option<Arc<CapturedFrame>>,
    /// Whether the sink's last picture is `current` (a slot showed it).
    shown: bool,
    next_slot: u64,
    /// Frames that arrived after a newer one was already on screen.
    too_late: u64,
}

impl LiveRaw {
    fn start(target: &Path, page: PageSize, fps: u32) -> Result<LiveRaw, LiveRawError> {
        let frame_size = page.frame_size();
        let layout = Layout::for_raw(frame_size, page.device_scale_factor);
        let sink = OutputSink::start(target, Compositor::new(layout, &Background::None, frame_size), fps)?;
        Ok(LiveRaw { fps, sink, waiting: Vec::new(), newest_ms: 0.0, current: None, shown: false, next_slot: 0, too_late: 0 })
    }

    fn slot_ms(&self, slot: u64) -> f64 {
        slot as f64 * 1000.0 / self.fps as f64
    }

    /// Puts on screen the newest waiting frame drawn by `slot_ms` (before the first frame,
    /// the first: a recording starts on its first painted page). Answers whether a frame
    /// is on screen.
    fn advance_to(&mut self, slot_ms: f64) -> bool {
        let drawn_by = self.waiting.partition_point(|f| f.t_ms <= slot_ms);
        let take = if drawn_by == 0 && self.current.is_none() { self.waiting.len().min(1) } else { drawn_by };
        if take > 0 {
            self.current = self.waiting.drain(..take).next_back();
            self.shown = false;
        }
        self.current.is_some()
    }

    /// Emits every slot that begins before `t_ms`.
    fn emit_until(&mut self, t_ms: f64) -> Result<(), LiveRawError> {
        loop {
            let slot_ms = self.slot_ms(self.next_slot);
            if slot_ms >= t_ms || !self.advance_to(slot_ms) {
                return Ok(());
            }
            let pts = slot_pts_ns(self.next_slot, self.fps);
            let duration = slot_pts_ns(self.next_slot + 1, self.fps) - pts;
            if self.shown {
                self.sink.repeat(pts, duration)?;
            } else if let Some(frame) = self.current.clone() {
                let frame_error = |source: SinkError| match source {
                    SinkError::Compose(source) => LiveRawError::Frame { t_ms: frame.t_ms, source },
                    SinkError::Encode(e) => LiveRawError::Encode(e),
                };
                let content = self.sink.compositor().prepare_content(&frame.jpeg).map_err(|e| frame_error(e.into()))?;
                self.sink.show(Some(ContentPicture::Frame(&content)), &OverlayFrame::default(), PageReuse::ShownOnce, pts, duration).map_err(frame_error)?;
                self.sink.compositor().recycle_content(content);
                self.shown = true;
            }
            self.next_slot += 1;
        }
    }

    /// A frame as it arrives: waits in drawing order until the slots of its time are
    /// written, [`REORDER_MS`] behind the newest frame.
    fn frame(&mut self, frame: Arc<CapturedFrame>) -> Result<(), LiveRawError> {
        if self.current.as_ref().is_some_and(|shown| frame.t_ms < shown.t_ms) {
            self.too_late += 1;
            return Ok(());
        }
        self.newest_ms = self.newest_ms.max(frame.t_ms);
        let at = self.waiting.partition_point(|f| f.t_ms <= frame.t_ms);
        self.waiting.insert(at, frame);
        self.emit_until(self.newest_ms - REORDER_MS)
    }

    /// Fills the video to the recording's duration and finalizes it.
    fn finish(mut self, duration_ms: f64) -> Result<EncodedFile, LiveRawError> {
        let slots = slot_count(duration_ms, self.fps);
        self.emit_until(self.slot_ms(slots) - 1e-6)?;
        if self.too_late > 0 {
            tracing::debug!(frames = self.too_late, "live raw.mp4: frames that arrived after a newer one was on screen");
        }
        Ok(self.sink.finish()?)
    }
}

/// What the live writer's thread ends with.
enum LiveOutcome {
    /// No frame came: nothing was started.
    NoFrames,
    Encoding(LiveRaw),
    /// It fell behind the capture and missed frames, so it stopped encoding (its partial
    /// file is gone) and only drained the stream since.
    FellBehind { missed: u64 },
}

/// How a live `raw.mp4` ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveRawFinish {
    /// Written during the recording and completed.
    Live(PathBuf),
    /// The encoder fell behind the capture by `missed` frames; `raw.mp4` was rendered from
    /// the bundle after the recording, with every frame.
    FromBundle { path: PathBuf, missed: u64 },
}

impl LiveRawFinish {
    pub fn path(&self) -> &Path {
        match self {
            LiveRawFinish::Live(path) | LiveRawFinish::FromBundle { path, .. } => path,
        }
    }
}

/// A live `raw.mp4` being written on its own thread (it decodes and encodes while the
/// page runs), fed by a subscription to the capture's frames. The thread and the encoder
/// threads it starts run below the browser ([`crate::priority`]): on a busy page the
/// browser's frame rate comes first. When that leaves the encoder too far behind (the
/// capture's [backlog](crate::recording::FrameSource) overflows), it gives up and
/// `raw.mp4` is rendered from the bundle when the recording ends.
pub struct LiveRawWriter {
    thread: std::thread::JoinHandle<Result<LiveOutcome, LiveRawError>>,
    target: PathBuf,
    fps: u32,
}

impl LiveRawWriter {
    /// Starts `dir/raw.mp4` for a capture of `page` at `fps`, reading `frames` until the
    /// capture ends the stream. The encoder starts with the first frame, so a capture that
    /// never began leaves no file.
    pub fn start(dir: &Path, page: PageSize, fps: u32, mut frames: Receiver<Arc<CapturedFrame>>) -> LiveRawWriter {
        let target = dir.join(super::RAW_MP4);
        let path = target.clone();
        // Here, at the caller's priority, before a background thread could be the first
        // to use GStreamer's threads (see `encode::init`); an error shows again at the start.
        let _ = crate::encode::init();
        // Below the browser; composing and conversion split their rows over the
        // background pool it runs in.
        let thread = crate::priority::spawn_in_background("live-raw", move || {
            let mut outcome = LiveOutcome::NoFrames;
            loop {
                match frames.blocking_recv() {
                    Ok(frame) => {
                        if let LiveOutcome::NoFrames = outcome {
                            outcome = LiveOutcome::Encoding(LiveRaw::start(&path, page, fps)?);
                        }
                        if let LiveOutcome::Encoding(live) = &mut outcome {
                            live.frame(frame)?;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        // Dropping the unfinished encoder removes its partial file.
                        let before = match outcome {
                            LiveOutcome::FellBehind { missed } => missed,
                            _ => 0,
                        };
                        outcome = LiveOutcome::FellBehind { missed: before + missed };
                    }
                    Err(RecvError::Closed) => return Ok(outcome),
                }
            }
        });
        let thread = thread.expect("the operating system starts a thread");
        LiveRawWriter { thread, target, fps }
    }

    /// The capture could not be finished. The thread ends by itself when the stream
    /// closes (the capture dropped its source), and its unfinished encoder removes the
    /// partial file; nothing waits for it here, on an async worker.
    pub fn abandon(self) {
        drop(self.thread);
    }

    /// After the capture of `bundle` finished (the stream is closed): fills `raw.mp4` to
    /// the recording's duration, finalizes it and moves it to its name; or, when the
    /// encoder fell behind, renders it from the bundle.
    pub fn finish(self, bundle: &Path, duration_ms: f64) -> Result<LiveRawFinish, LiveRawError> {
        match self.thread.join().map_err(|_| LiveRawError::Panicked)?? {
            LiveOutcome::NoFrames => Err(LiveRawError::NoFrames),
            LiveOutcome::Encoding(live) => {
                live.finish(duration_ms)?.commit()?;
                Ok(LiveRawFinish::Live(self.target))
            }
            LiveOutcome::FellBehind { missed } => {
                tracing::info!(missed, "the live raw.mp4 fell behind the capture; rendering it from the recording");
                let from_bundle = |reason: String| LiveRawError::FromBundle { bundle: bundle.to_path_buf(), reason };
                let recording = crate::recording::Recording::open(bundle).map_err(|e| from_bundle(e.to_string()))?;
                let mut options = crate::options::RenderOptions::default();
                options.video.fps = self.fps;
                let out_dir = self.target.parent().expect("raw.mp4 is in a directory");
                super::render(&recording, &options, out_dir, super::Outputs::RAW, &mut |_| super::Flow::Continue).map_err(|e| from_bundle(e.to_string()))?;
                Ok(LiveRawFinish::FromBundle { path: self.target, missed })
            }
        }
    }
}

/// The capture for a video made with `video` options: the page sized for its content
/// area, e-mail masking as asked.
pub fn record_options_for(video: &VideoOptions) -> RecordOptions {
    RecordOptions { blur_emails: video.blur_emails, ..RecordOptions::new(crate::compose::layout::page_for_video(video)) }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    LiveRaw(#[from] LiveRawError),
}

/// A recording with its live `raw.mp4`.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub bundle: PathBuf,
    pub raw_mp4: PathBuf,
    /// Set when the live encoder fell behind the capture (by this many frames) and
    /// `raw.mp4` was rendered from the bundle after the recording instead.
    pub raw_missed_live: Option<u64>,
    pub frames: u64,
    /// The captured frames' size (device pixels), as delivered.
    pub frame_size: crate::geometry::Size,
    pub duration_ms: f64,
}

/// Records `url` while running `steps` into the bundle `out`, with `out/raw.mp4`
/// written live at `fps`: what `demoreel record` does. A step that fails ends the
/// recording; the frames until then are kept (bundle and `raw.mp4`), and the step's error
/// is the answer.
pub async fn record(url: &str, step_list: &[Step], out: &Path, options: &RecordOptions, fps: u32, input: &dyn InputSource) -> Result<Recorded, RecordError> {
    let source = FrameSource::default();
    let live = LiveRawWriter::start(out, options.page(), fps, source.subscribe());
    let mut capture = match Capture::start(url, out, options, source).await {
        Ok(capture) => capture,
        Err(error) => {
            live.abandon();
            return Err(error.into());
        }
    };
    let mut failed = None;
    for (index, step) in step_list.iter().enumerate() {
        if let Err(error) = capture.step(index + 1, step, input).await {
            failed = Some(error);
            break;
        }
    }
    let finished = capture.finish().await;
    let recorded = finish_live(live, finished).await;
    match failed {
        Some(error) => Err(error.into()),
        None => recorded,
    }
}

/// Completes `raw.mp4` once a capture finished (its frame stream is closed).
pub async fn finish_live(live: LiveRawWriter, finished: Result<RecordSummary, CaptureError>) -> Result<Recorded, RecordError> {
    let summary = match finished {
        Ok(summary) => summary,
        Err(error) => {
            live.abandon();
            return Err(error.into());
        }
    };
    let duration_ms = summary.duration_ms;
    let bundle = summary.bundle.clone();
    // Below the browser: raw.mp4 may have to be rendered from the bundle now, while
    // another run records.
    let raw = crate::priority::in_background("raw-finish", move || live.finish(&bundle, duration_ms)).await.map_err(|_| LiveRawError::Panicked)??;
    let raw_missed_live = match &raw {
        LiveRawFinish::Live(_) => None,
        LiveRawFinish::FromBundle { missed, .. } => Some(*missed),
    };
    Ok(Recorded {
        bundle: summary.bundle,
        raw_mp4: raw.path().to_path_buf(),
        raw_missed_live,
        frames: summary.frames,
        frame_size: summary.frame_size,
        duration_ms: summary.duration_ms,
    })
}
