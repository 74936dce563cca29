//! Redaction layer: the second line of defence behind capture-time e-mail masking.
//! Input: rectangles in output px (from `redact` events) and the mode. Output: those
//! rectangles blurred (three box passes) or pixelated on the canvas, before the cursor.
//! Invariant: only pixels inside the rectangles change.

use crate::geometry::{PixelRect, Size};
use crate::options::RedactionMode;

/// Blur radius and pixel-block size for a 1080-px video.
const BLUR_RADIUS_1080: f64 = 10.0;
const BLOCK_1080: f64 = 14.0;

pub fn apply(canvas: &mut [u8], size: Size, rect: PixelRect, mode: RedactionMode, unit: f64) {
    let stride = size.width as usize * 4;
    let (x0, y0, w, h) = (rect.x as usize, rect.y as usize, rect.width as usize, rect.height as usize);
    match mode {
        RedactionMode::Pixelate => {
            let block = (BLOCK_1080 * unit).round().max(4.0) as usize;
            for by in (0..h).step_by(block) {
                for bx in (0..w).step_by(block) {
                    let (bw, bh) = (block.min(w - bx), block.min(h - by));
                    let mut sum = [0u32; 3];
                    for y in by..by + bh {
                        for x in bx..bx + bw {
                            let at = (y0 + y) * stride + (x0 + x) * 4;
                            for c in 0..3 {
                                sum[c] += canvas[at + c] as u32;
                            }
                        }
                    }
                    let n = (bw * bh) as u32;
                    for y in by..by + bh {
                        for x in bx..bx + bw {
                            let at = (y0 + y) * stride + (x0 + x) * 4;
                            for c in 0..3 {
                                canvas[at + c] = (sum[c] / n) as u8;
                            }
                        }
                    }
                }
            }
        }
        RedactionMode::Blur => {
            let radius = (BLUR_RADIUS_1080 * unit).round().max(2.0) as usize;
            let mut region: Vec<[f32; 3]> = Vec::with_capacity(w * h);
            for y in 0..h {
                for x in 0..w {
                    let at = (y0 + y) * stride + (x0 + x) * 4;
                    region.push([canvas[at] as f32, canvas[at + 1] as f32, canvas[at + 2] as f32]);
                }
            }
            for _ in 0..3 {
                box_pass(&mut region, w, h, radius, true);
                box_pass(&mut region, w, h, radius, false);
            }
            for y in 0..h {
                for x in 0..w {
                    let at = (y0 + y) * stride + (x0 + x) * 4;
                    let p = region[y * w + x];
                    for c in 0..3 {
                        canvas[at + c] = p[c].round().clamp(0.0, 255.0) as u8;
                    }
                }
            }
        }
    }
}

/// One box-blur pass along rows (`horizontal`) or columns, edges clamped.
fn box_pass(data: &mut [[f32; 3]], w: usize, h: usize, radius: usize, horizontal: bool) {
    let (lines, len) = if horizontal { (h, w) } else { (w, h) };
    let index = |line: usize, i: usize| if horizontal { line * w + i } else { i * w + line };
    let window = (2 * radius + 1) as f32;
    let mut source = vec![[0f32; 3]; len];
    for line in 0..lines {
        for (i, s) in source.iter_mut().enumerate() {
            *s = data[index(line, i)];
        }
        let at = |i: isize| source[i.clamp(0, len as isize - 1) as usize];
        let mut sum = [0f32; 3];
        for i in -(radius as isize)..=radius as isize {
            let p = at(i);
            for c in 0..3 {
                sum[c] += p[c];
            }
        }
        for i in 0..len {
            data[index(line, i)] = [sum[0] / window, sum[1] / window, sum[2] / window];
            let (add, remove) = (at(i as isize + radius as isize + 1), at(i as isize - radius as isize));
            for c in 0..3 {
                sum[c] += add[c] - remove[c];
            }
        }
    }
}
