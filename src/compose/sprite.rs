//! A small pre-rendered image (cursor, chip) placed on the canvas each frame.
//! Input: SVG text and a scale. Output: a premultiplied pixmap drawn with bilinear
//! filtering at any transform. Invariant: rendered once, drawn many times.

use super::ComposeError;

pub struct Sprite {
    pub pixmap: tiny_skia::Pixmap,
    /// Transparent border around the artwork, px (room for its shadow).
    pub margin: f64,
}

impl Sprite {
    /// Renders an SVG at `scale` output px per SVG unit, with a 4 px margin.
    pub fn from_svg(svg: &str, scale: f64) -> Result<Sprite, ComposeError> {
        let tree = resvg::usvg::Tree::from_str(svg, &crate::fonts::svg_options())
            .map_err(|e| ComposeError::Asset(e.to_string()))?;
        let margin = 4.0;
        let size = tree.size();
        let w = (size.width() as f64 * scale + 2.0 * margin).ceil() as u32;
        let h = (size.height() as f64 * scale + 2.0 * margin).ceil() as u32;
        let mut pixmap = tiny_skia::Pixmap::new(w.max(1), h.max(1)).ok_or_else(|| ComposeError::Asset("empty sprite".into()))?;
        let transform = tiny_skia::Transform::from_translate(margin as f32, margin as f32).pre_scale(scale as f32, scale as f32);
        resvg::render(&tree, transform, &mut pixmap.as_mut());
        Ok(Sprite { pixmap, margin })
    }

    /// Draws the sprite with `transform` (sprite px → canvas px) at `opacity`; answers
    /// the output-px box it covers.
    pub fn draw(&self, canvas: &mut tiny_skia::PixmapMut<'_>, transform: tiny_skia::Transform, opacity: f32) -> (f64, f64, f64, f64) {
        let paint = tiny_skia::PixmapPaint {
            opacity,
            blend_mode: tiny_skia::BlendMode::SourceOver,
            quality: tiny_skia::FilterQuality::Bilinear,
        };
        canvas.draw_pixmap(0, 0, self.pixmap.as_ref(), &paint, transform, None);
        let rect = tiny_skia::Rect::from_xywh(0.0, 0.0, self.pixmap.width() as f32, self.pixmap.height() as f32)
            .and_then(|r| r.transform(transform));
        match rect {
            Some(r) => (r.left() as f64 - 1.0, r.top() as f64 - 1.0, r.right() as f64 + 1.0, r.bottom() as f64 + 1.0),
            None => (0.0, 0.0, 0.0, 0.0),
        }
    }
}
