//! The driver: runs one step in the page through CDP `Input` and the page's DOM. Input: a
//! [`Step`]. Output: the page changed, and the driver's own pointer, key and cursor-shape
//! events on the recording's timeline. Invariant: a secret is typed but never written
//! down, neither its keys nor its text.

use super::clock::{Recorder, now_epoch_ms};
use super::screencast::goto;
use crate::steps::{self, Step};
use crate::recording::{Button, CursorShape, Event, Modifier};
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchKeyEventParams, DispatchKeyEventType, DispatchMouseEventParams, DispatchMouseEventType, MouseButton,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What the marking script answers: the host name of the document it ran in, and
/// whether the focus is inside a cross-origin frame it could not reach.
#[derive(Debug, Default, serde::Deserialize)]
struct FieldMark {
    host: String,
    elsewhere: bool,
}

/// Runs steps in the page, recording the driver's own input on the timeline.
pub(super) struct Driver {
    pub(super) page: Page,
    pub(super) recorder: Arc<Recorder>,
    pub(super) pointer: Option<(f64, f64)>,
    pub(super) shape: CursorShape,
    pub(super) crashed: Arc<AtomicBool>,
    /// Off when a person drives: the page's own listeners report the input then.
    pub(super) record_own_input: bool,
    /// `video.blur_emails`: a field typed an address into is masked from its first key.
    pub(super) mask_addresses: bool,
    /// The fallback that found the last element, when the target's first way did not:
    /// a replay that leans on fallbacks says so.
    pub(super) found_by_fallback: std::sync::Mutex<Option<String>>,
}

/// Finds an element (scrolled into view) and answers its centre in CSS px, or null.
const LOCATE_JS: &str = include_str!("locate.js");
/// The screencast frame showing a repainted page carries a timestamp about one 60 Hz frame
/// after the presentation time Event Timing reports for it: measured 25-30 ms after it
/// with Debian's Chromium (software compositing) on a 2-core machine, over 4 recordings of
/// `tests/pages/clock.html`. Half-way keeps the click within a frame either side.
const SCREENCAST_AFTER_PRESENTATION_MS: f64 = 16.7;
/// How long a target's first way is looked for alone before its fallbacks join in.
const FIRST_WAY_ALONE_MS: u64 = 2_000;
/// Marks the focused field as holding a secret or an address (see the script's header).
const MARK_FIELD_JS: &str = include_str!("mark_field.js");
/// Answers when the page showed its reaction to a click (see the script's header).
const REACTION_JS: &str = include_str!("reaction.js");
/// Chooses an option of the drop-down at a point (see the script's header).
const CHOOSE_JS: &str = include_str!("choose.js");

impl Driver {
    fn note(&self, event: Event) {
        if self.record_own_input {
            self.recorder.event(event);
        }
    }

    fn note_at(&self, t_ms: f64, event: Event) {
        if self.record_own_input {
            self.recorder.event_at(t_ms, event);
        }
    }

    pub(super) fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    pub(super) async fn run(&mut self, step: &Step) -> Result<(), String> {
        match step {
            // The navigation itself reaches the timeline through the page watcher.
            Step::Goto { url, .. } => goto(&self.page, url).await?,
            Step::Click { target, timeout_ms, .. } => {
                let (x, y) = self.locate(target, *timeout_ms).await?;
                self.click(x, y).await?;
            }
            Step::Type { text, target, secret, timeout_ms, only_within, .. } => {
                if !target.is_empty() {
                    let (x, y) = self.locate(target, *timeout_ms).await?;
                    self.click(x, y).await?;
                }
                if self.mask_addresses && !*secret && text.contains('@') {
                    // The masking script cannot tell `alex.mo` from any other text; this
                    // field is about to hold an address, so it is masked from the first key.
                    self.mark_focused_field("address").await?;
                }
                for ch in text.chars() {
                    if *secret {
                        let host = self.mark_focused_field("secret").await?;
                        if let Some(domain) = only_within {
                            check_page_within(&host, domain)?;
                        }
                    }
                    let s = ch.to_string();
                    self.key(&s, &[], Some(&s), *secret).await?;
                    tokio::time::sleep(Duration::from_millis(45)).await;
                }
            }
            Step::Select { option, target, timeout_ms, .. } => {
                let (x, y) = self.locate(target, *timeout_ms).await?;
                self.choose(x, y, option).await?;
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
                self.note(Event::Scroll { x, y, dx: *dx, dy: *dy });
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            Step::Wait { target, timeout_ms, .. } => {
                self.locate(target, *timeout_ms).await?;
            }
            Step::Pause { ms, .. } => tokio::time::sleep(Duration::from_millis(*ms)).await,
            // The asking happens in `Capture::step`, outside the step's time limit.
            Step::Input { .. } => return Err("an input step needs a value".into()),
            // Signing in needs the run's credential: the act loop does it, never the driver.
            Step::SignIn { .. } => return Err("a sign-in step needs a credential (options.auth, or a saved default for the site)".into()),
        }
        Ok(())
    }

    /// Marks the field the next key goes to as holding a `kind` (`secret` or `address`),
    /// before the key is sent (a secret is never on screen, not even in a plain text
    /// field: a one-time code box), and answers the page's host name as it is right
    /// before the key.
    async fn mark_focused_field(&self, kind: &str) -> Result<String, String> {
        let script = format!("({MARK_FIELD_JS})({kind:?})");
        let answer = self.page.evaluate(script.as_str()).await.map_err(|e| format!("masking the field for a {kind}: {e}"))?;
        let answer = answer.into_value::<FieldMark>().unwrap_or_default();
        if answer.elsewhere {
            self.mark_in_other_frames(&script).await;
        }
        Ok(answer.host)
    }

    /// Runs the marking `script` in each of the page's frames but the top one: the focus
    /// is in a cross-origin frame, whose document the top page's script cannot reach (the
    /// browser keeps every frame in the page's process, so each has a context here). The
    /// frame holding the focus marks its field; the others do nothing. A frame that
    /// cannot be asked (gone meanwhile) is passed over: the key is still sent, as refusing
    /// would fail every sign-in through an embedded provider.
    async fn mark_in_other_frames(&self, script: &str) {
        use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
        let (Ok(main), Ok(frames)) = (self.page.mainframe().await, self.page.frames().await) else { return };
        for frame in frames.into_iter().filter(|frame| Some(frame) != main.as_ref()) {
            let Ok(Some(context)) = self.page.frame_execution_context(frame).await else { continue };
            if let Ok(params) = EvaluateParams::builder().expression(script).context_id(context).return_by_value(true).build() {
                let _ = self.page.execute(params).await;
            }
        }
    }

    /// Finds the target's element (scrolled into view) and answers its centre. The
    /// target's first way has the page to itself for a moment (a page still loading
    /// would otherwise let a looser fallback match something else); then every way is
    /// tried in order on each look.
    pub(super) async fn locate(&self, target: &steps::Target, timeout_ms: Option<u64>) -> Result<(f64, f64), String> {
        let scripts = target
            .ways()
            .map(|way| {
                let query = serde_json::json!({"selector": way.selector, "text": way.text, "role": way.role, "name": way.name});
                format!("({LOCATE_JS})({query})")
            })
            .collect::<Vec<_>>();
        let timeout = Duration::from_millis(timeout_ms.unwrap_or(steps::DEFAULT_TIMEOUT_MS));
        let first_alone = timeout.min(Duration::from_millis(FIRST_WAY_ALONE_MS));
        let started = std::time::Instant::now();
        loop {
            let tried = if started.elapsed() < first_alone { 1 } else { scripts.len() };
            for (way, script) in scripts[..tried].iter().enumerate() {
                if let Ok(result) = self.page.evaluate(script.as_str()).await
                    && let Ok(Some(point)) = result.into_value::<Option<[f64; 2]>>()
                {
                    if way > 0 {
                        *self.found_by_fallback.lock().unwrap() = target.ways().nth(way).map(steps::Target::describe);
                    }
                    // Give a smooth scroll into view time to settle.
                    tokio::time::sleep(Duration::from_millis(120)).await;
                    return Ok((point[0], point[1]));
                }
            }
            if self.crashed() {
                return Err("the page's renderer crashed".into());
            }
            if started.elapsed() >= timeout {
                return Err(match target.fallbacks.len() {
                    0 => format!("{} not found within {} ms", target.describe(), timeout.as_millis()),
                    _ => format!("not found within {} ms by any locator (tried {})", timeout.as_millis(), target.describe_all()),
                });
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

    /// Moves the pointer to `(x, y)`, noting the move and the cursor shape there.
    async fn point_at(&mut self, x: f64, y: f64) -> Result<(), String> {
        self.mouse(DispatchMouseEventType::MouseMoved, x, y).await?;
        self.note(Event::PointerMove { x, y });
        self.pointer = Some((x, y));
        self.report_cursor_shape(x, y).await;
        Ok(())
    }

    /// Chooses `option` in the drop-down at `(x, y)`. The choice is made through the
    /// element rather than its pop-up list: the list is a separate widget that the
    /// screencast does not show and that headless Chromium draws nowhere, so a click
    /// would only open something invisible. The page gets the events a person's choice
    /// fires (`input`, `change`), and the video a click where the drop-down is.
    async fn choose(&mut self, x: f64, y: f64, option: &str) -> Result<(), String> {
        self.point_at(x, y).await?;
        let script = format!("({CHOOSE_JS})({})", serde_json::json!([x, y, option]));
        let answer = self.page.evaluate(script.as_str()).await.map_err(|e| format!("choosing {option:?}: {e}"))?;
        let fault = answer.into_value::<String>().unwrap_or_else(|_| "the page answered nothing".into());
        if !fault.is_empty() {
            return Err(fault);
        }
        let t_ms = self.recorder.t_ms();
        self.note_at(t_ms, Event::Click { x, y, button: Button::Left });
        tokio::time::sleep(Duration::from_millis(120)).await;
        Ok(())
    }

    async fn click(&mut self, x: f64, y: f64) -> Result<(), String> {
        self.point_at(x, y).await?;
        self.mouse(DispatchMouseEventType::MousePressed, x, y).await?;
        self.note(Event::PointerDown { x, y, button: Button::Left });
        tokio::time::sleep(Duration::from_millis(60)).await;
        let released_epoch = now_epoch_ms();
        self.mouse(DispatchMouseEventType::MouseReleased, x, y).await?;
        // The click is placed where the page shows its reaction, not when the command
        // returned: a change that needs the page repainted reaches the screen (and the
        // screencast) two or three frames after the event was handled, and the click
        // effect must meet it.
        let t_ms = self.reaction_ms(released_epoch).await.unwrap_or_else(|| self.recorder.t_ms());
        self.note_at(t_ms, Event::PointerUp { x, y, button: Button::Left });
        self.note_at(t_ms, Event::Click { x, y, button: Button::Left });
        tokio::time::sleep(Duration::from_millis(60)).await;
        Ok(())
    }

    /// Recording time at which the page showed its reaction to a click released at
    /// `released_epoch` (wall-clock ms): the presentation time Chromium reports through
    /// the Event Timing API for reactions slower than a frame, else the page's next
    /// animation frame. The page's clock and the screencast's are the same wall clock.
    async fn reaction_ms(&self, released_epoch: f64) -> Option<f64> {
        let script = format!("({REACTION_JS})({released_epoch})");
        // A page in the background (another tab took the front) runs no animation frames.
        let evaluated = tokio::time::timeout(Duration::from_millis(400), self.page.evaluate(script.as_str())).await.ok()?;
        let [raf, presented] = evaluated.ok()?.into_value::<[Option<f64>; 2]>().ok()?;
        let epoch = presented.map(|p| p + SCREENCAST_AFTER_PRESENTATION_MS).or(raf)?;
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
            self.note(Event::CursorShape { shape });
        }
    }

    pub(super) async fn key(&self, key: &str, modifiers: &[Modifier], text: Option<&str>, secret: bool) -> Result<(), String> {
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
        self.note(Event::Key {
            key: recorded_key,
            code: recorded_code,
            modifiers: modifiers.to_vec(),
            text: if secret { None } else { text },
        });
        Ok(())
    }
}

/// Whether the page's `host` (read right before a key of a password) is `domain` or
/// within it: none of the password goes to a page that is elsewhere.
fn check_page_within(host: &str, domain: &str) -> Result<(), String> {
    if crate::steps::url::host_within(host, domain) {
        Ok(())
    } else {
        Err(format!("the page is at {host:?}, not on {domain}: the password was not typed there"))
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
