//! The recording's clock and the bundle being written. Input: frames and events from the
//! screencast, the driver and the page's scripts. Output: lines of the bundle, each on
//! the recording's clock. Invariant: zero is the first frame's own (Chromium) time, and
//! every later time is measured from it on the same wall clock.

use crate::recording::{Event, RecordingWriter, TimedEvent};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) struct Recorder {
    pub(super) writer: Mutex<Option<RecordingWriter>>,
    /// Wall time (ms since the epoch) of the first frame: the recording's zero.
    pub(super) start_epoch_ms: Mutex<Option<f64>>,
}

pub(super) fn now_epoch_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

impl Recorder {
    pub(super) fn new(writer: RecordingWriter) -> Recorder {
        Recorder { writer: Mutex::new(Some(writer)), start_epoch_ms: Mutex::new(None) }
    }

    pub(super) fn t_ms(&self) -> f64 {
        self.t_of_epoch_ms(now_epoch_ms())
    }

    pub(super) fn event(&self, event: Event) {
        self.event_at(self.t_ms(), event);
    }

    /// Recording time of a wall-clock instant (ms since the epoch), e.g. a page event's.
    pub(super) fn t_of_epoch_ms(&self, epoch_ms: f64) -> f64 {
        match *self.start_epoch_ms.lock().unwrap() {
            Some(start) => (epoch_ms - start).max(0.0),
            None => 0.0,
        }
    }

    pub(super) fn event_at(&self, t_ms: f64, event: Event) {
        if let Some(writer) = self.writer.lock().unwrap().as_mut() {
            let _ = writer.add_event(&TimedEvent { t_ms, event });
        }
    }

    /// Stores a frame delivered at `delivered_epoch_ms` (the first one sets zero);
    /// answers its recording time.
    pub(super) fn frame(&self, delivered_epoch_ms: f64, jpeg: &[u8]) -> f64 {
        let t_ms = {
            let mut start = self.start_epoch_ms.lock().unwrap();
            (delivered_epoch_ms - *start.get_or_insert(delivered_epoch_ms)).max(0.0)
        };
        if let Some(writer) = self.writer.lock().unwrap().as_mut() {
            let _ = writer.add_frame(t_ms, jpeg);
        }
        t_ms
    }
}
