//! The page pictures a render shows, decoded and resampled once each.
//! Input: the recording, the schedule's slots, and a compositor's content layout.
//! Output: for each slot, the prepared content of its captured frame(s).
//! Invariant: a read-ahead thread prepares frames in the order the schedule first shows
//! them, at most [`READ_AHEAD`] ahead of the render loop, so decoding and resizing the
//! next frame overlaps compositing and encoding this one; the loop never waits for a
//! frame the thread will not deliver next (a frame shown again after it was evicted is
//! prepared on the loop's own thread), and a render that stops early stops the thread.

use super::RenderError;
use crate::compose::{ComposeError, Compositor, ContentLayer, ContentPicture, PreparedContent};
use crate::geometry::ContentMapping;
use crate::recording::{Recording, RecordingError};
use crate::timeline::{Schedule, SlotPicture};
use std::path::PathBuf;
use std::sync::mpsc;

/// How many prepared frames the read-ahead thread may hold finished (each is a few MB).
const READ_AHEAD: usize = 2;

/// What the read-ahead thread made of one frame.
enum Ahead {
    Prepared(PreparedContent),
    /// Its bytes equal those of the frame delivered before it (Chromium re-sends
    /// unchanged frames): no decode.
    SameAs(usize),
    Failed(ComposeError),
    Unreadable(RecordingError),
}

/// The read-ahead thread's deliveries, in first-show order.
struct ReadAhead {
    /// None once dropped: the thread then ends at its next delivery.
    delivered: Option<mpsc::Receiver<(usize, Ahead)>>,
    /// A delivery received but not yet asked for.
    waiting: Option<(usize, Ahead)>,
    /// Buffers of frames no longer shown, sent back for the thread's next frames.
    spares: mpsc::Sender<PreparedContent>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReadAhead {
    fn start(recording: &Recording, schedule: &Schedule, mut layer: ContentLayer) -> ReadAhead {
        let order: Vec<(usize, PathBuf)> =
            first_show_order(schedule).into_iter().map(|i| (i, recording.frames[i].path.clone())).collect();
        let (deliver, delivered) = mpsc::sync_channel(READ_AHEAD);
        let (spares, spare_returns) = mpsc::channel::<PreparedContent>();
        let thread = std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || {
                let mut last: Option<(usize, Vec<u8>)> = None;
                for (index, path) in order {
                    while let Ok(spare) = spare_returns.try_recv() {
                        layer.recycle(spare);
                    }
                    let ahead = match crate::recording::read_frame(&path) {
                        Err(error) => Ahead::Unreadable(error),
                        Ok(bytes) => match &last {
                            Some((previous, last_bytes)) if *last_bytes == bytes => Ahead::SameAs(*previous),
                            _ => {
                                let prepared = layer.prepare(&bytes);
                                last = Some((index, bytes));
                                prepared.map_or_else(Ahead::Failed, Ahead::Prepared)
                            }
                        },
                    };
                    // The render stopped: nothing more is wanted.
                    if deliver.send((index, ahead)).is_err() {
                        return;
                    }
                }
            })
            .ok();
        ReadAhead { delivered: Some(delivered), waiting: None, spares, thread }
    }

    /// The thread's delivery for `index` if it is the next one; None otherwise (the
    /// frame was delivered before, or the thread could not start or ended).
    fn take(&mut self, index: usize) -> Option<Ahead> {
        let next = match self.waiting.take() {
            Some(next) => next,
            None => self.delivered.as_ref()?.recv().ok()?,
        };
        if next.0 == index {
            return Some(next.1);
        }
        self.waiting = Some(next);
        None
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.delivered = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Captured frames in the order the schedule first shows them, each once: a frame shown
/// again (a cross-fade's side) is prepared again only if it was evicted meanwhile.
fn first_show_order(schedule: &Schedule) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    let shown = schedule.slots().flat_map(|slot| match slot.picture {
        SlotPicture::Frame(i) => [Some(i), None],
        SlotPicture::CrossFade { from, to, .. } => [Some(from), Some(to)],
    });
    shown.flatten().filter(|i| seen.insert(*i)).collect()
}

/// Decoded content of the last frames shown, keyed by frame index. Frames whose bytes
/// equal the previous frame's share one entry.
pub(super) struct ContentCache {
    entries: Vec<(usize, PreparedContent)>,
    /// frame index → the index whose content it shows.
    alias: Vec<(usize, usize)>,
    ahead: ReadAhead,
}

impl ContentCache {
    const CAPACITY: usize = 3;

    pub(super) fn new(recording: &Recording, schedule: &Schedule, compositor: &Compositor) -> ContentCache {
        ContentCache { entries: Vec::new(), alias: Vec::new(), ahead: ReadAhead::start(recording, schedule, compositor.content_layer()) }
    }

    /// The canonical index of `index`'s picture, preparing it if needed. Entries are kept
    /// least-recently-used first, so the two sides of a cross-fade are never evicted.
    fn load(&mut self, recording: &Recording, compositor: &mut Compositor, index: usize) -> Result<usize, RenderError> {
        let known = self.alias.iter().find(|(i, _)| *i == index).map(|&(_, c)| c).unwrap_or(index);
        if self.touch(known) {
            return Ok(known);
        }
        let compose_error = |source| RenderError::Compose { file: recording.frames[index].path.clone(), source };
        let canonical = match self.ahead.take(index) {
            Some(Ahead::SameAs(previous)) if self.touch(previous) => previous,
            Some(Ahead::Prepared(prepared)) => self.insert(index, prepared),
            Some(Ahead::Failed(source)) => return Err(compose_error(source)),
            Some(Ahead::Unreadable(error)) => return Err(error.into()),
            // Shown again after eviction, or the same bytes as a frame since evicted.
            Some(Ahead::SameAs(_)) | None => {
                let prepared = compositor.prepare_content(&recording.frame_bytes(index)?).map_err(compose_error)?;
                self.insert(index, prepared)
            }
        };
        self.touch(canonical);
        if self.alias.len() == Self::CAPACITY * 2 {
            self.alias.remove(0);
        }
        self.alias.push((index, canonical));
        Ok(canonical)
    }

    fn insert(&mut self, index: usize, prepared: PreparedContent) -> usize {
        if self.entries.len() == Self::CAPACITY {
            let (_, evicted) = self.entries.remove(0);
            // Its buffer holds a later frame; a closed thread just drops it.
            let _ = self.ahead.spares.send(evicted);
        }
        self.entries.push((index, prepared));
        index
    }

    /// Marks an entry most recently used; false if it is not held.
    fn touch(&mut self, index: usize) -> bool {
        match self.entries.iter().position(|(i, _)| *i == index) {
            Some(at) => {
                let entry = self.entries.remove(at);
                self.entries.push(entry);
                true
            }
            None => false,
        }
    }

    /// Loads what a slot shows; a cross-fade between two equal pictures is one picture.
    pub(super) fn load_slot(&mut self, recording: &Recording, compositor: &mut Compositor, picture: SlotPicture) -> Result<SlotPicture, RenderError> {
        Ok(match picture {
            SlotPicture::Frame(i) => SlotPicture::Frame(self.load(recording, compositor, i)?),
            SlotPicture::CrossFade { from, to, mix } => {
                let from = self.load(recording, compositor, from)?;
                let to = self.load(recording, compositor, to)?;
                if from == to { SlotPicture::Frame(to) } else { SlotPicture::CrossFade { from, to, mix } }
            }
        })
    }

    /// The content a loaded slot picture shows.
    pub(super) fn picture(&self, picture: SlotPicture) -> ContentPicture<'_> {
        match picture {
            SlotPicture::Frame(i) => ContentPicture::Frame(self.get(i)),
            SlotPicture::CrossFade { from, to, mix } => ContentPicture::Mix { from: self.get(from), to: self.get(to), mix },
        }
    }

    /// Where a loaded slot picture's page is in the output (a cross-fade's: where it is
    /// going), for the overlays drawn over it.
    pub(super) fn mapping(&self, picture: SlotPicture) -> ContentMapping {
        match picture {
            SlotPicture::Frame(i) | SlotPicture::CrossFade { to: i, .. } => self.get(i).mapping,
        }
    }

    fn get(&self, canonical: usize) -> &PreparedContent {
        &self.entries.iter().find(|(i, _)| *i == canonical).expect("loaded before use").1
    }
}
