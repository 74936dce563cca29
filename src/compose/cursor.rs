//! Cursor layer. Input: a [`CursorDraw`] (tip in output px, shape, press dip). Output: the
//! cursor drawn over the canvas. Invariant: the artwork (assets/cursors/*.svg) is rendered
//! once per shape and size; each frame only places it, at sub-pixel precision.

use super::{ComposeError, sprite::Sprite};
use crate::options::CursorSize;
use crate::recording::CursorShape;
use crate::timeline::overlays::CursorDraw;
use std::collections::HashMap;

/// Cursor height in output px for a 1080-px-tall (or wide) video at `default` size.
const DEFAULT_HEIGHT_1080: f64 = 34.0;

/// The artwork of one shape and where its hotspot is, in the SVG's 32-unit space.
fn artwork(shape: CursorShape) -> (&'static str, (f64, f64)) {
    match shape {
        CursorShape::Pointer => ("hand.svg", (12.5, 1.6)),
        CursorShape::Text => ("ibeam.svg", (16.0, 16.0)),
        CursorShape::Default | CursorShape::Other => ("arrow.svg", (6.0, 3.0)),
    }
}

pub struct CursorLayer {
    sprites: HashMap<&'static str, (Sprite, (f64, f64))>,
    /// Output px per SVG unit.
    scale: f64,
}

impl CursorLayer {
    /// `unit` is the output's shorter side / 1080.
    pub fn new(size: CursorSize, unit: f64) -> CursorLayer {
        let factor = match size {
            CursorSize::Small => 0.75,
            CursorSize::Default | CursorSize::None => 1.0,
            CursorSize::Large => 1.45,
        };
        CursorLayer { sprites: HashMap::new(), scale: DEFAULT_HEIGHT_1080 * unit * factor / 32.0 }
    }

    pub fn draw(&mut self, canvas: &mut tiny_skia::PixmapMut<'_>, cursor: &CursorDraw) -> Result<Extent, ComposeError> {
        let (file, hotspot) = artwork(cursor.shape);
        if !self.sprites.contains_key(file) {
            let path = crate::project_dir().join("assets/cursors").join(file);
            let svg = std::fs::read_to_string(&path).map_err(|e| ComposeError::Asset(format!("{}: {e}", path.display())))?;
            self.sprites.insert(file, (Sprite::from_svg(&svg, self.scale)?, hotspot));
        }
        let (sprite, hotspot) = &self.sprites[file];
        let (x, y) = (cursor.tip_x8 as f64 / 8.0, cursor.tip_y8 as f64 / 8.0);
        let k = cursor.scale_milli as f64 / 1000.0;
        // Place the hotspot on the tip; a press shrinks the cursor around its tip.
        let transform = tiny_skia::Transform::from_translate(x as f32, y as f32)
            .pre_scale(k as f32, k as f32)
            .pre_translate(-(hotspot.0 * self.scale + sprite.margin) as f32, -(hotspot.1 * self.scale + sprite.margin) as f32);
        Ok(sprite.draw(canvas, transform, 1.0))
    }
}

/// The bounding box of something drawn, in output px (may reach past the canvas).
pub type Extent = (f64, f64, f64, f64);
