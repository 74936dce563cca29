//! Cuts: spans of the recording left out of `demo.mp4` (every awaiting-input window).
//! Input: timeline events and the recording's duration. Output: the mapping between
//! output time and recording time, and the cross-fade at each join.
//! Invariant: windows are sorted, disjoint and inside [0, duration]; an event inside a
//! window maps to the join, so everything after a cut shifts by exactly the time removed.

use crate::recording::{Event, TimedEvent};

/// Length of the cross-fade that hides the jump at a join.
pub const CROSS_FADE_MS: f64 = 300.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Cuts {
    /// Removed spans of the recording, ms: sorted, disjoint.
    windows: Vec<(f64, f64)>,
    recording_ms: f64,
}

impl Cuts {
    pub fn none(recording_ms: f64) -> Cuts {
        Cuts { windows: Vec::new(), recording_ms }
    }

    /// One window per awaiting-input start/end pair; a start with no end runs to the end of
    /// the recording (the run stopped while it waited).
    pub fn from_events(events: &[TimedEvent], recording_ms: f64) -> Cuts {
        let mut windows = Vec::new();
        let mut open: Option<f64> = None;
        let mut sorted: Vec<&TimedEvent> = events.iter().collect();
        sorted.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        for e in sorted {
            match e.event {
                Event::AwaitingInputStart { .. } => {
                    open.get_or_insert(e.t_ms);
                }
                Event::AwaitingInputEnd {} => {
                    if let Some(start) = open.take() {
                        windows.push((start, e.t_ms));
                    }
                }
                _ => {}
            }
        }
        if let Some(start) = open {
            windows.push((start, recording_ms));
        }
        Cuts::from_windows(windows, recording_ms)
    }

    pub fn from_windows(mut windows: Vec<(f64, f64)>, recording_ms: f64) -> Cuts {
        for w in &mut windows {
            w.0 = w.0.clamp(0.0, recording_ms);
            w.1 = w.1.clamp(w.0, recording_ms);
        }
        windows.retain(|w| w.1 > w.0);
        windows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, f64)> = Vec::with_capacity(windows.len());
        for w in windows {
            match merged.last_mut() {
                Some(last) if w.0 <= last.1 => last.1 = last.1.max(w.1),
                _ => merged.push(w),
            }
        }
        Cuts { windows: merged, recording_ms }
    }

    pub fn windows(&self) -> &[(f64, f64)] {
        &self.windows
    }

    pub fn removed_ms(&self) -> f64 {
        self.windows.iter().map(|w| w.1 - w.0).sum()
    }

    pub fn output_duration_ms(&self) -> f64 {
        self.recording_ms - self.removed_ms()
    }

    /// The recording time shown at `output_ms`.
    pub fn to_recording(&self, output_ms: f64) -> f64 {
        let mut t = output_ms;
        for &(start, end) in &self.windows {
            if t >= start {
                t += end - start;
            } else {
                break;
            }
        }
        t
    }

    /// Where a recording moment lands in the output; inside a window, at its join.
    pub fn to_output(&self, recording_ms: f64) -> f64 {
        let mut removed = 0.0;
        for &(start, end) in &self.windows {
            if recording_ms >= end {
                removed += end - start;
            } else if recording_ms > start {
                return start - removed;
            } else {
                break;
            }
        }
        recording_ms - removed
    }

    /// During the cross-fade after a join: the recording time where that cut began and how
    /// far the fade has come (0 → only the frame before the cut, 1 → only the new frame).
    pub fn fade_at(&self, output_ms: f64) -> Option<(f64, f32)> {
        let mut removed = 0.0;
        for &(start, end) in &self.windows {
            let join = start - removed;
            removed += end - start;
            if end >= self.recording_ms {
                break;
            }
            if output_ms >= join && output_ms < join + CROSS_FADE_MS {
                return Some((start, ((output_ms - join) / CROSS_FADE_MS) as f32));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_merge_and_clamp() {
        let cuts = Cuts::from_windows(vec![(5.0, 8.0), (1.0, 3.0), (2.0, 4.0), (9.0, 20.0)], 10.0);
        assert_eq!(cuts.windows(), &[(1.0, 4.0), (5.0, 8.0), (9.0, 10.0)]);
        assert_eq!(cuts.removed_ms(), 7.0);
    }

    #[test]
    fn time_maps_both_ways_around_a_cut() {
        let cuts = Cuts::from_windows(vec![(1000.0, 4000.0)], 10_000.0);
        assert_eq!(cuts.output_duration_ms(), 7000.0);
        assert_eq!(cuts.to_recording(500.0), 500.0);
        assert_eq!(cuts.to_recording(1000.0), 4000.0);
        assert_eq!(cuts.to_recording(2000.0), 5000.0);
        assert_eq!(cuts.to_output(5000.0), 2000.0);
        assert_eq!(cuts.to_output(2500.0), 1000.0);
        let (start, mix) = cuts.fade_at(1150.0).unwrap();
        assert_eq!(start, 1000.0);
        assert!((mix - 0.5).abs() < 1e-6);
        assert_eq!(cuts.fade_at(1400.0), None);
    }

    #[test]
    fn an_unanswered_wait_runs_to_the_end() {
        let events = vec![TimedEvent { t_ms: 6000.0, event: Event::AwaitingInputStart { prompt: None } }];
        let cuts = Cuts::from_events(&events, 10_000.0);
        assert_eq!(cuts.windows(), &[(6000.0, 10_000.0)]);
        assert_eq!(cuts.fade_at(6000.0), None);
    }
}
