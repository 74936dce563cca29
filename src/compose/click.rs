//! Click layer. Input: the ripples running at this moment (centre in output px, phase).
//! Output: soft expanding rings drawn under the cursor. Invariant: a ripple is a pure
//! function of its phase, so the same phase always draws the same pixels.

use crate::timeline::overlays::RippleDraw;

/// Largest ripple radius for a 1080-px video.
const RADIUS_1080: f64 = 26.0;

pub fn draw(canvas: &mut tiny_skia::PixmapMut<'_>, ripple: &RippleDraw, unit: f64) -> (f64, f64, f64, f64) {
    let phase = ripple.phase_milli as f64 / 1000.0;
    let grow = 1.0 - (1.0 - phase).powi(3);
    let radius = (RADIUS_1080 * unit * (0.25 + 0.75 * grow)) as f32;
    let fade = (1.0 - phase) as f32;
    let (cx, cy) = (ripple.center_x8 as f32 / 8.0, ripple.center_y8 as f32 / 8.0);
    let Some(circle) = tiny_skia::PathBuilder::from_circle(cx, cy, radius) else { return (0.0, 0.0, 0.0, 0.0) };
    let mut paint = tiny_skia::Paint { anti_alias: true, ..Default::default() };
    // A dark veil reads on light pages, the white rim on dark ones.
    paint.set_color_rgba8(20, 24, 40, (46.0 * fade) as u8);
    canvas.fill_path(&circle, &paint, tiny_skia::FillRule::Winding, tiny_skia::Transform::identity(), None);
    paint.set_color_rgba8(255, 255, 255, (150.0 * fade) as u8);
    let stroke = tiny_skia::Stroke { width: (2.0 * unit).max(1.0) as f32, ..Default::default() };
    canvas.stroke_path(&circle, &paint, &stroke, tiny_skia::Transform::identity(), None);
    let r = radius as f64 + 3.0;
    (cx as f64 - r, cy as f64 - r, cx as f64 + r, cy as f64 + r)
}
