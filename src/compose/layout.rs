//! Where everything goes in an output frame. Input: the captured frame size and the video
//! options. Output: [`Layout`]. Invariant: the content is never letterboxed — edge to edge
//! it covers the whole frame (cropping the page's overflow), framed it sits centred on the
//! background at the page's own aspect.

use crate::geometry::{ContentMapping, PageSize, PixelRect, Rect, Size};
use crate::options::{Background, ContentFit, VideoOptions};

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub output: Size,
    pub mapping: ContentMapping,
    /// Framed mode: rounded corners and a shadow over a background.
    pub framed: bool,
    pub corner_radius: u32,
    pub shadow: Option<Shadow>,
}

/// A soft drop shadow under the framed content.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shadow {
    pub offset_y: u32,
    /// Radius of the blur, px.
    pub blur: u32,
    pub opacity: f32,
}

impl Layout {
    /// The layout of `demo.mp4`.
    pub fn for_demo(frame_size: Size, device_scale_factor: f64, video: &VideoOptions) -> Layout {
        let output = Size { width: video.width, height: video.height };
        let framed = video.background != Background::None;
        let area = match video.content {
            ContentFit::EdgeToEdge => (output.width as f64, output.height as f64),
            ContentFit::Scale(s) => (output.width as f64 * s, output.height as f64 * s),
            ContentFit::Padding(p) => ((output.width - 2 * p) as f64, (output.height - 2 * p) as f64),
        };
        if !framed {
            return Layout::edge_to_edge(frame_size, device_scale_factor, output);
        }
        // Fit the whole page into the content area at its own aspect.
        let aspect = frame_size.width as f64 / frame_size.height as f64;
        let (mut w, mut h) = (area.0, area.0 / aspect);
        if h > area.1 {
            (w, h) = (area.1 * aspect, area.1);
        }
        let (w, h) = (w.round() as u32, h.round() as u32);
        let dest = PixelRect {
            x: (output.width - w) / 2,
            y: (output.height - h) / 2,
            width: w,
            height: h,
        };
        let unit = output.width.min(output.height) as f64;
        Layout {
            output,
            mapping: ContentMapping {
                device_scale_factor,
                source: Rect::new(0.0, 0.0, frame_size.width as f64, frame_size.height as f64),
                dest,
            },
            framed: true,
            corner_radius: (unit * 0.014).round().max(4.0) as u32,
            shadow: Some(Shadow {
                offset_y: (unit * 0.012).round() as u32,
                blur: (unit * 0.03).round().max(2.0) as u32,
                opacity: 0.38,
            }),
        }
    }

    /// The layout of `raw.mp4`: the frame as captured (cropped by one pixel to an even size
    /// if needed, as 4:2:0 video requires).
    pub fn for_raw(frame_size: Size, device_scale_factor: f64) -> Layout {
        let output = Size { width: frame_size.width & !1, height: frame_size.height & !1 };
        Layout::edge_to_edge(frame_size, device_scale_factor, output)
    }

    /// The layout of a resized `raw.mp4`: the page covering `output` edge to edge.
    pub fn for_raw_at(frame_size: Size, device_scale_factor: f64, output: Size) -> Layout {
        Layout::edge_to_edge(frame_size, device_scale_factor, Size { width: output.width & !1, height: output.height & !1 })
    }

    fn edge_to_edge(frame_size: Size, device_scale_factor: f64, output: Size) -> Layout {
        // Cover: crop the page's overflow in one dimension, centred.
        let (fw, fh) = (frame_size.width as f64, frame_size.height as f64);
        let out_aspect = output.width as f64 / output.height as f64;
        let source = if fw / fh > out_aspect {
            let w = fh * out_aspect;
            Rect::new((fw - w) / 2.0, 0.0, w, fh)
        } else {
            let h = fw / out_aspect;
            Rect::new(0.0, (fh - h) / 2.0, fw, h)
        };
        Layout {
            output,
            mapping: ContentMapping {
                device_scale_factor,
                source,
                dest: PixelRect { x: 0, y: 0, width: output.width, height: output.height },
            },
            framed: false,
            corner_radius: 0,
            shadow: None,
        }
    }
}

/// Widest page a capture opens, in CSS px: a laptop's browser window.
pub const MAX_PAGE_CSS_WIDTH: f64 = 1280.0;

/// The page to capture for a content area of `content` output px: at most
/// [`MAX_PAGE_CSS_WIDTH`] CSS px wide, with the density making up the rest so the page is
/// never upscaled.
pub fn page_for_content(content: Size) -> PageSize {
    let dsf = (content.width as f64 / MAX_PAGE_CSS_WIDTH).max(1.0);
    PageSize {
        viewport: Size { width: (content.width as f64 / dsf).round() as u32, height: (content.height as f64 / dsf).round() as u32 },
        device_scale_factor: dsf,
    }
}

/// The page to capture for a video made with `video` options: sized for its content area.
pub fn page_for_video(video: &VideoOptions) -> PageSize {
    let layout = Layout::for_demo(Size { width: video.width, height: video.height }, 1.0, video);
    page_for_content(Size { width: layout.mapping.dest.width, height: layout.mapping.dest.height })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Rgb, RenderOptions};

    #[test]
    fn framed_content_keeps_the_page_aspect_and_is_centred() {
        let mut video = RenderOptions::default().video;
        video.background = Background::Solid(Rgb(1, 2, 3));
        video.content = ContentFit::Scale(0.9);
        let layout = Layout::for_demo(Size { width: 1280, height: 720 }, 1.0, &video);
        assert_eq!(layout.mapping.dest, PixelRect { x: 96, y: 54, width: 1728, height: 972 });
    }

    #[test]
    fn edge_to_edge_crops_instead_of_letterboxing() {
        let mut video = RenderOptions::default().video;
        (video.width, video.height) = (1080, 1080);
        let layout = Layout::for_demo(Size { width: 1920, height: 1080 }, 1.0, &video);
        assert_eq!(layout.mapping.source, Rect::new(420.0, 0.0, 1080.0, 1080.0));
        assert_eq!(layout.mapping.dest, PixelRect { x: 0, y: 0, width: 1080, height: 1080 });
    }
}
