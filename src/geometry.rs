//! Coordinates typed by the space they live in: CSS px (what the page and the timeline
//! speak) → capture px (pixels of a captured frame) → output px (pixels of the video).
//! Invariant: a value crosses spaces only through the named conversions on
//! [`ContentMapping`], so a CSS point can never be drawn as if it were an output point.

use std::marker::PhantomData;

/// CSS pixels of the page, as the timeline's events report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Css;
/// Pixels of a captured frame (CSS px × device scale factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capture;
/// Pixels of the rendered video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point<S> {
    pub x: f64,
    pub y: f64,
    space: PhantomData<S>,
}

impl<S> Point<S> {
    pub fn new(x: f64, y: f64) -> Self {
        Point { x, y, space: PhantomData }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect<S> {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    space: PhantomData<S>,
}

impl<S> Rect<S> {
    pub fn new(x: f64, y: f64, width: f64, height: f64) -> Self {
        Rect { x, y, width, height, space: PhantomData }
    }
    pub fn right(&self) -> f64 {
        self.x + self.width
    }
    pub fn bottom(&self) -> f64 {
        self.y + self.height
    }
}

/// A whole-pixel rectangle in output space: where the content is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl PixelRect {
    pub fn right(&self) -> u32 {
        self.x + self.width
    }
    pub fn bottom(&self) -> u32 {
        self.y + self.height
    }

    /// The smallest rectangle holding both.
    pub fn union(self, other: PixelRect) -> PixelRect {
        let (x0, y0) = (self.x.min(other.x), self.y.min(other.y));
        let (x1, y1) = (self.right().max(other.right()), self.bottom().max(other.bottom()));
        PixelRect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }
    }

    /// The whole pixels that cover the area `(x0, y0, x1, y1)` inside a picture of
    /// `size`; `None` when none do.
    pub fn covering((x0, y0, x1, y1): (f64, f64, f64, f64), size: Size) -> Option<PixelRect> {
        let x0 = x0.floor().clamp(0.0, size.width as f64) as u32;
        let y0 = y0.floor().clamp(0.0, size.height as f64) as u32;
        let x1 = x1.ceil().clamp(0.0, size.width as f64) as u32;
        let y1 = y1.ceil().clamp(0.0, size.height as f64) as u32;
        (x1 > x0 && y1 > y0).then(|| PixelRect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 })
    }
}

/// Width × height in pixels of some space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    /// Whether this size (frames as delivered) falls short of `asked` by more than the
    /// pixel that rounding a fractional scale can take off.
    pub fn clearly_smaller_than(self, asked: Size) -> bool {
        self.width + 1 < asked.width || self.height + 1 < asked.height
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// How the page maps onto the video: which part of the captured frame is shown
/// (`source`) and where it lands in the output (`dest`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContentMapping {
    pub device_scale_factor: f64,
    pub source: Rect<Capture>,
    pub dest: PixelRect,
}

impl ContentMapping {
    pub fn css_to_capture(&self, p: Point<Css>) -> Point<Capture> {
        Point::new(p.x * self.device_scale_factor, p.y * self.device_scale_factor)
    }

    pub fn capture_to_output(&self, p: Point<Capture>) -> Point<Output> {
        let sx = self.dest.width as f64 / self.source.width;
        let sy = self.dest.height as f64 / self.source.height;
        Point::new(
            self.dest.x as f64 + (p.x - self.source.x) * sx,
            self.dest.y as f64 + (p.y - self.source.y) * sy,
        )
    }

    pub fn css_to_output(&self, p: Point<Css>) -> Point<Output> {
        self.capture_to_output(self.css_to_capture(p))
    }

    pub fn css_rect_to_output(&self, r: Rect<Css>) -> Rect<Output> {
        let a = self.css_to_output(Point::new(r.x, r.y));
        let b = self.css_to_output(Point::new(r.right(), r.bottom()));
        Rect::new(a.x, a.y, b.x - a.x, b.y - a.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn css_point_lands_inside_the_framed_content() {
        let mapping = ContentMapping {
            device_scale_factor: 2.0,
            source: Rect::new(0.0, 0.0, 1920.0, 1080.0),
            dest: PixelRect { x: 96, y: 54, width: 1728, height: 972 },
        };
        let p = mapping.css_to_output(Point::new(480.0, 270.0));
        assert!((p.x - (96.0 + 960.0 * 0.9)).abs() < 1e-9);
        assert!((p.y - (54.0 + 540.0 * 0.9)).abs() < 1e-9);
    }

    #[test]
    fn a_frame_a_pixel_short_is_rounding_and_more_is_smaller() {
        let asked = Size { width: 3456, height: 1440 };
        assert!(!asked.clearly_smaller_than(asked));
        assert!(!Size { width: 3456, height: 1439 }.clearly_smaller_than(asked));
        assert!(!Size { width: 3457, height: 1441 }.clearly_smaller_than(asked));
        assert!(Size { width: 1280, height: 533 }.clearly_smaller_than(asked));
        assert!(Size { width: 3456, height: 1400 }.clearly_smaller_than(asked));
    }
}

/// The page a capture opens: its size in CSS px and the device scale factor that turns
/// it into frame pixels. Chosen by `compose::layout` for a video's content area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageSize {
    pub viewport: Size,
    pub device_scale_factor: f64,
}

impl PageSize {
    /// Frame pixels: the viewport times the density, rounded.
    pub fn frame_size(&self) -> Size {
        Size {
            width: (self.viewport.width as f64 * self.device_scale_factor).round() as u32,
            height: (self.viewport.height as f64 * self.device_scale_factor).round() as u32,
        }
    }
}

