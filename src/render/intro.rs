//! The intro card in a video. Input: a template with checked values and fetched images,
//! the output size and frame rate, and the demo's first composed frame. Output: the
//! card's frames pushed to a video sink ahead of the demo, ending in a cross-fade into
//! that first frame. Invariant: the card lasts exactly `slot_count(duration)` slots, so
//! the demo after it starts on a slot boundary and only its timestamps shift.

use crate::encode::{EncodeError, VideoSink};
use crate::geometry::{PixelRect, Size};
use crate::templates::{Card, Image, Template, TemplateError, Values};
use crate::timeline::{slot_count, slot_pts_ns};
use std::collections::HashMap;
use std::sync::Arc;

/// What a run asked for: the template, its checked values, and the images fetched for it.
#[derive(Clone, Debug)]
pub struct IntroRequest {
    pub template: Arc<Template>,
    pub values: Values,
    pub images: HashMap<String, Image>,
}

impl IntroRequest {
    /// `name@version`.
    pub fn reference(&self) -> String {
        self.template.manifest.reference()
    }

    pub fn make_card(&self, first_frame: Option<&[u8]>, size: Size) -> Result<Card, TemplateError> {
        self.template.card(&self.values, &self.images, first_frame, size)
    }
}

/// How the intro went into a video.
#[derive(Debug, Clone, PartialEq)]
pub enum IntroOutcome {
    /// The card plays for `slots` slots (`duration_ms`) before the demo.
    Added { template: String, slots: u64, duration_ms: f64 },
    /// The card could not be made; the video has none.
    Failed { template: String, reason: String },
}

/// The card's timing at one frame rate.
pub struct IntroClip<'a> {
    card: &'a Card,
    transition_ms: f64,
    fps: u32,
}

impl<'a> IntroClip<'a> {
    pub fn new(card: &'a Card, transition_ms: f64, fps: u32) -> IntroClip<'a> {
        IntroClip { card, transition_ms, fps }
    }

    pub fn slots(&self) -> u64 {
        slot_count(self.card.duration_ms(), self.fps)
    }

    /// Pushes every slot of the card to `sink`; `after` is the picture the card hands over
    /// to (RGBA at the card's size). `each` is asked after every slot and may stop it.
    ///
    /// Only what changed is redrawn and converted for the encoder: while the card moves
    /// on its own, the union of where its moving layers were and are (the rest is the
    /// card's base); during the hand-over, the whole picture.
    pub fn push(&self, sink: &mut VideoSink, after: &[u8], each: &mut dyn FnMut(u64) -> bool) -> Result<bool, EncodeError> {
        let size = self.card.size();
        let full = PixelRect { x: 0, y: 0, width: size.width, height: size.height };
        let mut picture = vec![0u8; size.width as usize * size.height as usize * 4];
        let mut shown_settled = false;
        // Where the last picture pushed differs from the card's base, and whether it was
        // blended with `after` (then it differs everywhere).
        let mut shown: Option<(Option<PixelRect>, bool)> = None;
        for index in 0..self.slots() {
            let t = index as f64 * 1000.0 / self.fps as f64;
            let (pts, duration) = (slot_pts_ns(index, self.fps), slot_pts_ns(index + 1, self.fps) - slot_pts_ns(index, self.fps));
            let mix = self.handover(t);
            let cover = self.card.cover(t);
            let changed = match shown {
                Some((before, false)) if mix == 0.0 => [before, cover].into_iter().flatten().reduce(PixelRect::union),
                _ => Some(full),
            };
            if (mix == 0.0 && t >= self.card.settled_ms() && shown_settled) || changed.is_none() {
                sink.repeat(pts, duration)?;
            } else {
                match changed {
                    // `picture` holds the last picture pushed, unblended: redraw what changed.
                    Some(area) if area != full => self.card.redraw(t, &mut picture, area),
                    _ => self.card.draw(t, &mut picture),
                }
                if mix > 0.0 {
                    blend(&mut picture, after, mix);
                }
                shown_settled = mix == 0.0 && t >= self.card.settled_ms();
                sink.picture(&picture, changed.unwrap_or(full), pts, duration)?;
                shown = Some((cover, mix > 0.0));
            }
            if !each(index) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The card's picture at `t_ms` as the video shows it (with the hand-over).
    pub fn picture_at(&self, t_ms: f64, after: &[u8], out: &mut [u8]) {
        self.card.draw(t_ms, out);
        let mix = self.handover(t_ms);
        if mix > 0.0 {
            blend(out, after, mix);
        }
    }

    /// How far the hand-over to the first frame is at `t_ms` (0 before it, eased).
    fn handover(&self, t_ms: f64) -> f64 {
        let start = self.card.duration_ms() - self.transition_ms;
        if self.transition_ms <= 0.0 || t_ms < start {
            return 0.0;
        }
        let u = ((t_ms - start) / self.transition_ms).clamp(0.0, 1.0);
        // Smoothstep: the fade starts and lands gently.
        u * u * (3.0 - 2.0 * u)
    }
}

/// `out = out·(1−mix) + other·mix`, per channel.
fn blend(out: &mut [u8], other: &[u8], mix: f64) {
    let m = (mix.clamp(0.0, 1.0) * 256.0).round() as u32;
    for (a, &b) in out.iter_mut().zip(other) {
        *a = ((*a as u32 * (256 - m) + b as u32 * m + 128) >> 8) as u8;
    }
}
