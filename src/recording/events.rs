//! Timeline events: one JSON object per line of `timeline.jsonl`, each with `t_ms` and a
//! `type`. Input: the capture (or a fixture). Output: typed events the timeline consumes.
//! Invariant: positions are CSS px of the page; times are ms since the recording started.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedEvent {
    /// Milliseconds since the recording started, on the same clock as the frames.
    pub t_ms: f64,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The pointer is at (x, y).
    PointerMove { x: f64, y: f64 },
    PointerDown { x: f64, y: f64, button: Button },
    PointerUp { x: f64, y: f64, button: Button },
    /// A completed click (down and up on the same element).
    Click { x: f64, y: f64, button: Button },
    /// A key press. `text` is what it typed, if anything; `code` the physical key.
    Key {
        key: String,
        code: String,
        #[serde(default)]
        modifiers: Vec<Modifier>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// The page (or the element under x, y) scrolled by (dx, dy).
    Scroll { x: f64, y: f64, dx: f64, dy: f64 },
    Navigation { url: String },
    /// The cursor shape under the pointer changed (a CSS `cursor` value).
    CursorShape { shape: CursorShape },
    /// The run paused to wait for a person (a one-time code); this span is cut from demo.mp4.
    AwaitingInputStart {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
    },
    AwaitingInputEnd {},
    /// An action of the step list or plan began; `label` says what it does.
    StepStart { label: String },
    StepEnd {
        label: String,
        #[serde(default = "default_true")]
        ok: bool,
    },
    /// A rectangle (CSS px) to blur in demo.mp4 from `t_ms` for `duration_ms`.
    Redact { x: f64, y: f64, width: f64, height: f64, duration_ms: f64 },
    /// Something went wrong in the page or the browser; the recording ends cleanly after it.
    Error { message: String },
    /// What a person did to an element (a demonstration), reported by the page with what
    /// the element looked like then: a click, or a field's new value (`fill`; never the
    /// value of a password or one-time-code field, which is `secret` and has none).
    Acted {
        action: Action,
        element: ElementRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        secret: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Click,
    Fill,
}

/// An element as a person met it: the ways a replay can find it again. Every field may be
/// empty; the page cuts each to 120 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ElementRef {
    /// The ARIA role, explicit or implied by the tag (`button`, `link`, `textbox`, …).
    pub role: String,
    /// The accessible name (aria-label, labelledby, a label, the text, the placeholder).
    pub name: String,
    /// The text of its `<label>`, if it is a field.
    pub label: String,
    /// `data-testid`.
    pub test_id: String,
    pub id: String,
    /// A short CSS path from the nearest ancestor with an id, without generated class names.
    pub css: String,
    /// The `type` of an `<input>` (`email`, `text`, `number`, `date`, …), else the tag.
    pub kind: String,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Button {
    Left,
    Middle,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modifier {
    Ctrl,
    Alt,
    Shift,
    Meta,
}

/// The shapes the synthetic cursor can take; every other CSS cursor value reads as `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CursorShape {
    Default,
    Pointer,
    Text,
    #[serde(other)]
    Other,
}
