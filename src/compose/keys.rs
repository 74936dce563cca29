//! Key-chip layer. Input: the chips visible now (label, count, opacity, stacking row).
//! Output: mac-style chips, bottom-centre inside the content frame, stacked upward.
//! Invariant: a chip's image is rendered once per (label, count) with the pinned font.

use super::{ComposeError, sprite::Sprite};
use crate::geometry::PixelRect;
use crate::timeline::overlays::ChipDraw;
use std::collections::HashMap;

/// Chip height and font size for a 1080-px video.
const HEIGHT_1080: f64 = 56.0;
const FONT_1080: f64 = 27.0;
const GAP_1080: f64 = 12.0;
const BOTTOM_1080: f64 = 40.0;

pub struct KeysLayer {
    unit: f64,
    sprites: HashMap<(String, u32), Sprite>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The width the pinned font gives `text` at `size` px.
fn text_width(text: &str, size: f64) -> Result<f64, ComposeError> {
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="200"><text x="0" y="100" font-family="{}" font-size="{size}">{}</text></svg>"#,
        crate::fonts::FAMILY,
        escape(text)
    );
    let tree = resvg::usvg::Tree::from_str(&svg, &crate::fonts::svg_options()).map_err(|e| ComposeError::Asset(e.to_string()))?;
    Ok(tree.root().bounding_box().width() as f64)
}

impl KeysLayer {
    pub fn new(unit: f64) -> KeysLayer {
        KeysLayer { unit, sprites: HashMap::new() }
    }

    fn sprite(&mut self, label: &str, count: u32) -> Result<&Sprite, ComposeError> {
        let key = (label.to_string(), count);
        if !self.sprites.contains_key(&key) {
            let font = FONT_1080;
            let counter = if count > 1 { format!("×{count}") } else { String::new() };
            let label_w = text_width(label, font)?;
            let counter_w = if counter.is_empty() { 0.0 } else { text_width(&counter, font * 0.8)? + font * 0.45 };
            let pad = font * 0.75;
            let (w, h) = ((label_w + counter_w + 2.0 * pad).max(HEIGHT_1080), HEIGHT_1080);
            let label_x = (w - label_w - counter_w) / 2.0;
            let svg = format!(
                r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{family}">
<rect x="0.5" y="0.5" width="{rw}" height="{rh}" rx="{r}" fill="#111827" fill-opacity="0.86" stroke="#ffffff" stroke-opacity="0.18"/>
<text x="{label_x}" y="{base}" font-size="{font}" fill="#ffffff">{label}</text>
<text x="{counter_x}" y="{base}" font-size="{counter_font}" fill="#a5b4fc">{counter}</text></svg>"##,
                family = crate::fonts::FAMILY,
                rw = w - 1.0,
                rh = h - 1.0,
                r = h * 0.24,
                base = h * 0.66,
                label = escape(label),
                counter_x = label_x + label_w + font * 0.45,
                counter_font = font * 0.8,
            );
            self.sprites.insert(key.clone(), Sprite::from_svg(&svg, self.unit)?);
        }
        Ok(&self.sprites[&key])
    }

    pub fn draw(&mut self, canvas: &mut tiny_skia::PixmapMut<'_>, chips: &[ChipDraw], frame: PixelRect) -> Result<Vec<(f64, f64, f64, f64)>, ComposeError> {
        let unit = self.unit;
        let mut extents = Vec::new();
        for chip in chips {
            let sprite = self.sprite(&chip.label, chip.count)?;
            let w = sprite.pixmap.width() as f64;
            let row = chip.row_milli as f64 / 1000.0;
            let opacity = chip.opacity_milli as f64 / 1000.0;
            // Fading chips also sink a little, as if they came from the bottom edge.
            let sink = (1.0 - opacity) * 10.0 * unit;
            let visible_bottom =
                frame.bottom() as f64 - BOTTOM_1080 * unit - row * (HEIGHT_1080 + GAP_1080) * unit + sink;
            let top = visible_bottom - HEIGHT_1080 * unit - sprite.margin;
            let left = frame.x as f64 + frame.width as f64 / 2.0 - w / 2.0;
            let transform = tiny_skia::Transform::from_translate(left.round() as f32, top.round() as f32);
            extents.push(sprite.draw(canvas, transform, opacity as f32));
        }
        Ok(extents)
    }
}
