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
    /// The first write that failed (a full disk, say): from then on nothing more is
    /// written, and finishing the recording fails with this reason.
    pub(super) failure: Mutex<Option<String>>,
    /// Every event as it is written, for a live consumer (a demonstration's events panel).
    pub(super) events: tokio::sync::broadcast::Sender<TimedEvent>,
}

pub(super) fn now_epoch_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

impl Recorder {
    pub(super) fn new(writer: RecordingWriter) -> Recorder {
        Recorder { writer: Mutex::new(Some(writer)), start_epoch_ms: Mutex::new(None), failure: Mutex::new(None), events: tokio::sync::broadcast::channel(256).0 }
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
        let timed = TimedEvent { t_ms, event };
        let mut writer = self.writer.lock().unwrap();
        if let Some(Err(error)) = writer.as_mut().map(|w| w.add_event(&timed)) {
            self.fail(&mut writer, error);
        }
        // Nobody listening is the usual case.
        let _ = self.events.send(timed);
    }

    /// Stores a frame delivered at `delivered_epoch_ms` (the first one sets zero);
    /// answers its recording time.
    pub(super) fn frame(&self, delivered_epoch_ms: f64, jpeg: &[u8]) -> f64 {
        let t_ms = {
            let mut start = self.start_epoch_ms.lock().unwrap();
            (delivered_epoch_ms - *start.get_or_insert(delivered_epoch_ms)).max(0.0)
        };
        let mut writer = self.writer.lock().unwrap();
        if let Some(Err(error)) = writer.as_mut().map(|w| w.add_frame(t_ms, jpeg)) {
            self.fail(&mut writer, error);
        }
        t_ms
    }

    /// The size the frames have (as delivered), for `meta.json`.
    pub(super) fn set_frame_size(&self, size: crate::geometry::Size) {
        if let Some(writer) = self.writer.lock().unwrap().as_mut() {
            writer.set_frame_size(size);
        }
    }

    /// Stops writing after a failed write: a bundle missing lines in its middle would
    /// be wrong without saying so; one that fails says why.
    fn fail(&self, writer: &mut Option<RecordingWriter>, error: std::io::Error) {
        tracing::error!(error = %error, "writing the recording failed; the recording stops keeping frames");
        *writer = None;
        self.failure.lock().unwrap().get_or_insert_with(|| error.to_string());
    }
}
