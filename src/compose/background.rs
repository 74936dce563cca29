//! Background layer. Input: the background option and the output size. Output: an opaque
//! RGBA canvas painted once per render. Invariant: gradients are dithered by less than one
//! code value, so 8-bit output shows no bands.

use crate::geometry::Size;
use crate::options::{Background, GradientDirection, Rgb};
use rayon::prelude::*;

/// Paints the background into a new RGBA buffer.
pub fn paint(background: &Background, size: Size) -> Vec<u8> {
    let (w, h) = (size.width as usize, size.height as usize);
    let mut rgba = vec![255u8; w * h * 4];
    match *background {
        Background::None => fill(&mut rgba, Rgb(0, 0, 0)),
        Background::Solid(color) => fill(&mut rgba, color),
        Background::Gradient { from, to, direction } => {
            let (fx, fy) = match direction {
                GradientDirection::Vertical => (0.0, 1.0),
                GradientDirection::Horizontal => (1.0, 0.0),
                GradientDirection::Diagonal => (1.0, 1.0),
            };
            // Position along the gradient: 0 at the first corner, 1 at the opposite one.
            let span = fx * (w.max(2) - 1) as f32 + fy * (h.max(2) - 1) as f32;
            let from = [from.0 as f32, from.1 as f32, from.2 as f32];
            let to = [to.0 as f32, to.1 as f32, to.2 as f32];
            rgba.par_chunks_mut(w * 4).enumerate().for_each(|(y, row)| {
                for (x, px) in row.chunks_exact_mut(4).enumerate() {
                    let t = (fx * x as f32 + fy * y as f32) / span;
                    let dither = dither_offset(x, y);
                    for c in 0..3 {
                        let v = from[c] + (to[c] - from[c]) * t + dither;
                        px[c] = v.round().clamp(0.0, 255.0) as u8;
                    }
                }
            });
        }
    }
    rgba
}

fn fill(rgba: &mut [u8], color: Rgb) {
    for px in rgba.chunks_exact_mut(4) {
        px.copy_from_slice(&[color.0, color.1, color.2, 255]);
    }
}

/// A 4×4 ordered-dither offset in (-0.5, 0.5): deterministic, invisible, and it breaks the
/// steps a slow gradient would show across a 1080p frame.
fn dither_offset(x: usize, y: usize) -> f32 {
    const BAYER: [[u8; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];
    (BAYER[y & 3][x & 3] as f32 + 0.5) / 16.0 - 0.5
}
