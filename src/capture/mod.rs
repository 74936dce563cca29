//! Capture: the only code that speaks CDP. Input: a URL, a step list and the capture
//! size. Output: a recording bundle (frames as Chromium delivered them, the timeline of
//! the driver's actions) and `raw.mp4`, encoded live and complete when recording stops.
//! Invariant: frames and events share one clock (wall time since the first painted
//! frame), and the browser is closed on every exit path.

pub mod browser;
pub mod frames;
pub mod live_raw;
pub mod steps;

use crate::geometry::Size;
use crate::recording::{Button, CursorShape, Event, Modifier, RecordingWriter, TimedEvent};
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::js_protocol::runtime::{AddBindingParams, EventBindingCalled};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchKeyEventParams, DispatchKeyEventType, DispatchMouseEventParams, DispatchMouseEventType, MouseButton,
};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, EventFrameNavigated, EventJavascriptDialogOpening, EventScreencastFrame,
    HandleJavaScriptDialogParams, ScreencastFrameAckParams, StartScreencastFormat, StartScreencastParams, StopScreencastParams,
};
use futures::StreamExt;
use std::path::{Path, PathBuf};
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
        }
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

fn now_epoch_ms() -> f64 {
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

    fn event_at(&self, t_ms: f64, event: Event) {
        if let Some(writer) = self.writer.lock().unwrap().as_mut() {
            let _ = writer.add_event(&TimedEvent { t_ms, event });
        }
    }
}

/// Opens `url`, records while running `steps`, and writes the bundle and `raw.mp4`
/// into `out`.
pub async fn record(url: &str, step_list: &[Step], out: &Path, options: &RecordOptions) -> Result<RecordSummary, CaptureError> {
    steps::check_url(url).map_err(|reason| CaptureError::Step { index: 0, description: format!("go to {url}"), reason })?;
    let session = browser::Session::launch().await?;
    let result = record_in(&session, url, step_list, out, options).await;
    session.close().await;
    result
}

async fn record_in(
    session: &browser::Session,
    url: &str,
    step_list: &[Step],
    out: &Path,
    options: &RecordOptions,
) -> Result<RecordSummary, CaptureError> {
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
        page.execute(
            AddScriptToEvaluateOnNewDocumentParams::builder()
                .source(MASK_EMAILS_JS)
                .world_name(WORLD)
                .run_immediately(true)
                .build()
                .map_err(CaptureError::Browser)?,
        )
        .await
        .map_err(browser_error)?;
    }
    // The recording starts on the first painted page, never a blank tab.
    goto(&page, url).await.map_err(|reason| CaptureError::Step { index: 0, description: format!("go to {url}"), reason })?;
    // Let the loaded page settle (fonts, first animation frames) before the first frame.
    tokio::time::sleep(Duration::from_millis(SETTLE_AFTER_LOAD_MS)).await;

    let frame_size = options.frame_size();
    let io = |path: &Path, e: std::io::Error| CaptureError::Io { path: path.to_path_buf(), reason: e.to_string() };
    let writer = RecordingWriter::create(out, options.viewport, options.device_scale_factor, frame_size, SystemTime::now())
        .map_err(|e| io(out, e))?;
    let recorder = Arc::new(Recorder { writer: Mutex::new(Some(writer)), start_epoch_ms: Mutex::new(None) });
    let mut source = frames::FrameSource::default();

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
    let capture = tokio::spawn(async move {
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
        capture.abort();
        return Err(CaptureError::NoFrames(FIRST_FRAME_TIMEOUT_S));
    }
    recorder.event(Event::Navigation { url: url.to_string() });
    // Rectangles the masking script hid, for the frame-level second pass.
    let mut reports = page.event_listener::<EventBindingCalled>().await.map_err(browser_error)?;
    let redact_recorder = recorder.clone();
    let redactions = tokio::spawn(async move {
        while let Some(call) = reports.next().await {
            if call.name != "__demoreelRedact" {
                continue;
            }
            let Ok(rects) = serde_json::from_str::<Vec<[f64; 4]>>(&call.payload) else { continue };
            for [x, y, width, height] in rects {
                redact_recorder.event(Event::Redact { x, y, width, height, duration_ms: REDACT_REPORT_MS * 1.5 });
            }
        }
    });

    let watchers = watch_page(&page, &recorder).await.map_err(browser_error)?;
    let mut driver = Driver { page: &page, recorder: &recorder, pointer: None, shape: CursorShape::Default, crashed: watchers.crashed.clone() };
    let mut outcome = Ok(());
    for (index, step) in step_list.iter().enumerate() {
        let description = step.describe();
        recorder.event(Event::StepStart { label: description.clone() });
        let result = match driver.crashed() {
            true => Err("the page's renderer crashed".to_string()),
            false => {
                // Nothing a page does may hold a step forever.
                let limit = Duration::from_millis(step.time_limit_ms());
                match tokio::time::timeout(limit, driver.run(step)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("did not finish within {} s", limit.as_secs())),
                }
                .map_err(|reason| if driver.crashed() { format!("the page's renderer crashed ({reason})") } else { reason })
            }
        };
        // A page that opened a tab must not lose the screencast to it.
        let _ = tokio::time::timeout(Duration::from_secs(2), page.bring_to_front()).await;
        recorder.event(Event::StepEnd { label: description.clone(), ok: result.is_ok() });
        if let Err(reason) = result {
            recorder.event(Event::Error { message: format!("step {} ({description}): {reason}", index + 1) });
            outcome = Err(CaptureError::Step { index: index + 1, description, reason });
            break;
        }
    }
    // Let the last action's effect paint before stopping.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let duration_ms = recorder.t_ms();
    // A crashed page answers nothing: do not wait long for it.
    let _ = tokio::time::timeout(Duration::from_secs(2), page.execute(StopScreencastParams::default())).await;
    capture.abort();
    redactions.abort();
    watchers.tasks.iter().for_each(|t| t.abort());
    let _ = capture.await;

    let writer = recorder.writer.lock().unwrap().take().expect("writer present until finished");
    let frames = writer.frame_count();
    writer.finish(duration_ms).map_err(|e| io(out, e))?;
    let live = raw_thread.join().map_err(|_| CaptureError::Browser("raw.mp4 encoder panicked".into()))??;
    live.finish(duration_ms)?.commit().map_err(|e| CaptureError::Io { path: raw_path.clone(), reason: e.to_string() })?;
    outcome?;
    Ok(RecordSummary { bundle: out.to_path_buf(), raw_mp4: raw_path, frames, duration_ms })
}

/// Background listeners that keep a recording going through what pages do on their own.
struct Watchers {
    crashed: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Accepts JavaScript dialogs (an unanswered alert would stall the page and every step),
/// notes the top frame's navigations, and flags a renderer crash; each on the timeline.
async fn watch_page(page: &Page, recorder: &Arc<Recorder>) -> Result<Watchers, chromiumoxide::error::CdpError> {
    let crashed = Arc::new(std::sync::atomic::AtomicBool::new(false));
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
            crash_flag.store(true, std::sync::atomic::Ordering::SeqCst);
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

/// Runs steps in the page, recording the driver's own input on the timeline.
struct Driver<'a> {
    page: &'a Page,
    recorder: &'a Recorder,
    pointer: Option<(f64, f64)>,
    shape: CursorShape,
    crashed: Arc<std::sync::atomic::AtomicBool>,
}

/// Finds an element (scrolled into view) and answers its centre in CSS px, or null.
const LOCATE_JS: &str = include_str!("locate.js");

impl Driver<'_> {
    fn crashed(&self) -> bool {
        self.crashed.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn run(&mut self, step: &Step) -> Result<(), String> {
        match step {
            // The navigation itself reaches the timeline through the page watcher.
            Step::Goto { url, .. } => goto(self.page, url).await?,
            Step::Click { target, timeout_ms, .. } => {
                let (x, y) = self.locate(target, *timeout_ms).await?;
                self.click(x, y).await?;
            }
            Step::Type { text, target, secret, timeout_ms, .. } => {
                if !target.is_empty() {
                    let (x, y) = self.locate(target, *timeout_ms).await?;
                    self.click(x, y).await?;
                }
                for ch in text.chars() {
                    let s = ch.to_string();
                    self.key(&s, &[], Some(&s), *secret).await?;
                    tokio::time::sleep(Duration::from_millis(45)).await;
                }
            }
            Step::Press { key, modifiers, .. } => {
                self.key(key, modifiers, None, false).await?;
            }
            Step::Scroll { dx, dy, .. } => {
                let (x, y) = self.pointer.unwrap_or((200.0, 200.0));
                let params = DispatchMouseEventParams::builder()
                    .r#type(DispatchMouseEventType::MouseWheel)
                    .x(x)
                    .y(y)
                    .delta_x(*dx)
                    .delta_y(*dy)
                    .build()
                    .map_err(|e| e.to_string())?;
                self.page.execute(params).await.map_err(|e| e.to_string())?;
                self.recorder.event(Event::Scroll { x, y, dx: *dx, dy: *dy });
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            Step::Wait { target, timeout_ms, .. } => {
                self.locate(target, *timeout_ms).await?;
            }
            Step::Pause { ms, .. } => tokio::time::sleep(Duration::from_millis(*ms)).await,
        }
        Ok(())
    }

    async fn locate(&self, target: &steps::Target, timeout_ms: Option<u64>) -> Result<(f64, f64), String> {
        let query = serde_json::to_string(target).map_err(|e| e.to_string())?;
        let script = format!("({LOCATE_JS})({query})");
        let timeout = Duration::from_millis(timeout_ms.unwrap_or(steps::DEFAULT_TIMEOUT_MS));
        let started = std::time::Instant::now();
        loop {
            if let Ok(result) = self.page.evaluate(script.as_str()).await
                && let Ok(Some(point)) = result.into_value::<Option<[f64; 2]>>()
            {
                // Give a smooth scroll into view time to settle.
                tokio::time::sleep(Duration::from_millis(120)).await;
                return Ok((point[0], point[1]));
            }
            if self.crashed() {
                return Err("the page's renderer crashed".into());
            }
            if started.elapsed() >= timeout {
                return Err(format!("{} not found within {} ms", target.describe(), timeout.as_millis()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn mouse(&self, kind: DispatchMouseEventType, x: f64, y: f64) -> Result<(), String> {
        let mut params = DispatchMouseEventParams::builder().r#type(kind.clone()).x(x).y(y);
        if kind != DispatchMouseEventType::MouseMoved {
            params = params.button(MouseButton::Left).click_count(1);
        }
        self.page.execute(params.build().map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn click(&mut self, x: f64, y: f64) -> Result<(), String> {
        self.mouse(DispatchMouseEventType::MouseMoved, x, y).await?;
        self.recorder.event(Event::PointerMove { x, y });
        self.pointer = Some((x, y));
        self.report_cursor_shape(x, y).await;
        self.mouse(DispatchMouseEventType::MousePressed, x, y).await?;
        self.recorder.event(Event::PointerDown { x, y, button: Button::Left });
        tokio::time::sleep(Duration::from_millis(60)).await;
        self.mouse(DispatchMouseEventType::MouseReleased, x, y).await?;
        // The click is placed when the page starts drawing its reaction (its next
        // animation frame), not when the command returned: the screencast shows the
        // reaction a frame or two after dispatch, and the click effect must meet it.
        let t_ms = self.next_paint_ms().await.unwrap_or_else(|| self.recorder.t_ms());
        self.recorder.event_at(t_ms, Event::PointerUp { x, y, button: Button::Left });
        self.recorder.event_at(t_ms, Event::Click { x, y, button: Button::Left });
        tokio::time::sleep(Duration::from_millis(250)).await;
        Ok(())
    }

    /// Recording time of the page's next animation frame (its wall clock: Chromium's
    /// screencast stamps frames on the same clock).
    async fn next_paint_ms(&self) -> Option<f64> {
        let script = "new Promise(r => requestAnimationFrame(() => r(performance.timeOrigin + performance.now())))";
        // A page in the background (another tab took the front) runs no animation frames.
        let evaluated = tokio::time::timeout(Duration::from_millis(250), self.page.evaluate(script)).await.ok()?;
        let epoch = evaluated.ok()?.into_value::<f64>().ok()?;
        let start = (*self.recorder.start_epoch_ms.lock().unwrap())?;
        Some((epoch - start).max(0.0))
    }

    /// Reports the CSS cursor under the pointer when it changes.
    async fn report_cursor_shape(&mut self, x: f64, y: f64) {
        let script = format!(
            "(() => {{ const el = document.elementFromPoint({x}, {y}); if (!el) return 'default'; \
             const c = getComputedStyle(el).cursor; if (c !== 'auto') return c; \
             return (el.isContentEditable || el.matches('input:not([type=button]):not([type=submit]):not([type=checkbox]):not([type=radio]), textarea')) ? 'text' : 'default'; }})()"
        );
        let shape = match self.page.evaluate(script.as_str()).await.ok().and_then(|r| r.into_value::<String>().ok()).as_deref() {
            Some("pointer") => CursorShape::Pointer,
            Some("text") => CursorShape::Text,
            _ => CursorShape::Default,
        };
        if shape != self.shape {
            self.shape = shape;
            self.recorder.event(Event::CursorShape { shape });
        }
    }

    async fn key(&self, key: &str, modifiers: &[Modifier], text: Option<&str>, secret: bool) -> Result<(), String> {
        let (code, virtual_code, typed) = key_codes(key);
        let commanding = modifiers.iter().any(|m| matches!(m, Modifier::Ctrl | Modifier::Alt | Modifier::Meta));
        let text = if commanding { None } else { text.map(str::to_string).or(typed) };
        let mask = modifiers.iter().fold(0, |m, modifier| {
            m | match modifier {
                Modifier::Alt => 1,
                Modifier::Ctrl => 2,
                Modifier::Meta => 4,
                Modifier::Shift => 8,
            }
        });
        let mut down = DispatchKeyEventParams::builder()
            .r#type(if text.is_some() { DispatchKeyEventType::KeyDown } else { DispatchKeyEventType::RawKeyDown })
            .key(key)
            .code(code.clone())
            .windows_virtual_key_code(virtual_code)
            .modifiers(mask);
        if let Some(text) = &text {
            down = down.text(text.clone()).unmodified_text(text.clone());
        }
        self.page.execute(down.build().map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?;
        let up = DispatchKeyEventParams::builder()
            .r#type(DispatchKeyEventType::KeyUp)
            .key(key)
            .code(code.clone())
            .windows_virtual_key_code(virtual_code)
            .modifiers(mask)
            .build()
            .map_err(|e| e.to_string())?;
        self.page.execute(up).await.map_err(|e| e.to_string())?;
        // A secret is typed but never written down: not its keys, not its text.
        let recorded_key = if secret { "•".to_string() } else { key.to_string() };
        let recorded_code = if secret { String::new() } else { code };
        self.recorder.event(Event::Key {
            key: recorded_key,
            code: recorded_code,
            modifiers: modifiers.to_vec(),
            text: if secret { None } else { text },
        });
        Ok(())
    }
}

/// DOM `code`, Windows virtual key code and the text a key types (if any).
fn key_codes(key: &str) -> (String, i64, Option<String>) {
    let special = match key {
        "Enter" => Some(("Enter", 13, Some("\r"))),
        "Escape" => Some(("Escape", 27, None)),
        "Tab" => Some(("Tab", 9, None)),
        "Backspace" => Some(("Backspace", 8, None)),
        "Delete" => Some(("Delete", 46, None)),
        "ArrowLeft" => Some(("ArrowLeft", 37, None)),
        "ArrowUp" => Some(("ArrowUp", 38, None)),
        "ArrowRight" => Some(("ArrowRight", 39, None)),
        "ArrowDown" => Some(("ArrowDown", 40, None)),
        " " => Some(("Space", 32, Some(" "))),
        _ => None,
    };
    if let Some((code, vk, text)) = special {
        return (code.to_string(), vk, text.map(str::to_string));
    }
    let mut chars = key.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => (format!("Key{}", c.to_ascii_uppercase()), c.to_ascii_uppercase() as i64, Some(key.to_string())),
        (Some(c), None) if c.is_ascii_digit() => (format!("Digit{c}"), c as i64, Some(key.to_string())),
        (Some(_), None) => (String::new(), 0, Some(key.to_string())),
        _ => (key.to_string(), 0, None),
    }
}
