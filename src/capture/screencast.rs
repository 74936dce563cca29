//! Setting up a recording in the browser. Input: a launched session, the URL and the
//! page size. Output: the page loaded and screencasting into the bundle and the frame
//! source, the page's scripts (masking, a person's input) reporting, the watchers running.
//! Invariant: Chromium holds frames until they are acked, so every frame is acked as
//! soon as it is taken (and only then, so no more than a couple wait); the recording
//! starts on the first painted page, never a blank tab.

use super::clock::{Recorder, now_epoch_ms};
use super::{CaptureError, RecordOptions, WORLD, browser, driver, person, watch};
use crate::geometry::{PageSize, Size};
use crate::recording::{CapturedFrame, CursorShape, Event, FrameSource, RecordingWriter};
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, EventScreencastFrame, ScreencastFrameAckParams, StartScreencastFormat, StartScreencastParams,
    StopScreencastParams,
};
use chromiumoxide::cdp::js_protocol::runtime::{AddBindingParams, EventBindingCalled};
use futures::StreamExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const MASK_EMAILS_JS: &str = include_str!("mask_emails.js");
const REDACT_BINDING: &str = "__demoreelRedact";
/// The masking script reports its rectangles this often; each report holds until the next.
const REDACT_REPORT_MS: f64 = 250.0;
/// Pause between the first page's load and the start of the recording.
const SETTLE_AFTER_LOAD_MS: u64 = 400;
const FIRST_FRAME_TIMEOUT_S: u64 = 15;

/// What [`begin`] sets up, before a `Capture` owns it.
pub(super) struct Started {
    pub(super) driver: driver::Driver,
    pub(super) recorder: Arc<Recorder>,
    pub(super) frames: tokio::sync::broadcast::Sender<Arc<CapturedFrame>>,
    pub(super) screencast_task: tokio::task::JoinHandle<FrameSource>,
    pub(super) background: Vec<tokio::task::JoinHandle<()>>,
}

fn browser_error(e: chromiumoxide::error::CdpError) -> CaptureError {
    CaptureError::Browser(e.to_string())
}

pub(super) async fn begin(
    session: &browser::Session,
    url: &str,
    out: &Path,
    options: &RecordOptions,
    source: FrameSource,
) -> Result<Started, CaptureError> {
    let page = session.browser.new_page("about:blank").await.map_err(browser_error)?;
    let in_front = watch::keep_in_front(&session.browser, &page).await.map_err(browser_error)?;
    set_page_size(&page, options.page()).await?;
    if options.blur_emails {
        add_binding(&page, REDACT_BINDING).await?;
        add_document_script(&page, MASK_EMAILS_JS).await?;
    }
    if options.person_drives {
        add_binding(&page, person::BINDING).await?;
        add_document_script(&page, person::LISTEN_JS).await?;
    }
    // The recording starts on the first painted page, never a blank tab.
    goto(&page, url).await.map_err(|reason| CaptureError::Step { index: 0, description: format!("go to {url}"), reason })?;

    let frame_size = options.frame_size();
    let frames = source.sender();
    let (begin, screencast_task, first_frame) = spawn_screencast(&page, source, frame_size).await?;
    start_screencast(&page, frame_size, options.jpeg_quality).await?;
    // Let the loaded page settle (fonts, first animation frames) before the first frame;
    // the screencast warms up meanwhile (its first frames come later after their
    // timestamps than the rest: up to 50–75 ms on a busy 1080p page).
    tokio::time::sleep(Duration::from_millis(SETTLE_AFTER_LOAD_MS)).await;
    let writer = RecordingWriter::create(out, options.viewport, options.device_scale_factor, frame_size, SystemTime::now())
        .map_err(|e| CaptureError::Io { path: out.to_path_buf(), reason: e.to_string() })?;
    let recorder = Arc::new(Recorder::new(writer));
    let _ = begin.send(recorder.clone());
    if tokio::time::timeout(Duration::from_secs(FIRST_FRAME_TIMEOUT_S), first_frame).await.is_err() {
        screencast_task.abort();
        in_front.abort();
        return Err(CaptureError::NoFrames(FIRST_FRAME_TIMEOUT_S));
    }
    recorder.event(Event::Navigation { url: url.to_string() });

    let watchers = watch::watch_page(&page, &recorder).await.map_err(browser_error)?;
    let mut background = watchers.tasks;
    background.push(in_front);
    background.push(spawn_reports(&page, recorder.clone()).await?);
    let driver = driver::Driver {
        page,
        recorder: recorder.clone(),
        pointer: None,
        shape: CursorShape::Default,
        crashed: watchers.crashed,
        record_own_input: !options.person_drives,
        mask_addresses: options.blur_emails,
        found_by_fallback: Default::default(),
    };
    Ok(Started { driver, recorder, frames, screencast_task, background })
}

async fn set_page_size(page: &Page, size: PageSize) -> Result<(), CaptureError> {
    let metrics = SetDeviceMetricsOverrideParams::new(size.viewport.width as i64, size.viewport.height as i64, size.device_scale_factor, false);
    page.execute(metrics).await.map_err(browser_error)?;
    Ok(())
}

/// Starts (or restarts) the screencast for frames of `frame_size` device px: Chromium
/// scales down anything larger, so a resized page needs a new start.
async fn start_screencast(page: &Page, frame_size: Size, jpeg_quality: u8) -> Result<(), CaptureError> {
    let params = StartScreencastParams::builder()
        .format(StartScreencastFormat::Jpeg)
        .quality(jpeg_quality as i64)
        .max_width(frame_size.width as i64)
        .max_height(frame_size.height as i64)
        .build();
    page.execute(params).await.map_err(browser_error)?;
    Ok(())
}

/// Gives a recording page a new size (a person's window changed): the page lays itself
/// out again and the frames that follow have the new size (the bundle counts them).
pub(super) async fn resize(page: &Page, size: PageSize, jpeg_quality: u8) -> Result<(), CaptureError> {
    set_page_size(page, size).await?;
    stop(page).await;
    start_screencast(page, size.frame_size(), jpeg_quality).await
}

/// Screencast frames: acked at once, then, once the recording begins (its recorder sent
/// through the answered sender), stored in the bundle and published. Until then they
/// are held, and the newest one becomes the first frame when it begins (with its own
/// time: the recording's zero). The receiver fires on the first frame stored, whose size
/// becomes the bundle's frame size (`asked` unless Chromium could only deliver a smaller
/// one).
async fn spawn_screencast(
    page: &Page,
    mut source: FrameSource,
    asked: Size,
) -> Result<(tokio::sync::oneshot::Sender<Arc<Recorder>>, tokio::task::JoinHandle<FrameSource>, tokio::sync::oneshot::Receiver<()>), CaptureError> {
    let mut screencast = page.event_listener::<EventScreencastFrame>().await.map_err(browser_error)?;
    let (begin_tx, mut begin_rx) = tokio::sync::oneshot::channel::<Arc<Recorder>>();
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let page = page.clone();
    let task = tokio::spawn(async move {
        let mut first = Some(first_tx);
        let mut size = None;
        let mut recorder: Option<Arc<Recorder>> = None;
        let mut held: Option<Arc<EventScreencastFrame>> = None;
        loop {
            let frame = tokio::select! {
                begun = &mut begin_rx, if recorder.is_none() => {
                    // Dropped unsent: the capture did not begin.
                    let Ok(begun) = begun else { break };
                    recorder = Some(begun);
                    match held.take() {
                        Some(frame) => frame,
                        None => continue,
                    }
                }
                next = screencast.next() => {
                    let Some(frame) = next else { break };
                    // Acked as it is taken, before it is stored: Chromium draws the next
                    // frame meanwhile. It keeps no more than a couple unacked, and only
                    // this loop acks, so however slow storing is, frames never queue up
                    // here without end (acking only once stored: median 24.4 frames/s
                    // against 29.1, three interleaved recordings of a busy 1080p page).
                    let _ = page.execute(ScreencastFrameAckParams::new(frame.session_id.clone())).await;
                    frame
                }
            };
            let Some(recorder) = recorder.clone() else {
                held = Some(frame);
                continue;
            };
            let Some((t_ms, jpeg, delivered)) = store_frame(frame, recorder, size, asked).await else { continue };
            size = delivered;
            source.publish(t_ms, jpeg);
            if let Some(tx) = first.take() {
                let _ = tx.send(());
            }
        }
        source
    });
    Ok((begin_tx, task, first_rx))
}

/// Stores one frame in the bundle; answers its recording time, its bytes and its size.
/// Decoding and writing a frame (a few hundred KB at 1080p) is blocking work, kept off the
/// async workers that also answer the API.
async fn store_frame(frame: Arc<EventScreencastFrame>, recorder: Arc<Recorder>, size: Option<Size>, asked: Size) -> Option<(f64, Vec<u8>, Option<Size>)> {
    tokio::task::spawn_blocking(move || {
        let jpeg = base64_decode(frame.data.as_ref()).ok()?;
        // Chromium stamps a frame when it was drawn; delivery adds tens of ms of jitter.
        let drawn = frame.metadata.timestamp.as_ref().map(|t| *t.inner() * 1000.0).unwrap_or_else(now_epoch_ms);
        // The size is read from the JPEG's header: a resized page's first frames may come
        // before or after the resize was asked.
        let delivered = jpeg_size(&jpeg);
        if delivered != size {
            match size {
                None => note_delivered_size(&recorder, delivered, asked),
                Some(_) => delivered.into_iter().for_each(|delivered| recorder.set_frame_size(delivered)),
            }
        }
        Some((recorder.frame(drawn, &jpeg), jpeg, delivered))
    })
    .await
    .ok()
    .flatten()
}

/// Makes the bundle say the size its frames have. A frame smaller than asked (a screen
/// or a browser that cannot paint that many pixels) is warned about: the render will
/// have to scale it up, and the video will be softer than its size promises. A pixel
/// less is only rounding (a fractional scale times the viewport), not worth a warning.
fn note_delivered_size(recorder: &Recorder, delivered: Option<Size>, asked: Size) {
    let Some(delivered) = delivered else { return };
    if delivered != asked {
        recorder.set_frame_size(delivered);
    }
    if delivered.clearly_smaller_than(asked) {
        tracing::warn!(
            %asked,
            %delivered,
            "the browser delivers frames smaller than asked; the render will scale them up"
        );
    }
}

fn jpeg_size(jpeg: &[u8]) -> Option<Size> {
    let reader = image::ImageReader::with_format(std::io::Cursor::new(jpeg), image::ImageFormat::Jpeg);
    let (width, height) = reader.into_dimensions().ok()?;
    Some(Size { width, height })
}

/// Reports from the page's scripts: masked rectangles, a person's input.
async fn spawn_reports(page: &Page, recorder: Arc<Recorder>) -> Result<tokio::task::JoinHandle<()>, CaptureError> {
    let mut reports = page.event_listener::<EventBindingCalled>().await.map_err(browser_error)?;
    Ok(tokio::spawn(async move {
        while let Some(call) = reports.next().await {
            match call.name.as_str() {
                REDACT_BINDING => {
                    let Ok(rects) = serde_json::from_str::<Vec<[f64; 4]>>(&call.payload) else { continue };
                    for [x, y, width, height] in rects {
                        recorder.event(Event::Redact { x, y, width, height, duration_ms: REDACT_REPORT_MS * 1.5 });
                    }
                }
                person::BINDING => {
                    if let Some((epoch_ms, event)) = person::parse(&call.payload) {
                        recorder.event_at(recorder.t_of_epoch_ms(epoch_ms), event);
                    }
                }
                _ => {}
            }
        }
    }))
}

pub(super) async fn stop(page: &Page) {
    let _ = page.execute(StopScreencastParams::default()).await;
}

/// A binding the page's scripts call in demoreel's isolated world.
async fn add_binding(page: &Page, name: &str) -> Result<(), CaptureError> {
    let params = AddBindingParams::builder().name(name).execution_context_name(WORLD).build().map_err(CaptureError::Browser)?;
    page.execute(params).await.map_err(browser_error)?;
    Ok(())
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
    .map_err(browser_error)?;
    Ok(())
}

fn base64_decode(data: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(data)
}

pub(super) async fn goto(page: &Page, url: &str) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(30), page.goto(url)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("navigation failed: {e}")),
        Err(_) => Err("navigation did not finish within 30 s".into()),
    }
}
