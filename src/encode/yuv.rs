//! RGBA → I420 (BT.709, limited range), the format the encoder takes.
//! Input: a composed RGBA frame and the rectangle that changed. Output: the I420 planes.
//! Invariant: only the changed rectangle (widened to even edges, as 4:2:0 chroma pairs
//! pixels) is converted; the rest of the planes still holds the previous frame.
//!
//! Done here rather than by `videoconvert` because the rectangle is known: a framed 1080p
//! frame converts its content area only, and a frame that did not change is not converted.

use crate::geometry::{PixelRect, Size};
use rayon::prelude::*;

// BT.709 limited-range coefficients × 65536.
const Y_R: i32 = 11966;
const Y_G: i32 = 40254;
const Y_B: i32 = 4064;
const U_R: i32 = -6596;
const U_G: i32 = -22189;
const U_B: i32 = 28784;
const V_R: i32 = 28784;
const V_G: i32 = -26145;
const V_B: i32 = -2639;

/// I420 planes laid out as GStreamer lays out a frame of this size without a video
/// meta: each row padded to a multiple of 4 bytes (a width of 1366 has luma rows of
/// 1368 bytes and chroma rows of 684), the planes one after another.
pub struct I420Frame {
    pub size: Size,
    pub data: Vec<u8>,
    /// Bytes per luma row and per chroma row.
    luma_stride: usize,
    chroma_stride: usize,
}

fn round_up_4(n: usize) -> usize {
    (n + 3) & !3
}

impl I420Frame {
    pub fn new(size: Size) -> I420Frame {
        debug_assert!(size.width % 2 == 0 && size.height % 2 == 0);
        let (w, h) = (size.width as usize, size.height as usize);
        let (luma_stride, chroma_stride) = (round_up_4(w), round_up_4(w / 2));
        I420Frame { size, data: vec![0; luma_stride * h + 2 * chroma_stride * (h / 2)], luma_stride, chroma_stride }
    }

    /// Converts `rect` of `rgba` (RGBA at `self.size`) into the planes.
    pub fn update(&mut self, rgba: &[u8], rect: PixelRect) {
        let (w, h) = (self.size.width as usize, self.size.height as usize);
        let x0 = rect.x as usize & !1;
        let y0 = rect.y as usize & !1;
        let x1 = ((rect.right() as usize + 1) & !1).min(w);
        let y1 = ((rect.bottom() as usize + 1) & !1).min(h);
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let (luma_stride, chroma_stride) = (self.luma_stride, self.chroma_stride);
        let (luma, chroma) = self.data.split_at_mut(luma_stride * h);
        let (u_plane, v_plane) = chroma.split_at_mut(chroma_stride * (h / 2));
        // Two luma rows and one chroma row per task.
        luma.par_chunks_mut(2 * luma_stride)
            .zip(u_plane.par_chunks_mut(chroma_stride))
            .zip(v_plane.par_chunks_mut(chroma_stride))
            .enumerate()
            .skip(y0 / 2)
            .take((y1 - y0) / 2)
            .for_each(|(pair, ((y_rows, u_row), v_row))| {
                let top = &rgba[(2 * pair) * w * 4..(2 * pair + 1) * w * 4];
                let bottom = &rgba[(2 * pair + 1) * w * 4..(2 * pair + 2) * w * 4];
                let (y_top, y_bottom) = y_rows.split_at_mut(luma_stride);
                for cx in x0 / 2..x1 / 2 {
                    let mut sum = [0i32; 3];
                    for (row, y_out) in [(top, &mut *y_top), (bottom, &mut *y_bottom)] {
                        for x in [2 * cx, 2 * cx + 1] {
                            let p = &row[x * 4..x * 4 + 3];
                            let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
                            y_out[x] = ((Y_R * r + Y_G * g + Y_B * b + (16 << 16) + 32768) >> 16) as u8;
                            sum[0] += r;
                            sum[1] += g;
                            sum[2] += b;
                        }
                    }
                    // Average of the 2×2 block (sum / 4), folded into the shift.
                    let (r, g, b) = (sum[0], sum[1], sum[2]);
                    u_row[cx] = ((U_R * r + U_G * g + U_B * b + (128 << 18) + (1 << 17)) >> 18).clamp(0, 255) as u8;
                    v_row[cx] = ((V_R * r + V_G * g + V_B * b + (128 << 18) + (1 << 17)) >> 18).clamp(0, 255) as u8;
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_black_and_red_land_on_bt709_limited_values() {
        let size = Size { width: 4, height: 2 };
        let mut rgba = Vec::new();
        for px in [[255, 255, 255], [255, 255, 255], [0, 0, 0], [0, 0, 0]].iter().cycle().take(8) {
            rgba.extend_from_slice(&[px[0], px[1], px[2], 255]);
        }
        let mut frame = I420Frame::new(size);
        frame.update(&rgba, PixelRect { x: 0, y: 0, width: 4, height: 2 });
        assert_eq!(&frame.data[..4], &[235, 235, 16, 16]);
        // Chroma rows are padded to 4 bytes: U at 8, V at 12.
        assert_eq!(&frame.data[8..10], &[128, 128]);
        assert_eq!(&frame.data[12..14], &[128, 128]);

        let red: Vec<u8> = [255u8, 0, 0, 255].iter().cycle().take(32).copied().collect();
        frame.update(&red, PixelRect { x: 0, y: 0, width: 4, height: 2 });
        assert_eq!(frame.data[0], 63);
        assert_eq!(frame.data[8], 102);
        assert_eq!(frame.data[12], 240);
    }

    #[test]
    fn rows_are_padded_as_gstreamer_expects_a_frame_of_this_size() {
        // 6×2: luma rows of 8 bytes, chroma rows of 4 (3 used); 16 + 4 + 4 bytes, as
        // GStreamer's video info computes for I420 at 6×2.
        let mut frame = I420Frame::new(Size { width: 6, height: 2 });
        assert_eq!(frame.data.len(), 24);
        let white = vec![255u8; 6 * 2 * 4];
        frame.update(&white, PixelRect { x: 0, y: 0, width: 6, height: 2 });
        assert_eq!(&frame.data[..8], &[235, 235, 235, 235, 235, 235, 0, 0]);
        assert_eq!(&frame.data[8..16], &[235, 235, 235, 235, 235, 235, 0, 0]);
        assert_eq!(&frame.data[16..20], &[128, 128, 128, 0]);
        assert_eq!(&frame.data[20..24], &[128, 128, 128, 0]);
    }
}
