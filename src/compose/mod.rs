//! The compositor. Input: what a slot shows (prepared content, later the overlays).
//! Output: a [`ComposedFrame`], RGBA at the output size, with the rectangle that changed.
//! Layers, back to front: background → content (with its shadow) → cursor → click →
//! key chips → intro; one module each, each with a `prepare` (once per render or per
//! captured frame) and a `draw` (per output frame).
//! Invariant: static layers are painted once into `base`; a slot that shows the same
//! picture as the one before is not recomposited (the caller reuses the encoded buffer).

pub mod background;
pub mod blur;
pub mod click;
pub mod content;
pub mod cursor;
pub mod keys;
pub mod layout;
mod sprite;

pub use content::{ContentLayer, ContentPicture, PreparedContent};
pub use layout::{Layout, Shadow};

use crate::geometry::{PixelRect, Size};
use crate::options::{Background, CursorSize, RedactionMode, VideoOptions};
use crate::timeline::overlays::OverlayFrame;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("captured frame could not be decoded: {0}")]
    Decode(String),
    #[error("captured frame could not be resampled: {0}")]
    Resize(String),
    #[error("overlay artwork: {0}")]
    Asset(String),
    #[error("the first frame of a render needs its page content")]
    FirstFrameWithoutPage,
    #[error("the page of the last frame was drawn to be shown once: pass it again")]
    PageNotKept,
}

/// Whether a page just drawn may be shown again under other overlays (a cursor moving
/// over a still page). Keeping it copies the page aside, several MB a frame; a caller
/// that knows the next frame shows another page says so and saves the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageReuse {
    Kept,
    ShownOnce,
}

/// How the overlays look: the parts of the video options the overlay layers use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverlayStyle {
    pub cursor: CursorSize,
    pub redaction: RedactionMode,
}

impl OverlayStyle {
    pub fn of(video: &VideoOptions) -> OverlayStyle {
        OverlayStyle { cursor: video.cursor, redaction: video.redaction }
    }
}

impl Default for OverlayStyle {
    fn default() -> Self {
        OverlayStyle { cursor: CursorSize::Default, redaction: RedactionMode::Blur }
    }
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
    style: OverlayStyle,
    /// Output px per px of a 1080-px video (the shorter side), for overlay sizes.
    unit: f64,
    /// Background and shadow: everything that never changes during a render.
    base: Vec<u8>,
    /// The canvas without the overlays above the page (cursor, ripples, chips): what an
    /// overlay-only change restores before drawing the overlays anew.
    clean: Vec<u8>,
    canvas: Vec<u8>,
    content: ContentLayer,
    cursor: cursor::CursorLayer,
    keys: keys::KeysLayer,
    /// Where the last frame's overlays reached outside the content: restored from `base`.
    overlay_extent: Option<PixelRect>,
    first: bool,
    /// Whether `clean` holds the last page drawn (it was drawn as [`PageReuse::Kept`]).
    page_kept: bool,
}

impl Compositor {
    pub fn new(layout: Layout, background: &Background, frame_size: Size) -> Compositor {
        Compositor::with_style(layout, background, frame_size, OverlayStyle::default())
    }

    pub fn with_style(layout: Layout, background: &Background, frame_size: Size, style: OverlayStyle) -> Compositor {
        let mut base = background::paint(background, layout.output);
        content::paint_shadow(&mut base, &layout);
        let unit = layout.output.width.min(layout.output.height) as f64 / 1080.0;
        Compositor {
            canvas: base.clone(),
            clean: base.clone(),
            content: ContentLayer::new(&layout, frame_size),
            cursor: cursor::CursorLayer::new(style.cursor, unit),
            keys: keys::KeysLayer::new(unit),
            base,
            layout,
            style,
            unit,
            overlay_extent: None,
            first: true,
            page_kept: false,
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

    /// Takes back a prepared frame no longer shown: its buffer holds the next one (a
    /// 1080p frame is 6 MB, paged in and cleared again when allocated fresh).
    pub fn recycle_content(&mut self, content: PreparedContent) {
        self.content.recycle(content);
    }

    /// A content layer of its own, to prepare frames on another thread.
    pub fn content_layer(&self) -> ContentLayer {
        self.content.fresh()
    }

    /// Draws one output frame: content, then redactions, click ripples, cursor and chips.
    /// `content` None means the page (and its redactions) is the same as in the last
    /// frame: only the overlays are redrawn, and only where they were or are now.
    pub fn compose(&mut self, content: Option<ContentPicture<'_>>, overlays: &OverlayFrame) -> Result<ComposedFrame<'_>, ComposeError> {
        self.compose_for(content, overlays, PageReuse::Kept)
    }

    /// Whether the last page drawn is kept, so a frame may change only the overlays
    /// over it (`content: None`).
    pub fn page_kept(&self) -> bool {
        self.page_kept
    }

    /// [`Compositor::compose`], saying whether the page may be shown again. `content:
    /// None` after a page drawn as [`PageReuse::ShownOnce`] is an error.
    pub fn compose_for(&mut self, content: Option<ContentPicture<'_>>, overlays: &OverlayFrame, reuse: PageReuse) -> Result<ComposedFrame<'_>, ComposeError> {
        let size = self.layout.output;
        let full = PixelRect { x: 0, y: 0, width: size.width, height: size.height };
        let dest = self.layout.mapping.dest;
        let previous = self.overlay_extent.take();
        if let Some(area) = previous {
            restore(&mut self.canvas, &self.clean, size, area);
        }
        let page_dirty = match content {
            Some(picture) => {
                self.content.draw(&mut self.canvas, &self.base, picture);
                for &rect in &overlays.redactions {
                    blur::apply(&mut self.canvas, size, rect, self.style.redaction, self.unit);
                }
                self.page_kept = reuse == PageReuse::Kept;
                if self.page_kept {
                    restore(&mut self.clean, &self.canvas, size, dest);
                }
                Some(dest)
            }
            None if self.first => return Err(ComposeError::FirstFrameWithoutPage),
            None if !self.page_kept => return Err(ComposeError::PageNotKept),
            None => None,
        };
        let mut reach: Vec<(f64, f64, f64, f64)> = Vec::new();
        {
            let mut canvas = tiny_skia::PixmapMut::from_bytes(&mut self.canvas, size.width, size.height)
                .expect("canvas matches the output size");
            for ripple in &overlays.ripples {
                reach.push(click::draw(&mut canvas, ripple, self.unit));
            }
            if let Some(cursor) = &overlays.cursor {
                reach.push(self.cursor.draw(&mut canvas, cursor)?);
            }
            reach.extend(self.keys.draw(&mut canvas, &overlays.chips, dest)?);
        }
        let extent = reach.into_iter().filter_map(|r| PixelRect::covering(r, size)).reduce(PixelRect::union);
        self.overlay_extent = extent;
        let dirty = if std::mem::take(&mut self.first) {
            full
        } else {
            [page_dirty, previous, extent].into_iter().flatten().reduce(PixelRect::union).unwrap_or(PixelRect { x: 0, y: 0, width: 0, height: 0 })
        };
        Ok(ComposedFrame { rgba: &self.canvas, size, dirty })
    }
}

/// Copies `area` of `from` onto `canvas` (both RGBA at `size`).
fn restore(canvas: &mut [u8], base: &[u8], size: Size, area: PixelRect) {
    let stride = size.width as usize * 4;
    for y in area.y as usize..area.bottom() as usize {
        let row = y * stride + area.x as usize * 4..y * stride + area.right() as usize * 4;
        canvas[row.clone()].copy_from_slice(&base[row]);
    }
}
