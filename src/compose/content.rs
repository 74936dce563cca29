//! Content layer: the captured page. Input: JPEG bytes of a captured frame. Output: the
//! page resampled to the content rectangle (`prepare`), then drawn onto the canvas with
//! rounded corners in framed mode (`draw`), and its drop shadow painted once into the base.
//! Invariant: pixels outside the content rectangle are never touched by `draw`, so the
//! base (background + shadow) painted once stays valid for the whole render.

use super::{ComposeError, Layout};
use crate::geometry::{ContentMapping, PixelRect, Rect, Size};
use fast_image_resize as fir;
use rayon::prelude::*;

/// A captured frame decoded and resampled to the content rectangle, RGB8.
#[derive(Debug, Clone)]
pub struct PreparedContent {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    /// Where this frame's page is in the output: what overlays drawn over it map through.
    pub mapping: ContentMapping,
}

/// Frames whose width and height scale alike within this share have the recording's
/// proportions (a fractional device scale rounds one of them by a pixel).
const SAME_PROPORTIONS: f64 = 0.01;

/// What the content rectangle shows in one output frame.
#[derive(Debug, Clone, Copy)]
pub enum ContentPicture<'a> {
    Frame(&'a PreparedContent),
    /// `to` weighted by `mix`, over `from` (the cross-fade at a cut).
    Mix { from: &'a PreparedContent, to: &'a PreparedContent, mix: f32 },
}

pub struct ContentLayer {
    layout: Layout,
    frame_size: Size,
    /// Coverage (0..=255) of the top-left corner square; the other corners mirror it.
    corner: Vec<u8>,
    resizer: fir::Resizer,
    mixed: Vec<u8>,
    /// The last decoded frame, RGB8.
    decoded: Vec<u8>,
    /// A buffer of a frame no longer shown, for the next prepared one.
    spare: Vec<u8>,
}

/// The most one decoded frame may take (as `image` limits a decode by default).
const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

impl ContentLayer {
    pub fn new(layout: &Layout, frame_size: Size) -> ContentLayer {
        ContentLayer {
            layout: layout.clone(),
            frame_size,
            corner: corner_coverage(layout.corner_radius),
            resizer: fir::Resizer::new(),
            mixed: Vec::new(),
            decoded: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// A layer for the same layout with buffers of its own.
    pub fn fresh(&self) -> ContentLayer {
        ContentLayer::new(&self.layout, self.frame_size)
    }

    /// Decodes a captured JPEG and resamples it to the content rectangle.
    pub fn prepare(&mut self, jpeg: &[u8]) -> Result<PreparedContent, ComposeError> {
        let (w, h) = self.decode(jpeg)?;
        let decoded = &self.decoded;
        let dest = self.layout.mapping.dest;
        let mapping = self.mapping_for(Size { width: w, height: h });
        let source = mapping.source;
        // Every byte is written below (the crop, the resize, or black around a fitted
        // frame), so a recycled buffer of the right length needs no clearing.
        // A frame of the recording's proportions fills the rectangle.
        let fills = mapping.dest == dest;
        let mut out = std::mem::take(&mut self.spare);
        out.resize(dest.width as usize * dest.height as usize * 3, 0);
        if !fills {
            out.fill(0);
        }
        let exact = fills
            && source.width == dest.width as f64
            && source.height == dest.height as f64
            && source.x.fract() == 0.0
            && source.y.fract() == 0.0;
        if exact {
            // Same size: no resampling, only the crop.
            let (x0, y0) = (source.x as usize, source.y as usize);
            let src = decoded.as_slice();
            for (row, line) in out.chunks_exact_mut(dest.width as usize * 3).enumerate() {
                let start = ((y0 + row) * w as usize + x0) * 3;
                line.copy_from_slice(&src[start..start + line.len()]);
            }
        } else {
            let fitted = mapping.dest;
            // A frame that fills the rectangle is resized straight into it (a busy 1080p
            // render copied 5 MB a frame otherwise).
            let mut resized = if fills { Vec::new() } else { vec![0u8; fitted.width as usize * fitted.height as usize * 3] };
            let src = fir::images::ImageRef::new(w, h, decoded, fir::PixelType::U8x3)
                .map_err(|e| ComposeError::Resize(e.to_string()))?;
            let target = if fills { &mut out } else { &mut resized };
            let mut dst = fir::images::Image::from_slice_u8(fitted.width, fitted.height, target, fir::PixelType::U8x3)
                .map_err(|e| ComposeError::Resize(e.to_string()))?;
            // Lanczos3 keeps small UI text legible when the page is scaled down.
            let options = fir::ResizeOptions::new()
                .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3))
                .crop(source.x, source.y, source.width, source.height);
            self.resizer
                .resize(&src, &mut dst, &options)
                .map_err(|e| ComposeError::Resize(e.to_string()))?;
            if fills {
                return Ok(PreparedContent { width: dest.width, height: dest.height, rgb: out, mapping });
            }
            // A frame of other proportions sits centred on black inside the rectangle.
            let (x0, y0) = ((fitted.x - dest.x) as usize, (fitted.y - dest.y) as usize);
            let row_bytes = fitted.width as usize * 3;
            for (row, line) in resized.chunks_exact(row_bytes).enumerate() {
                let start = ((y0 + row) * dest.width as usize + x0) * 3;
                out[start..start + row_bytes].copy_from_slice(line);
            }
        }
        Ok(PreparedContent { width: dest.width, height: dest.height, rgb: out, mapping })
    }

    /// Decodes a captured JPEG into `self.decoded` (RGB8, reused from frame to frame: a
    /// 1080p frame is 6 MB, and a fresh buffer a frame cost page faults and clearing).
    /// Answers its size.
    fn decode(&mut self, jpeg: &[u8]) -> Result<(u32, u32), ComposeError> {
        use image::ImageDecoder;
        let decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg))
            .map_err(|e| ComposeError::Decode(e.to_string()))?;
        let (w, h) = decoder.dimensions();
        if decoder.color_type() != image::ColorType::Rgb8 {
            // A grey or CMYK JPEG (not what a browser sends, but a bundle may hold one).
            let image = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
                .map_err(|e| ComposeError::Decode(e.to_string()))?
                .into_rgb8();
            self.decoded = image.into_raw();
            return Ok((w, h));
        }
        let bytes = decoder.total_bytes();
        // The same ceiling `image` puts on one decode: a hostile bundle's frame may claim
        // 65535 × 65535 pixels.
        if bytes > MAX_DECODED_BYTES {
            return Err(ComposeError::Decode(format!("{w}×{h} px is larger than a frame may be")));
        }
        self.decoded.resize(bytes as usize, 0);
        decoder.read_image(&mut self.decoded).map_err(|e| ComposeError::Decode(e.to_string()))?;
        Ok((w, h))
    }

    /// Takes back the buffer of a prepared frame no longer shown, for the next one.
    pub fn recycle(&mut self, content: PreparedContent) {
        self.spare = content.rgb;
    }

    /// Where a frame of `frame` px shows in the output. A frame of the recording's
    /// proportions takes the layout's mapping (scaled when its size differs by rounding);
    /// one of other proportions (the page resized mid-recording, as a person's window
    /// can) is shown whole, fitted inside the content rectangle and centred, so the page
    /// keeps its shape and what is drawn over it (cursor, clicks, masks) its place.
    pub fn mapping_for(&self, frame: Size) -> ContentMapping {
        let layout = self.layout.mapping;
        let (sx, sy) = (frame.width as f64 / self.frame_size.width as f64, frame.height as f64 / self.frame_size.height as f64);
        if (sx / sy - 1.0).abs() < SAME_PROPORTIONS {
            let s = layout.source;
            return ContentMapping { source: Rect::new(s.x * sx, s.y * sy, s.width * sx, s.height * sy), ..layout };
        }
        let dest = layout.dest;
        let scale = (dest.width as f64 / frame.width as f64).min(dest.height as f64 / frame.height as f64);
        let width = ((frame.width as f64 * scale).round() as u32).clamp(1, dest.width);
        let height = ((frame.height as f64 * scale).round() as u32).clamp(1, dest.height);
        ContentMapping {
            device_scale_factor: layout.device_scale_factor,
            source: Rect::new(0.0, 0.0, frame.width as f64, frame.height as f64),
            dest: PixelRect { x: dest.x + (dest.width - width) / 2, y: dest.y + (dest.height - height) / 2, width, height },
        }
    }

    /// Draws the picture into the content rectangle of `canvas`, blending the rounded
    /// corners over `base`. Both are RGBA at the output size.
    pub fn draw(&mut self, canvas: &mut [u8], base: &[u8], picture: ContentPicture<'_>) {
        let dest = self.layout.mapping.dest;
        let rgb: &[u8] = match picture {
            ContentPicture::Frame(p) => &p.rgb,
            ContentPicture::Mix { from, to, mix } => {
                mix_into(&mut self.mixed, &from.rgb, &to.rgb, mix);
                &self.mixed
            }
        };
        let stride = self.layout.output.width as usize * 4;
        let (x0, w) = (dest.x as usize, dest.width as usize);
        canvas
            .par_chunks_mut(stride)
            .skip(dest.y as usize)
            .take(dest.height as usize)
            .zip(rgb.par_chunks(w * 3))
            .for_each(|(line, src)| {
                let line = &mut line[x0 * 4..(x0 + w) * 4];
                let pixels = src.as_chunks::<3>().0;
                // Whole pixel words where the row is aligned (a canvas always is): the
                // compiler then shuffles eight pixels at a time instead of byte by byte.
                match bytemuck::try_cast_slice_mut::<u8, u32>(line) {
                    Ok(words) => {
                        for (px, s) in words.iter_mut().zip(pixels) {
                            *px = u32::from_le_bytes([s[0], s[1], s[2], 255]);
                        }
                    }
                    Err(_) => {
                        for (px, s) in line.as_chunks_mut::<4>().0.iter_mut().zip(pixels) {
                            *px = [s[0], s[1], s[2], 255];
                        }
                    }
                }
            });
        self.round_corners(canvas, base, dest);
    }

    fn round_corners(&self, canvas: &mut [u8], base: &[u8], dest: PixelRect) {
        let r = self.layout.corner_radius as usize;
        if r == 0 {
            return;
        }
        let stride = self.layout.output.width as usize * 4;
        for j in 0..r {
            for i in 0..r {
                let coverage = self.corner[j * r + i] as u32;
                if coverage == 255 {
                    continue;
                }
                let xs = [dest.x as usize + i, dest.right() as usize - 1 - i];
                let ys = [dest.y as usize + j, dest.bottom() as usize - 1 - j];
                for &y in &ys {
                    for &x in &xs {
                        let at = y * stride + x * 4;
                        for c in 0..3 {
                            let (fg, bg) = (canvas[at + c] as u32, base[at + c] as u32);
                            canvas[at + c] = ((fg * coverage + bg * (255 - coverage) + 127) / 255) as u8;
                        }
                    }
                }
            }
        }
    }
}

fn mix_into(out: &mut Vec<u8>, from: &[u8], to: &[u8], mix: f32) {
    out.resize(from.len(), 0);
    let weight = (mix.clamp(0.0, 1.0) * 256.0) as u32;
    out.par_chunks_mut(1 << 16).zip(from.par_chunks(1 << 16)).zip(to.par_chunks(1 << 16)).for_each(
        |((o, f), t)| {
            for ((o, &f), &t) in o.iter_mut().zip(f).zip(t) {
                *o = ((f as u32 * (256 - weight) + t as u32 * weight) >> 8) as u8;
            }
        },
    );
}

/// Anti-aliased coverage of a quarter circle of radius `r` in an r×r square whose
/// outer corner is (0, 0).
fn corner_coverage(r: u32) -> Vec<u8> {
    let r = r as usize;
    let mut mask = vec![255u8; r * r];
    const SAMPLES: usize = 4;
    for j in 0..r {
        for i in 0..r {
            let mut inside = 0;
            for sj in 0..SAMPLES {
                for si in 0..SAMPLES {
                    let x = i as f64 + (si as f64 + 0.5) / SAMPLES as f64 - r as f64;
                    let y = j as f64 + (sj as f64 + 0.5) / SAMPLES as f64 - r as f64;
                    if x * x + y * y <= (r * r) as f64 {
                        inside += 1;
                    }
                }
            }
            mask[j * r + i] = (inside * 255 / (SAMPLES * SAMPLES)) as u8;
        }
    }
    mask
}

/// Paints the framed content's soft shadow into the base (once per render).
pub fn paint_shadow(base: &mut [u8], layout: &Layout) {
    let Some(shadow) = layout.shadow else { return };
    let (w, h) = (layout.output.width as usize, layout.output.height as usize);
    let dest = layout.mapping.dest;
    let r = layout.corner_radius as usize;
    let corner = corner_coverage(layout.corner_radius);
    // The shadow's shape: the content's rounded rectangle, moved down.
    let mut alpha = vec![0f32; w * h];
    let top = dest.y as usize + shadow.offset_y as usize;
    for y in top..(top + dest.height as usize).min(h) {
        for x in dest.x as usize..dest.right() as usize {
            let (i, j) = (x - dest.x as usize, y - top);
            let (ci, cj) = (i.min(dest.width as usize - 1 - i), j.min(dest.height as usize - 1 - j));
            alpha[y * w + x] = if ci < r && cj < r { corner[cj * r + ci] as f32 / 255.0 } else { 1.0 };
        }
    }
    // Three box blurs approximate a Gaussian.
    let radius = (shadow.blur as usize / 2).max(1);
    for _ in 0..3 {
        box_blur_rows(&mut alpha, w, h, radius);
        transpose_blur(&mut alpha, w, h, radius);
    }
    for (px, a) in base.chunks_exact_mut(4).zip(&alpha) {
        let keep = 1.0 - a * shadow.opacity;
        for c in &mut px[..3] {
            *c = (*c as f32 * keep).round() as u8;
        }
    }
}

fn box_blur_rows(data: &mut [f32], w: usize, _h: usize, radius: usize) {
    data.par_chunks_mut(w).for_each(|row| {
        let src = row.to_vec();
        let window = (2 * radius + 1) as f32;
        let mut sum: f32 = (0..=radius).map(|i| src.get(i).copied().unwrap_or(0.0)).sum();
        for x in 0..w {
            row[x] = sum / window;
            if x + radius + 1 < w {
                sum += src[x + radius + 1];
            }
            if x >= radius {
                sum -= src[x - radius];
            }
        }
    });
}

fn transpose_blur(data: &mut [f32], w: usize, h: usize, radius: usize) {
    let mut t = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            t[x * h + y] = data[y * w + x];
        }
    }
    box_blur_rows(&mut t, h, w, radius);
    for y in 0..h {
        for x in 0..w {
            data[y * w + x] = t[x * h + y];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn white_jpeg(size: Size) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(size.width, size.height, image::Rgb([255, 255, 255]));
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(image).write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        jpeg
    }

    #[test]
    fn a_frame_of_the_recordings_proportions_takes_the_layouts_mapping() {
        let frame = Size { width: 1280, height: 720 };
        let layer = ContentLayer::new(&Layout::for_raw(frame, 1.0), frame);
        assert_eq!(layer.mapping_for(frame), Layout::for_raw(frame, 1.0).mapping);
        // A pixel of rounding is the same proportions: the crop scales with the frame.
        let rounded = layer.mapping_for(Size { width: 1281, height: 720 });
        assert_eq!(rounded.dest, Layout::for_raw(frame, 1.0).mapping.dest);
        assert_eq!(rounded.source.width, 1281.0);
    }

    #[test]
    fn a_frame_of_other_proportions_is_shown_whole_centred_on_black() {
        let frame = Size { width: 1280, height: 720 };
        let mut layer = ContentLayer::new(&Layout::for_raw(frame, 1.0), frame);
        // A page resized to 1000×800 CSS px: 720 px high in the output, 900 wide, centred.
        let resized = Size { width: 1000, height: 800 };
        let mapping = layer.mapping_for(resized);
        assert_eq!(mapping.dest, PixelRect { x: 190, y: 0, width: 900, height: 720 });
        // A click at the page's centre lands at the output's centre.
        let centre = mapping.css_to_output(crate::geometry::Point::new(500.0, 400.0));
        assert_eq!((centre.x, centre.y), (640.0, 360.0));
        let prepared = layer.prepare(&white_jpeg(resized)).unwrap();
        assert_eq!(prepared.mapping, mapping);
        let at = |x: usize, y: usize| prepared.rgb[(y * 1280 + x) * 3];
        assert_eq!((at(100, 360), at(1180, 360)), (0, 0), "the margins are black");
        assert!(at(640, 360) > 240 && at(195, 10) > 240 && at(1084, 710) > 240, "the page fills its fitted rectangle");
    }

    #[test]
    fn corner_is_clear_outside_and_solid_inside() {
        let mask = corner_coverage(10);
        assert_eq!(mask[0], 0);
        assert_eq!(mask[9 * 10 + 9], 255);
    }
}
