//! The colours of a scene. Input: the pixels a scene shows. Output: up to 255 colours
//! (the 256th index is left for transparency) chosen by k-means in a perceptual colour
//! space (quantette, Oklab), and for any colour the palette entry it is drawn with.
//! Invariant: the same colour at the same position always gets the same entry, so a
//! still area draws the same on every frame (no crawling dither).

use quantette::deps::palette::Srgb;
use quantette::{PaletteSize, Pipeline, QuantizeMethod};
use std::collections::HashMap;

/// Squared RGB distance (summed over the three channels) above which the palette lacks
/// a colour and the pixel is dithered: an error of about 6 levels per channel, where a
/// gradient would show bands.
const LACKS_COLOUR: u32 = 3 * 6 * 6;
/// How far (levels per channel) the ordered dither moves a colour before its lookup:
/// about the spacing of a 255-colour palette along a gradient.
const DITHER_AMPLITUDE: f32 = 10.0;

/// A 4×4 Bayer matrix: thresholds spread evenly over each 4×4 block of positions.
const BAYER: [[u8; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];

pub(super) struct ScenePalette {
    colours: Vec<[u8; 3]>,
    /// Dither colours the palette lacks: only a full palette does. A palette cut down
    /// to meet a byte budget draws every colour with its nearest entry (bands instead
    /// of a dither pattern, which costs more bytes than the colours it saves).
    dithers: bool,
    /// Exact colour → (entry, squared error): a frame of a product's pages has a few
    /// thousand distinct colours, each looked up against 255 entries once.
    nearest: HashMap<u32, (u8, u32)>,
}

/// Squared distance in RGB, the measure PSNR judges a GIF by.
pub(super) fn distance(a: [u8; 3], b: [u8; 3]) -> u32 {
    (0..3).map(|c| (a[c] as i32 - b[c] as i32).pow(2) as u32).sum()
}

impl ScenePalette {
    /// The palette of at most `size` entries (up to 255) for `pixels` (RGB triples;
    /// repeated colours weigh more).
    pub(super) fn for_pixels(pixels: &[[u8; 3]], size: u16) -> ScenePalette {
        let colours: Vec<Srgb<u8>> = pixels.iter().map(|&[r, g, b]| Srgb::new(r, g, b)).collect();
        let chosen = match Pipeline::new()
            .palette_size(PaletteSize::from_u8_clamped(size.min(255) as u8))
            .quantize_method(QuantizeMethod::kmeans())
            .parallel(true)
            .input_slice(&colours)
        {
            Ok(pipeline) => pipeline.output_srgb8_palette().into_vec().into_iter().map(|c| [c.red, c.green, c.blue]).collect(),
            // No pixels (or more than the quantizer counts): one black entry.
            Err(_) => vec![[0, 0, 0]],
        };
        ScenePalette { colours: chosen, dithers: size >= 255, nearest: HashMap::new() }
    }

    pub(super) fn colour(&self, entry: u8) -> [u8; 3] {
        self.colours[entry as usize]
    }

    /// The entry `rgb` at (`x`, `y`) is drawn with, and its squared error. A colour the
    /// palette has (within [`LACKS_COLOUR`]) takes its nearest entry; in a full palette,
    /// one it lacks is moved by an ordered dither fixed to the position, so a gradient
    /// mixes the two entries around it in a pattern that stays put from frame to frame.
    pub(super) fn entry_for(&mut self, rgb: [u8; 3], x: usize, y: usize) -> (u8, u32) {
        let (entry, error) = self.nearest_entry(rgb);
        if error <= LACKS_COLOUR || !self.dithers {
            return (entry, error);
        }
        let threshold = (BAYER[y % 4][x % 4] as f32 + 0.5) / 16.0 - 0.5;
        let shift = |c: u8| (c as f32 + threshold * DITHER_AMPLITUDE).round().clamp(0.0, 255.0) as u8;
        let (dithered, _) = self.nearest_entry([shift(rgb[0]), shift(rgb[1]), shift(rgb[2])]);
        (dithered, distance(self.colour(dithered), rgb))
    }

    fn nearest_entry(&mut self, rgb: [u8; 3]) -> (u8, u32) {
        let key = u32::from_le_bytes([rgb[0], rgb[1], rgb[2], 0]);
        let colours = &self.colours;
        *self.nearest.entry(key).or_insert_with(|| {
            let (entry, error) = colours.iter().enumerate().map(|(i, &c)| (i, distance(c, rgb))).min_by_key(|&(_, d)| d).expect("a palette has an entry");
            (entry as u8, error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_flat_colours_are_kept_exactly() {
        let mut pixels = vec![[255, 255, 255]; 5000];
        pixels.extend(vec![[17, 24, 39]; 800]);
        pixels.extend(vec![[37, 99, 235]; 300]);
        let mut palette = ScenePalette::for_pixels(&pixels, 255);
        for colour in [[255, 255, 255], [17, 24, 39], [37, 99, 235]] {
            let (entry, error) = palette.entry_for(colour, 3, 5);
            assert_eq!((palette.colour(entry), error), (colour, 0));
        }
    }

    #[test]
    fn a_colour_the_palette_lacks_is_dithered_in_a_pattern_fixed_to_the_position() {
        let mut palette = ScenePalette::for_pixels(&[[0, 0, 0], [40, 40, 40]].repeat(100), 255);
        let grey = [20, 20, 20];
        let block: Vec<u8> = (0..16).map(|i| palette.entry_for(grey, i % 4, i / 4).0).collect();
        assert!(block.iter().any(|&e| palette.colour(e) == [0, 0, 0]) && block.iter().any(|&e| palette.colour(e) == [40, 40, 40]), "both neighbours are mixed: {block:?}");
        let again: Vec<u8> = (0..16).map(|i| palette.entry_for(grey, i % 4 + 8, i / 4 + 4).0).collect();
        assert_eq!(block, again, "the same pattern at every 4×4 block");
    }
}
