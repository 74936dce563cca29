//! demo.mp4 → demo.gif. Input: the finished demo.mp4 and `options.artifacts` (width,
//! frame rate, optional byte budget). Output: an animated GIF written under a partial
//! name and renamed when complete. Invariant: frames stream (one decoded frame and the
//! previous output frame are held); only the rectangle that changed since the previous
//! GIF frame is stored, and unchanged frames lengthen the previous frame's delay.
//!
//! A plain first version: each changed rectangle gets its own NeuQuant palette.

use crate::encode::decode;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GifError {
    #[error("reading {}: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    #[error("writing {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    #[error("{} holds no frames", path.display())]
    Empty { path: PathBuf },
    /// The caller's cancel was seen; nothing was written.
    #[error("cancelled")]
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct GifSummary {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub bytes: u64,
    /// The budget forced a narrower GIF than asked.
    pub narrowed: bool,
}

/// Writes `out` from `mp4`; with a byte budget, narrows the GIF (¾ each time, not below
/// 240 px) until it fits, and answers the smallest it made if none fits.
pub fn from_mp4(mp4: &Path, out: &Path, width: u32, fps: u32, max_bytes: Option<u64>) -> Result<GifSummary, GifError> {
    from_mp4_until(mp4, out, width, fps, max_bytes, &|| false)
}

/// [`from_mp4`] that stops encoding (and writes nothing) once `cancelled` answers true;
/// it is asked before every frame.
pub fn from_mp4_until(mp4: &Path, out: &Path, width: u32, fps: u32, max_bytes: Option<u64>, cancelled: &dyn Fn() -> bool) -> Result<GifSummary, GifError> {
    let requested = width;
    let mut width = width;
    loop {
        let summary = encode_once(mp4, out, width, fps, cancelled)?;
        let over = max_bytes.is_some_and(|max| summary.bytes > max);
        let next = width * 3 / 4;
        if !over || next < 240 {
            return Ok(GifSummary { narrowed: width < requested, ..summary });
        }
        width = next;
    }
}

fn encode_once(mp4: &Path, out: &Path, width: u32, fps: u32, cancelled: &dyn Fn() -> bool) -> Result<GifSummary, GifError> {
    let partial = crate::files::partial_path(out);
    let write_error = |e: &dyn std::fmt::Display| GifError::Write { path: out.to_path_buf(), reason: e.to_string() };
    let file = File::create(&partial).map_err(|e| write_error(&e))?;
    let mut state: Option<Writer> = None;
    let mut failure: Option<GifError> = None;
    let step_ns = 1_000_000_000u64 / fps.max(1) as u64;
    let mut next_ns = 0u64;
    let mut file = Some(file);
    let decoded = decode::decode(mp4, |frame| {
        if failure.is_some() || frame.pts_ns + step_ns / 2 < next_ns {
            return;
        }
        // The decoder runs on to the end of the video; the encoding, the costly part, stops.
        if cancelled() {
            failure = Some(GifError::Cancelled);
            return;
        }
        next_ns += step_ns;
        let writer = match &mut state {
            Some(w) => w,
            None => {
                let height = ((frame.size.height as u64 * width as u64 / frame.size.width as u64) as u32).max(2) & !1;
                match Writer::new(file.take().expect("file once"), width.min(frame.size.width), height.min(frame.size.height)) {
                    Ok(w) => state.insert(w),
                    Err(e) => {
                        failure = Some(write_error(&e));
                        return;
                    }
                }
            }
        };
        if let Err(e) = writer.push(&frame.rgba, frame.size.width, frame.size.height, step_ns) {
            failure = Some(write_error(&e));
        }
    });
    let cleanup = |e| {
        let _ = std::fs::remove_file(&partial);
        e
    };
    decoded.map_err(|e| cleanup(GifError::Decode { path: mp4.to_path_buf(), reason: e.to_string() }))?;
    if let Some(e) = failure {
        return Err(cleanup(e));
    }
    let writer = state.ok_or_else(|| cleanup(GifError::Empty { path: mp4.to_path_buf() }))?;
    let (w, h, frames) = (writer.width, writer.height, writer.frames);
    writer.finish().map_err(|e| cleanup(write_error(&e)))?;
    crate::files::commit(&partial, out).map_err(|e| cleanup(write_error(&e)))?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(GifSummary { path: out.to_path_buf(), width: w, height: h, frames, bytes, narrowed: false })
}

/// The GIF being written: the last frame shown (to diff against) and the pending one
/// (held until its delay is known).
struct Writer {
    encoder: gif::Encoder<BufWriter<File>>,
    resizer: fast_image_resize::Resizer,
    scaled: Vec<u8>,
    width: u32,
    height: u32,
    shown: Vec<u8>,
    pending: Option<(gif::Frame<'static>, u64)>,
    /// What rounding to whole centiseconds left over, given to the next delay so the
    /// GIF's length stays the video's.
    carry_ns: u64,
    frames: u32,
}

impl Writer {
    fn new(file: File, width: u32, height: u32) -> Result<Writer, gif::EncodingError> {
        let mut encoder = gif::Encoder::new(BufWriter::new(file), width as u16, height as u16, &[])?;
        encoder.set_repeat(gif::Repeat::Infinite)?;
        let pixels = (width * height * 4) as usize;
        Ok(Writer { encoder, resizer: fast_image_resize::Resizer::new(), scaled: vec![0; pixels], width, height, shown: vec![0; pixels], pending: None, carry_ns: 0, frames: 0 })
    }

    fn push(&mut self, rgba: &[u8], src_w: u32, src_h: u32, duration_ns: u64) -> Result<(), gif::EncodingError> {
        self.scale(rgba, src_w, src_h)?;
        let scaled = std::mem::take(&mut self.scaled);
        let result = self.add(&scaled, duration_ns);
        self.scaled = scaled;
        result
    }

    /// Downscales a decoded frame into `self.scaled` (bilinear: the GIF is small, and a
    /// 1080p frame takes a few ms this way instead of ~100 ms with `image`'s resize).
    fn scale(&mut self, rgba: &[u8], src_w: u32, src_h: u32) -> Result<(), gif::EncodingError> {
        use fast_image_resize as fir;
        let io = |e: &dyn std::fmt::Display| gif::EncodingError::from(std::io::Error::other(e.to_string()));
        let src = fir::images::ImageRef::new(src_w, src_h, rgba, fir::PixelType::U8x4).map_err(|e| io(&e))?;
        let mut dst = fir::images::Image::from_slice_u8(self.width, self.height, &mut self.scaled, fir::PixelType::U8x4).map_err(|e| io(&e))?;
        let options = fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Bilinear));
        self.resizer.resize(&src, &mut dst, &options).map_err(|e| io(&e))
    }

    fn add(&mut self, scaled: &[u8], duration_ns: u64) -> Result<(), gif::EncodingError> {
        // The rectangle that changed visibly since the last GIF frame (small codec noise ignored).
        let (w, h) = (self.width as usize, self.height as usize);
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0usize, 0usize);
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 4;
                let differs = (0..3).any(|c| scaled[i + c].abs_diff(self.shown[i + c]) > 6);
                if differs || self.frames == 0 {
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
                }
            }
        }
        if x1 <= x0 {
            // Nothing changed: the previous frame stays on screen longer.
            if let Some((_, held)) = &mut self.pending {
                *held += duration_ns;
            }
            return Ok(());
        }
        self.flush_pending()?;
        let mut patch = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
        for y in y0..y1 {
            patch.extend_from_slice(&scaled[(y * w + x0) * 4..(y * w + x1) * 4]);
            self.shown[(y * w + x0) * 4..(y * w + x1) * 4].copy_from_slice(&scaled[(y * w + x0) * 4..(y * w + x1) * 4]);
        }
        let mut frame = gif::Frame::from_rgba_speed((x1 - x0) as u16, (y1 - y0) as u16, &mut patch, 10);
        frame.left = x0 as u16;
        frame.top = y0 as u16;
        frame.dispose = gif::DisposalMethod::Keep;
        self.pending = Some((frame, duration_ns));
        self.frames += 1;
        Ok(())
    }

    fn flush_pending(&mut self) -> Result<(), gif::EncodingError> {
        if let Some((mut frame, held_ns)) = self.pending.take() {
            const CENTISECOND_NS: u64 = 10_000_000;
            let total = held_ns + self.carry_ns;
            // Players stretch delays under 2 cs to 10 cs: never write one.
            let delay = (total / CENTISECOND_NS).clamp(2, u16::MAX as u64);
            self.carry_ns = total.saturating_sub(delay * CENTISECOND_NS);
            frame.delay = delay as u16;
            self.encoder.write_frame(&frame)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), gif::EncodingError> {
        self.flush_pending()?;
        drop(self.encoder.into_inner()?);
        Ok(())
    }
}
