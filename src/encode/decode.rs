//! Reads an MP4 that demoreel wrote. Input: an MP4 path. Output: its stream facts (codec,
//! profile, size, frame count, duration) and its frames as RGBA, in presentation order.
//! Invariant: frames are delivered one at a time, never all held in memory.

use super::{EncodeError, await_eos, launch, load_pipeline, named, pending_error};
use crate::geometry::Size;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::ops::ControlFlow;
use std::path::Path;

pub const DECODE_PIPELINE: &str = "decode-mp4.pipeline";

/// What a decoded stream is.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFacts {
    /// `video/x-h264` for H.264.
    pub codec: String,
    pub profile: Option<String>,
    /// Pixel format the decoder produced (`I420` for yuv420p).
    pub pixel_format: String,
    pub size: Size,
    pub framerate: (i32, i32),
    pub frames: u64,
    /// From the first frame's start to the last frame's end.
    pub duration_ns: u64,
    /// Presentation times of the keyframes (sync samples) in stream time.
    pub keyframes_ns: Vec<u64>,
}

impl VideoFacts {
    /// The longest stretch a seek may have to decode through: between two keyframes, or
    /// from the last one to the end.
    pub fn max_keyframe_gap_ns(&self) -> u64 {
        let mut edges = self.keyframes_ns.clone();
        edges.push(self.duration_ns);
        edges.windows(2).map(|w| w[1].saturating_sub(w[0])).max().unwrap_or(self.duration_ns)
    }
}

/// One decoded frame.
pub struct DecodedFrame {
    pub index: u64,
    /// Presentation time from the first frame (the demuxer may start the stream late
    /// by the encoder's reorder delay; players start it at the first frame).
    pub pts_ns: u64,
    pub size: Size,
    pub rgba: Vec<u8>,
}

/// Decodes `path`, calling `on_frame` with each frame as RGBA. Answers the stream's facts.
pub fn decode(path: &Path, mut on_frame: impl FnMut(DecodedFrame)) -> Result<VideoFacts, EncodeError> {
    run(path, Some(&mut |frame| {
        on_frame(frame);
        ControlFlow::Continue(())
    }))
}

/// Decodes `path` while `on_frame` answers `Continue`; a `Break` stops the decoder there
/// (nothing more is decoded) and answers [`EncodeError::Stopped`].
pub fn decode_while(path: &Path, mut on_frame: impl FnMut(DecodedFrame) -> ControlFlow<()>) -> Result<VideoFacts, EncodeError> {
    run(path, Some(&mut on_frame))
}

/// The stream's facts, decoding every frame without keeping any.
pub fn probe(path: &Path) -> Result<VideoFacts, EncodeError> {
    run(path, None)
}

/// Decodes `path`, handing each frame to `on_frame` (long because the pipeline's set-up,
/// its pull loop and its error paths share the element handles; split, each part would
/// take them all as arguments).
fn run(path: &Path, mut on_frame: Option<&mut dyn FnMut(DecodedFrame) -> ControlFlow<()>>) -> Result<VideoFacts, EncodeError> {
    super::init()?;
    if !path.is_file() {
        return Err(EncodeError::Io { path: path.to_path_buf(), reason: "no such file".into() });
    }
    let description = load_pipeline(DECODE_PIPELINE, &[])?;
    let pipeline = launch(&description, DECODE_PIPELINE)?;
    let src: gst::Element = named(&pipeline, "src", DECODE_PIPELINE)?;
    src.set_property("location", path.to_str().unwrap_or_default());
    let sink: gst_app::AppSink = named(&pipeline, "sink", DECODE_PIPELINE)?;
    let parse: gst::Element = named(&pipeline, "parse", DECODE_PIPELINE)?;
    let decoder: gst::Element = named(&pipeline, "decoder", DECODE_PIPELINE)?;

    // Keyframes are the parsed buffers without the delta-unit flag.
    let keyframes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    if let Some(pad) = parse.static_pad("src") {
        let keyframes = keyframes.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer()
                && !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT)
            {
                keyframes.lock().unwrap().push(buffer.pts().map(|t| t.nseconds()).unwrap_or(0));
            }
            gst::PadProbeReturn::Ok
        });
    }
    let stopped = |pipeline: &gst::Pipeline| {
        let _ = pipeline.set_state(gst::State::Null);
    };
    super::streaming_threads_at_this_priority(&pipeline);
    if pipeline.set_state(gst::State::Playing).is_err() {
        let error = pending_error(&pipeline).unwrap_or_else(|| EncodeError::Flow("decoder refused to start".into()));
        stopped(&pipeline);
        return Err(error);
    }

    let mut frames = 0u64;
    let mut end_ns = 0u64;
    let mut first_pts: Option<u64> = None;
    let mut size = Size { width: 0, height: 0 };
    loop {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) else {
            if sink.is_eos() {
                break;
            }
            // A file that is no MP4 (or breaks mid-way) stops the stream with an error
            // and the sink never sees its end: answer the error instead of waiting on.
            if let Some(error) = pending_error(&pipeline) {
                stopped(&pipeline);
                return Err(error);
            }
            continue;
        };
        let buffer = sample.buffer().ok_or_else(|| EncodeError::Flow("sample without buffer".into()))?;
        let pts = buffer.pts().map(|t| t.nseconds()).unwrap_or(0);
        let first = *first_pts.get_or_insert(pts);
        let pts = pts.saturating_sub(first);
        end_ns = end_ns.max(pts + buffer.duration().map(|d| d.nseconds()).unwrap_or(0));
        if let Some(s) = sample.caps().and_then(|c| c.structure(0)) {
            size = Size {
                width: s.get::<i32>("width").unwrap_or(0) as u32,
                height: s.get::<i32>("height").unwrap_or(0) as u32,
            };
        }
        if let Some(callback) = on_frame.as_mut() {
            let rgba = buffer.map_readable().map_err(|e| EncodeError::Flow(e.to_string()))?.as_slice().to_vec();
            if callback(DecodedFrame { index: frames, pts_ns: pts, size, rgba }).is_break() {
                stopped(&pipeline);
                return Err(EncodeError::Stopped);
            }
        }
        frames += 1;
    }
    let result = await_eos(&pipeline);
    let caps_of = |element: &gst::Element| element.static_pad("src").and_then(|p| p.current_caps());
    let parsed = caps_of(&parse);
    let decoded = caps_of(&decoder);
    stopped(&pipeline);
    result?;

    let parsed = parsed.ok_or_else(|| EncodeError::Flow(format!("{}: no video stream", path.display())))?;
    let parsed = parsed.structure(0).expect("caps have a structure");
    let decoded_format = decoded
        .and_then(|c| c.structure(0).and_then(|s| s.get::<String>("format").ok()))
        .unwrap_or_default();
    let mut keyframes_ns: Vec<u64> =
        keyframes.lock().unwrap().iter().map(|&t| t.saturating_sub(first_pts.unwrap_or(0))).collect();
    keyframes_ns.sort_unstable();
    let framerate = parsed.get::<gst::Fraction>("framerate").map(|f| (f.numer(), f.denom())).unwrap_or((0, 1));
    Ok(VideoFacts {
        codec: parsed.name().to_string(),
        profile: parsed.get::<String>("profile").ok(),
        pixel_format: decoded_format,
        size,
        framerate,
        frames,
        duration_ns: end_ns,
        keyframes_ns,
    })
}

/// The top-level box types of an MP4 file, in file order (`ftyp`, `moov`, `mdat`, …).
pub fn mp4_top_level_boxes(path: &Path) -> Result<Vec<String>, EncodeError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e: std::io::Error| EncodeError::Io { path: path.to_path_buf(), reason: e.to_string() };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let length = file.metadata().map_err(io)?.len();
    let mut boxes = Vec::new();
    let mut offset = 0u64;
    while offset + 8 <= length {
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        file.read_exact(&mut header[..8]).map_err(io)?;
        let mut size = u32::from_be_bytes(header[..4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&header[4..8]).to_string();
        if size == 1 {
            file.read_exact(&mut header[8..16]).map_err(io)?;
            size = u64::from_be_bytes(header[8..16].try_into().unwrap());
        } else if size == 0 {
            size = length - offset;
        }
        if size < 8 {
            return Err(EncodeError::Io { path: path.to_path_buf(), reason: format!("bad box size at {offset}") });
        }
        boxes.push(kind);
        offset += size;
    }
    Ok(boxes)
}
