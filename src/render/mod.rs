//! One render: recording + options → `raw.mp4` and/or `demo.mp4`.
//! Input: an opened [`Recording`] and validated [`RenderOptions`]. Output: finished files
//! in the output directory and a [`RenderSummary`].
//! Invariant: frames stream (a captured frame is decoded once, when it first shows, and
//! at most two are held); the outputs appear under their final names only after every
//! one of them has been finalized.

pub mod intro;
mod content_cache;
pub mod live;
mod sink;

use crate::compose::{ComposeError, Compositor, ContentPicture, Layout, OverlayStyle, PageReuse};
use crate::encode::{EncodeError, EncodedFile};
use content_cache::ContentCache;
use sink::{OutputSink, SinkError};
use crate::options::{Background, RenderOptions};
use intro::{IntroClip, IntroOutcome, IntroRequest};
use crate::recording::{Recording, RecordingError};
use crate::timeline::overlays::{OverlayFrame, OverlayTimeline};
use crate::timeline::{Schedule, SlotPicture};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const RAW_MP4: &str = "raw.mp4";
pub const DEMO_MP4: &str = "demo.mp4";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Recording(#[from] RecordingError),
    #[error("{}: {source}", file.display())]
    Compose { file: PathBuf, source: ComposeError },
    #[error("drawing {video}: {source}")]
    Overlay { video: &'static str, source: ComposeError },
    #[error("encoding {video}: {source}")]
    Encode { video: &'static str, source: EncodeError },
    #[error("{}: {reason}", path.display())]
    Output { path: PathBuf, reason: String },
    /// The caller asked to stop; nothing was written.
    #[error("cancelled")]
    Cancelled,
}

/// Which videos to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outputs {
    pub raw: bool,
    pub demo: bool,
    /// `raw.mp4` at the options' video size (the page covering it, as edge to edge)
    /// rather than at the captured size: a re-render at another size resizes both.
    pub raw_at_video_size: bool,
}

impl Outputs {
    pub const BOTH: Outputs = Outputs { raw: true, demo: true, raw_at_video_size: false };
    pub const RAW: Outputs = Outputs { raw: true, demo: false, raw_at_video_size: false };
    pub const DEMO: Outputs = Outputs { raw: false, demo: true, raw_at_video_size: false };
    /// What a re-render makes: both videos at the asked size.
    pub const RESTYLED: Outputs = Outputs { raw: true, demo: true, raw_at_video_size: true };
}

/// Progress of a render, for a bar or an API's progress stage.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    Started { video: &'static str, frames: u64 },
    Advanced { video: &'static str, done: u64 },
    Finished { video: &'static str },
}

#[derive(Debug, Clone)]
pub struct VideoSummary {
    pub name: &'static str,
    pub path: PathBuf,
    pub frames: u64,
    /// Frames actually composited; the rest repeated the picture before them.
    pub composed: u64,
    pub duration: Duration,
    pub wall: Duration,
}

#[derive(Debug, Clone)]
pub struct RenderSummary {
    pub videos: Vec<VideoSummary>,
    pub wall: Duration,
    /// What became of the intro `demo.mp4` was asked to start with.
    pub intro: Option<IntroOutcome>,
}

/// What a progress callback answers: go on, or stop the render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Renders the asked `outputs` of `recording` into `out_dir`. `progress` hears of every
/// stage; answering [`Flow::Stop`] (it is asked every 15 output frames: well under a
/// second) ends the render with [`RenderError::Cancelled`], leaving no output behind.
pub fn render(
    recording: &Recording,
    options: &RenderOptions,
    out_dir: &Path,
    outputs: Outputs,
    progress: &mut dyn FnMut(Progress) -> Flow,
) -> Result<RenderSummary, RenderError> {
    render_with_intro(recording, options, None, out_dir, outputs, progress)
}

/// [`render`], with `demo.mp4` starting on the card of `intro`. Best effort: a card that
/// cannot be made leaves the video without it, and the summary says why.
pub fn render_with_intro(
    recording: &Recording,
    options: &RenderOptions,
    intro: Option<&IntroRequest>,
    out_dir: &Path,
    outputs: Outputs,
    progress: &mut dyn FnMut(Progress) -> Flow,
) -> Result<RenderSummary, RenderError> {
    let started = Instant::now();
    std::fs::create_dir_all(out_dir)
        .map_err(|e| RenderError::Output { path: out_dir.to_path_buf(), reason: e.to_string() })?;
    let meta = &recording.meta;
    let fps = options.video.fps;
    let mut encoded: Vec<(EncodedFile, VideoSummary)> = Vec::new();
    let mut intro_outcome = None;
    let mut run = |name: &'static str, schedule: Schedule, layout: Layout, background: Background, overlays: OverlayTimeline, intro: Option<&IntroRequest>| {
        let compositor = Compositor::with_style(layout, &background, meta.frame_size, OverlayStyle::of(&options.video));
        let (file, summary, outcome) = render_video(recording, name, &schedule, compositor, &overlays, intro, &out_dir.join(name), progress)?;
        if outcome.is_some() {
            intro_outcome = outcome;
        }
        Ok::<_, RenderError>((file, summary))
    };
    let result = (|| {
        if outputs.raw {
            // raw.mp4 is the capture as it happened: no overlays, no cuts.
            let layout = match outputs.raw_at_video_size {
                true => Layout::for_raw_at(meta.frame_size, meta.device_scale_factor, crate::geometry::Size { width: options.video.width, height: options.video.height }),
                false => Layout::for_raw(meta.frame_size, meta.device_scale_factor),
            };
            encoded.push(run(RAW_MP4, Schedule::raw(recording, fps), layout, Background::None, OverlayTimeline::none(), None)?);
        }
        if outputs.demo {
            let layout = Layout::for_demo(meta.frame_size, meta.device_scale_factor, &options.video);
            let schedule = Schedule::demo(recording, fps);
            let overlays = OverlayTimeline::build(recording, schedule.cuts(), &options.video);
            encoded.push(run(DEMO_MP4, schedule, layout, options.video.background, overlays, intro)?);
        }
        Ok::<_, RenderError>(())
    })();
    if let Err(error) = result {
        encoded.into_iter().for_each(|(file, _)| file.discard());
        return Err(error);
    }
    let mut videos = Vec::new();
    for (file, summary) in encoded {
        file.commit().map_err(|source| RenderError::Encode { video: summary.name, source })?;
        videos.push(summary);
    }
    Ok(RenderSummary { videos, wall: started.elapsed(), intro: intro_outcome })
}

/// Plays the intro ahead of the demo's first slot: draws that slot's picture (the card
/// hands over to it), pushes the card's slots, then shows the picture after them.
/// Answers what became of the intro and how many slots it took (0 when it failed).
fn play_intro(
    sink: &mut OutputSink,
    request: &IntroRequest,
    first: ContentPicture<'_>,
    overlays: &OverlayFrame,
    slot: &crate::timeline::Slot,
    name: &'static str,
    progress: &mut dyn FnMut(Progress) -> Flow,
) -> Result<(IntroOutcome, u64), RenderError> {
    let encode_error = |source| RenderError::Encode { video: name, source };
    let picture = sink.compose_copy(Some(first), overlays).map_err(|error| match error {
        SinkError::Compose(source) => RenderError::Overlay { video: name, source },
        SinkError::Encode(source) => RenderError::Encode { video: name, source },
    })?;
    let fps = sink.fps();
    let (outcome, slots) = match request.make_card(Some(&picture), sink.compositor().layout().output) {
        Ok(card) => {
            let clip = IntroClip::new(&card, request.template.manifest.transition_ms as f64, fps);
            let finished = clip
                .push(sink.video(), &picture, &mut |i| !(i % 15 == 0 && progress(Progress::Advanced { video: name, done: i + 1 }) == Flow::Stop))
                .map_err(encode_error)?;
            if !finished {
                return Err(RenderError::Cancelled);
            }
            (IntroOutcome::Added { template: request.reference(), slots: clip.slots(), duration_ms: card.duration_ms() }, clip.slots())
        }
        Err(error) => (IntroOutcome::Failed { template: request.reference(), reason: error.to_string() }, 0),
    };
    let offset_ns = crate::timeline::slot_pts_ns(slots, fps);
    sink.show_whole(&picture, slot.pts_ns + offset_ns, slot.duration_ns).map_err(encode_error)?;
    Ok((outcome, slots))
}

#[allow(clippy::too_many_arguments)]
fn render_video(
    recording: &Recording,
    name: &'static str,
    schedule: &Schedule,
    compositor: Compositor,
    overlays: &OverlayTimeline,
    intro: Option<&IntroRequest>,
    target: &Path,
    progress: &mut dyn FnMut(Progress) -> Flow,
) -> Result<(EncodedFile, VideoSummary, Option<IntroOutcome>), RenderError> {
    let started = Instant::now();
    let encode_error = |source| RenderError::Encode { video: name, source };
    let sink_error = |error| match error {
        SinkError::Compose(source) => RenderError::Overlay { video: name, source },
        SinkError::Encode(source) => RenderError::Encode { video: name, source },
    };
    let mut sink = OutputSink::start(target, compositor, schedule.fps()).map_err(encode_error)?;
    let mut cache = ContentCache::new(recording, schedule, sink.compositor());
    // What the sink's last picture shows (captured frame, overlays): a slot showing the
    // same is a repeat.
    let mut last: Option<(SlotPicture, OverlayFrame)> = None;
    let mut composed = 0u64;
    let fps = schedule.fps();
    let intro_slots = intro.map_or(0, |i| crate::timeline::slot_count(i.template.manifest.duration_ms as f64, fps));
    // Only the callback's answers to `Advanced` stop a render; the others are news.
    let _ = progress(Progress::Started { video: name, frames: schedule.len() + intro_slots });
    // Where the demo's slots start: after the intro's, when there is one.
    let mut offset_ns = 0u64;
    let mut intro_outcome = None;
    let mut frames = schedule.len();
    let mut slots = schedule.slots().peekable();
    while let Some(slot) = slots.next() {
        let slot = crate::timeline::Slot { pts_ns: slot.pts_ns + offset_ns, ..slot };
        let picture = cache.load_slot(recording, sink.compositor(), slot.picture)?;
        let shown_now = (picture, overlays.at(slot.output_ms, &cache.mapping(picture)));
        if let (0, Some(request)) = (slot.index, intro) {
            let (outcome, slots) = play_intro(&mut sink, request, cache.picture(picture), &shown_now.1, &slot, name, progress)?;
            offset_ns = crate::timeline::slot_pts_ns(slots, fps);
            frames += slots;
            composed += slots + 1;
            intro_outcome = Some(outcome);
            last = Some(shown_now);
            continue;
        }
        if last.as_ref() == Some(&shown_now) {
            sink.repeat(slot.pts_ns, slot.duration_ns).map_err(encode_error)?;
        } else {
            // Same page and redactions as the last composed frame: only overlays moved.
            let page_unchanged = sink.compositor().page_kept()
                && last.as_ref().is_some_and(|(shown_picture, shown)| *shown_picture == picture && shown.redactions == shown_now.1.redactions);
            let content = (!page_unchanged).then(|| cache.picture(picture));
            // A busy page shows each captured frame once: no copy kept for the next slot.
            let reuse = if slots.peek().is_some_and(|next| next.picture == slot.picture) { PageReuse::Kept } else { PageReuse::ShownOnce };
            sink.show(content, &shown_now.1, reuse, slot.pts_ns, slot.duration_ns).map_err(sink_error)?;
            composed += 1;
            last = Some(shown_now);
        }
        if slot.index % 15 == 0 && progress(Progress::Advanced { video: name, done: slot.index + 1 + (frames - schedule.len()) }) == Flow::Stop {
            // Dropping an unfinished encoder stops its pipeline and removes the file.
            drop(sink);
            return Err(RenderError::Cancelled);
        }
    }
    let file = sink.finish().map_err(encode_error)?;
    let _ = progress(Progress::Advanced { video: name, done: frames });
    let _ = progress(Progress::Finished { video: name });
    let summary = VideoSummary {
        name,
        path: target.to_path_buf(),
        frames,
        composed,
        duration: Duration::from_nanos(schedule.duration_ns() + offset_ns),
        wall: started.elapsed(),
    };
    Ok((file, summary, intro_outcome))
}
