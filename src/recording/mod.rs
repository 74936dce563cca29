//! The recording bundle, version 1 (documented in `docs/recording-format.md`).
//! Input: a directory written by the capture or a fixture. Output: [`Recording`], with the
//! frame index and the timeline in memory and frame bytes read from disk on demand.
//! Invariant: an opened recording is complete and well-formed, and its frames are in
//! drawing order (sorted by time), so nothing downstream re-checks them.

pub mod archive;
pub mod events;
pub mod frames;
pub mod keys;
mod writer;

pub use events::{Action, Button, CursorShape, ElementRef, Event, Modifier, TimedEvent};
pub use frames::{CapturedFrame, FrameSource};
pub use keys::chip_label;
pub use writer::RecordingWriter;

use crate::geometry::Size;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "demoreel.recording";
pub const VERSION: u32 = 1;
pub const META_FILE: &str = "meta.json";
pub const FRAMES_FILE: &str = "frames.jsonl";
pub const TIMELINE_FILE: &str = "timeline.jsonl";
pub const FRAMES_DIR: &str = "frames";

/// `meta.json`: written last, when the recording is finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub format: String,
    pub version: u32,
    /// The page's size in CSS px.
    pub viewport: Size,
    pub device_scale_factor: f64,
    /// The pixel size of every frame (viewport × device scale factor).
    pub frame_size: Size,
    /// Wall-clock start, RFC 3339 UTC.
    pub started_at: String,
    /// Wall-clock length of the recording.
    pub duration_ms: f64,
}

/// One line of `frames.jsonl`: a frame exactly as captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameEntry {
    /// When the frame was drawn, ms since the start; lines are in delivery order, so a time
    /// may be earlier than the line before (readers sort).
    pub t_ms: f64,
    /// Path of the JPEG file, relative to the bundle.
    pub file: String,
}

/// A frame of an opened recording: when it was drawn and where its bytes are (the
/// capture's live frames, with their bytes in memory, are [`frames::CapturedFrame`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFrame {
    pub t_ms: f64,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{}: {reason}", file.display())]
    File { file: PathBuf, reason: String },
    #[error("{}:{line}: {reason}", file.display())]
    Line { file: PathBuf, line: usize, reason: String },
}

impl RecordingError {
    fn file(file: &Path, reason: impl Into<String>) -> Self {
        RecordingError::File { file: file.to_path_buf(), reason: reason.into() }
    }
    fn line(file: &Path, line: usize, reason: impl Into<String>) -> Self {
        RecordingError::Line { file: file.to_path_buf(), line, reason: reason.into() }
    }
}

/// An opened, validated recording bundle.
#[derive(Debug, Clone)]
pub struct Recording {
    pub dir: PathBuf,
    pub meta: Meta,
    pub frames: Vec<StoredFrame>,
    pub events: Vec<TimedEvent>,
}

impl Recording {
    pub fn open(dir: &Path) -> Result<Recording, RecordingError> {
        if !dir.is_dir() {
            return Err(RecordingError::file(dir, "not a recording directory"));
        }
        for file in [FRAMES_FILE, TIMELINE_FILE] {
            refuse_link(&dir.join(file))?;
        }
        let meta = Recording::read_meta(dir)?;
        let frames = read_frames(dir, &meta)?;
        let mut events = read_jsonl::<TimedEvent>(&dir.join(TIMELINE_FILE), |path, line, e| {
            check_time(path, line, e.t_ms)
        })?;
        // Events are written as they arrive; a page's own reports carry their event time
        // and can arrive after later ones. Stable, so same-time events keep their order.
        events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        Ok(Recording { dir: dir.to_path_buf(), meta, frames, events })
    }

    /// Only the bundle's `meta.json` (sizes, duration), checked as [`Recording::open`]
    /// checks it, without reading the frame index and the timeline.
    pub fn read_meta(dir: &Path) -> Result<Meta, RecordingError> {
        let path = dir.join(META_FILE);
        refuse_link(&path)?;
        read_meta(&path)
    }

    pub fn duration_ms(&self) -> f64 {
        self.meta.duration_ms
    }

    /// The JPEG bytes of frame `index`, exactly as captured.
    pub fn frame_bytes(&self, index: usize) -> Result<Vec<u8>, RecordingError> {
        read_frame(&self.frames[index].path)
    }
}

/// The bytes of one captured frame's file (for a reader that holds only its path).
pub fn read_frame(path: &Path) -> Result<Vec<u8>, RecordingError> {
    std::fs::read(path).map_err(|e| RecordingError::file(path, e.to_string()))
}

/// A bundle holds only its own files: a link in its place could point anywhere.
fn refuse_link(path: &Path) -> Result<(), RecordingError> {
    match std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        true => Err(RecordingError::file(path, "is a link; a bundle holds only its own files")),
        false => Ok(()),
    }
}

fn read_meta(path: &Path) -> Result<Meta, RecordingError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            "missing: the recording was not finished (meta.json is written last)".to_string()
        } else {
            e.to_string()
        };
        RecordingError::file(path, reason)
    })?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| RecordingError::line(path, e.line(), e.to_string()))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(RecordingError::file(path, format!("format is {other:?}, expected {FORMAT:?}")));
        }
        None => return Err(RecordingError::file(path, format!("missing \"format\": {FORMAT:?}"))),
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == VERSION as u64 => {}
        Some(v) => {
            return Err(RecordingError::file(
                path,
                format!("unsupported version {v}; this demoreel reads version {VERSION}"),
            ));
        }
        None => return Err(RecordingError::file(path, "missing \"version\"")),
    }
    let meta: Meta =
        serde_json::from_value(value).map_err(|e| RecordingError::file(path, e.to_string()))?;
    for (name, size) in [("viewport", meta.viewport), ("frame_size", meta.frame_size)] {
        if size.width == 0 || size.height == 0 || size.width > 16384 || size.height > 16384 {
            return Err(RecordingError::file(path, format!("{name} {size} is out of range")));
        }
    }
    if !(meta.device_scale_factor.is_finite() && meta.device_scale_factor > 0.0) {
        return Err(RecordingError::file(path, "device_scale_factor must be a positive number"));
    }
    if !(meta.duration_ms.is_finite() && meta.duration_ms > 0.0 && meta.duration_ms <= MAX_DURATION_MS) {
        return Err(RecordingError::file(path, format!("duration_ms must be a positive number of at most {MAX_DURATION_MS} (4 hours)")));
    }
    if humantime::parse_rfc3339_weak(&meta.started_at).is_err() {
        return Err(RecordingError::file(path, "started_at is not an RFC 3339 time"));
    }
    Ok(meta)
}

fn read_frames(dir: &Path, meta: &Meta) -> Result<Vec<StoredFrame>, RecordingError> {
    let index = dir.join(FRAMES_FILE);
    let entries = read_jsonl::<FrameEntry>(&index, |path, line, entry| {
        check_time(path, line, entry.t_ms)?;
        let relative = Path::new(&entry.file);
        if relative.is_absolute()
            || relative.components().any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(RecordingError::line(path, line, "frame file must be inside the bundle"));
        }
        own_file(dir, relative).map_err(|reason| RecordingError::line(path, line, format!("frame file {}: {reason}", entry.file)))
    })?;
    if entries.is_empty() {
        return Err(RecordingError::file(&index, "holds no frames"));
    }
    // Chromium stamps a frame when it was drawn and sometimes delivers it after a frame
    // drawn later (tens of ms of jitter), so the index is in delivery order: frames are
    // put in drawing order (stable), so each slot shows the newest frame drawn by its time
    // rather than an older one that arrived late. None is placed past the end.
    let mut frames: Vec<StoredFrame> = entries.into_iter().map(|entry| StoredFrame { t_ms: entry.t_ms.min(meta.duration_ms), path: dir.join(&entry.file) }).collect();
    frames.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    Ok(frames)
}

/// The longest recording a bundle may claim: `duration_ms` sizes the render's frame
/// loop, so a bundle from elsewhere must not ask for years of video.
pub const MAX_DURATION_MS: f64 = 4.0 * 3600.0 * 1000.0;

/// Checks that `relative` names a regular file of the bundle itself: not a link, and
/// not reached through a linked folder (a bundle from elsewhere must not make a render
/// read `/etc/shadow` or another tenant's frames).
fn own_file(dir: &Path, relative: &Path) -> Result<(), String> {
    let path = dir.join(relative);
    let metadata = std::fs::symlink_metadata(&path).map_err(|_| "is missing".to_string())?;
    if metadata.file_type().is_symlink() {
        return Err("is a link; a bundle holds only its own files".to_string());
    }
    if !metadata.is_file() {
        return Err("is not a file".to_string());
    }
    let (inside, root) = (path.canonicalize().map_err(|e| e.to_string())?, dir.canonicalize().map_err(|e| e.to_string())?);
    if !inside.starts_with(&root) {
        return Err("lies outside the bundle (through a linked folder)".to_string());
    }
    Ok(())
}

fn check_time(path: &Path, line: usize, t_ms: f64) -> Result<(), RecordingError> {
    if t_ms.is_finite() && t_ms >= 0.0 {
        Ok(())
    } else {
        Err(RecordingError::line(path, line, "t_ms must be a number ≥ 0"))
    }
}

/// Reads a JSON-lines file strictly: every line (blank lines aside) must parse, and a file
/// that does not end with a newline was cut off mid-write.
fn read_jsonl<T: serde::de::DeserializeOwned>(
    path: &Path,
    check: impl Fn(&Path, usize, &T) -> Result<(), RecordingError>,
) -> Result<Vec<T>, RecordingError> {
    let file = std::fs::File::open(path).map_err(|e| RecordingError::file(path, e.to_string()))?;
    let mut reader = BufReader::new(file);
    let mut items = Vec::new();
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|e| RecordingError::line(path, number + 1, e.to_string()))?;
        if read == 0 {
            break;
        }
        number += 1;
        if !line.ends_with('\n') {
            return Err(RecordingError::line(path, number, "truncated: the last line has no newline"));
        }
        if line.trim().is_empty() {
            continue;
        }
        let item: T = serde_json::from_str(&line).map_err(|e| RecordingError::line(path, number, e.to_string()))?;
        check(path, number, &item)?;
        items.push(item);
    }
    Ok(items)
}
