//! A person's input, reported by the page itself. Input: `listen.js`, run at document
//! start in demoreel's isolated world of every frame, calling the `__demoreelInput`
//! binding. Output: timeline events stamped with the page's own event time.
//! Invariant: keys typed into password and one-time-code fields arrive already masked
//! (`•`, no code, no text); only input-shaped events are accepted from the page.

use crate::recording::Event;
use serde::Deserialize;

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
