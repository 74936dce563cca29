//! The one output sink of every video demoreel writes (`raw.mp4` live or afterwards,
//! `demo.mp4`). Input: per output slot, either what to draw (the page picture and the
//! overlays) or "the same as the slot before". Output: the encoded file. Invariant: a
//! slot that shows the same picture costs no compositing and no conversion; one that
//! only moved overlays redraws only them.

use crate::compose::{ComposeError, Compositor, ContentPicture, PageReuse};
use crate::encode::{EncodeError, EncodedFile, VideoSink};
use crate::timeline::overlays::OverlayFrame;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

pub struct OutputSink {
    compositor: Compositor,
    video: VideoSink,
    fps: u32,
}

impl OutputSink {
    /// Starts `target` for pictures drawn by `compositor` at `fps`.
    pub fn start(target: &Path, compositor: Compositor, fps: u32) -> Result<OutputSink, EncodeError> {
        let video = VideoSink::start(target, compositor.layout().output, fps)?;
        Ok(OutputSink { compositor, video, fps })
    }

    pub fn fps(&self) -> u32 {
        self.fps
    }

    /// The compositor, to prepare (decode and resample) page pictures before showing them.
    pub fn compositor(&mut self) -> &mut Compositor {
        &mut self.compositor
    }

    /// Draws a new picture for one slot. `content: None` keeps the page picture of the
    /// slot before (only the overlays changed), which it must have drawn as
    /// [`PageReuse::Kept`].
    pub fn show(&mut self, content: Option<ContentPicture<'_>>, overlays: &OverlayFrame, reuse: PageReuse, pts_ns: u64, duration_ns: u64) -> Result<(), SinkError> {
        let frame = self.compositor.compose_for(content, overlays, reuse)?;
        self.video.picture(frame.rgba, frame.dirty, pts_ns, duration_ns)?;
        Ok(())
    }

    /// Draws a picture without showing it, and answers a copy (RGBA at the output size):
    /// the picture an intro hands over to. Show it with [`OutputSink::show_whole`].
    pub fn compose_copy(&mut self, content: Option<ContentPicture<'_>>, overlays: &OverlayFrame) -> Result<Vec<u8>, SinkError> {
        Ok(self.compositor.compose(content, overlays)?.rgba.to_vec())
    }

    /// Shows a whole picture drawn elsewhere (every pixel converted).
    pub fn show_whole(&mut self, rgba: &[u8], pts_ns: u64, duration_ns: u64) -> Result<(), EncodeError> {
        let size = self.compositor.layout().output;
        let full = crate::geometry::PixelRect { x: 0, y: 0, width: size.width, height: size.height };
        self.video.picture(rgba, full, pts_ns, duration_ns)
    }

    /// The video being written, for pictures drawn without the compositor (the intro).
    pub fn video(&mut self) -> &mut VideoSink {
        &mut self.video
    }

    /// Shows the last picture again for one slot.
    pub fn repeat(&mut self, pts_ns: u64, duration_ns: u64) -> Result<(), EncodeError> {
        self.video.repeat(pts_ns, duration_ns)
    }

    pub fn finish(self) -> Result<EncodedFile, EncodeError> {
        self.video.finish()
    }
}
