//! `raw.mp4` while recording. Input: captured frames as they arrive (variable rate).
//! Output: a constant-rate `raw.mp4`, complete the moment the recording stops.
//! Invariant: slot `i` shows the newest frame captured at or before `i / fps` — the same
//! rule as `timeline::Schedule::raw` — and a frame superseded before any slot showed it is
//! never decoded.

use super::frames::CapturedFrame;
use crate::compose::{Compositor, ContentPicture, Layout, PreparedContent};
use crate::encode::{EncodedFile, Encoder, I420Frame};
use crate::geometry::Size;
use crate::options::Background;
use crate::timeline::{overlays::OverlayFrame, slot_count, slot_pts_ns};
use std::path::Path;
use std::sync::Arc;

pub struct LiveRaw {
    fps: u32,
    encoder: Encoder,
    compositor: Compositor,
    planes: I420Frame,
    /// The frame on screen now (not yet decoded if no slot has shown it).
    current: Option<Arc<CapturedFrame>>,
    /// The encoded buffer of `current`, once a slot showed it.
    buffer: Option<gstreamer::Buffer>,
    next_slot: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveRawError {
    #[error("raw.mp4: {0}")]
    Encode(#[from] crate::encode::EncodeError),
    #[error("raw.mp4: frame at {t_ms:.0} ms: {source}")]
    Frame { t_ms: f64, source: crate::compose::ComposeError },
}

impl LiveRaw {
    pub fn start(target: &Path, frame_size: Size, device_scale_factor: f64, fps: u32) -> Result<LiveRaw, LiveRawError> {
        let layout = Layout::for_raw(frame_size, device_scale_factor);
        let output = layout.output;
        Ok(LiveRaw {
            fps,
            encoder: Encoder::start(target, output, fps)?,
            compositor: Compositor::new(layout, &Background::None, frame_size),
            planes: I420Frame::new(output),
            current: None,
            buffer: None,
            next_slot: 0,
        })
    }

    fn slot_ms(&self, slot: u64) -> f64 {
        slot as f64 * 1000.0 / self.fps as f64
    }

    /// Emits every slot that ends before `t_ms` with the frame currently on screen.
    fn emit_until(&mut self, t_ms: f64) -> Result<(), LiveRawError> {
        while self.current.is_some() && self.slot_ms(self.next_slot) < t_ms {
            if self.buffer.is_none() {
                let frame = self.current.as_ref().unwrap();
                let content: PreparedContent = self
                    .compositor
                    .prepare_content(&frame.jpeg)
                    .map_err(|source| LiveRawError::Frame { t_ms: frame.t_ms, source })?;
                let composed = self
                    .compositor
                    .compose(Some(ContentPicture::Frame(&content)), &OverlayFrame::default())
                    .map_err(|source| LiveRawError::Frame { t_ms: frame.t_ms, source })?;
                self.planes.update(composed.rgba, composed.dirty);
                self.buffer = Some(Encoder::buffer_from(&self.planes));
            }
            let pts = slot_pts_ns(self.next_slot, self.fps);
            let end = slot_pts_ns(self.next_slot + 1, self.fps);
            self.encoder.push(self.buffer.as_ref().unwrap(), pts, end - pts)?;
            self.next_slot += 1;
        }
        Ok(())
    }

    /// A new frame (times monotonic, the first at 0).
    pub fn frame(&mut self, frame: Arc<CapturedFrame>) -> Result<(), LiveRawError> {
        self.emit_until(frame.t_ms)?;
        self.current = Some(frame);
        self.buffer = None;
        Ok(())
    }

    /// Fills the video to the recording's duration and finalizes it.
    pub fn finish(mut self, duration_ms: f64) -> Result<EncodedFile, LiveRawError> {
        let slots = slot_count(duration_ms, self.fps);
        self.emit_until(self.slot_ms(slots) - 1e-6)?;
        Ok(self.encoder.finish()?)
    }
}
