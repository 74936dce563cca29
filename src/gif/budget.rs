//! Meeting a GIF's byte budget. Input: the settings asked for and, after each try, the
//! bytes it made. Output: the next settings to try and the step that names what was
//! lowered. Invariant: knobs are lowered in a fixed order — frame rate, then width,
//! then colours, then lossiness — a knob only once every knob before it is at its
//! floor, one knob per try; the ladder ends when every knob is at its floor.

use serde::Serialize;

/// Frame rate is not lowered below this (or below what was asked, if less): under
/// 6 frames a second a cursor's glide turns into jumps.
pub const MIN_FPS: u32 = 6;
/// Width is not lowered below this (or below what was asked, if less): under it a
/// product's text stops being readable.
pub const MIN_WIDTH: u32 = 240;
/// Palette sizes, largest first (255: the 256th index is kept for transparency).
pub const COLOUR_STEPS: [u16; 4] = [255, 128, 64, 32];
/// Lossiness levels: 0 keeps every pixel within video compression noise of the
/// picture; each level lets pixels stay further off before they are drawn again.
pub const MAX_LOSSINESS: u8 = 3;

/// The knobs a GIF is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GifSettings {
    pub fps: u32,
    pub width: u32,
    /// Palette entries per scene, at most 255.
    pub colours: u16,
    /// 0 (none) to [`MAX_LOSSINESS`].
    pub lossiness: u8,
}

impl GifSettings {
    /// What `options.artifacts` asks for: full colours, no lossiness.
    pub fn asked(width: u32, fps: u32) -> GifSettings {
        GifSettings { fps: fps.max(1), width, colours: COLOUR_STEPS[0], lossiness: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Knob {
    FrameRate,
    Width,
    Colours,
    Lossiness,
}

impl Knob {
    /// The knob's name in events and messages.
    pub fn name(self) -> &'static str {
        match self {
            Knob::FrameRate => "frame_rate",
            Knob::Width => "width",
            Knob::Colours => "colours",
            Knob::Lossiness => "lossiness",
        }
    }
}

/// One lowering: which knob, from what to what, and the bytes of the try that was over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetStep {
    pub lowered: Knob,
    pub from: u32,
    pub to: u32,
    pub bytes_before: u64,
}

/// The settings to try after `current` made `bytes` over `budget`, or `None` when every
/// knob is at its floor. Frame rate and width jump by the bytes they are expected to
/// save (bytes grow about with the frame rate and the square of the width; the guess is
/// optimistic, since still frames and still areas cost nothing either way, so a jump
/// never overshoots what a smaller step would reach), but by at least a quarter.
pub fn next(current: GifSettings, asked: GifSettings, bytes: u64, budget: u64) -> Option<(GifSettings, BudgetStep)> {
    let share = (budget as f64 / bytes.max(1) as f64).min(1.0);
    let step = |lowered, from: u32, to: u32| BudgetStep { lowered, from, to, bytes_before: bytes };
    let fps_floor = MIN_FPS.min(asked.fps);
    if current.fps > fps_floor {
        let fps = lowered_to(current.fps, share, fps_floor);
        return Some((GifSettings { fps, ..current }, step(Knob::FrameRate, current.fps, fps)));
    }
    let width_floor = MIN_WIDTH.min(asked.width);
    if current.width > width_floor {
        let width = (lowered_to(current.width, share.sqrt(), width_floor) & !1).max(width_floor);
        return Some((GifSettings { width, ..current }, step(Knob::Width, current.width, width)));
    }
    if let Some(&colours) = COLOUR_STEPS.iter().find(|&&c| c < current.colours) {
        return Some((GifSettings { colours, ..current }, step(Knob::Colours, current.colours.into(), colours.into())));
    }
    if current.lossiness < MAX_LOSSINESS {
        let lossiness = current.lossiness + 1;
        return Some((GifSettings { lossiness, ..current }, step(Knob::Lossiness, current.lossiness.into(), lossiness.into())));
    }
    None
}

/// `value` scaled by `share`, at most ¾ of it, at least `floor`.
fn lowered_to(value: u32, share: f64, floor: u32) -> u32 {
    let by_share = (value as f64 * share).floor() as u32;
    by_share.min(value * 3 / 4).max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every step from `asked` while each try is `over` times the budget.
    fn ladder(asked: GifSettings, over: u64) -> Vec<BudgetStep> {
        let (mut current, mut steps) = (asked, Vec::new());
        while let Some((next, step)) = next(current, asked, 1000 * over, 1000) {
            assert!(steps.len() < 20, "the ladder ends");
            current = next;
            steps.push(step);
        }
        steps
    }

    #[test]
    fn knobs_are_lowered_in_order_each_to_its_floor_then_the_ladder_ends() {
        let steps = ladder(GifSettings::asked(960, 12), 2);
        let knobs: Vec<Knob> = steps.iter().map(|s| s.lowered).collect();
        let first_of = |knob| knobs.iter().position(|&k| k == knob).expect("every knob is lowered");
        let last_of = |knob| knobs.iter().rposition(|&k| k == knob).unwrap();
        for pair in [Knob::FrameRate, Knob::Width, Knob::Colours, Knob::Lossiness].windows(2) {
            assert!(last_of(pair[0]) < first_of(pair[1]), "{:?} before {:?}: {knobs:?}", pair[0], pair[1]);
        }
        let end = |knob| steps.iter().rev().find(|s| s.lowered == knob).unwrap().to;
        assert_eq!((end(Knob::FrameRate), end(Knob::Width), end(Knob::Colours), end(Knob::Lossiness)), (MIN_FPS, MIN_WIDTH, 32, MAX_LOSSINESS as u32));
        assert!(steps.windows(2).all(|w| w[0].lowered != w[1].lowered || w[1].from == w[0].to), "each step starts where the last ended: {steps:?}");
    }

    #[test]
    fn a_try_far_over_the_budget_jumps_but_a_try_just_over_lowers_by_a_quarter() {
        let asked = GifSettings::asked(960, 12);
        let (far, _) = next(asked, asked, 10_000, 1_000).unwrap();
        assert_eq!(far.fps, MIN_FPS);
        let (near, _) = next(asked, asked, 1_010, 1_000).unwrap();
        assert_eq!(near.fps, 9);
        let at_floor = GifSettings { fps: MIN_FPS, ..asked };
        let (narrower, step) = next(at_floor, asked, 4_000, 1_000).unwrap();
        assert_eq!((narrower.width, step.lowered), (480, Knob::Width), "a quarter of the bytes: half the width");
    }

    #[test]
    fn a_knob_is_named_alike_in_events_and_messages() {
        for knob in [Knob::FrameRate, Knob::Width, Knob::Colours, Knob::Lossiness] {
            assert_eq!(serde_json::to_value(knob).unwrap(), knob.name());
        }
    }

    #[test]
    fn what_was_asked_below_a_floor_is_never_lowered() {
        let asked = GifSettings::asked(200, 4);
        let knobs: Vec<Knob> = ladder(asked, 3).iter().map(|s| s.lowered).collect();
        assert!(!knobs.contains(&Knob::FrameRate) && !knobs.contains(&Knob::Width), "{knobs:?}");
        assert_eq!(knobs.len(), 3 + MAX_LOSSINESS as usize);
    }
}
