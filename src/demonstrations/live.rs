//! One live demonstration: the browser a person drives, and what its pages see. Input: a
//! capture (person-driven) once it started, a person's input, finish and stop commands.
//! Output: the newest frame, the events panel's items and the session's state, for any
//! number of viewers. Invariant: a viewer only ever gets the newest frame (a slow one
//! skips frames, it never queues them); input reaches the page only while the session
//! records; every input counts as activity for the idle timeout; the page's viewport
//! follows the driving person's window within [`SMALLEST_VIEWPORT`]..[`LARGEST_VIEWPORT`].

use crate::capture::{Capture, PersonInput};
use crate::geometry::Size;
use crate::recording::{Action, CapturedFrame, CursorShape, Event, TimedEvent};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, watch};

/// Where a session is, as its pages show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LiveState {
    /// The browser is starting.
    Starting,
    Recording,
    /// Finished by the person or the API: the workflow is being made.
    Processing,
    Completed { task_id: String, task_version_id: String, tool_id: String },
    Failed { error: String },
    Stopped { reason: String },
}

/// One line of the Live Browser Events panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PanelItem {
    /// `click`, `type`, `scroll` or `navigation`.
    pub kind: &'static str,
    /// What the line says: the element's accessible name, the typed text (masked for
    /// secret fields), the URL.
    pub text: String,
    pub t_ms: f64,
}

/// What a session's supervisor is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Finish,
    Stop { reason: String },
}

pub struct LiveSession {
    pub id: String,
    pub user_name: Option<String>,
    pub task_name: String,
    /// The page's size in CSS px (where the person's input lands), following the room
    /// the person's window gives it.
    viewport: watch::Sender<Size>,
    pub(super) capture: tokio::sync::RwLock<Option<Capture>>,
    frame: watch::Sender<Option<Arc<CapturedFrame>>>,
    cursor: watch::Sender<CursorShape>,
    panel: broadcast::Sender<PanelItem>,
    /// The panel so far, for a page that opens (or reconnects) late.
    history: Mutex<std::collections::VecDeque<PanelItem>>,
    pub(super) state: watch::Sender<LiveState>,
    pub(super) last_input: Mutex<Instant>,
    pub(super) commands: mpsc::UnboundedSender<Command>,
    /// When the browser showed its first frame, ms since the epoch (the pages' clock).
    pub(super) started_epoch_ms: Mutex<Option<u64>>,
}

/// The smallest page a person's window may ask for, CSS px: narrower, many sites switch
/// to a phone layout, which a replay at the usual size would not find.
pub const SMALLEST_VIEWPORT: Size = Size { width: 800, height: 480 };
/// The largest, CSS px: more pixels than the screencast keeps up with on a small machine.
pub const LARGEST_VIEWPORT: Size = Size { width: 1920, height: 1200 };

/// The viewport for the room (CSS px) a person's window gives the page: within the
/// bounds above, even (video frames are).
pub fn viewport_for_room(room: Size) -> Size {
    let fit = |room: u32, smallest: u32, largest: u32| room.clamp(smallest, largest) & !1;
    Size { width: fit(room.width, SMALLEST_VIEWPORT.width, LARGEST_VIEWPORT.width), height: fit(room.height, SMALLEST_VIEWPORT.height, LARGEST_VIEWPORT.height) }
}

/// How many panel items a session keeps for late viewers.
const HISTORY: usize = 500;

impl LiveSession {
    pub(super) fn new(id: &str, user_name: Option<String>, task_name: String, viewport: Size) -> (Arc<LiveSession>, mpsc::UnboundedReceiver<Command>) {
        let (commands, receiver) = mpsc::unbounded_channel();
        let session = LiveSession {
            id: id.to_string(),
            user_name,
            task_name,
            viewport: watch::channel(viewport).0,
            capture: tokio::sync::RwLock::new(None),
            frame: watch::channel(None).0,
            cursor: watch::channel(CursorShape::Default).0,
            panel: broadcast::channel(256).0,
            history: Mutex::new(std::collections::VecDeque::new()),
            state: watch::channel(LiveState::Starting).0,
            last_input: Mutex::new(Instant::now()),
            commands,
            started_epoch_ms: Mutex::new(None),
        };
        (Arc::new(session), receiver)
    }

    pub fn frames(&self) -> watch::Receiver<Option<Arc<CapturedFrame>>> {
        self.frame.subscribe()
    }

    pub fn cursor(&self) -> watch::Receiver<CursorShape> {
        self.cursor.subscribe()
    }

    pub fn viewport(&self) -> Size {
        *self.viewport.borrow()
    }

    pub fn viewports(&self) -> watch::Receiver<Size> {
        self.viewport.subscribe()
    }

    /// Sizes the page for the room the person's window gives it (CSS px), while the
    /// session records; answers the viewport in force. Not activity: a window that is
    /// resized by itself does not keep a session alive.
    pub async fn fit_to(&self, room: Size) -> Result<Size, String> {
        let wanted = viewport_for_room(room);
        if wanted == self.viewport() {
            return Ok(wanted);
        }
        if *self.state.borrow() != LiveState::Recording {
            return Err("the session is not recording".into());
        }
        let mut capture = self.capture.write().await;
        let Some(capture) = capture.as_mut() else { return Err("the session is not recording".into()) };
        capture.resize(wanted).await.map_err(|e| e.to_string())?;
        self.viewport.send_replace(wanted);
        Ok(wanted)
    }

    pub fn states(&self) -> watch::Receiver<LiveState> {
        self.state.subscribe()
    }

    /// The panel so far and a receiver of what comes next.
    pub fn panel(&self) -> (Vec<PanelItem>, broadcast::Receiver<PanelItem>) {
        let history = self.history.lock().unwrap();
        (history.iter().cloned().collect(), self.panel.subscribe())
    }

    pub fn started_epoch_ms(&self) -> Option<u64> {
        *self.started_epoch_ms.lock().unwrap()
    }

    /// Gives a person's input to the page, while the session records.
    pub async fn drive(&self, input: &PersonInput) -> Result<(), String> {
        *self.last_input.lock().unwrap() = Instant::now();
        if *self.state.borrow() != LiveState::Recording {
            return Err("the session is not recording".into());
        }
        match self.capture.read().await.as_ref() {
            Some(capture) => capture.drive(input).await.map_err(|e| e.to_string()),
            None => Err("the session is not recording".into()),
        }
    }

    /// Asks the supervisor to finish (the workflow is made) or stop the session.
    pub fn command(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Relays the capture's frames and events to the viewers until the capture ends.
    pub(super) fn relay(self: &Arc<Self>, capture: &Capture) -> Vec<tokio::task::JoinHandle<()>> {
        let mut frames = capture.subscribe();
        let session = self.clone();
        let frames_task = tokio::spawn(async move {
            loop {
                match frames.recv().await {
                    Ok(frame) => {
                        session.frame.send_replace(Some(frame));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let mut events = capture.subscribe_events();
        let session = self.clone();
        let events_task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(timed) => session.note(&timed),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        vec![frames_task, events_task]
    }

    fn note(&self, timed: &TimedEvent) {
        if let Event::CursorShape { shape } = timed.event {
            self.cursor.send_replace(shape);
            return;
        }
        let Some(item) = panel_item(timed) else { return };
        let mut history = self.history.lock().unwrap();
        // Scrolling is many wheel events: one line per gesture.
        if item.kind == "scroll" && history.back().is_some_and(|last| last.kind == "scroll" && timed.t_ms - last.t_ms < 1500.0) {
            return;
        }
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(item.clone());
        let _ = self.panel.send(item);
    }
}

/// The panel's line for an event, if it has one.
pub fn panel_item(timed: &TimedEvent) -> Option<PanelItem> {
    let (kind, text) = match &timed.event {
        Event::Acted { action: Action::Click, element, .. } => {
            let name = if element.name.is_empty() { element.kind.clone() } else { element.name.clone() };
            ("click", name)
        }
        Event::Acted { action: Action::Fill, element, value, secret } => {
            let field = [&element.label, &element.name].into_iter().find(|s| !s.is_empty()).cloned().unwrap_or_else(|| element.kind.clone());
            let typed = match (secret, value) {
                (true, _) | (false, None) => "••••••".to_string(),
                (false, Some(value)) => value.chars().take(80).collect(),
            };
            ("type", format!("{typed} → {field}"))
        }
        Event::Scroll { dy, .. } => ("scroll", if *dy >= 0.0 { "down".to_string() } else { "up".to_string() }),
        Event::Navigation { url } => ("navigation", url.clone()),
        _ => return None,
    };
    Some(PanelItem { kind, text, t_ms: timed.t_ms })
}
