//! The step list: a deterministic workflow (documented in `docs/steps.md`), shared by
//! the capture that runs it, the planner that writes it and the API that accepts it.
//! Input: JSON. Output: typed [`Step`]s, or an error naming the step (`steps[3].action`).
//! Invariant: a parsed step list only holds steps the runner can attempt, and every URL
//! in it passed the one URL rule ([`url::check`]).

pub mod params;
pub mod sealed;
pub mod url;

use serde::Deserialize;
pub use url::Schemes;

/// How long a step looks for its element (or text) before it fails.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    Goto {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// Click an element found by CSS selector, by visible text, or by role + accessible name.
    Click {
        #[serde(flatten)]
        target: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Type text, into the element given (clicked first) or wherever the focus is.
    /// `secret` text (passwords, one-time codes) is typed but never recorded.
    Type {
        text: String,
        #[serde(flatten)]
        target: Target,
        #[serde(default)]
        secret: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
        /// Set by the sign-in on its password step (a `secret`), never from JSON: every
        /// key is typed only while the page is on this domain (or a subdomain), so a page
        /// that navigates away mid-typing gets no more of the password. The host is read
        /// with the secret's field masking, right before each key.
        #[serde(skip)]
        only_within: Option<String>,
    },
    /// Choose an option of a `<select>`: the one whose value is `option`, else the one
    /// whose visible text is.
    Select {
        option: String,
        #[serde(flatten)]
        target: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Press a key with modifiers: `{"key": "k", "modifiers": ["meta"]}`.
    Press {
        key: String,
        #[serde(default)]
        modifiers: Vec<crate::recording::Modifier>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    Scroll {
        #[serde(default)]
        dx: f64,
        dy: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// Wait until an element or a text is visible.
    Wait {
        #[serde(flatten)]
        target: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    Pause {
        ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// Wait for a value from a person (a one-time code: the runs API's input endpoint, or
    /// the terminal for `demoreel record`) and type it into the target as a secret. The
    /// wait is marked as awaiting input on the timeline and cut from demo.mp4.
    Input {
        prompt: String,
        #[serde(flatten)]
        target: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Sign in with the run's credential where the page asks for it: the login name,
    /// the password (typed only on the credential's domain), submit, and a one-time code
    /// if the product asks for one. Written by the workflow a demonstration makes, where
    /// the person (or the demonstration's identity) signed in; a step list run without a
    /// credential fails on it.
    SignIn {
        /// The identity (`POST /v1/identities`) to sign in with when the run names no
        /// credential of its own (`options.auth`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
}

/// How a step finds its element: one way (selector, text, or role + name), then the
/// `fallbacks` tried in order when it finds nothing, each one way too.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Other ways to find the same element, most robust first; a replay survives a page
    /// whose first way no longer matches (a renamed button, a changed class).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<Target>,
}

impl Target {
    pub fn is_empty(&self) -> bool {
        self.selector.is_none() && self.text.is_none() && self.role.is_none()
    }

    /// Each way to find the element, in the order they are tried.
    pub fn ways(&self) -> impl Iterator<Item = &Target> {
        std::iter::once(self).chain(self.fallbacks.iter())
    }

    /// Every way to find the element, for an error saying what was tried.
    pub fn describe_all(&self) -> String {
        self.ways().map(Target::describe).collect::<Vec<_>>().join(", then ")
    }

    pub fn describe(&self) -> String {
        match (&self.selector, &self.text, &self.role, &self.name) {
            (Some(s), ..) => format!("selector {s:?}"),
            (_, Some(t), ..) => format!("text {t:?}"),
            (_, _, Some(r), Some(n)) => format!("{r} {n:?}"),
            (_, _, Some(r), None) => format!("a {r}"),
            _ => "the focused element".into(),
        }
    }
}

impl Step {
    /// The longest a step may take before the recording gives up on it.
    pub fn time_limit_ms(&self) -> u64 {
        let own = match self {
            Step::Click { timeout_ms, .. }
            | Step::Type { timeout_ms, .. }
            | Step::Select { timeout_ms, .. }
            | Step::Wait { timeout_ms, .. }
            | Step::Input { timeout_ms, .. } => {
                timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)
            }
            Step::Pause { ms, .. } => *ms,
            Step::Goto { .. } => 30_000,
            // Three fields, a submit, and a one-time code's prompt (its wait is not limited).
            Step::SignIn { .. } => 4 * DEFAULT_TIMEOUT_MS,
            Step::Press { .. } | Step::Scroll { .. } => 0,
        };
        let typing = match self {
            Step::Type { text, .. } => 100 * text.chars().count() as u64,
            // A one-time code or similar; the wait for it is not limited here.
            Step::Input { .. } => 100 * 64,
            _ => 0,
        };
        own + typing + 15_000
    }

    /// What the step does, for `step_start` events and error messages (never the text
    /// of a secret).
    pub fn describe(&self) -> String {
        match self {
            Step::Goto { label: Some(l), .. }
            | Step::Click { label: Some(l), .. }
            | Step::Type { label: Some(l), .. }
            | Step::Select { label: Some(l), .. }
            | Step::Press { label: Some(l), .. }
            | Step::Scroll { label: Some(l), .. }
            | Step::Wait { label: Some(l), .. }
            | Step::Pause { label: Some(l), .. }
            | Step::Input { label: Some(l), .. }
            | Step::SignIn { label: Some(l), .. } => l.clone(),
            Step::Goto { url, .. } => format!("go to {url}"),
            Step::Click { target, .. } => format!("click {}", target.describe()),
            Step::Type { secret: true, target, .. } => format!("type a secret into {}", target.describe()),
            Step::Type { text, target, .. } => format!("type {text:?} into {}", target.describe()),
            Step::Select { option, target, .. } => format!("choose {option:?} in {}", target.describe()),
            Step::Press { key, modifiers, .. } => {
                crate::recording::chip_label(key, modifiers).unwrap_or_else(|| format!("press {key}"))
            }
            Step::Scroll { dx, dy, .. } => format!("scroll by ({dx}, {dy})"),
            Step::Wait { target, .. } => format!("wait for {}", target.describe()),
            Step::Pause { ms, .. } => format!("pause {ms} ms"),
            Step::Input { prompt, target, .. } => format!("ask for {prompt:?} and type it into {}", target.describe()),
            Step::SignIn { label: None, .. } => "sign in".into(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{field}: {message}")]
pub struct StepsError {
    pub field: String,
    pub message: String,
}

/// Parses `[...]` or `{"steps": [...]}` for a local recording (`goto` may open a file).
pub fn parse(value: &serde_json::Value) -> Result<Vec<Step>, StepsError> {
    parse_with(value, Schemes::WebAndFile)
}

/// Parses a step list whose `goto` steps may use only `schemes`.
pub fn parse_with(value: &serde_json::Value, schemes: Schemes) -> Result<Vec<Step>, StepsError> {
    let list = match value {
        serde_json::Value::Array(list) => list,
        serde_json::Value::Object(map) => match map.get("steps") {
            Some(serde_json::Value::Array(list)) => list,
            _ => return Err(StepsError { field: "steps".into(), message: "must be a list of steps".into() }),
        },
        _ => return Err(StepsError { field: "steps".into(), message: "must be a list of steps".into() }),
    };
    if list.len() > MAX_STEPS {
        return Err(StepsError { field: "steps".into(), message: format!("must be at most {MAX_STEPS} steps, not {}", list.len()) });
    }
    let mut steps = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let step: Step = serde_json::from_value(item.clone())
            .map_err(|e| StepsError { field: format!("steps[{i}]"), message: e.to_string() })?;
        check_bounds(&step).map_err(|(field, message)| StepsError { field: format!("steps[{i}].{field}"), message })?;
        let target = match &step {
            Step::Click { target, .. } | Step::Wait { target, .. } | Step::Input { target, .. } | Step::Select { target, .. } => Some((target, true)),
            Step::Type { target, .. } => Some((target, false)),
            _ => None,
        };
        if let Some((target, required)) = target {
            check_target(target, required).map_err(|(field, message)| StepsError { field: format!("steps[{i}]{field}"), message })?;
        }
        if let Step::Input { prompt, .. } = &step
            && prompt.trim().is_empty()
        {
            return Err(StepsError { field: format!("steps[{i}].prompt"), message: "must not be empty".into() });
        }
        if let Step::Goto { url, .. } = &step {
            url::check(url, schemes).map_err(|message| StepsError { field: format!("steps[{i}].url"), message })?;
        }
        steps.push(step);
    }
    Ok(steps)
}

/// At most this many fallbacks for one element.
pub const MAX_FALLBACKS: usize = 6;

/// One way to find the element (or none, where the focus will do), and fallbacks that
/// are each exactly one way: `(".fallbacks[1].name", message)` for the first fault.
fn check_target(target: &Target, required: bool) -> Result<(), (String, String)> {
    let one_way = |way: &Target, required: bool, at: String| {
        let ways = [way.selector.is_some(), way.text.is_some(), way.role.is_some()].iter().filter(|&&w| w).count();
        if ways > 1 {
            return Err((at, "give one of selector, text or role".to_string()));
        }
        if required && ways == 0 {
            return Err((at, "needs a selector, a text or a role".to_string()));
        }
        if way.name.is_some() && way.role.is_none() {
            return Err((format!("{at}.name"), "goes with role".to_string()));
        }
        Ok(())
    };
    one_way(target, required || !target.fallbacks.is_empty(), String::new())?;
    if target.fallbacks.len() > MAX_FALLBACKS {
        return Err((".fallbacks".into(), format!("must be at most {MAX_FALLBACKS}, not {}", target.fallbacks.len())));
    }
    for (n, fallback) in target.fallbacks.iter().enumerate() {
        if !fallback.fallbacks.is_empty() {
            return Err((format!(".fallbacks[{n}].fallbacks"), "a fallback has no fallbacks of its own".into()));
        }
        one_way(fallback, true, format!(".fallbacks[{n}]"))?;
    }
    Ok(())
}

/// At most this many steps in one list.
pub const MAX_STEPS: usize = 500;
/// The longest a pause or a step's own time limit may be.
pub const MAX_WAIT_MS: u64 = 120_000;
/// The most characters a `type` step may type.
pub const MAX_TYPED_CHARS: usize = 10_000;
/// The most characters of a selector, a text or role to find, a name, a label, a key or
/// a prompt.
pub const MAX_FIELD_CHARS: usize = 1_000;

/// Bounds on one step's values, so that no step list can hold a browser for long:
/// `(field, message)` for the first value out of bounds.
fn check_bounds(step: &Step) -> Result<(), (&'static str, String)> {
    let wait = |field: &'static str, ms: Option<u64>| match ms {
        Some(ms) if ms > MAX_WAIT_MS => Err((field, format!("must be at most {MAX_WAIT_MS} ms, not {ms}"))),
        _ => Ok(()),
    };
    let chars = |field: &'static str, text: Option<&String>, max: usize| match text {
        Some(text) if text.chars().count() > max => Err((field, format!("must be at most {max} characters"))),
        _ => Ok(()),
    };
    let target = |target: &Target| -> Result<(), (&'static str, String)> {
        for way in target.ways() {
            chars("selector", way.selector.as_ref(), MAX_FIELD_CHARS)?;
            chars("text", way.text.as_ref(), MAX_FIELD_CHARS)?;
            chars("role", way.role.as_ref(), MAX_FIELD_CHARS)?;
            chars("name", way.name.as_ref(), MAX_FIELD_CHARS)?;
        }
        Ok(())
    };
    match step {
        Step::Goto { label, .. } | Step::Scroll { label, .. } => chars("label", label.as_ref(), MAX_FIELD_CHARS),
        Step::SignIn { label, identity_id } => {
            if identity_id.as_deref().is_some_and(|id| uuid::Uuid::parse_str(id).is_err()) {
                return Err(("identity_id", "must be the id of an identity".into()));
            }
            chars("label", label.as_ref(), MAX_FIELD_CHARS)
        }
        Step::Click { target: t, label, timeout_ms } | Step::Wait { target: t, label, timeout_ms } => {
            target(t)?;
            chars("label", label.as_ref(), MAX_FIELD_CHARS)?;
            wait("timeout_ms", *timeout_ms)
        }
        Step::Type { text, target: t, label, timeout_ms, .. } => {
            chars("text", Some(text), MAX_TYPED_CHARS)?;
            target(t)?;
            chars("label", label.as_ref(), MAX_FIELD_CHARS)?;
            wait("timeout_ms", *timeout_ms)
        }
        Step::Select { option, target: t, label, timeout_ms } => {
            chars("option", Some(option), MAX_FIELD_CHARS)?;
            target(t)?;
            chars("label", label.as_ref(), MAX_FIELD_CHARS)?;
            wait("timeout_ms", *timeout_ms)
        }
        Step::Input { prompt, target: t, label, timeout_ms } => {
            chars("prompt", Some(prompt), MAX_FIELD_CHARS)?;
            target(t)?;
            chars("label", label.as_ref(), MAX_FIELD_CHARS)?;
            wait("timeout_ms", *timeout_ms)
        }
        Step::Press { key, label, .. } => {
            chars("key", Some(key), 64)?;
            chars("label", label.as_ref(), MAX_FIELD_CHARS)
        }
        Step::Pause { ms, label } => {
            wait("ms", Some(*ms))?;
            chars("label", label.as_ref(), MAX_FIELD_CHARS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_parse_and_errors_name_the_step() {
        let steps = parse(&json!([
            {"action": "goto", "url": "http://localhost:1/"},
            {"action": "click", "role": "button", "name": "New project"},
            {"action": "type", "text": "hunter2", "selector": "#password", "secret": true},
            {"action": "press", "key": "k", "modifiers": ["meta"]}
        ]))
        .unwrap();
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[2].describe(), "type a secret into selector \"#password\"");
        assert_eq!(steps[3].describe(), "⌘K");
        assert_eq!(parse(&json!([{"action": "hover"}])).unwrap_err().field, "steps[0]");
        assert_eq!(parse(&json!([{"action": "click"}])).unwrap_err().field, "steps[0]");
        assert_eq!(parse(&json!([{"action": "goto", "url": "localhost"}])).unwrap_err().field, "steps[0].url");
        let fallbacks = parse(&json!([{"action": "click", "role": "button", "name": "Create", "fallbacks": [{"text": "Create"}, {"selector": "#create"}]}, {"action": "sign_in"}])).unwrap();
        let Step::Click { target, .. } = &fallbacks[0] else { panic!("{fallbacks:?}") };
        assert_eq!(target.describe_all(), "button \"Create\", then text \"Create\", then selector \"#create\"");
        assert_eq!(fallbacks[1].describe(), "sign in");
        assert_eq!(parse(&json!([{"action": "click", "text": "A", "fallbacks": [{"text": "B", "selector": "#b"}]}])).unwrap_err().field, "steps[0].fallbacks[0]");
        assert_eq!(parse(&json!([{"action": "click", "text": "A", "fallbacks": [{"text": "B", "fallbacks": [{"text": "C"}]}]}])).unwrap_err().field, "steps[0].fallbacks[0].fallbacks");
        assert_eq!(parse(&json!([{"action": "type", "text": "x", "fallbacks": [{"text": "B"}]}])).unwrap_err().field, "steps[0]", "fallbacks need a first way");
    }

    #[test]
    fn no_step_list_can_hold_a_browser_for_long() {
        let field = |value: serde_json::Value| parse(&value).unwrap_err().field;
        assert_eq!(field(json!([{"action": "pause", "ms": 1}, {"action": "pause", "ms": 31_536_000_000u64}])), "steps[1].ms");
        assert_eq!(field(json!([{"action": "wait", "text": "Done", "timeout_ms": 120_001}])), "steps[0].timeout_ms");
        assert_eq!(field(json!([{"action": "type", "text": "x".repeat(MAX_TYPED_CHARS + 1)}])), "steps[0].text");
        assert_eq!(field(json!([{"action": "click", "selector": "a".repeat(MAX_FIELD_CHARS + 1)}])), "steps[0].selector");
        assert_eq!(field(json!(vec![json!({"action": "pause", "ms": 1}); MAX_STEPS + 1])), "steps");
        assert!(parse(&json!([{"action": "pause", "ms": MAX_WAIT_MS}, {"action": "type", "text": "x".repeat(MAX_TYPED_CHARS)}])).is_ok());
    }
}
