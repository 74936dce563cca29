//! An output video fed picture by picture. Input: RGBA pictures of the output size, each
//! with the rectangle that changed since the one before, or "the same picture again".
//! Output: the encoded MP4 (see [`super::Encoder`]). Invariant: only the changed
//! rectangle is converted to I420; a repeated picture re-sends the last buffer with new
//! timestamps (no conversion, no copy of the planes).

use super::{EncodeError, EncodedFile, Encoder, I420Frame};
use crate::geometry::{PixelRect, Size};
use gstreamer as gst;
use std::path::Path;

pub struct VideoSink {
    encoder: Encoder,
    /// The planes of the last picture, updated in place.
    planes: I420Frame,
    /// The buffer of the last picture pushed, shared by its repeats.
    last: Option<gst::Buffer>,
}

impl VideoSink {
    /// Starts encoding `size` pictures at `fps` into `target` (written as `.NAME.partial`).
    pub fn start(target: &Path, size: Size, fps: u32) -> Result<VideoSink, EncodeError> {
        Ok(VideoSink { encoder: Encoder::start(target, size, fps)?, planes: I420Frame::new(size), last: None })
    }

    /// Shows a new picture for one slot: `rgba` is the whole output, `changed` the part
    /// that differs from the previous picture.
    pub fn picture(&mut self, rgba: &[u8], changed: PixelRect, pts_ns: u64, duration_ns: u64) -> Result<(), EncodeError> {
        self.planes.update(rgba, changed);
        let buffer = Encoder::buffer_from(&self.planes);
        self.encoder.push(&buffer, pts_ns, duration_ns)?;
        self.last = Some(buffer);
        Ok(())
    }

    /// Whether a picture was shown (so [`VideoSink::repeat`] has one to repeat).
    pub fn has_picture(&self) -> bool {
        self.last.is_some()
    }

    /// Shows the last picture again for one slot.
    pub fn repeat(&mut self, pts_ns: u64, duration_ns: u64) -> Result<(), EncodeError> {
        let buffer = self.last.as_ref().ok_or_else(|| EncodeError::Flow("no picture to repeat yet".into()))?;
        self.encoder.push(buffer, pts_ns, duration_ns)
    }

    /// Ends the stream and hands over the finalized file.
    pub fn finish(self) -> Result<EncodedFile, EncodeError> {
        self.encoder.finish()
    }
}
