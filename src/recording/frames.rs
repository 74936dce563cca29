//! The frame source. Input: screencast frames from Chromium. Output: the same frames, in
//! the order they arrived, with the times they were drawn, to every consumer that
//! subscribed (the live `raw.mp4`, later a live view in a web page). A frame may arrive
//! after one drawn later: a consumer that shows frames in time order reorders them.
//! Invariant: a slow consumer can only lose frames itself (it sees how many it missed);
//! it never holds up the capture, and the recording bundle is written before any consumer
//! sees the frame.

use std::sync::Arc;
use tokio::sync::broadcast;

#[derive(Debug)]
pub struct CapturedFrame {
    /// When Chromium drew it, ms since the recording started (as in the bundle's index).
    pub t_ms: f64,
    /// JPEG bytes exactly as Chromium delivered them, shared (not copied) by every
    /// consumer: the live raw.mp4, each viewer of a live page.
    pub jpeg: bytes::Bytes,
}

pub struct FrameSource {
    sender: broadcast::Sender<Arc<CapturedFrame>>,
}

/// How many frames a consumer may fall behind before it starts losing the oldest.
const BACKLOG: usize = 256;

impl Default for FrameSource {
    fn default() -> Self {
        FrameSource { sender: broadcast::channel(BACKLOG).0 }
    }
}

impl FrameSource {
    /// A handle that can subscribe more consumers later.
    pub fn sender(&self) -> broadcast::Sender<Arc<CapturedFrame>> {
        self.sender.clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CapturedFrame>> {
        self.sender.subscribe()
    }

    /// Hands the frame drawn at `t_ms` to the consumers.
    pub fn publish(&mut self, t_ms: f64, jpeg: Vec<u8>) -> Arc<CapturedFrame> {
        let frame = Arc::new(CapturedFrame { t_ms, jpeg: jpeg.into() });
        let _ = self.sender.send(frame.clone());
        frame
    }
}
