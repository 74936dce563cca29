//! Preview renders for template authors. Input: a template, checked values, images, a
//! size and a moment (or a whole clip). Output: a PNG of that moment, or the card as an
//! MP4 or GIF on its own. Invariant: a preview shows exactly what a run's video shows
//! for the same values (the same card and hand-over), with a neutral stand-in page where
//! the demo's first frame would be.

use crate::render::intro::{IntroClip, IntroRequest};
use crate::encode::{EncodeError, VideoSink};
use crate::geometry::Size;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
    #[error("encoding the preview: {0}")]
    Encode(#[from] EncodeError),
    #[error("{0}")]
    Output(String),
}

/// The stand-in for the demo's first frame (what the card hands over to).
fn stand_in(size: Size) -> Result<Vec<u8>, PreviewError> {
    crate::templates::scene::stand_in_page(size).map_err(PreviewError::Output)
}

/// The card at `at_ms` as PNG bytes.
pub fn png(request: &IntroRequest, size: Size, at_ms: f64) -> Result<Vec<u8>, PreviewError> {
    let after = stand_in(size)?;
    let card = request.make_card(Some(&after), size)?;
    let clip = IntroClip::new(&card, request.template.manifest.transition_ms as f64, 30);
    let mut picture = vec![0u8; after.len()];
    clip.picture_at(at_ms.clamp(0.0, card.duration_ms()), &after, &mut picture);
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(&mut out, image::codecs::png::CompressionType::Fast, image::codecs::png::FilterType::Sub);
    image::ImageEncoder::write_image(encoder, &picture, size.width, size.height, image::ExtendedColorType::Rgba8).map_err(|e| PreviewError::Output(e.to_string()))?;
    Ok(out)
}

/// The whole card (with its hand-over into the stand-in page) as an MP4 at `target`.
pub fn mp4(request: &IntroRequest, size: Size, fps: u32, target: &Path) -> Result<(), PreviewError> {
    let after = stand_in(size)?;
    let card = request.make_card(Some(&after), size)?;
    let clip = IntroClip::new(&card, request.template.manifest.transition_ms as f64, fps);
    let mut sink = VideoSink::start(target, size, fps)?;
    clip.push(&mut sink, &after, &mut |_| true)?;
    sink.finish()?.commit()?;
    Ok(())
}

/// The whole card as a GIF at `target` (through an MP4, as `demo.gif` is made).
pub fn gif(request: &IntroRequest, size: Size, fps: u32, gif_width: u32, target: &Path) -> Result<(), PreviewError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let clip = tempfile_in(dir, "preview.mp4");
    mp4(request, size, fps.max(12), &clip)?;
    let made = crate::gif::from_mp4_until(&clip, target, gif_width.min(size.width), fps.clamp(1, 30), None, &|| false);
    let _ = std::fs::remove_file(&clip);
    made.map(|_| ()).map_err(|e| PreviewError::Output(e.to_string()))
}

fn tempfile_in(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!(".{}-{name}", crate::db::new_id()))
}
