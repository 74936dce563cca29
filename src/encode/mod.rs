//! The encoder: the only code that speaks GStreamer. Input: I420 frames with timestamps.
//! Output: an MP4 file, finalized (EOS awaited) under a hidden partial name that the
//! caller commits with [`EncodedFile::commit`].
//! Invariant: a file being written never appears under its final name; a failed or
//! dropped encode leaves nothing behind.
//!
//! ```text
//!  render loop ──I420 buffers──▶ appsrc "src" ─▶ … pipelines/h264-mp4.pipeline … ─▶ filesink "sink"
//!                          (back-pressure when x264 falls behind: `push` waits for room)
//! ```

pub mod decode;
mod sink;
pub mod yuv;

pub use sink::VideoSink;
pub use yuv::I420Frame;

use crate::geometry::Size;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::path::{Path, PathBuf};

/// The encoding pipeline of raw.mp4 and demo.mp4, in `pipelines/`.
pub const H264_MP4_PIPELINE: &str = "h264-mp4.pipeline";
/// How much raw video appsrc may queue before `push` blocks (a few 1080p I420 frames).
const APPSRC_MAX_BYTES: u64 = 4 * 1920 * 1080 * 3 / 2;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("GStreamer could not start: {0}")]
    Init(String),
    #[error("pipeline file {}: {reason}", path.display())]
    PipelineFile { path: PathBuf, reason: String },
    #[error("GStreamer element {element}: {message}{}", debug.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Element { element: String, message: String, debug: Option<String> },
    #[error("pipeline stopped unexpectedly: {0}")]
    Flow(String),
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    /// The caller asked a decode to stop before the end ([`decode::decode_while`]).
    #[error("decoding stopped before the end")]
    Stopped,
}

/// Initialises GStreamer. Call it first from a thread at the normal priority: GLib's
/// shared thread pool, where GStreamer takes its streaming threads, creates every thread
/// with the scheduling priority of the thread that first used it, so the first use is
/// made here, and not from a background thread (whose priority every later render would
/// otherwise get).
pub fn init() -> Result<(), EncodeError> {
    static POOL_PRIORITY_SET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    gst::init().map_err(|e| EncodeError::Init(e.to_string()))?;
    if !POOL_PRIORITY_SET.load(std::sync::atomic::Ordering::Acquire) && crate::priority::current() <= crate::priority::normal() {
        let pool = gst::TaskPool::new();
        pool.prepare().map_err(|e| EncodeError::Init(format!("GStreamer's thread pool: {e}")))?;
        pool.cleanup();
        POOL_PRIORITY_SET.store(true, std::sync::atomic::Ordering::Release);
    }
    Ok(())
}

/// Reads a pipeline description from `pipelines/`, dropping `#` comment lines and
/// substituting `{name}` placeholders.
pub fn load_pipeline(name: &str, vars: &[(&str, String)]) -> Result<String, EncodeError> {
    let path = crate::project_dir().join("pipelines").join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| EncodeError::PipelineFile { path: path.clone(), reason: e.to_string() })?;
    let mut description: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for (key, value) in vars {
        description = description.replace(&format!("{{{key}}}"), value);
    }
    if let Some(start) = description.find('{') {
        let rest: String = description[start..].chars().take(40).collect();
        return Err(EncodeError::PipelineFile { path, reason: format!("unknown placeholder near {rest:?}") });
    }
    Ok(description)
}

/// Builds a pipeline from its description and finds a named element in it.
fn launch(description: &str, path_hint: &str) -> Result<gst::Pipeline, EncodeError> {
    let element = gst::parse::launch(description).map_err(|e| EncodeError::PipelineFile {
        path: PathBuf::from(format!("pipelines/{path_hint}")),
        reason: e.to_string(),
    })?;
    element.downcast::<gst::Pipeline>().map_err(|_| EncodeError::PipelineFile {
        path: PathBuf::from(format!("pipelines/{path_hint}")),
        reason: "the description is not a pipeline".into(),
    })
}

fn named<T: IsA<gst::Element>>(pipeline: &gst::Pipeline, name: &str, file: &str) -> Result<T, EncodeError> {
    pipeline.by_name(name).and_then(|e| e.downcast::<T>().ok()).ok_or_else(|| EncodeError::PipelineFile {
        path: PathBuf::from(format!("pipelines/{file}")),
        reason: format!("needs an element named {name:?} of the right type"),
    })
}

/// Turns a bus error message into a typed error naming the element.
fn bus_error(message: &gst::Message) -> Option<EncodeError> {
    match message.view() {
        gst::MessageView::Error(err) => Some(EncodeError::Element {
            element: message.src().map(|s| s.path_string().to_string()).unwrap_or_else(|| "pipeline".into()),
            message: err.error().to_string(),
            debug: err.debug().map(|d| d.to_string()),
        }),
        _ => None,
    }
}

/// How long the encoder may take to drain and the muxer to finalize the file after the
/// last frame: seconds at most for any video here; past it something hangs.
const EOS_TIMEOUT_S: u64 = 120;

/// Waits for end-of-stream (or the first error) on a pipeline's bus.
fn await_eos(pipeline: &gst::Pipeline) -> Result<(), EncodeError> {
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(EOS_TIMEOUT_S);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Some(message) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            return Err(EncodeError::Flow(format!("the encoder did not finish the file within {EOS_TIMEOUT_S} s of its last frame")));
        };
        if let Some(error) = bus_error(&message) {
            return Err(error);
        }
        if let gst::MessageView::Eos(..) = message.view() {
            return Ok(());
        }
    }
}

/// Makes the pipeline's streaming threads (and the encoder threads they start) run at the
/// priority of the calling thread: a live `raw.mp4` started on a background thread
/// encodes in the background too. GStreamer takes those threads from a shared pool, so
/// they inherit nothing from the caller; each takes the priority as it enters the
/// pipeline and its own back as it leaves (back up needs privileges, see
/// [`crate::priority::set_current`]).
fn streaming_threads_at_this_priority(pipeline: &gst::Pipeline) {
    let nice = crate::priority::current();
    if nice <= crate::priority::normal() {
        return;
    }
    thread_local! {
        /// A pool thread's own priority while it serves a lowered pipeline.
        static OWN_NICE: std::cell::Cell<Option<i32>> = const { std::cell::Cell::new(None) };
    }
    let bus = pipeline.bus().expect("a pipeline has a bus");
    // A sync handler runs in the thread that posts the message: the streaming thread.
    bus.set_sync_handler(move |_, message| {
        if let gst::MessageView::StreamStatus(status) = message.view() {
            match status.type_() {
                gst::StreamStatusType::Enter => {
                    OWN_NICE.set(Some(crate::priority::current()));
                    crate::priority::set_current(nice);
                }
                gst::StreamStatusType::Leave => {
                    if let Some(own) = OWN_NICE.take() {
                        crate::priority::set_current(own);
                    }
                }
                _ => {}
            }
        }
        gst::BusSyncReply::Pass
    });
}

/// The first error waiting on the bus, if any: the root cause behind a failed push.
fn pending_error(pipeline: &gst::Pipeline) -> Option<EncodeError> {
    let bus = pipeline.bus()?;
    while let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let Some(error) = bus_error(&message) {
            return Some(error);
        }
    }
    None
}

/// A video being encoded to an MP4 file (fed through [`VideoSink`]).
struct Encoder {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    partial: PathBuf,
    target: PathBuf,
    done: bool,
}

/// A finalized MP4 under its partial name.
#[derive(Debug)]
pub struct EncodedFile {
    partial: PathBuf,
    target: PathBuf,
}

impl EncodedFile {
    /// Moves the file to its final name.
    pub fn commit(self) -> Result<PathBuf, EncodeError> {
        crate::files::commit(&self.partial, &self.target).map_err(|e| EncodeError::Io { path: self.target.clone(), reason: e.to_string() })?;
        Ok(self.target)
    }

    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

impl Encoder {
    /// Starts encoding `size` frames at `fps` into `target` (written as `.NAME.partial`).
    fn start(target: &Path, size: Size, fps: u32) -> Result<Encoder, EncodeError> {
        init()?;
        let description = load_pipeline(H264_MP4_PIPELINE, &[("key_int_max", (2 * fps).to_string())])?;
        let pipeline = launch(&description, H264_MP4_PIPELINE)?;
        let appsrc: gst_app::AppSrc = named(&pipeline, "src", H264_MP4_PIPELINE)?;
        let sink: gst::Element = named(&pipeline, "sink", H264_MP4_PIPELINE)?;

        let partial = crate::files::partial_path(target);
        sink.set_property("location", partial.to_str().ok_or_else(|| EncodeError::Io {
            path: partial.clone(),
            reason: "path is not UTF-8".into(),
        })?);

        // A nominal frame rate, not 0/1: with 0/1 the muxer dropped the last frame.
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", size.width as i32)
            .field("height", size.height as i32)
            .field("framerate", gst::Fraction::new(fps as i32, 1))
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .field("colorimetry", "bt709")
            .field("interlace-mode", "progressive")
            .build();
        appsrc.set_caps(Some(&caps));
        appsrc.set_format(gst::Format::Time);
        appsrc.set_is_live(false);
        // Not blocking: a push waits for room itself (`wait_for_room`), watching the bus,
        // because a blocked push into a pipeline that stopped on an error never returns.
        appsrc.set_block(false);
        appsrc.set_max_bytes(APPSRC_MAX_BYTES);

        streaming_threads_at_this_priority(&pipeline);
        let encoder = Encoder { pipeline, appsrc, partial, target: target.to_path_buf(), done: false };
        encoder.pipeline.set_state(gst::State::Playing).map_err(|_| {
            pending_error(&encoder.pipeline).unwrap_or_else(|| EncodeError::Flow("the pipeline refused to start".into()))
        })?;
        Ok(encoder)
    }

    /// Wraps I420 planes into a buffer (one copy: the planes keep being updated).
    fn buffer_from(frame: &I420Frame) -> gst::Buffer {
        gst::Buffer::from_mut_slice(frame.data.clone())
    }

    /// Pushes one frame. `buffer` may share memory with an earlier push (a repeated
    /// picture): only its timestamps are new.
    fn push(&mut self, buffer: &gst::Buffer, pts_ns: u64, duration_ns: u64) -> Result<(), EncodeError> {
        self.wait_for_room()?;
        let mut buffer = buffer.copy();
        {
            let b = buffer.get_mut().expect("a fresh copy is writable");
            b.set_pts(gst::ClockTime::from_nseconds(pts_ns));
            b.set_duration(gst::ClockTime::from_nseconds(duration_ns));
        }
        self.appsrc.push_buffer(buffer).map(|_| ()).map_err(|flow| {
            pending_error(&self.pipeline).unwrap_or_else(|| EncodeError::Flow(format!("{flow:?}")))
        })
    }

    /// Back-pressure: waits while appsrc holds [`APPSRC_MAX_BYTES`] (x264 is behind),
    /// answering the pipeline's error as soon as one is posted.
    fn wait_for_room(&self) -> Result<(), EncodeError> {
        while self.appsrc.current_level_bytes() >= APPSRC_MAX_BYTES {
            if let Some(error) = pending_error(&self.pipeline) {
                return Err(error);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(())
    }

    /// Ends the stream, waits until the file is finalized, and hands it over.
    fn finish(mut self) -> Result<EncodedFile, EncodeError> {
        self.appsrc
            .end_of_stream()
            .map_err(|flow| pending_error(&self.pipeline).unwrap_or_else(|| EncodeError::Flow(format!("{flow:?}"))))?;
        await_eos(&self.pipeline)?;
        let _ = self.pipeline.set_state(gst::State::Null);
        self.done = true;
        Ok(EncodedFile { partial: self.partial.clone(), target: self.target.clone() })
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.pipeline.set_state(gst::State::Null);
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
