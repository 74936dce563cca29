//! What the overlay layers show in one output frame. Input: the recording's events, the
//! cuts, the video options and the content mapping. Output: an [`OverlayFrame`] per output
//! time — cursor, click ripples, key chips and redacted rectangles, in output px.
//! Invariant: an `OverlayFrame` is quantized (1/8 px, 1/1000 of opacity or scale), so two
//! frames that would draw the same pixels compare equal and the second is not recomposited.

use super::cursor::{self, CursorPath};
use super::keys::ChipSchedule;
use super::Cuts;
use crate::geometry::{ContentMapping, Css, PixelRect, Point, Rect};
use crate::options::{CursorSize, VideoOptions};
use crate::recording::{CursorShape, Event, Recording, TimedEvent};

/// A click's ripple grows and fades over this long.
pub const RIPPLE_MS: f64 = 450.0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorDraw {
    /// The tip (hotspot) in output px × 8.
    pub tip_x8: i64,
    pub tip_y8: i64,
    pub shape: CursorShape,
    /// Press dip, × 1000.
    pub scale_milli: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RippleDraw {
    pub center_x8: i64,
    pub center_y8: i64,
    /// How far the ripple has run, × 1000.
    pub phase_milli: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipDraw {
    pub label: String,
    pub count: u32,
    pub opacity_milli: u32,
    pub row_milli: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlayFrame {
    pub redactions: Vec<PixelRect>,
    pub cursor: Option<CursorDraw>,
    pub ripples: Vec<RippleDraw>,
    pub chips: Vec<ChipDraw>,
}

#[derive(Debug, Clone)]
struct Redaction {
    start: f64,
    end: f64,
    rect: Rect<Css>,
}

/// The overlay timeline of one demo render.
#[derive(Debug, Clone)]
pub struct OverlayTimeline {
    cursor: Option<CursorPath>,
    chips: Option<ChipSchedule>,
    redactions: Vec<Redaction>,
}

fn q8(v: f64) -> i64 {
    (v * 8.0).round() as i64
}

fn milli(v: f64) -> u32 {
    (v.clamp(0.0, 1000.0) * 1000.0).round() as u32
}

/// Each masked rectangle the page reported, with the recording times it holds: until its
/// report runs out, or until the page navigates, whichever is first (the rectangles
/// belong to the page that reported them, not to the next one).
fn redactions(events: &[TimedEvent]) -> Vec<(f64, f64, Rect<Css>)> {
    let navigations: Vec<f64> = events.iter().filter(|e| matches!(e.event, Event::Navigation { .. })).map(|e| e.t_ms).collect();
    events
        .iter()
        .filter_map(|e| match e.event {
            Event::Redact { x, y, width, height, duration_ms } => {
                let reported_end = e.t_ms + duration_ms.max(0.0);
                let left_at = navigations.iter().copied().find(|&t| t > e.t_ms).unwrap_or(f64::INFINITY);
                Some((e.t_ms, reported_end.min(left_at), Rect::new(x, y, width, height)))
            }
            _ => None,
        })
        .collect()
}

impl OverlayTimeline {
    pub fn build(recording: &Recording, cuts: &Cuts, video: &VideoOptions) -> OverlayTimeline {
        let events = cursor::to_output_events(&recording.events, |t| cuts.to_output(t));
        let redactions = redactions(&recording.events).into_iter().map(|(start, end, rect)| Redaction { start: cuts.to_output(start), end: cuts.to_output(end), rect }).collect();
        OverlayTimeline {
            cursor: (video.cursor != CursorSize::None).then(|| CursorPath::build(&events)),
            chips: video.shortcuts.then(|| ChipSchedule::build(&events)),
            redactions,
        }
    }

    /// A timeline that draws nothing (raw.mp4).
    pub fn none() -> OverlayTimeline {
        OverlayTimeline { cursor: None, chips: None, redactions: Vec::new() }
    }

    pub fn at(&self, t: f64, mapping: &ContentMapping) -> OverlayFrame {
        let dest = mapping.dest;
        let redactions = self
            .redactions
            .iter()
            .filter(|r| r.start <= t && t < r.end)
            .filter_map(|r| clip(mapping.css_rect_to_output(r.rect), dest))
            .collect();
        let mut frame = OverlayFrame { redactions, ..Default::default() };
        if let Some(path) = &self.cursor
            && let Some(tip) = path.position(t)
        {
            let tip = mapping.css_to_output(tip);
            frame.cursor = Some(CursorDraw {
                tip_x8: q8(tip.x),
                tip_y8: q8(tip.y),
                shape: path.shape(t),
                scale_milli: milli(path.press_scale(t)),
            });
            for &press in path.presses().iter().filter(|&&p| p <= t && t - p < RIPPLE_MS) {
                if let Some(at) = path.position(press) {
                    let at = mapping.css_to_output(Point::new(at.x, at.y));
                    frame.ripples.push(RippleDraw {
                        center_x8: q8(at.x),
                        center_y8: q8(at.y),
                        phase_milli: milli((t - press) / RIPPLE_MS),
                    });
                }
            }
        }
        if let Some(chips) = &self.chips {
            frame.chips = chips
                .at(t)
                .into_iter()
                .map(|c| ChipDraw { label: c.label, count: c.count, opacity_milli: milli(c.opacity), row_milli: milli(c.row) })
                .collect();
        }
        frame
    }
}

/// An output-space rectangle rounded outward to whole pixels and clipped to `bounds`.
fn clip(r: Rect<crate::geometry::Output>, bounds: PixelRect) -> Option<PixelRect> {
    let x0 = r.x.floor().max(bounds.x as f64) as u32;
    let y0 = r.y.floor().max(bounds.y as f64) as u32;
    let x1 = r.right().ceil().min(bounds.right() as f64) as u32;
    let y1 = r.bottom().ceil().min(bounds.bottom() as f64) as u32;
    (x1 > x0 && y1 > y0).then(|| PixelRect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_ms: f64, event: Event) -> TimedEvent {
        TimedEvent { t_ms, event }
    }

    #[test]
    fn a_redaction_ends_when_the_page_navigates() {
        let rect = || Event::Redact { x: 10.0, y: 10.0, width: 100.0, height: 20.0, duration_ms: 375.0 };
        let events = vec![
            at(0.0, Event::Navigation { url: "https://a.example/".into() }),
            at(1000.0, rect()),
            at(1100.0, Event::Navigation { url: "https://b.example/".into() }),
            at(2000.0, rect()),
        ];
        let spans: Vec<(f64, f64)> = redactions(&events).iter().map(|(s, e, _)| (*s, *e)).collect();
        assert_eq!(spans, [(1000.0, 1100.0), (2000.0, 2375.0)]);
    }
}
