//! Capture: the only code that speaks CDP. Input: a URL, steps to run one at a time and
//! the page size. Output: a recording bundle (frames as Chromium delivered them, the
//! timeline of the driver's actions) and every frame published, as it arrives, on a
//! [`FrameSource`] that other stages subscribe to (the live `raw.mp4`, a live view).
//! Invariant: frames and events share one clock (wall time since the first painted
//! frame); a frame is in the bundle before any subscriber sees it; the browser is closed
//! on every exit path; no CDP type leaves this module.

pub mod browser;
pub mod confine;
mod clock;
mod driver;
mod person;
mod screencast;
mod session;
mod watch;

pub use person::{KeyAction, PersonInput, PointerAction};
pub use session::Capture;

use crate::egress::TargetPolicy;
use crate::geometry::{PageSize, Size};
use std::path::PathBuf;

/// The isolated world demoreel's page scripts run in, out of the page's reach.
const WORLD: &str = "demoreel";

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("browser: {0}")]
    Browser(String),
    #[error("step {index} ({description}): {reason}")]
    Step { index: usize, description: String, reason: String },
    #[error("no frame arrived from the page within {0} s")]
    NoFrames(u64),
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    /// The value an input step waited for never came (expired, cancelled).
    #[error("step {index} ({description}): no input: {reason}")]
    NoInput { index: usize, description: String, reason: NoValue },
    /// A script demoreel ran in the page answered something it could not read.
    #[error("reading the page: {0}")]
    PageRead(String),
    /// The page went where the run's target policy does not allow (the egress proxy
    /// refused it).
    #[error("the page went to {url}, which is not allowed: {reason}")]
    NavigationBlocked { url: String, reason: String },
}

/// Why an input step got no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoValue {
    /// Nobody answered within the waiting window.
    #[error("no input within {seconds} s")]
    Expired { seconds: u64 },
    #[error("cancelled")]
    Cancelled,
    /// No one can answer here (no terminal, a closed stdin, a source that gave up).
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The page size in CSS px.
    pub viewport: Size,
    pub device_scale_factor: f64,
    /// JPEG quality of the screencast (Chromium's scale, 0..100).
    pub jpeg_quality: u8,
    /// Mask e-mail addresses in the page before they are painted (`video.blur_emails`).
    pub blur_emails: bool,
    /// A person drives the page (a demonstration): the page's own listeners report
    /// pointer, keys, scrolls and cursor shapes instead of the driver.
    pub person_drives: bool,
    /// Where the browser may connect: `Some` sends every connection through a filtering
    /// proxy (a service run); `None` connects directly (`demoreel record`).
    pub egress: Option<TargetPolicy>,
    /// As whom the browser runs, where its profile lives and its memory cap (the
    /// service's); the default runs it as this process's user (`demoreel record`).
    pub confinement: confine::Confinement,
}

impl RecordOptions {
    /// A capture of `page` (sized by `compose::layout`) with the default quality.
    pub fn new(page: PageSize) -> RecordOptions {
        RecordOptions { viewport: page.viewport, device_scale_factor: page.device_scale_factor, jpeg_quality: 85, blur_emails: false, person_drives: false, egress: None, confinement: confine::Confinement::default() }
    }

    pub fn page(&self) -> PageSize {
        PageSize { viewport: self.viewport, device_scale_factor: self.device_scale_factor }
    }

    pub fn frame_size(&self) -> Size {
        self.page().frame_size()
    }
}

#[derive(Debug, Clone)]
pub struct RecordSummary {
    pub bundle: PathBuf,
    pub frames: u64,
    /// The frames' size in device pixels, as delivered (`meta.json`'s `frame_size`).
    pub frame_size: Size,
    pub duration_ms: f64,
}

/// Where an input step gets its value (a one-time code): a person at a terminal, the
/// runs API's input endpoint, a test reading the sample app's outbox.
pub trait InputSource: Send + Sync {
    /// Waits for the value; no value (expired, cancelled) ends the recording.
    fn ask<'a>(&'a self, prompt: &'a str) -> futures::future::BoxFuture<'a, Result<String, NoValue>>;
}

/// For step lists without input steps.
pub struct NoInput;

impl InputSource for NoInput {
    fn ask<'a>(&'a self, _prompt: &'a str) -> futures::future::BoxFuture<'a, Result<String, NoValue>> {
        Box::pin(async { Err(NoValue::Unavailable("nobody can answer here".to_string())) })
    }
}
