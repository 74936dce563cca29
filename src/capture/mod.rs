//! Capture: the only code that speaks CDP. Input: a URL, a step list and the capture
//! size. Output: a recording bundle (frames as Chromium delivered them, the timeline of
//! the driver's actions) and `raw.mp4`, encoded live and complete when recording stops.
//! Invariant: frames and events share one clock (wall time since the first painted
//! frame), and the browser is closed on every exit path.

pub mod browser;
mod driver;
pub mod frames;
pub mod live_raw;
mod person;
pub mod steps;

use crate::geometry::Size;
use crate::recording::{CursorShape, Event, RecordingWriter, TimedEvent};
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::js_protocol::runtime::{AddBindingParams, EventBindingCalled};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, EventFrameNavigated, EventJavascriptDialogOpening, EventScreencastFrame,
    HandleJavaScriptDialogParams, ScreencastFrameAckParams, StartScreencastFormat, StartScreencastParams, StopScreencastParams,
};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use steps::Step;

pub const RAW_MP4: &str = "raw.mp4";
/// The isolated world demoreel's page scripts run in, out of the page's reach.
const WORLD: &str = "demoreel";
const MASK_EMAILS_JS: &str = include_str!("mask_emails.js");
/// The masking script reports its rectangles this often; each report holds until the next.
const REDACT_REPORT_MS: f64 = 250.0;
/// Pause between the first page's load and the start of the recording.
const SETTLE_AFTER_LOAD_MS: u64 = 400;

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
    #[error(transparent)]
    LiveRaw(#[from] live_raw::LiveRawError),
    /// The value an input step waited for never came (expired, cancelled).
    #[error("step {index} ({description}): no input: {reason}")]
    NoInput { index: usize, description: String, reason: NoValue },
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
    pub fps: u32,
    /// JPEG quality of the screencast (Chromium's scale, 0..100).
    pub jpeg_quality: u8,
    /// Mask e-mail addresses in the page before they are painted (`video.blur_emails`).
    pub blur_emails: bool,
    /// A person drives the page (a demonstration): the page's own listeners report
    /// pointer, keys, scrolls and cursor shapes instead of the driver.
    pub person_drives: bool,
}

impl RecordOptions {
    /// The capture for a content area of `content` output px: at most 1280 CSS px wide
    /// (a laptop's browser), with the density making up the rest so the page is never
    /// upscaled.
    pub fn for_content(content: Size, fps: u32) -> RecordOptions {
        let dsf = (content.width as f64 / 1280.0).max(1.0);
        RecordOptions {
            viewport: Size { width: (content.width as f64 / dsf).round() as u32, height: (content.height as f64 / dsf).round() as u32 },
            device_scale_factor: dsf,
            fps,
            jpeg_quality: 85,
            blur_emails: false,
            person_drives: false,
        }
    }

    /// The capture for a video made with `video` options: sized for its content area.
    pub fn for_video(video: &crate::options::VideoOptions) -> RecordOptions {
        let layout = crate::compose::Layout::for_demo(Size { width: video.width, height: video.height }, 1.0, video);
        let content = Size { width: layout.mapping.dest.width, height: layout.mapping.dest.height };
        RecordOptions { blur_emails: video.blur_emails, ..RecordOptions::for_content(content, video.fps) }
    }

    pub fn frame_size(&self) -> Size {
        Size {
            width: (self.viewport.width as f64 * self.device_scale_factor).round() as u32,
            height: (self.viewport.height as f64 * self.device_scale_factor).round() as u32,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecordSummary {
    pub bundle: PathBuf,
    pub raw_mp4: PathBuf,
    pub frames: u64,
    pub duration_ms: f64,
}

/// The shared clock and the bundle being written.
struct Recorder {
    writer: Mutex<Option<RecordingWriter>>,
    /// Wall time (ms since the epoch) of the first frame: the recording's zero.
    start_epoch_ms: Mutex<Option<f64>>,
}

pub(crate) fn now_epoch_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

impl Recorder {
    fn t_ms(&self) -> f64 {
        match *self.start_epoch_ms.lock().unwrap() {
            Some(start) => (now_epoch_ms() - start).max(0.0),
            None => 0.0,
        }
    }

    fn event(&self, event: Event) {
        self.event_at(self.t_ms(), event);
    }

    /// Recording time of a wall-clock instant (ms since the epoch), e.g. a page event's.
    fn t_of_epoch_ms(&self, epoch_ms: f64) -> f64 {
        match *self.start_epoch_ms.lock().unwrap() {
            Some(start) => (epoch_ms - start).max(0.0),
            None => 0.0,
        }
    }

    fn event_at(&self, t_ms: f64, event: Event) {
        if let Some(writer) = self.writer.lock().unwrap().as_mut() {
            let _ = writer.add_event(&TimedEvent { t_ms, event });
        }
    }
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

/// Opens `url`, records while running `steps`, and writes the bundle and `raw.mp4`
/// into `out`.
pub async fn record(
    url: &str,
    step_list: &[Step],
    out: &Path,
    options: &RecordOptions,
    input: &dyn InputSource,
) -> Result<RecordSummary, CaptureError> {
    let mut capture = Capture::start(url, out, options).await?;
    for (index, step) in step_list.iter().enumerate() {
        if let Err(error) = capture.step(index + 1, step, input).await {
            // The frames so far are kept; the step's error is the answer.
            let _ = capture.finish().await;
            return Err(error);
        }
    }
    capture.finish().await
}

/// A recording in progress: the browser, the page, the screencast feeding the bundle and
/// the live `raw.mp4`. Steps run one at a time; [`Capture::finish`] stops and closes
/// everything. Dropping it instead (a cancelled run) still ends the browser: the
/// session's profile guard sweeps its processes.
pub struct Capture {
    session: browser::Session,
    driver: driver::Driver,
    recorder: Arc<Recorder>,
    out: PathBuf,
    raw_path: PathBuf,
    frames: tokio::sync::broadcast::Sender<Arc<frames::CapturedFrame>>,
    screencast_task: tokio::task::JoinHandle<frames::FrameSource>,
    background: Vec<tokio::task::JoinHandle<()>>,
    raw_thread: std::thread::JoinHandle<Result<live_raw::LiveRaw, live_raw::LiveRawError>>,
    /// The first failed step; the recording ends after it.
    failed: bool,
}

impl Capture {
    /// Launches the browser, opens `url` and starts recording on its first painted frame.
    pub async fn start(url: &str, out: &Path, options: &RecordOptions) -> Result<Capture, CaptureError> {
        steps::check_url(url).map_err(|reason| CaptureError::Step { index: 0, description: format!("go to {url}"), reason })?;
        let session = browser::Session::launch().await?;
        match begin(&session, url, out, options).await {
            Ok(parts) => Ok(parts.into_capture(session, out)),
            Err(error) => {
                session.close().await;
                Err(error)
            }
        }
    }

    /// Frames as they are captured, for another consumer (a live view).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<frames::CapturedFrame>> {
        self.frames.subscribe()
    }

    /// Recording time now (ms since the first frame).
    pub fn t_ms(&self) -> f64 {
        self.recorder.t_ms()
    }

    /// Puts an event on the timeline now.
    pub fn note(&self, event: Event) {
        self.recorder.event(event);
    }

    /// The page, for observers that read it (a planner's view of what it offers).
    pub fn page(&self) -> &Page {
        &self.driver.page
    }

    /// Runs step number `index` (1-based, for messages) with its time limit, marking it
    /// on the timeline. An input step waits for `input` outside the time limit, and the
    /// wait is marked as an awaiting-input window (cut from demo.mp4).
    pub async fn step(&mut self, index: usize, step: &Step, input: &dyn InputSource) -> Result<(), CaptureError> {
        let description = step.describe();
        self.recorder.event(Event::StepStart { label: description.clone() });
        let result = match step {
            Step::Input { prompt, target, timeout_ms, .. } => match self.ask_and_type(step, prompt, target, *timeout_ms, input).await {
                Ok(typed) => typed,
                Err(reason) => {
                    self.recorder.event(Event::StepEnd { label: description.clone(), ok: false });
                    self.failed = true;
                    return Err(CaptureError::NoInput { index, description, reason });
                }
            },
            _ => self.run_limited(step).await,
        };
        // A page that opened a tab must not lose the screencast to it.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.driver.page.bring_to_front()).await;
        self.recorder.event(Event::StepEnd { label: description.clone(), ok: result.is_ok() });
        if let Err(reason) = result {
            self.recorder.event(Event::Error { message: format!("step {index} ({description}): {reason}") });
            self.failed = true;
            return Err(CaptureError::Step { index, description, reason });
        }
        Ok(())
    }

    /// An input step: finds the field (within the step's limit), waits for the value
    /// (outside it, marked as awaiting input), types it as a secret. `Err`: no value
    /// came; `Ok(Err)`: the page refused.
    async fn ask_and_type(
        &mut self,
        step: &Step,
        prompt: &str,
        target: &steps::Target,
        timeout_ms: Option<u64>,
        input: &dyn InputSource,
    ) -> Result<Result<(), String>, NoValue> {
        let crashed = self.driver.crashed.clone();
        if let Err(reason) = within_limit(step, &crashed, self.driver.locate(target, timeout_ms)).await {
            return Ok(Err(reason));
        }
        self.recorder.event(Event::AwaitingInputStart { prompt: Some(prompt.to_string()) });
        let answer = input.ask(prompt).await;
        self.recorder.event(Event::AwaitingInputEnd {});
        let typing = Step::Type { text: answer?, target: target.clone(), secret: true, label: None, timeout_ms };
        Ok(self.run_limited(&typing).await)
    }

    async fn run_limited(&mut self, step: &Step) -> Result<(), String> {
        let crashed = self.driver.crashed.clone();
        within_limit(step, &crashed, self.driver.run(step)).await
    }

    /// Stops recording, finishes the bundle and `raw.mp4`, and closes the browser.
    pub async fn finish(self) -> Result<RecordSummary, CaptureError> {
        let Capture { session, driver, recorder, out, raw_path, frames, screencast_task, background, raw_thread, failed } = self;
        if !failed {
            // Let the last action's effect paint before stopping.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let duration_ms = recorder.t_ms();
        // A crashed page answers nothing: do not wait long for it.
        let _ = tokio::time::timeout(Duration::from_secs(2), driver.page.execute(StopScreencastParams::default())).await;
        screencast_task.abort();
        background.iter().for_each(|t| t.abort());
        // The screencast task owns the frame source; once it is gone (and our sender with
        // it), the raw.mp4 thread sees the end of the stream.
        let _ = screencast_task.await;
        drop(frames);
        drop(driver);
        session.close().await;

        let io = |path: &Path, e: std::io::Error| CaptureError::Io { path: path.to_path_buf(), reason: e.to_string() };
        let writer = recorder.writer.lock().unwrap().take().expect("writer present until finished");
        let frame_count = writer.frame_count();
        writer.finish(duration_ms).map_err(|e| io(&out, e))?;
        let live = raw_thread.join().map_err(|_| CaptureError::Browser("raw.mp4 encoder panicked".into()))??;
        live.finish(duration_ms)?.commit().map_err(|e| CaptureError::Io { path: raw_path.clone(), reason: e.to_string() })?;
        Ok(RecordSummary { bundle: out, raw_mp4: raw_path, frames: frame_count, duration_ms })
    }
}

/// Runs a step's work within its time limit (nothing a page does may hold a step
/// forever), naming a renderer crash as the reason when there was one.
async fn within_limit<T>(step: &Step, crashed: &AtomicBool, work: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    if crashed.load(Ordering::SeqCst) {
        return Err("the page's renderer crashed".to_string());
    }
    let limit = Duration::from_millis(step.time_limit_ms());
    let result = match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(format!("did not finish within {} s", limit.as_secs())),
    };
    result.map_err(|reason| if crashed.load(Ordering::SeqCst) { format!("the page's renderer crashed ({reason})") } else { reason })
}

/// What [`begin`] sets up, before it is owned by a [`Capture`].
struct Parts {
    driver: driver::Driver,
    recorder: Arc<Recorder>,
    raw_path: PathBuf,
    frames: tokio::sync::broadcast::Sender<Arc<frames::CapturedFrame>>,
    screencast_task: tokio::task::JoinHandle<frames::FrameSource>,
    background: Vec<tokio::task::JoinHandle<()>>,
    raw_thread: std::thread::JoinHandle<Result<live_raw::LiveRaw, live_raw::LiveRawError>>,
}

impl Parts {
    fn into_capture(self, session: browser::Session, out: &Path) -> Capture {
        Capture {
            session,
            driver: self.driver,
            recorder: self.recorder,
            out: out.to_path_buf(),
            raw_path: self.raw_path,
            frames: self.frames,
            screencast_task: self.screencast_task,
            background: self.background,
            raw_thread: self.raw_thread,
            failed: false,
        }
    }
}

async fn begin(session: &browser::Session, url: &str, out: &Path, options: &RecordOptions) -> Result<Parts, CaptureError> {
    let browser_error = |e: chromiumoxide::error::CdpError| CaptureError::Browser(e.to_string());
    let page = session.browser.new_page("about:blank").await.map_err(browser_error)?;
    page.execute(SetDeviceMetricsOverrideParams::new(
        options.viewport.width as i64,
        options.viewport.height as i64,
        options.device_scale_factor,
        false,
    ))
    .await
    .map_err(browser_error)?;
    if options.blur_emails {
        page.execute(AddBindingParams::builder().name("__demoreelRedact").execution_context_name(WORLD).build().map_err(CaptureError::Browser)?)
            .await
            .map_err(browser_error)?;
        add_document_script(&page, MASK_EMAILS_JS).await?;
    }
    if options.person_drives {
        page.execute(AddBindingParams::builder().name(person::BINDING).execution_context_name(WORLD).build().map_err(CaptureError::Browser)?)
            .await
            .map_err(browser_error)?;
        add_document_script(&page, person::LISTEN_JS).await?;
    }
    // The recording starts on the first painted page, never a blank tab.
    goto(&page, url).await.map_err(|reason| CaptureError::Step { index: 0, description: format!("go to {url}"), reason })?;
    // Let the loaded page settle (fonts, first animation frames) before the first frame.
    tokio::time::sleep(Duration::from_millis(SETTLE_AFTER_LOAD_MS)).await;

    let frame_size = options.frame_size();
    let writer = RecordingWriter::create(out, options.viewport, options.device_scale_factor, frame_size, SystemTime::now())
        .map_err(|e| CaptureError::Io { path: out.to_path_buf(), reason: e.to_string() })?;
    let recorder = Arc::new(Recorder { writer: Mutex::new(Some(writer)), start_epoch_ms: Mutex::new(None) });
    let mut source = frames::FrameSource::default();
    let frames = source.sender();

    // Live raw.mp4 on its own thread: it decodes and encodes while the page runs.
    let raw_path = out.join(RAW_MP4);
    let mut raw_frames = source.subscribe();
    let live = live_raw::LiveRaw::start(&raw_path, frame_size, options.device_scale_factor, options.fps)?;
    let raw_thread = std::thread::spawn(move || {
        let mut live = live;
        loop {
            match raw_frames.blocking_recv() {
                Ok(frame) => live.frame(frame)?,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok::<_, live_raw::LiveRawError>(live),
            }
        }
    });

    // Screencast: ack every frame at once (Chromium holds frames until acked), store it,
    // then publish it.
    let mut screencast = page.event_listener::<EventScreencastFrame>().await.map_err(browser_error)?;
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let capture_page = page.clone();
    let capture_recorder = recorder.clone();
    let screencast_task = tokio::spawn(async move {
        let mut first = Some(first_tx);
        while let Some(frame) = screencast.next().await {
            let _ = capture_page.execute(ScreencastFrameAckParams::new(frame.session_id)).await;
            let Ok(jpeg) = base64_decode(frame.data.as_ref()) else { continue };
            // Chromium stamps a frame when it was drawn; delivery adds tens of ms of jitter.
            let delivered = frame.metadata.timestamp.as_ref().map(|t| *t.inner() * 1000.0).unwrap_or_else(now_epoch_ms);
            let t_ms = {
                let mut start = capture_recorder.start_epoch_ms.lock().unwrap();
                (delivered - *start.get_or_insert(delivered)).max(0.0)
            };
            if let Some(writer) = capture_recorder.writer.lock().unwrap().as_mut() {
                let _ = writer.add_frame(t_ms, &jpeg);
            }
            source.publish(t_ms, jpeg);
            if let Some(tx) = first.take() {
                let _ = tx.send(());
            }
        }
        source
    });
    page.execute(
        StartScreencastParams::builder()
            .format(StartScreencastFormat::Jpeg)
            .quality(options.jpeg_quality as i64)
            .max_width(frame_size.width as i64)
            .max_height(frame_size.height as i64)
            .build(),
    )
    .await
    .map_err(browser_error)?;
    const FIRST_FRAME_TIMEOUT_S: u64 = 15;
    if tokio::time::timeout(Duration::from_secs(FIRST_FRAME_TIMEOUT_S), first_rx).await.is_err() {
        screencast_task.abort();
        return Err(CaptureError::NoFrames(FIRST_FRAME_TIMEOUT_S));
    }
    recorder.event(Event::Navigation { url: url.to_string() });
    // Reports from the page's scripts: masked rectangles, a person's input.
    let mut reports = page.event_listener::<EventBindingCalled>().await.map_err(browser_error)?;
    let report_recorder = recorder.clone();
    let reports_task = tokio::spawn(async move {
        while let Some(call) = reports.next().await {
            match call.name.as_str() {
                "__demoreelRedact" => {
                    let Ok(rects) = serde_json::from_str::<Vec<[f64; 4]>>(&call.payload) else { continue };
                    for [x, y, width, height] in rects {
                        report_recorder.event(Event::Redact { x, y, width, height, duration_ms: REDACT_REPORT_MS * 1.5 });
                    }
                }
                person::BINDING => {
                    if let Some((epoch_ms, event)) = person::parse(&call.payload) {
                        report_recorder.event_at(report_recorder.t_of_epoch_ms(epoch_ms), event);
                    }
                }
                _ => {}
            }
        }
    });

    let watchers = watch_page(&page, &recorder).await.map_err(browser_error)?;
    let mut background = watchers.tasks;
    background.push(reports_task);
    let driver = driver::Driver {
        page,
        recorder: recorder.clone(),
        pointer: None,
        shape: CursorShape::Default,
        crashed: watchers.crashed,
        record_own_input: !options.person_drives,
    };
    Ok(Parts { driver, recorder, raw_path, frames, screencast_task, background, raw_thread })
}

/// Runs `source` in demoreel's isolated world of every frame, before the page's scripts.
async fn add_document_script(page: &Page, source: &str) -> Result<(), CaptureError> {
    page.execute(
        AddScriptToEvaluateOnNewDocumentParams::builder()
            .source(source)
            .world_name(WORLD)
            .run_immediately(true)
            .build()
            .map_err(CaptureError::Browser)?,
    )
    .await
    .map_err(|e| CaptureError::Browser(e.to_string()))?;
    Ok(())
}

/// Background listeners that keep a recording going through what pages do on their own.
struct Watchers {
    crashed: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Accepts JavaScript dialogs (an unanswered alert would stall the page and every step),
/// notes the top frame's navigations, and flags a renderer crash; each on the timeline.
async fn watch_page(page: &Page, recorder: &Arc<Recorder>) -> Result<Watchers, chromiumoxide::error::CdpError> {
    let crashed = Arc::new(AtomicBool::new(false));
    let mut dialogs = page.event_listener::<EventJavascriptDialogOpening>().await?;
    let mut navigations = page.event_listener::<EventFrameNavigated>().await?;
    let mut crashes = page.event_listener::<EventTargetCrashed>().await?;
    let (dialog_page, dialog_recorder) = (page.clone(), recorder.clone());
    let dialog_task = tokio::spawn(async move {
        while let Some(dialog) = dialogs.next().await {
            let _ = dialog_page.execute(HandleJavaScriptDialogParams::new(true)).await;
            // The dialog's text is the page's; only its kind is recorded.
            dialog_recorder.event(Event::Error { message: format!("the page opened a {:?} dialog; demoreel accepted it", dialog.r#type) });
        }
    });
    let navigation_recorder = recorder.clone();
    let navigation_task = tokio::spawn(async move {
        while let Some(navigated) = navigations.next().await {
            if navigated.frame.parent_id.is_none() {
                navigation_recorder.event(Event::Navigation { url: navigated.frame.url.clone() });
            }
        }
    });
    let (crash_flag, crash_recorder) = (crashed.clone(), recorder.clone());
    let crash_task = tokio::spawn(async move {
        if crashes.next().await.is_some() {
            crash_flag.store(true, Ordering::SeqCst);
            crash_recorder.event(Event::Error { message: "the page's renderer crashed".into() });
        }
    });
    Ok(Watchers { crashed, tasks: vec![dialog_task, navigation_task, crash_task] })
}

fn base64_decode(data: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(data)
}

async fn goto(page: &Page, url: &str) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(30), page.goto(url)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("navigation failed: {e}")),
        Err(_) => Err("navigation did not finish within 30 s".into()),
    }
}

