//! A person's input, both ways. In: [`PersonInput`] from a live page (a demonstration),
//! dispatched to the browser as real input events. Back: `listen.js`, run at document
//! start in demoreel's isolated world of every frame, reports what the page received
//! through the `__demoreelInput` binding, as timeline events stamped with the page's own
//! event time. Invariant: keys typed into password and one-time-code fields arrive
//! already masked (`•`, no code, no text) and fills of them carry no value; only
//! input-shaped events are accepted from the page; input outside the page is refused.

use crate::geometry::Size;
use crate::recording::{Button, Event, Modifier};
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchKeyEventParams, DispatchKeyEventType, DispatchMouseEventParams, DispatchMouseEventType, InsertTextParams, MouseButton,
};
use serde::Deserialize;

/// One input of a person driving the page from a live view. Positions are CSS px of
/// the page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PersonInput {
    Pointer {
        action: PointerAction,
        x: f64,
        y: f64,
        #[serde(default)]
        button: Option<Button>,
        /// 1 for a click, 2 for the second press of a double click.
        #[serde(default)]
        clicks: u8,
        #[serde(default)]
        modifiers: Vec<Modifier>,
    },
    Wheel { x: f64, y: f64, dx: f64, dy: f64 },
    Key {
        action: KeyAction,
        /// DOM `key` and `code`, and the legacy key code the page's handlers may read.
        key: String,
        #[serde(default)]
        code: String,
        #[serde(default)]
        key_code: i64,
        /// What the key types, if anything (none with ctrl, alt or meta held).
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        modifiers: Vec<Modifier>,
    },
    /// Text arriving whole: a paste, or the end of a composition (an input method).
    Text { text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointerAction {
    Move,
    Down,
    Up,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAction {
    Down,
    Up,
}

/// The longest text one input may carry (a paste), and the longest key name.
const MAX_TEXT_CHARS: usize = 10_000;
const MAX_KEY_CHARS: usize = 32;

impl PersonInput {
    /// Why this input cannot be given to the page, if it cannot.
    pub fn check(&self, viewport: Size) -> Result<(), String> {
        let inside = |x: f64, y: f64| x.is_finite() && y.is_finite() && (0.0..=viewport.width as f64).contains(&x) && (0.0..=viewport.height as f64).contains(&y);
        match self {
            PersonInput::Pointer { x, y, .. } | PersonInput::Wheel { x, y, .. } if !inside(*x, *y) => Err(format!("({x}, {y}) is outside the page")),
            PersonInput::Wheel { dx, dy, .. } if !(dx.is_finite() && dy.is_finite() && dx.abs() <= 10_000.0 && dy.abs() <= 10_000.0) => {
                Err("a wheel turn of more than 10000 px".into())
            }
            PersonInput::Key { key, code, text, .. }
                if key.chars().count() > MAX_KEY_CHARS || code.chars().count() > MAX_KEY_CHARS || text.as_ref().is_some_and(|t| t.chars().count() > 8) =>
            {
                Err("a key name, code or text too long for a key".into())
            }
            PersonInput::Text { text } if text.chars().count() > MAX_TEXT_CHARS => Err(format!("more than {MAX_TEXT_CHARS} characters at once")),
            _ => Ok(()),
        }
    }
}

/// CDP's modifier bit mask.
fn modifier_mask(modifiers: &[Modifier]) -> i64 {
    modifiers.iter().fold(0, |mask, modifier| {
        mask | match modifier {
            Modifier::Alt => 1,
            Modifier::Ctrl => 2,
            Modifier::Meta => 4,
            Modifier::Shift => 8,
        }
    })
}

/// Gives `input` to the page as the browser's own input events.
pub(super) async fn dispatch(page: &Page, input: &PersonInput, viewport: Size) -> Result<(), String> {
    input.check(viewport)?;
    let error = |e: chromiumoxide::error::CdpError| e.to_string();
    match input {
        PersonInput::Pointer { action, x, y, button, clicks, modifiers } => {
            let kind = match action {
                PointerAction::Move => DispatchMouseEventType::MouseMoved,
                PointerAction::Down => DispatchMouseEventType::MousePressed,
                PointerAction::Up => DispatchMouseEventType::MouseReleased,
            };
            let button = match (action, button) {
                (PointerAction::Move, _) | (_, None) => MouseButton::None,
                (_, Some(Button::Left)) => MouseButton::Left,
                (_, Some(Button::Middle)) => MouseButton::Middle,
                (_, Some(Button::Right)) => MouseButton::Right,
            };
            let params = DispatchMouseEventParams::builder()
                .r#type(kind)
                .x(*x)
                .y(*y)
                .button(button)
                .click_count(i64::from((*clicks).clamp(0, 3)))
                .modifiers(modifier_mask(modifiers))
                .build()?;
            page.execute(params).await.map_err(error)?;
        }
        PersonInput::Wheel { x, y, dx, dy } => {
            let params = DispatchMouseEventParams::builder().r#type(DispatchMouseEventType::MouseWheel).x(*x).y(*y).delta_x(*dx).delta_y(*dy).build()?;
            page.execute(params).await.map_err(error)?;
        }
        PersonInput::Key { action, key, code, key_code, text, modifiers } => {
            let commanding = modifiers.iter().any(|m| matches!(m, Modifier::Ctrl | Modifier::Alt | Modifier::Meta));
            let text = text.as_ref().filter(|t| !commanding && !t.is_empty());
            let kind = match (action, text) {
                (KeyAction::Down, Some(_)) => DispatchKeyEventType::KeyDown,
                (KeyAction::Down, None) => DispatchKeyEventType::RawKeyDown,
                (KeyAction::Up, _) => DispatchKeyEventType::KeyUp,
            };
            let mut params = DispatchKeyEventParams::builder()
                .r#type(kind)
                .key(key.clone())
                .code(code.clone())
                .windows_virtual_key_code(*key_code)
                .native_virtual_key_code(*key_code)
                .modifiers(modifier_mask(modifiers));
            if let (KeyAction::Down, Some(text)) = (action, text) {
                params = params.text(text.clone()).unmodified_text(text.clone());
            }
            page.execute(params.build()?).await.map_err(error)?;
        }
        PersonInput::Text { text } => {
            page.execute(InsertTextParams::new(text.clone())).await.map_err(error)?;
        }
    }
    Ok(())
}

pub const BINDING: &str = "__demoreelInput";
pub const LISTEN_JS: &str = include_str!("listen.js");

#[derive(Deserialize)]
struct Report {
    /// The event's wall time, ms since the epoch (`performance.timeOrigin + event.timeStamp`).
    t: f64,
    #[serde(flatten)]
    event: Event,
}

/// One report from the page: its wall time and the event, if it is a kind a person's
/// input may produce.
pub fn parse(payload: &str) -> Option<(f64, Event)> {
    let report: Report = serde_json::from_str(payload).ok()?;
    let input = matches!(
        report.event,
        Event::PointerMove { .. }
            | Event::PointerDown { .. }
            | Event::PointerUp { .. }
            | Event::Click { .. }
            | Event::Key { .. }
            | Event::Scroll { .. }
            | Event::CursorShape { .. }
            | Event::Acted { .. }
    );
    (input && report.t.is_finite()).then_some((report.t, report.event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_input_events_are_taken_from_the_page() {
        let (t, event) = parse(r#"{"t": 1700000000123.5, "type": "click", "x": 10, "y": 20, "button": "left"}"#).unwrap();
        assert_eq!(t, 1700000000123.5);
        assert!(matches!(event, Event::Click { x, y, .. } if x == 10.0 && y == 20.0));
        assert!(parse(r#"{"t": 1, "type": "awaiting_input_start"}"#).is_none());
        assert!(parse(r#"{"t": 1, "type": "redact", "x": 0, "y": 0, "width": 5, "height": 5, "duration_ms": 9}"#).is_none());
        assert!(parse("not json").is_none());
    }
}
