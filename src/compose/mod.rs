//! The compositor. Input: what a slot shows (prepared content, later the overlays).
//! Output: a [`ComposedFrame`], RGBA at the output size, with the rectangle that changed.
//! Layers, back to front: background → content (with its shadow) → cursor → click →
//! key chips → intro; one module each, each with a `prepare` (once per render or per
//! captured frame) and a `draw` (per output frame).
//! Invariant: static layers are painted once into `base`; a slot that shows the same
//! picture as the one before is not recomposited (the caller reuses the encoded buffer).

pub mod background;
pub mod content;
pub mod layout;

pub use content::{ContentLayer, ContentPicture, PreparedContent};
pub use layout::{Layout, Shadow};

use crate::geometry::{PixelRect, Size};
use crate::options::Background;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("captured frame could not be decoded: {0}")]
    Decode(String),
    #[error("captured frame could not be resampled: {0}")]
    Resize(String),
}

/// One composed output frame.
pub struct ComposedFrame<'a> {
    pub rgba: &'a [u8],
    pub size: Size,
    /// The part that may differ from the previous composed frame.
    pub dirty: PixelRect,
}

pub struct Compositor {
    layout: Layout,
    /// Background and shadow: everything that never changes during a render.
    base: Vec<u8>,
    canvas: Vec<u8>,
    content: ContentLayer,
    first: bool,
}

impl Compositor {
    pub fn new(layout: Layout, background: &Background, frame_size: Size) -> Compositor {
        let mut base = background::paint(background, layout.output);
        content::paint_shadow(&mut base, &layout);
        Compositor {
            canvas: base.clone(),
            content: ContentLayer::new(&layout, frame_size),
            base,
            layout,
            first: true,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The static layers (background and shadow) as RGBA at the output size.
    pub fn base(&self) -> &[u8] {
        &self.base
    }

    /// Decodes and resamples a captured frame for the content layer.
    pub fn prepare_content(&mut self, jpeg: &[u8]) -> Result<PreparedContent, ComposeError> {
        self.content.prepare(jpeg)
    }

    pub fn compose(&mut self, picture: ContentPicture<'_>) -> ComposedFrame<'_> {
        self.content.draw(&mut self.canvas, &self.base, picture);
        let full = PixelRect { x: 0, y: 0, width: self.layout.output.width, height: self.layout.output.height };
        let dirty = if std::mem::take(&mut self.first) { full } else { self.layout.mapping.dest };
        ComposedFrame { rgba: &self.canvas, size: self.layout.output, dirty }
    }
}
