//! The cursor's path on the output clock. Input: pointer events (CSS px) already moved
//! onto output time by the cuts. Output: where the synthetic cursor is, what shape it
//! has and how far a press has dipped it, at any output time.
//! Invariants: the cursor never teleports — a jump (an automated driver's instant move)
//! becomes an eased, slightly curved path of 300–900 ms that arrives before the press;
//! a person's jitter is smoothed without lag; at every press, release and click the
//! path passes exactly through the event's point; a resting cursor does not move.

use crate::geometry::{Css, Point};
use crate::recording::{CursorShape, Event, TimedEvent};

/// A jump longer than this (CSS px) in one report is a teleport, not a hand's motion…
const TELEPORT_PX: f64 = 24.0;
/// …when it also comes after a pause or faster than a hand moves.
const TELEPORT_AFTER_MS: f64 = 60.0;
const TELEPORT_SPEED_PX_PER_MS: f64 = 4.0;
/// A synthesized move lasts 300 ms plus this much per CSS px, up to 900 ms.
const MOVE_MS_PER_PX: f64 = 0.45;
const MOVE_MIN_MS: f64 = 300.0;
const MOVE_MAX_MS: f64 = 900.0;
/// The cursor comes to rest this long before the press it travels to.
const SETTLE_MS: f64 = 80.0;
/// Spacing of synthesized path samples.
const STEP_MS: f64 = 1000.0 / 120.0;
/// Zero-lag smoothing of a person's motion: a Gaussian over neighbouring reports.
const SMOOTH_SIGMA_MS: f64 = 28.0;
/// Around a pinned point, the smoothed path is pulled onto it over this distance in time.
const PIN_REACH_MS: f64 = 140.0;
/// Press effect: the cursor dips to this scale and returns within `PRESS_MS`.
pub const PRESS_MS: f64 = 220.0;
const PRESS_DIP: f64 = 0.18;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    t: f64,
    x: f64,
    y: f64,
    /// A press, release or click: the path must pass through it exactly.
    pinned: bool,
    /// Made up here (a synthesized move), not reported by the page.
    synthetic: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CursorPath {
    samples: Vec<Sample>,
    shapes: Vec<(f64, CursorShape)>,
    presses: Vec<f64>,
}

/// One event moved onto the output clock.
pub type OutputEvent<'a> = (f64, &'a Event);

impl CursorPath {
    /// Builds the path from events whose times are already output times.
    pub fn build(events: &[OutputEvent<'_>]) -> CursorPath {
        let mut reports: Vec<Sample> = Vec::new();
        let mut shapes = Vec::new();
        let mut presses = Vec::new();
        for &(t, event) in events {
            let (x, y, pinned) = match *event {
                Event::PointerMove { x, y } => (x, y, false),
                Event::PointerDown { x, y, .. } => {
                    presses.push(t);
                    (x, y, true)
                }
                Event::PointerUp { x, y, .. } | Event::Click { x, y, .. } => (x, y, true),
                Event::CursorShape { shape } => {
                    shapes.push((t, shape));
                    continue;
                }
                _ => continue,
            };
            if x.is_finite() && y.is_finite() {
                reports.push(Sample { t, x, y, pinned, synthetic: false });
            }
        }
        reports.sort_by(|a, b| a.t.total_cmp(&b.t));
        shapes.sort_by(|a, b| a.0.total_cmp(&b.0));
        presses.sort_by(f64::total_cmp);
        let smoothed = smooth_runs(&reports);
        CursorPath { samples: bridge_teleports(&smoothed), shapes, presses }
    }

    /// Where the cursor is at output time `t`; None before anything reported a position.
    pub fn position(&self, t: f64) -> Option<Point<Css>> {
        let first = self.samples.first()?;
        if t <= first.t {
            return Some(Point::new(first.x, first.y));
        }
        let after = self.samples.partition_point(|s| s.t <= t);
        if after == self.samples.len() {
            let last = self.samples.last().unwrap();
            return Some(Point::new(last.x, last.y));
        }
        let (a, b) = (self.samples[after - 1], self.samples[after]);
        let u = if b.t > a.t { (t - a.t) / (b.t - a.t) } else { 1.0 };
        Some(Point::new(a.x + (b.x - a.x) * u, a.y + (b.y - a.y) * u))
    }

    pub fn shape(&self, t: f64) -> CursorShape {
        match self.shapes.partition_point(|s| s.0 <= t) {
            0 => CursorShape::Default,
            n => self.shapes[n - 1].1,
        }
    }

    /// The cursor's scale at `t`: 1, dipping briefly after each press.
    pub fn press_scale(&self, t: f64) -> f64 {
        let recent = self.presses.partition_point(|&p| p <= t);
        match recent.checked_sub(1).map(|i| t - self.presses[i]) {
            Some(since) if since < PRESS_MS => 1.0 - PRESS_DIP * (std::f64::consts::PI * since / PRESS_MS).sin(),
            _ => 1.0,
        }
    }

    /// Press times (output ms), for the click effect.
    pub fn presses(&self) -> &[f64] {
        &self.presses
    }
}

fn is_teleport(a: &Sample, b: &Sample) -> bool {
    let distance = (b.x - a.x).hypot(b.y - a.y);
    let dt = b.t - a.t;
    distance > TELEPORT_PX && (dt > TELEPORT_AFTER_MS || distance / dt.max(1e-3) > TELEPORT_SPEED_PX_PER_MS)
}

/// Smooths each continuous run of reports (a person's hand) with a Gaussian in time,
/// then pulls the run back onto its pinned points so clicks land exactly.
fn smooth_runs(reports: &[Sample]) -> Vec<Sample> {
    let mut out = Vec::with_capacity(reports.len());
    let mut start = 0;
    for end in 1..=reports.len() {
        if end == reports.len() || is_teleport(&reports[end - 1], &reports[end]) {
            out.extend(smooth_run(&reports[start..end]));
            start = end;
        }
    }
    out
}

fn smooth_run(run: &[Sample]) -> Vec<Sample> {
    let reach = 3.0 * SMOOTH_SIGMA_MS;
    let mut smoothed: Vec<Sample> = run
        .iter()
        .map(|s| {
            let (mut wx, mut wy, mut w) = (0.0, 0.0, 0.0);
            for n in run.iter().filter(|n| (n.t - s.t).abs() <= reach) {
                let k = (-((n.t - s.t) / SMOOTH_SIGMA_MS).powi(2) / 2.0).exp();
                wx += n.x * k;
                wy += n.y * k;
                w += k;
            }
            Sample { x: wx / w, y: wy / w, ..*s }
        })
        .collect();
    // Pin: near each pinned report, blend the smoothed path toward the offset that puts
    // it exactly on the report (a raised-cosine weight, 1 at the pin).
    let pins: Vec<(f64, f64, f64)> = run
        .iter()
        .zip(&smoothed)
        .filter(|(raw, _)| raw.pinned)
        .map(|(raw, smooth)| (raw.t, raw.x - smooth.x, raw.y - smooth.y))
        .collect();
    for s in &mut smoothed {
        let (mut dx, mut dy, mut best) = (0.0, 0.0, 0.0);
        for &(t, ox, oy) in &pins {
            let d = (s.t - t).abs();
            if d < PIN_REACH_MS {
                let w = 0.5 + 0.5 * (std::f64::consts::PI * d / PIN_REACH_MS).cos();
                if w > best {
                    (dx, dy, best) = (ox * w, oy * w, w);
                }
            }
        }
        s.x += dx;
        s.y += dy;
    }
    smoothed
}

/// Replaces each teleport with an eased, curved move that ends `SETTLE_MS` before the
/// point it jumps to.
fn bridge_teleports(samples: &[Sample]) -> Vec<Sample> {
    let mut out: Vec<Sample> = Vec::with_capacity(samples.len());
    for &b in samples {
        if let Some(&a) = out.last()
            && is_teleport(&a, &b)
        {
            let distance = (b.x - a.x).hypot(b.y - a.y);
            let wanted = (MOVE_MIN_MS + distance * MOVE_MS_PER_PX).min(MOVE_MAX_MS);
            // A jump right after a press leaves less than the settle time: settle for at
            // most half the gap, so the move always departs from the press's point after
            // its time instead of jumping at that very instant.
            let arrive = b.t - SETTLE_MS.min((b.t - a.t) / 2.0);
            let depart = (arrive - wanted).max(a.t);
            // Hold still until departure, travel, rest at the target until the press.
            out.push(Sample { t: depart, synthetic: true, pinned: false, ..a });
            let steps = ((arrive - depart) / STEP_MS).ceil().max(1.0) as usize;
            // The hand's arc: a bow to one side, a tenth of the distance.
            let (nx, ny) = (-(b.y - a.y) / distance, (b.x - a.x) / distance);
            let bow = distance * 0.1;
            for i in 1..steps {
                let u = i as f64 / steps as f64;
                let e = minimum_jerk(u);
                let arc = 4.0 * u * (1.0 - u) * bow;
                out.push(Sample {
                    t: depart + (arrive - depart) * u,
                    x: a.x + (b.x - a.x) * e + nx * arc,
                    y: a.y + (b.y - a.y) * e + ny * arc,
                    pinned: false,
                    synthetic: true,
                });
            }
            out.push(Sample { t: arrive, synthetic: true, pinned: false, ..b });
        }
        out.push(b);
    }
    out
}

/// The position profile of a human reaching movement: starts and stops gently.
fn minimum_jerk(u: f64) -> f64 {
    u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)
}

/// Events moved onto the output clock by `to_output` (the cuts), kept in time order.
pub fn to_output_events<'a>(events: &'a [TimedEvent], to_output: impl Fn(f64) -> f64) -> Vec<OutputEvent<'a>> {
    let mut out: Vec<OutputEvent<'a>> = events.iter().map(|e| (to_output(e.t_ms), &e.event)).collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::Button;

    fn at(path: &CursorPath, t: f64) -> (f64, f64) {
        let p = path.position(t).unwrap();
        (p.x, p.y)
    }

    #[test]
    fn a_driver_jump_becomes_an_eased_move_that_arrives_before_the_press() {
        let events = [
            Event::PointerMove { x: 100.0, y: 100.0 },
            Event::PointerMove { x: 700.0, y: 400.0 },
            Event::PointerDown { x: 700.0, y: 400.0, button: Button::Left },
        ];
        let timed: Vec<OutputEvent> = vec![(0.0, &events[0]), (2000.0, &events[1]), (2010.0, &events[2])];
        let path = CursorPath::build(&timed);
        // Still at the start well before, at the target before the press.
        assert_eq!(at(&path, 1000.0), (100.0, 100.0));
        assert_eq!(at(&path, 2000.0 - SETTLE_MS), (700.0, 400.0));
        assert_eq!(at(&path, 2010.0), (700.0, 400.0));
        // Moving in between, never jumping more than a hand would in one 60 Hz frame.
        let mut last = at(&path, 0.0);
        let mut moving_ms = 0.0;
        let mut t = 0.0;
        while t <= 2010.0 {
            let p = at(&path, t);
            let step = (p.0 - last.0).hypot(p.1 - last.1);
            assert!(step < 40.0, "jumped {step} px at {t} ms");
            if step > 0.01 {
                moving_ms += 1000.0 / 60.0;
            }
            last = p;
            t += 1000.0 / 60.0;
        }
        assert!((300.0..=950.0).contains(&moving_ms), "moved for {moving_ms} ms");
    }

    #[test]
    fn a_hand_is_smoothed_but_lands_on_its_clicks_and_rests_still() {
        let mut events = Vec::new();
        for i in 0..60 {
            let jitter = if i % 2 == 0 { 1.5 } else { -1.5 };
            events.push(Event::PointerMove { x: 200.0 + i as f64 * 5.0 + jitter, y: 300.0 - jitter });
        }
        events.push(Event::Click { x: 497.0, y: 301.0, button: Button::Left });
        let timed: Vec<OutputEvent> =
            events.iter().enumerate().map(|(i, e)| (i as f64 * 1000.0 / 60.0, e)).collect();
        let path = CursorPath::build(&timed);
        let click_t = 60.0 * 1000.0 / 60.0;
        assert_eq!(at(&path, click_t), (497.0, 301.0));
        // The jitter (±1.5 px every report) is mostly gone mid-run.
        let wobble: f64 = (10..40).map(|i| (at(&path, i as f64 * 1000.0 / 60.0).1 - 300.0).abs()).fold(0.0, f64::max);
        assert!(wobble < 0.8, "wobble {wobble}");
        // After the last report nothing moves.
        assert_eq!(at(&path, click_t + 500.0), at(&path, click_t + 5000.0));
    }

    #[test]
    fn a_press_dips_the_cursor_and_it_returns() {
        let down = Event::PointerDown { x: 1.0, y: 1.0, button: Button::Left };
        let path = CursorPath::build(&[(1000.0, &down)]);
        assert_eq!(path.press_scale(999.0), 1.0);
        assert!(path.press_scale(1000.0 + PRESS_MS / 2.0) < 0.85);
        assert_eq!(path.press_scale(1000.0 + PRESS_MS + 1.0), 1.0);
    }
}
