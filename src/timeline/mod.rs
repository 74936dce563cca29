//! One clock for frames and events. Input: a recording's frame times, its awaiting-input
//! windows and an output frame rate. Output: the output slots of `raw.mp4` or `demo.mp4`,
//! each naming the captured frame(s) it shows.
//! Invariant: slot `i` starts at `i / fps`; it shows the newest frame captured at or before
//! its recording time, so the video never runs ahead of the capture, and the output lasts
//! the recording's duration (less the cuts, for demo) within one frame.

mod cuts;
pub mod cursor;
pub mod keys;
pub mod overlays;

pub use cuts::{CROSS_FADE_MS, Cuts};

use crate::recording::Recording;

/// What one output slot shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlotPicture {
    /// One captured frame.
    Frame(usize),
    /// The join of a cut: `from` (the last frame before the cut) fading into `to`,
    /// `to` weighted by `mix` in (0, 1).
    CrossFade { from: usize, to: usize, mix: f32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub index: u64,
    /// Presentation time and duration in the output, nanoseconds.
    pub pts_ns: u64,
    pub duration_ns: u64,
    /// The slot's start on the output clock, ms.
    pub output_ms: f64,
    /// The moment of the recording this slot shows, ms since the recording started.
    pub recording_ms: f64,
    pub picture: SlotPicture,
}

/// Frame times of a recording, in drawing order (the reader sorts them).
#[derive(Debug, Clone)]
pub struct FrameClock {
    times_ms: Vec<f64>,
}

impl FrameClock {
    pub fn new(times_ms: Vec<f64>) -> FrameClock {
        debug_assert!(times_ms.windows(2).all(|w| w[0] <= w[1]));
        FrameClock { times_ms }
    }

    pub fn of(recording: &Recording) -> FrameClock {
        FrameClock::new(recording.frames.iter().map(|f| f.t_ms).collect())
    }

    /// The newest frame captured at or before `t_ms`; before the first frame, the first
    /// frame (a recording starts on its first painted page).
    pub fn frame_at(&self, t_ms: f64) -> usize {
        self.times_ms.partition_point(|&t| t <= t_ms).saturating_sub(1)
    }
}

/// Number of output frames for `duration_ms` at `fps`.
pub fn slot_count(duration_ms: f64, fps: u32) -> u64 {
    (duration_ms * fps as f64 / 1000.0).round().max(1.0) as u64
}

/// Presentation time of output slot `index`, nanoseconds.
pub fn slot_pts_ns(index: u64, fps: u32) -> u64 {
    index * 1_000_000_000 / fps as u64
}

/// The slots of one output video.
#[derive(Debug, Clone)]
pub struct Schedule {
    clock: FrameClock,
    cuts: Cuts,
    fps: u32,
    count: u64,
}

impl Schedule {
    /// `raw.mp4`: the whole recording, nothing cut.
    pub fn raw(recording: &Recording, fps: u32) -> Schedule {
        Schedule {
            clock: FrameClock::of(recording),
            cuts: Cuts::none(recording.duration_ms()),
            fps,
            count: slot_count(recording.duration_ms(), fps),
        }
    }

    /// `demo.mp4`: the recording with every awaiting-input window cut out.
    pub fn demo(recording: &Recording, fps: u32) -> Schedule {
        let cuts = Cuts::from_events(&recording.events, recording.duration_ms());
        let count = slot_count(cuts.output_duration_ms(), fps);
        Schedule { clock: FrameClock::of(recording), cuts, fps, count }
    }

    pub fn fps(&self) -> u32 {
        self.fps
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn cuts(&self) -> &Cuts {
        &self.cuts
    }

    pub fn duration_ns(&self) -> u64 {
        slot_pts_ns(self.count, self.fps)
    }

    pub fn slot(&self, index: u64) -> Slot {
        let pts_ns = slot_pts_ns(index, self.fps);
        let output_ms = index as f64 * 1000.0 / self.fps as f64;
        let recording_ms = self.cuts.to_recording(output_ms);
        let to = self.clock.frame_at(recording_ms);
        let picture = match self.cuts.fade_at(output_ms) {
            Some((cut_start_ms, mix)) => {
                // The frame on screen just before the cut began.
                let from = self.clock.frame_at(cut_start_ms - 1e-6);
                if mix <= 0.0 {
                    SlotPicture::Frame(from)
                } else if from == to {
                    SlotPicture::Frame(to)
                } else {
                    SlotPicture::CrossFade { from, to, mix }
                }
            }
            None => SlotPicture::Frame(to),
        };
        Slot {
            index,
            pts_ns,
            duration_ns: slot_pts_ns(index + 1, self.fps) - pts_ns,
            output_ms,
            recording_ms,
            picture,
        }
    }

    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        (0..self.count).map(|i| self.slot(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_at_picks_newest_at_or_before() {
        let clock = FrameClock::new(vec![0.0, 10.0, 10.0, 50.0]);
        assert_eq!(clock.frame_at(0.0), 0);
        assert_eq!(clock.frame_at(9.9), 0);
        assert_eq!(clock.frame_at(10.0), 2);
        assert_eq!(clock.frame_at(49.0), 2);
        assert_eq!(clock.frame_at(1e9), 3);
    }

    #[test]
    fn slot_count_rounds_to_nearest_frame() {
        assert_eq!(slot_count(10_000.0, 30), 300);
        assert_eq!(slot_count(10_010.0, 30), 300);
        assert_eq!(slot_count(10_020.0, 30), 301);
        assert_eq!(slot_count(1000.0, 24), 24);
    }
}
