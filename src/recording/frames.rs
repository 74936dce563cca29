//! The frame source. Input: screencast frames from Chromium. Output: the same frames,
//! with monotonic times, to every consumer that subscribed (the live `raw.mp4`, later a
//! live view in a web page).
//! Invariant: a slow consumer can only lose frames itself (it sees how many it missed);
//! it never holds up the capture, and the recording bundle is written before any consumer
//! sees the frame.

use std::sync::Arc;
use tokio::sync::broadcast;

#[derive(Debug)]
pub struct CapturedFrame {
    /// ms since the recording started, clamped to be monotonic.
    pub t_ms: f64,
    /// JPEG bytes exactly as Chromium delivered them.
    pub jpeg: Vec<u8>,
}

pub struct FrameSource {
    sender: broadcast::Sender<Arc<CapturedFrame>>,
    latest_ms: f64,
}

/// How many frames a consumer may fall behind before it starts losing the oldest.
const BACKLOG: usize = 256;

impl Default for FrameSource {
    fn default() -> Self {
        FrameSource { sender: broadcast::channel(BACKLOG).0, latest_ms: 0.0 }
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

    /// Clamps the time (Chromium's screencast timestamps sometimes step back) and hands
    /// the frame to the consumers.
    pub fn publish(&mut self, t_ms: f64, jpeg: Vec<u8>) -> Arc<CapturedFrame> {
        self.latest_ms = self.latest_ms.max(t_ms);
        let frame = Arc::new(CapturedFrame { t_ms: self.latest_ms, jpeg });
        let _ = self.sender.send(frame.clone());
        frame
    }
}
