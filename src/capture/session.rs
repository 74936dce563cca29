//! A recording in progress. Input: a URL, then steps one at a time. Output: the bundle,
//! finished by [`Capture::finish`]. Invariant: every step runs within its time limit (an
//! input step's wait for its value excepted, which is marked as awaiting input), and the
//! browser is closed on every path: `finish`, an error, or the capture dropped mid-step
//! (a cancelled run), when the session's profile guard sweeps its processes.

use super::clock::Recorder;
use super::screencast::{self, Started};
use super::{CaptureError, InputSource, NoValue, RecordOptions, RecordSummary, browser, driver};
use crate::recording::{CapturedFrame, Event, FrameSource};
use crate::steps::{Schemes, Step, Target};
use chromiumoxide::cdp::browser_protocol::page::GetFrameTreeParams;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct Capture {
    session: browser::Session,
    driver: driver::Driver,
    recorder: Arc<Recorder>,
    out: PathBuf,
    frames: tokio::sync::broadcast::Sender<Arc<CapturedFrame>>,
    screencast_task: tokio::task::JoinHandle<FrameSource>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The first failed step; the recording ends after it.
    failed: bool,
    /// The page's size: a person's input outside its viewport is refused.
    page: crate::geometry::PageSize,
    jpeg_quality: u8,
}

impl Capture {
    /// Launches the browser, opens `url` and starts recording on its first painted frame,
    /// publishing every frame on `frames` (subscribe to it before: nothing is replayed).
    pub async fn start(url: &str, out: &Path, options: &RecordOptions, frames: FrameSource) -> Result<Capture, CaptureError> {
        crate::steps::url::check(url, Schemes::WebAndFile)
            .map_err(|reason| CaptureError::Step { index: 0, description: format!("go to {url}"), reason })?;
        let session = browser::Session::launch(options.egress.as_ref(), &options.confinement, options.device_scale_factor).await?;
        let started = screencast::begin(&session, url, out, options, frames).await;
        // A target that resolves inward fails to load (or loads the proxy's refusal):
        // either way the reason is the policy, not the network.
        let blocked = match &started {
            Ok(started) => blocked_navigation(&session, &started.driver.page).await,
            Err(_) => blocked_url(&session.blocked(), &[url.to_string()]),
        };
        match (started, blocked) {
            (Ok(started), None) => Ok(Capture::assemble(started, session, out, options)),
            (Ok(started), Some(blocked)) => {
                let capture = Capture::assemble(started, session, out, options);
                let _ = capture.finish().await;
                Err(blocked)
            }
            (Err(error), blocked) => {
                session.close().await;
                Err(blocked.unwrap_or(error))
            }
        }
    }

    fn assemble(started: Started, session: browser::Session, out: &Path, options: &RecordOptions) -> Capture {
        let Started { driver, recorder, frames, screencast_task, background } = started;
        Capture { session, driver, recorder, out: out.to_path_buf(), frames, screencast_task, background, failed: false, page: options.page(), jpeg_quality: options.jpeg_quality }
    }

    /// Frames as they are captured, for another consumer (a live view).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<CapturedFrame>> {
        self.frames.subscribe()
    }

    /// Timeline events as they are written (a person's clicks, fills, navigations).
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<crate::recording::TimedEvent> {
        self.recorder.events.subscribe()
    }

    /// Hands a person's input (from a live page) to the browser as real input events;
    /// the page's own listeners put it on the timeline.
    pub async fn drive(&self, input: &super::PersonInput) -> Result<(), CaptureError> {
        super::person::dispatch(&self.driver.page, input, self.page.viewport).await.map_err(CaptureError::Browser)
    }

    /// Gives the page a new viewport (CSS px, the device scale kept), as a person's
    /// window changes: the page lays itself out again and later frames have its size.
    pub async fn resize(&mut self, viewport: crate::geometry::Size) -> Result<(), CaptureError> {
        let page = crate::geometry::PageSize { viewport, ..self.page };
        screencast::resize(&self.driver.page, page, self.jpeg_quality).await?;
        self.page = page;
        Ok(())
    }

    /// The fallback locator that found the last step's element, if its first way found
    /// nothing (taken: the next call answers `None` until a fallback is used again).
    pub fn take_fallback(&self) -> Option<String> {
        self.driver.found_by_fallback.lock().unwrap().take()
    }

    /// Recording time now (ms since the first frame).
    pub fn t_ms(&self) -> f64 {
        self.recorder.t_ms()
    }

    /// Puts an event on the timeline now.
    pub fn note(&self, event: Event) {
        self.recorder.event(event);
    }

    /// Runs `script` (an expression evaluating to a JSON string) in the page and reads
    /// its answer as `T`: how an observer (a planner) sees what the page offers.
    pub async fn read_page<T: serde::de::DeserializeOwned>(&self, script: &str) -> Result<T, CaptureError> {
        let value = self.driver.page.evaluate(script).await.map_err(|e| CaptureError::PageRead(e.to_string()))?;
        let text = value.into_value::<String>().map_err(|e| CaptureError::PageRead(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| CaptureError::PageRead(e.to_string()))
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
        self.recorder.event(Event::StepEnd { label: description.clone(), ok: result.is_ok() });
        if let Some(blocked) = blocked_navigation(&self.session, &self.driver.page).await {
            self.recorder.event(Event::Error { message: format!("step {index} ({description}): {blocked}") });
            self.failed = true;
            return Err(blocked);
        }
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
        target: &Target,
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
        let typing = Step::Type { text: answer?, target: target.clone(), secret: true, label: None, timeout_ms, only_within: None };
        Ok(self.run_limited(&typing).await)
    }

    async fn run_limited(&mut self, step: &Step) -> Result<(), String> {
        let crashed = self.driver.crashed.clone();
        within_limit(step, &crashed, self.driver.run(step)).await
    }

    /// Stops recording, finishes the bundle, closes the browser, and ends the frame
    /// stream (subscribers see it closed).
    pub async fn finish(self) -> Result<RecordSummary, CaptureError> {
        let Capture { session, driver, recorder, out, frames, screencast_task, background, failed, .. } = self;
        if !failed {
            // Let the last action's effect paint before stopping.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let duration_ms = recorder.t_ms();
        // A crashed page answers nothing: do not wait long for it.
        let _ = tokio::time::timeout(Duration::from_secs(2), screencast::stop(&driver.page)).await;
        screencast_task.abort();
        background.iter().for_each(|t| t.abort());
        // The screencast task owns the frame source; once it is gone (and our sender with
        // it), subscribers see the end of the stream.
        let _ = screencast_task.await;
        drop(frames);
        drop(driver);
        session.close().await;

        let writer = recorder.writer.lock().unwrap().take();
        let failure = recorder.failure.lock().unwrap().take();
        let Some(writer) = writer.filter(|_| failure.is_none()) else {
            return Err(CaptureError::Io { path: out, reason: failure.unwrap_or_else(|| "the recording was not kept".to_string()) });
        };
        let (frame_count, frame_size) = (writer.frame_count(), writer.frame_size());
        writer.finish(duration_ms).map_err(|e| CaptureError::Io { path: out.clone(), reason: e.to_string() })?;
        Ok(RecordSummary { bundle: out, frames: frame_count, frame_size, duration_ms })
    }
}

/// The policy refusal behind the page's main frame, if the egress proxy refused where
/// it is (or where it failed to load).
async fn blocked_navigation(session: &browser::Session, page: &chromiumoxide::Page) -> Option<CaptureError> {
    let blocked = session.blocked();
    if blocked.is_empty() {
        return None;
    }
    let tree = tokio::time::timeout(Duration::from_secs(2), page.execute(GetFrameTreeParams::default())).await.ok()?.ok()?;
    let frame = &tree.result.frame_tree.frame;
    let urls: Vec<String> = [Some(frame.url.clone()), frame.unreachable_url.clone()].into_iter().flatten().collect();
    blocked_url(&blocked, &urls)
}

/// The refusal of the first of `urls` whose host and port the egress proxy refused.
fn blocked_url(blocked: &[browser::Blocked], urls: &[String]) -> Option<CaptureError> {
    urls.iter().find_map(|text| {
        let url = url::Url::parse(text).ok()?;
        let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let authority = format!("{host}:{}", url.port_or_known_default()?);
        let refused = blocked.iter().find(|b| b.authority == authority)?;
        Some(CaptureError::NavigationBlocked { url: text.clone(), reason: refused.reason.clone() })
    })
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
