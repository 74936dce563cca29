//! What one GIF frame stores. Input: the picture on screen so far (as the GIF draws it),
//! the next picture to show, and the scene's palette. Output: the rectangle of pixels
//! that must change, as palette entries with every pixel that may stay transparent, and
//! its own small colour table. Invariant: after the patch is drawn, every pixel on
//! screen is the entry the palette draws the picture's pixel with, or within the
//! tolerance's `stays_at_most` of the picture; screen errors never add up over frames
//! (each frame compares the screen with the picture, not with the previous picture).

use super::palette::{ScenePalette, distance};

/// A pixel whose screen colour is within this many levels per channel of the picture
/// stays (the video's compression noise on a still page). Tuned side by side on the
/// main job's video and a scrolling table (benches/README.md): 3 and 2 below gave
/// +0.3 to +0.5 dB median PSNR over 4 and 3 at about the same bytes (a pixel left a
/// little off costs a transparent hole in the patch, which compresses no better than
/// drawing it).
const STAYS_LEVELS: u32 = 3;
/// A pixel also stays when the screen is at most this much worse than what the palette
/// would draw anew (a dithered or already-quantized pixel redrawn would gain nothing).
const NO_BETTER_LEVELS: u32 = 2;
/// However close to the best the palette can do, a pixel further than this from the
/// picture is drawn again: where the palette serves a colour badly, "no better" alone
/// would leave ghosts of earlier frames.
const STAYS_AT_MOST_LEVELS: u32 = 6;
/// Levels per channel each step of lossiness adds to how far a pixel may be off and stay.
const LEVELS_PER_LOSSINESS: u32 = 3;

/// The squared RGB distance of an error of `levels` on every channel.
const fn squared(levels: u32) -> u32 {
    3 * levels * levels
}

/// When a pixel on screen may stay, as squared distances: the levels above at
/// lossiness 0, each looser at each level of lossiness (a byte budget's last resort).
#[derive(Debug, Clone, Copy)]
struct Tolerance {
    stays: u32,
    no_better: u32,
    stays_at_most: u32,
}

impl Tolerance {
    fn at(lossiness: u8) -> Tolerance {
        let loss = lossiness as u32;
        Tolerance {
            stays: squared(STAYS_LEVELS + LEVELS_PER_LOSSINESS * loss),
            no_better: squared(NO_BETTER_LEVELS + loss),
            stays_at_most: squared(STAYS_AT_MOST_LEVELS + LEVELS_PER_LOSSINESS * loss),
        }
    }
}

/// Mean squared error of the pixels drawn above which the scene changed: the palette is
/// made again from the picture (about 5 levels per channel).
const NEW_SCENE: u32 = squared(5);

/// The RGB of pixel `i` of an RGBA picture.
fn rgb_at(picture: &[u8], i: usize) -> [u8; 3] {
    [picture[i * 4], picture[i * 4 + 1], picture[i * 4 + 2]]
}

fn mean_error(looked_up: &[(usize, u8, u32)]) -> u32 {
    (looked_up.iter().map(|l| l.2 as u64).sum::<u64>() / looked_up.len().max(1) as u64) as u32
}

pub(super) struct Patch {
    pub left: u16,
    pub top: u16,
    pub width: u16,
    pub height: u16,
    /// One entry of `table` per pixel, row by row.
    pub entries: Vec<u8>,
    /// RGB triples, as few as the patch uses.
    pub table: Vec<u8>,
    pub transparent: Option<u8>,
}

/// The screen as the GIF shows it, and the palette of the scene on it.
pub(super) struct Screen {
    width: usize,
    height: usize,
    shown: Vec<[u8; 3]>,
    palette: Option<ScenePalette>,
    /// The mean error the current palette drew its first frame with: a scene whose
    /// colours no palette serves well does not remake it on every frame.
    palette_floor: u32,
    /// Entries a scene's palette holds (at most 255).
    colours: u16,
    tolerance: Tolerance,
    /// Lossiness above 0: drawn rows are made into runs of one entry ([`Screen::lengthen_runs`]).
    lossy: bool,
}

impl Screen {
    /// A black screen whose scenes get palettes of `colours` entries, and whose pixels
    /// stay while within the tolerance of `lossiness` (0: compression noise only).
    pub(super) fn new(width: u32, height: u32, colours: u16, lossiness: u8) -> Screen {
        let (width, height) = (width as usize, height as usize);
        Screen { width, height, shown: vec![[0; 3]; width * height], palette: None, palette_floor: 0, colours, tolerance: Tolerance::at(lossiness), lossy: lossiness > 0 }
    }

    /// Width and height in pixels.
    pub(super) fn size(&self) -> (u32, u32) {
        (self.width as u32, self.height as u32)
    }

    /// The patch that brings the screen to `picture` (RGBA, the screen's size), or
    /// `None` when every pixel may stay. The screen takes the patch.
    pub(super) fn show(&mut self, picture: &[u8]) -> Option<Patch> {
        let pixel = |i: usize| rgb_at(picture, i);
        let whole = self.palette.is_none();
        let Tolerance { stays: stays_within, no_better, stays_at_most } = self.tolerance;
        let moved: Vec<usize> = (0..self.width * self.height).filter(|&i| whole || distance(self.shown[i], pixel(i)) > stays_within).collect();
        if moved.is_empty() {
            return None;
        }
        if whole {
            self.new_palette(picture, &[]);
        }
        let mut looked_up = self.look_up(&moved, picture);
        let error = mean_error(&looked_up);
        if whole || (error > NEW_SCENE && error > 2 * self.palette_floor) {
            if !whole {
                self.new_palette(picture, &moved);
                looked_up = self.look_up(&moved, picture);
            }
            self.palette_floor = mean_error(&looked_up);
        }
        let palette = self.palette.as_ref().expect("a palette before drawing");
        let stays = |i: usize, entry: u8, error: u32| {
            let off = distance(self.shown[i], pixel(i));
            self.shown[i] == palette.colour(entry) || (off <= error + no_better && off <= stays_at_most)
        };
        let mut drawn: Vec<(usize, u8, u32)> = looked_up.into_iter().filter(|&(i, entry, error)| whole || !stays(i, entry, error)).collect();
        if drawn.is_empty() {
            return None;
        }
        if self.lossy {
            self.lengthen_runs(&mut drawn, picture);
        }
        Some(self.patch(&drawn))
    }

    /// Lossy drawing: a pixel takes the entry of the pixel drawn left of it whenever
    /// that entry's colour is within the tolerance's `stays` of its own, so rows become
    /// runs of one entry, which LZW stores in a few codes.
    fn lengthen_runs(&self, drawn: &mut [(usize, u8, u32)], picture: &[u8]) {
        let palette = self.palette.as_ref().expect("a palette before drawing");
        for k in 1..drawn.len() {
            let (left, left_entry, _) = drawn[k - 1];
            let (i, _, _) = drawn[k];
            let colour = rgb_at(picture, i);
            let off = distance(palette.colour(left_entry), colour);
            if left + 1 == i && i % self.width != 0 && off <= self.tolerance.stays {
                drawn[k] = (i, left_entry, off);
            }
        }
    }

    /// For each pixel of `moved`: (index, the entry the palette draws it with, its
    /// squared error).
    fn look_up(&mut self, moved: &[usize], picture: &[u8]) -> Vec<(usize, u8, u32)> {
        let palette = self.palette.as_mut().expect("a palette before drawing");
        moved
            .iter()
            .map(|&i| {
                let (entry, error) = palette.entry_for(rgb_at(picture, i), i % self.width, i / self.width);
                (i, entry, error)
            })
            .collect()
    }

    /// A palette for the picture, its `changed` pixels counted once more (what is new on
    /// screen gets entries even when small); every other pixel of the picture is
    /// sampled, so the scene's colours stay in it.
    fn new_palette(&mut self, picture: &[u8], changed: &[usize]) {
        let mut pixels: Vec<[u8; 3]> = (0..self.width * self.height).step_by(2).map(|i| rgb_at(picture, i)).collect();
        pixels.extend(changed.iter().map(|&i| rgb_at(picture, i)));
        self.palette = Some(ScenePalette::for_pixels(&pixels, self.colours));
    }

    /// The patch of `drawn` pixels: their bounding rectangle, a colour table of the
    /// entries it uses, and transparency for the pixels inside it that stay.
    fn patch(&mut self, drawn: &[(usize, u8, u32)]) -> Patch {
        let palette = self.palette.as_ref().expect("a palette before drawing");
        let (mut x0, mut y0, mut x1, mut y1) = (self.width, self.height, 0, 0);
        let mut local = [u8::MAX; 256];
        let mut table = Vec::new();
        for &(i, entry, _) in drawn {
            let (x, y) = (i % self.width, i / self.width);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            if local[entry as usize] == u8::MAX {
                local[entry as usize] = (table.len() / 3) as u8;
                table.extend_from_slice(&palette.colour(entry));
            }
            self.shown[i] = palette.colour(entry);
        }
        let (width, height) = (x1 - x0, y1 - y0);
        let transparent = (drawn.len() < width * height).then_some((table.len() / 3) as u8);
        let mut entries = vec![transparent.unwrap_or(0); width * height];
        for &(i, entry, _) in drawn {
            let (x, y) = (i % self.width - x0, i / self.width - y0);
            entries[y * width + x] = local[entry as usize];
        }
        if transparent.is_some() {
            table.extend_from_slice(&[0, 0, 0]);
        }
        Patch { left: x0 as u16, top: y0 as u16, width: width as u16, height: height as u16, entries, table, transparent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(width: usize, height: usize, colour: impl Fn(usize, usize) -> [u8; 3]) -> Vec<u8> {
        (0..width * height).flat_map(|i| {
            let [r, g, b] = colour(i % width, i / width);
            [r, g, b, 255]
        }).collect()
    }

    #[test]
    fn only_the_pixels_that_changed_are_stored_and_the_rest_is_transparent() {
        let mut screen = Screen::new(64, 48, 255, 0);
        let page = |x: usize, y: usize| if (8..40).contains(&x) && (8..20).contains(&y) { [37, 99, 235] } else { [250, 250, 250] };
        let first = screen.show(&picture(64, 48, page)).expect("the first frame is whole");
        assert_eq!((first.width, first.height, first.transparent), (64, 48, None));
        // Noise of the video's compression changes nothing on screen.
        assert!(screen.show(&picture(64, 48, |x, y| page(x, y).map(|c| c.saturating_sub(2)))).is_none());
        // An L-shaped change: its bounding box, the corner it does not cover transparent.
        let changed = |x: usize, y: usize| if (x >= 50 && y >= 30) || (x >= 50 && y >= 10 && x < 54) { [17, 24, 39] } else { page(x, y) };
        let patch = screen.show(&picture(64, 48, changed)).expect("a change is stored");
        assert_eq!((patch.left, patch.top, patch.width, patch.height), (50, 10, 14, 38));
        let transparent = patch.transparent.expect("the pixels that stay are transparent");
        assert_eq!(patch.entries[0], patch.entries[3], "the L's upright is one colour");
        assert_eq!(patch.entries[13], transparent, "beside the upright nothing changed");
        assert_eq!(patch.table.len(), 6, "one colour and the transparent entry");
    }

    #[test]
    fn a_slow_fade_never_leaves_the_screen_more_than_a_step_behind() {
        let mut screen = Screen::new(32, 32, 255, 0);
        let mut shown = [250u8; 3];
        for level in (100..=250).rev().step_by(2) {
            let grey = [level as u8; 3];
            if let Some(patch) = screen.show(&picture(32, 32, |_, _| grey)) {
                let drawn = patch.entries[0] as usize * 3;
                shown = [patch.table[drawn], patch.table[drawn + 1], patch.table[drawn + 2]];
            }
            let Tolerance { stays, no_better, .. } = Tolerance::at(0);
            assert!(distance(shown, grey) <= stays + no_better + NEW_SCENE, "screen {shown:?} for picture {grey:?}");
        }
        assert!(distance(shown, [100; 3]) <= Tolerance::at(0).stays, "the fade ends where the picture does: {shown:?}");
    }
}
