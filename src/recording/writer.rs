//! Writes a recording bundle while it is captured: frames and events are appended as they
//! arrive, `meta.json` is written last (atomically), so a bundle without it is unfinished.

use super::{FRAMES_DIR, FRAMES_FILE, FORMAT, FrameEntry, META_FILE, Meta, TIMELINE_FILE, TimedEvent, VERSION};
use crate::geometry::Size;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct RecordingWriter {
    dir: PathBuf,
    viewport: Size,
    device_scale_factor: f64,
    /// The size of the frames arriving now.
    frame_size: Size,
    /// How many frames of each size were stored, in the order the sizes came (a page
    /// resized mid-recording, as a person's window can, delivers frames of a new size).
    stored_sizes: Vec<(Size, u64)>,
    started_at: std::time::SystemTime,
    frames: BufWriter<File>,
    timeline: BufWriter<File>,
    frame_count: u64,
}

impl RecordingWriter {
    /// Creates the bundle directory; it must not hold a recording already.
    pub fn create(
        dir: &Path,
        viewport: Size,
        device_scale_factor: f64,
        frame_size: Size,
        started_at: std::time::SystemTime,
    ) -> std::io::Result<RecordingWriter> {
        if dir.join(META_FILE).exists() || dir.join(FRAMES_FILE).exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already holds a recording", dir.display()),
            ));
        }
        std::fs::create_dir_all(dir.join(FRAMES_DIR))?;
        Ok(RecordingWriter {
            dir: dir.to_path_buf(),
            viewport,
            device_scale_factor,
            frame_size,
            stored_sizes: Vec::new(),
            started_at,
            frames: BufWriter::new(File::create(dir.join(FRAMES_FILE))?),
            timeline: BufWriter::new(File::create(dir.join(TIMELINE_FILE))?),
            frame_count: 0,
        })
    }

    /// Stores one captured frame (JPEG bytes as delivered) taken at `t_ms`.
    pub fn add_frame(&mut self, t_ms: f64, jpeg: &[u8]) -> std::io::Result<()> {
        let file = format!("{FRAMES_DIR}/{:06}.jpg", self.frame_count);
        std::fs::write(self.dir.join(&file), jpeg)?;
        self.frame_count += 1;
        match self.stored_sizes.iter_mut().find(|(size, _)| *size == self.frame_size) {
            Some((_, count)) => *count += 1,
            None => self.stored_sizes.push((self.frame_size, 1)),
        }
        write_line(&mut self.frames, &FrameEntry { t_ms, file })
    }

    pub fn add_event(&mut self, event: &TimedEvent) -> std::io::Result<()> {
        write_line(&mut self.timeline, event)
    }

    /// The size of the frames stored from now on (what the browser really delivers).
    pub fn set_frame_size(&mut self, size: Size) {
        self.frame_size = size;
    }

    /// The frame size `meta.json` will state.
    pub fn frame_size(&self) -> Size {
        self.page_shown_most().1
    }

    pub fn frame_count(&self) -> u64 {
        self.frame_count
    }

    /// Flushes everything and writes `meta.json`, which marks the bundle complete.
    pub fn finish(mut self, duration_ms: f64) -> std::io::Result<PathBuf> {
        self.frames.flush()?;
        self.timeline.flush()?;
        self.frames.get_ref().sync_all()?;
        self.timeline.get_ref().sync_all()?;
        let (viewport, frame_size) = self.page_shown_most();
        let meta = Meta {
            format: FORMAT.to_string(),
            version: VERSION,
            viewport,
            device_scale_factor: self.device_scale_factor,
            frame_size,
            started_at: humantime::format_rfc3339_millis(self.started_at).to_string(),
            duration_ms,
        };
        crate::files::write_atomic(&self.dir.join(META_FILE), &serde_json::to_vec_pretty(&meta)?)?;
        Ok(self.dir)
    }
}

impl RecordingWriter {
    /// The page `meta.json` states: the frame size most frames have (the video is laid
    /// out for it; frames of other sizes are fitted inside), and its viewport: the one
    /// the recording was opened with when that is the first frames' size, else the frame
    /// size in CSS px.
    fn page_shown_most(&self) -> (Size, Size) {
        let Some(&(most, _)) = self.stored_sizes.iter().rev().max_by_key(|(_, count)| *count) else {
            return (self.viewport, self.frame_size);
        };
        if self.stored_sizes.first().is_some_and(|(first, _)| *first == most) {
            return (self.viewport, most);
        }
        let css = |px: u32| (px as f64 / self.device_scale_factor).round() as u32;
        (Size { width: css(most.width), height: css(most.height) }, most)
    }
}

fn write_line(out: &mut BufWriter<File>, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}
