//! demo.mp4 → demo.gif. Input: the finished demo.mp4 and `options.artifacts` (width,
//! frame rate, optional byte budget). Output: an animated GIF written under a partial
//! name and renamed when complete. Invariant: frames stream (one decoded frame and the
//! screen as the GIF shows it are held); each GIF frame is shown at its video time
//! (delays carry their rounding on), a frame that changes nothing lengthens the one
//! before, and a frame stores only what changed (`patch`) in the colours of its scene
//! (`palette`); over a byte budget the GIF is made again with lower settings (`budget`).

mod budget;
mod palette;
mod patch;

pub use budget::{BudgetStep, GifSettings, Knob};

use crate::encode::decode;
use std::fs::File;
use std::io::BufWriter;
use std::ops::ControlFlow;
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
    /// The settings the GIF was made with (lower than asked when a budget forced it).
    pub settings: GifSettings,
    /// Each lowering the byte budget forced, in order; empty without one or when the
    /// first GIF fit.
    pub budget_steps: Vec<BudgetStep>,
    /// Every setting is at its floor and the GIF is still over the budget.
    pub over_budget: bool,
}

impl GifSummary {
    /// The budget forced a narrower GIF than asked.
    pub fn narrowed(&self) -> bool {
        self.budget_steps.iter().any(|step| step.lowered == Knob::Width)
    }
}

/// Writes `out` from `mp4`; with a byte budget, makes the GIF again with lower settings
/// (frame rate, width, colours, then lossiness: [`budget::next`]) until it fits, and
/// keeps the smallest it made if none fits.
pub fn from_mp4(mp4: &Path, out: &Path, width: u32, fps: u32, max_bytes: Option<u64>) -> Result<GifSummary, GifError> {
    from_mp4_until(mp4, out, width, fps, max_bytes, &|| false)
}

/// [`from_mp4`] that stops encoding (and writes nothing) once `cancelled` answers true;
/// it is asked before every frame.
pub fn from_mp4_until(mp4: &Path, out: &Path, width: u32, fps: u32, max_bytes: Option<u64>, cancelled: &dyn Fn() -> bool) -> Result<GifSummary, GifError> {
    let smallest_path = crate::files::partial_path(out).with_extension("smallest");
    let made = lower_until_within(mp4, out, &smallest_path, GifSettings::asked(width, fps), max_bytes, cancelled);
    let _ = std::fs::remove_file(&smallest_path);
    made
}

/// Makes the GIF with `asked`, then with each lower setting while it is over
/// `max_bytes`. The smallest try over the budget waits at `smallest_path` while the
/// next is made in `out`; the first that fits, or else the smallest, ends in `out`.
fn lower_until_within(mp4: &Path, out: &Path, smallest_path: &Path, asked: GifSettings, max_bytes: Option<u64>, cancelled: &dyn Fn() -> bool) -> Result<GifSummary, GifError> {
    let write_error = |e: std::io::Error| GifError::Write { path: out.to_path_buf(), reason: e.to_string() };
    let (mut settings, mut budget_steps) = (asked, Vec::new());
    let mut smallest: Option<GifSummary> = None;
    loop {
        let made = encode_once(mp4, out, settings, cancelled).inspect_err(|_| {
            // An earlier try may be in `out`: a failed or cancelled GIF leaves nothing.
            if !budget_steps.is_empty() {
                let _ = std::fs::remove_file(out);
            }
        })?;
        let Some(budget) = max_bytes.filter(|&max| made.bytes > max) else {
            return Ok(GifSummary { budget_steps, ..made });
        };
        let next = budget::next(settings, asked, made.bytes, budget);
        if smallest.as_ref().is_none_or(|kept| made.bytes < kept.bytes) {
            std::fs::rename(out, smallest_path).map_err(write_error)?;
            smallest = Some(made.clone());
        }
        match next {
            Some((lower, step)) => {
                settings = lower;
                budget_steps.push(step);
            }
            None => {
                let kept = smallest.expect("a try was kept");
                std::fs::rename(smallest_path, out).map_err(write_error)?;
                return Ok(GifSummary { budget_steps, over_budget: true, ..kept });
            }
        }
    }
}

fn encode_once(mp4: &Path, out: &Path, settings: GifSettings, cancelled: &dyn Fn() -> bool) -> Result<GifSummary, GifError> {
    let partial = crate::files::partial_path(out);
    let write_error = |e: &dyn std::fmt::Display| GifError::Write { path: out.to_path_buf(), reason: e.to_string() };
    let file = File::create(&partial).map_err(|e| write_error(&e))?;
    let mut slots = Slots { file: Some(file), writer: None, settings, filled: 0, cancelled };
    let mut failure: Option<GifError> = None;
    let mut held: Option<decode::DecodedFrame> = None;
    let decoded = decode::decode_while(mp4, |frame| {
        // Every slot that began before this frame shows the frame held: the video's
        // picture on screen at that moment.
        if let Some(on_screen) = &held
            && let Err(e) = slots.fill_until(on_screen, frame.pts_ns, write_error)
        {
            // A failed write or a cancel needs nothing more of the video.
            failure = Some(e);
            return ControlFlow::Break(());
        }
        held = Some(frame);
        ControlFlow::Continue(())
    });
    // The last frame stays on screen to the video's end.
    if let (Ok(facts), Some(last), None) = (&decoded, &held, &failure)
        && let Err(e) = slots.fill_until(last, facts.duration_ns.max(last.pts_ns + 1), write_error)
    {
        failure = Some(e);
    }
    let state = slots.writer;
    let cleanup = |e| {
        let _ = std::fs::remove_file(&partial);
        e
    };
    if let Some(e) = failure {
        return Err(cleanup(e));
    }
    decoded.map_err(|e| cleanup(GifError::Decode { path: mp4.to_path_buf(), reason: e.to_string() }))?;
    let writer = state.ok_or_else(|| cleanup(GifError::Empty { path: mp4.to_path_buf() }))?;
    let (w, h, frames) = (writer.width, writer.height, writer.frames);
    writer.finish().map_err(|e| cleanup(write_error(&e)))?;
    crate::files::commit(&partial, out).map_err(|e| cleanup(write_error(&e)))?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(GifSummary { path: out.to_path_buf(), width: w, height: h, frames, bytes, settings, budget_steps: Vec::new(), over_budget: false })
}

/// The GIF's time slots (one per frame interval of its frame rate), filled in order
/// with the video frame on screen when each slot begins.
struct Slots<'a> {
    file: Option<File>,
    writer: Option<Writer>,
    /// The GIF's settings; `fps` is at least 1 ([`GifSettings::asked`]).
    settings: GifSettings,
    /// Slots filled so far: slot n begins at n / fps seconds, computed from n (adding a
    /// rounded interval up would drift by a nanosecond a slot and put a slot that falls
    /// on a video frame's start a hair before it).
    filled: u64,
    cancelled: &'a dyn Fn() -> bool,
}

impl Slots<'_> {
    /// Fills every slot that begins before `until_ns` with `frame`; the writer is made,
    /// at the GIF's size for the video's shape, on the first.
    fn fill_until(&mut self, frame: &decode::DecodedFrame, until_ns: u64, write_error: impl Fn(&dyn std::fmt::Display) -> GifError) -> Result<(), GifError> {
        // A hair of slack: a frame starting within a microsecond of a slot is its picture.
        let fps = self.settings.fps as u64;
        let starts_at = |slot: u64| slot * 1_000_000_000 / fps;
        while starts_at(self.filled) + 1_000 < until_ns {
            if (self.cancelled)() {
                return Err(GifError::Cancelled);
            }
            let writer = match &mut self.writer {
                Some(writer) => writer,
                None => {
                    let (width, size) = (self.settings.width, frame.size);
                    let height = ((size.height as u64 * width as u64 / size.width as u64) as u32).max(2) & !1;
                    let file = self.file.take().expect("the file is given to the first writer");
                    let screen = patch::Screen::new(width.min(size.width), height.min(size.height), self.settings.colours, self.settings.lossiness);
                    self.writer.insert(Writer::new(file, screen).map_err(|e| write_error(&e))?)
                }
            };
            self.filled += 1;
            writer.push(&frame.rgba, frame.size.width, frame.size.height, starts_at(self.filled)).map_err(|e| write_error(&e))?;
        }
        Ok(())
    }
}

/// The GIF being written: the screen as shown (to diff against) and the pending frame
/// (held until its delay is known).
struct Writer {
    encoder: gif::Encoder<BufWriter<File>>,
    resizer: fast_image_resize::Resizer,
    scaled: Vec<u8>,
    width: u32,
    height: u32,
    screen: patch::Screen,
    /// The frame waiting for its delay, and when (ns into the video) it stops showing.
    pending: Option<(gif::Frame<'static>, u64)>,
    /// The GIF's length so far in centiseconds: each delay runs to its frame's end
    /// rounded up to a centisecond, so a frame starts at most 10 ms after its video
    /// time, never before (where a slot falls on a video frame's start, showing it
    /// early would show the next picture before the video does), and rounding never
    /// adds up.
    written_cs: u64,
    frames: u32,
}

impl Writer {
    fn new(file: File, screen: patch::Screen) -> Result<Writer, gif::EncodingError> {
        let (width, height) = screen.size();
        let mut encoder = gif::Encoder::new(BufWriter::new(file), width as u16, height as u16, &[])?;
        encoder.set_repeat(gif::Repeat::Infinite)?;
        let pixels = (width * height * 4) as usize;
        Ok(Writer { encoder, resizer: fast_image_resize::Resizer::new(), scaled: vec![0; pixels], width, height, screen, pending: None, written_cs: 0, frames: 0 })
    }

    /// Shows a decoded frame until `ends_at_ns`.
    fn push(&mut self, rgba: &[u8], src_w: u32, src_h: u32, ends_at_ns: u64) -> Result<(), gif::EncodingError> {
        self.scale(rgba, src_w, src_h)?;
        let scaled = std::mem::take(&mut self.scaled);
        let result = self.add(&scaled, ends_at_ns);
        self.scaled = scaled;
        result
    }

    /// Downscales a decoded frame into `self.scaled` with Lanczos (fast_image_resize:
    /// a few ms a 1080p frame; `image`'s resize takes ~100 ms). Bilinear cost the main
    /// job's GIF 3.8 dB of median PSNR, most of it on text edges, for no fewer bytes.
    fn scale(&mut self, rgba: &[u8], src_w: u32, src_h: u32) -> Result<(), gif::EncodingError> {
        use fast_image_resize as fir;
        let io = |e: &dyn std::fmt::Display| gif::EncodingError::from(std::io::Error::other(e.to_string()));
        let src = fir::images::ImageRef::new(src_w, src_h, rgba, fir::PixelType::U8x4).map_err(|e| io(&e))?;
        let mut dst = fir::images::Image::from_slice_u8(self.width, self.height, &mut self.scaled, fir::PixelType::U8x4).map_err(|e| io(&e))?;
        let options = fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3));
        self.resizer.resize(&src, &mut dst, &options).map_err(|e| io(&e))
    }

    fn add(&mut self, scaled: &[u8], ends_at_ns: u64) -> Result<(), gif::EncodingError> {
        let Some(patch) = self.screen.show(scaled) else {
            // Nothing changed: the previous frame stays on screen longer.
            if let Some((_, ends_at)) = &mut self.pending {
                *ends_at = ends_at_ns;
            }
            return Ok(());
        };
        self.flush_pending()?;
        let frame = gif::Frame {
            left: patch.left,
            top: patch.top,
            width: patch.width,
            height: patch.height,
            buffer: std::borrow::Cow::Owned(patch.entries),
            palette: Some(patch.table),
            transparent: patch.transparent,
            dispose: gif::DisposalMethod::Keep,
            ..gif::Frame::default()
        };
        self.pending = Some((frame, ends_at_ns));
        self.frames += 1;
        Ok(())
    }

    fn flush_pending(&mut self) -> Result<(), gif::EncodingError> {
        if let Some((mut frame, ends_at_ns)) = self.pending.take() {
            const CENTISECOND_NS: u64 = 10_000_000;
            let ends_at_cs = ends_at_ns.div_ceil(CENTISECOND_NS);
            // Players stretch delays under 2 cs to 10 cs: never write one.
            let delay = ends_at_cs.saturating_sub(self.written_cs).clamp(2, u16::MAX as u64);
            self.written_cs += delay;
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
