//! Goal → actions, without any external service. Input: the run's goal and, at each
//! iteration, a [`PageView`] of what the page offers (roles, accessible names, labels,
//! placeholders). Output: steps of the step schema (`docs/steps.md`) that the capture
//! runs, and a verdict per clause. Invariant: every clause either ends with its success
//! check met, or fails naming the clause; the planner never guesses past a clause it
//! cannot match.
//!
//! [`Planner`] is the interface the runner uses; [`RulePlanner`] the built-in one. A
//! model-backed planner implements the same trait.

pub mod act;

use crate::steps::{Step, Target};
use crate::recording::Modifier;
use serde::{Deserialize, Serialize};

/// Reads the page for a planner; run in the page's main world (read-only).
pub const OBSERVE_JS: &str = include_str!("observe.js");

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct PageView {
    pub url: String,
    pub title: String,
    pub headings: Vec<String>,
    pub dialog_open: bool,
    pub elements: Vec<Element>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Element {
    pub role: String,
    pub name: String,
    pub label: String,
    pub tag: String,
    pub input_type: String,
    pub autocomplete: String,
    pub field_name: String,
    pub placeholder: String,
    pub required: bool,
    pub empty: bool,
    pub in_dialog: bool,
    pub form: i64,
    pub selector: String,
}

impl Element {
    fn is_field(&self) -> bool {
        matches!(self.tag.as_str(), "input" | "textarea") && !matches!(self.input_type.as_str(), "button" | "submit" | "checkbox" | "radio" | "reset")
    }

    fn words(&self) -> String {
        format!("{} {} {} {}", self.name, self.label, self.placeholder, self.field_name).to_lowercase()
    }

    /// A one-time-code field: `autocomplete=one-time-code`, or labelled code / OTP / verification.
    pub fn is_one_time_code(&self) -> bool {
        self.is_field()
            && (self.autocomplete.contains("one-time-code") || {
                let w = self.words();
                w.contains("one-time") || w.contains("otp") || w.contains("verification") || w.split(|c: char| !c.is_alphanumeric()).any(|t| t == "code")
            })
    }

    pub fn is_password(&self) -> bool {
        self.input_type == "password"
    }

    pub fn is_login_name(&self) -> bool {
        self.is_field()
            && (self.input_type == "email"
                || self.autocomplete.contains("username")
                || self.autocomplete.contains("email")
                || ["email", "e-mail", "username", "user name", "login"].iter().any(|w| self.words().contains(w)))
    }

    fn target(&self) -> Target {
        Target { selector: Some(self.selector.clone()), ..Default::default() }
    }
}

/// What a clause asks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    SignIn,
    /// Create a new `thing` (click its New/Create/Add control, fill the form, submit).
    Create { thing: String },
    /// Go to a page or control named by `words`.
    Open { words: Vec<String> },
    /// Press a key combination (default ⌘K, the usual command palette).
    Shortcut { key: String, modifiers: Vec<Modifier> },
    Scroll { down: bool },
}

#[derive(Debug, Clone, Serialize)]
pub struct Clause {
    pub text: String,
    pub intent: Intent,
    /// What must be true afterwards, in words (plan.json).
    pub success: String,
}

/// What to do next for a clause.
#[derive(Debug, Clone)]
pub enum Next {
    Do(Vec<Step>),
    Done,
    Fail(String),
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("cannot understand {clause:?}: {reason}")]
pub struct GoalError {
    pub clause: String,
    pub reason: String,
}

pub trait Planner: Send + Sync {
    /// Splits the goal into clauses with intents and success criteria.
    fn normalize(&self, goal: &str) -> Result<Vec<Clause>, GoalError>;
    /// The next actions for `clause`, given the page now and the actions already taken
    /// for it (one list per earlier iteration).
    fn next(&self, clause: &Clause, view: &PageView, done: &[Vec<Step>]) -> Next;
}

/// The built-in planner: keyword rules over clauses, matching on the page's roles and names.
pub struct RulePlanner;

const STOP_WORDS: [&str; 16] =
    ["the", "a", "an", "to", "page", "screen", "tab", "view", "section", "go", "open", "navigate", "visit", "show", "then", "and"];

fn words(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

fn split_clauses(goal: &str) -> Vec<String> {
    let mut text = goal.replace(['\n', ';'], ",").replace(". ", ", ");
    for joiner in [", and then ", " and then ", ", then ", " then ", ", and ", " and "] {
        text = text.replace(joiner, ",");
    }
    text.split(',').map(|c| c.trim().trim_end_matches('.').trim().to_string()).filter(|c| !c.is_empty()).collect()
}

/// `⌘K`, `cmd+k`, `ctrl+shift+p` … → (key, modifiers).
fn parse_combo(clause: &str) -> Option<(String, Vec<Modifier>)> {
    let lower = clause.to_lowercase().replace('⌘', "cmd+").replace('⌃', "ctrl+").replace('⌥', "alt+").replace('⇧', "shift+");
    let token = lower.split_whitespace().find(|t| t.contains('+'))?;
    let mut modifiers = Vec::new();
    let mut key = None;
    for part in token.split('+').filter(|p| !p.is_empty()) {
        match part {
            "cmd" | "command" | "meta" => modifiers.push(Modifier::Meta),
            "ctrl" | "control" => modifiers.push(Modifier::Ctrl),
            "alt" | "option" => modifiers.push(Modifier::Alt),
            "shift" => modifiers.push(Modifier::Shift),
            other => key = Some(other.trim_matches(|c: char| !c.is_alphanumeric()).to_string()),
        }
    }
    let key = key.filter(|k| !k.is_empty())?;
    Some((if key.chars().count() == 1 { key } else { capitalize(&key) }, modifiers))
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn classify(clause: &str) -> Option<(Intent, String)> {
    let lower = clause.to_lowercase();
    let w = words(clause);
    let has = |word: &str| w.iter().any(|x| x == word);
    if lower.contains("sign in") || lower.contains("log in") || has("login") || lower.contains("sign-in") {
        return Some((Intent::SignIn, "signed in: no sign-in form is left on the page".into()));
    }
    if lower.contains("shortcut") || lower.contains("palette") || parse_combo(clause).is_some() {
        let (key, modifiers) = parse_combo(clause).unwrap_or(("k".into(), vec![Modifier::Meta]));
        let label = crate::recording::chip_label(&key, &modifiers).unwrap_or_else(|| key.clone());
        return Some((Intent::Shortcut { key, modifiers }, format!("{label} pressed and a dialog or palette opened")));
    }
    if has("create") || has("add") || has("new") {
        let thing: Vec<String> = w
            .iter()
            .skip_while(|x| !["create", "add", "new"].contains(&x.as_str()))
            .filter(|x| !["create", "add", "new", "a", "an", "the", "another"].contains(&x.as_str()))
            .take(3)
            .cloned()
            .collect();
        let thing = thing.join(" ");
        if thing.is_empty() {
            return None;
        }
        return Some((Intent::Create { thing: thing.clone() }, format!("a new {thing} exists: its dialog was submitted and closed")));
    }
    if has("scroll") {
        let down = !has("up");
        return Some((Intent::Scroll { down }, format!("the page scrolled {}", if down { "down" } else { "up" })));
    }
    if ["open", "go", "navigate", "visit", "view", "show", "click", "switch"].iter().any(|v| has(v)) {
        let target: Vec<String> = w.into_iter().filter(|x| !STOP_WORDS.contains(&x.as_str()) && x != "click" && x != "switch" && x != "on").collect();
        if target.is_empty() {
            return None;
        }
        let success = format!("the page shows {:?} (URL, title or heading)", target.join(" "));
        return Some((Intent::Open { words: target }, success));
    }
    None
}

/// Values a person would type into a new record's fields.
fn plausible_value(field: &Element, thing: &str) -> Option<String> {
    let w = field.words();
    let value = match field.input_type.as_str() {
        "email" => "alex.morgan@example.com".to_string(),
        "url" => "https://example.com".to_string(),
        "tel" => "+1 555 0100".to_string(),
        "number" => "3".to_string(),
        "date" => "2026-12-01".to_string(),
        "password" => return None,
        _ if w.contains("email") => "alex.morgan@example.com".to_string(),
        _ if field.tag == "textarea" || w.contains("description") => format!("A {thing} for the quarterly launch."),
        _ if w.contains("name") || w.contains("title") => format!("Q4 launch {}", thing.split(' ').next().unwrap_or(thing)),
        _ => "Demo".to_string(),
    };
    Some(value)
}

fn name_matches(element: &Element, wanted: &[String]) -> usize {
    let name = words(&element.name);
    wanted.iter().filter(|w| name.iter().any(|n| n == *w || (w.len() > 3 && n.contains(w.as_str())))).count()
}

impl Planner for RulePlanner {
    fn normalize(&self, goal: &str) -> Result<Vec<Clause>, GoalError> {
        let clauses = split_clauses(goal);
        if clauses.is_empty() {
            return Err(GoalError { clause: goal.to_string(), reason: "the goal is empty".into() });
        }
        clauses
            .into_iter()
            .map(|text| match classify(&text) {
                Some((intent, success)) => Ok(Clause { text, intent, success }),
                None => Err(GoalError {
                    reason: "no rule matches it (the built-in planner understands: sign in, create/add a new …, open/go to …, press ⌘K / a shortcut, scroll)".into(),
                    clause: text,
                }),
            })
            .collect()
    }

    /// The next actions for `clause` on the page `view` shows (long because each intent's
    /// rule is a few lines, and they read best side by side in one match).
    fn next(&self, clause: &Clause, view: &PageView, done: &[Vec<Step>]) -> Next {
        // While a dialog is open, what is in it is what a person can reach.
        let reachable = |e: &&Element| !view.dialog_open || e.in_dialog;
        match &clause.intent {
            // Signing in needs the run's credential; the runner does it.
            Intent::SignIn => Next::Done,
            Intent::Scroll { down } if done.is_empty() => Next::Do(vec![Step::Scroll { dx: 0.0, dy: if *down { 600.0 } else { -600.0 }, label: None }]),
            Intent::Scroll { .. } => Next::Done,
            Intent::Shortcut { key, modifiers } => match done.len() {
                0 => Next::Do(vec![
                    Step::Press { key: key.clone(), modifiers: modifiers.clone(), label: None },
                    Step::Pause { ms: 400, label: None },
                ]),
                _ if view.dialog_open => Next::Done,
                // ⌘ on a Mac is Ctrl elsewhere: try that once.
                1 if modifiers.contains(&Modifier::Meta) => {
                    let other: Vec<Modifier> = modifiers.iter().map(|m| if *m == Modifier::Meta { Modifier::Ctrl } else { *m }).collect();
                    Next::Do(vec![Step::Press { key: key.clone(), modifiers: other, label: None }, Step::Pause { ms: 400, label: None }])
                }
                _ => Next::Fail("the shortcut opened nothing".into()),
            },
            Intent::Open { words: wanted } => {
                let here = format!("{} {} {}", view.url, view.title, view.headings.join(" ")).to_lowercase();
                let arrived = wanted.iter().any(|w| here.contains(w.as_str()));
                if !done.is_empty() {
                    return if arrived { Next::Done } else { Next::Fail(format!("after the click the page does not show {:?}", wanted.join(" "))) };
                }
                let best = view
                    .elements
                    .iter()
                    .filter(reachable)
                    .filter(|e| matches!(e.role.as_str(), "link" | "button" | "tab" | "option" | "menuitem"))
                    .map(|e| (name_matches(e, wanted), e))
                    .filter(|(score, _)| *score > 0)
                    .max_by_key(|(score, e)| (*score, e.in_dialog, usize::MAX - e.name.len()));
                match best {
                    Some((_, element)) => Next::Do(vec![
                        Step::Click { target: element.target(), label: Some(format!("click {:?}", element.name)), timeout_ms: None },
                        Step::Pause { ms: 900, label: None },
                    ]),
                    None if arrived => Next::Done,
                    None => Next::Fail(format!("no link, button or tab on the page is named like {:?}", wanted.join(" "))),
                }
            }
            Intent::Create { thing } => {
                let thing_words = words(thing);
                match done.len() {
                    0 => {
                        let opener = view.elements.iter().filter(reachable).filter(|e| matches!(e.role.as_str(), "button" | "link" | "menuitem")).find(|e| {
                            let name = words(&e.name);
                            name.iter().any(|n| ["new", "create", "add"].contains(&n.as_str()))
                                && (thing_words.iter().any(|t| name.contains(t)) || name.len() <= 2)
                        });
                        match opener {
                            Some(e) => Next::Do(vec![
                                Step::Click { target: e.target(), label: Some(format!("click {:?}", e.name)), timeout_ms: None },
                                Step::Pause { ms: 500, label: None },
                            ]),
                            None => Next::Fail(format!("no New/Create/Add control for {thing:?} on the page")),
                        }
                    }
                    1 => {
                        let fields: Vec<&Element> = view.elements.iter().filter(reachable).filter(|e| e.is_field() && e.empty).collect();
                        let to_fill: Vec<&&Element> = fields.iter().filter(|e| e.required).collect();
                        if to_fill.is_empty() && fields.is_empty() {
                            return Next::Fail("no form appeared to fill".into());
                        }
                        let mut steps: Vec<Step> = Vec::new();
                        for field in to_fill {
                            if let Some(text) = plausible_value(field, thing) {
                                let label = format!("type into {:?}", if field.name.is_empty() { &field.selector } else { &field.name });
                                steps.push(Step::Type { text, target: field.target(), secret: false, label: Some(label), timeout_ms: None, only_within: None });
                            }
                        }
                        let submit = view.elements.iter().filter(reachable).filter(|e| e.role == "button").find(|e| {
                            (e.input_type == "submit" || e.tag == "button" && e.input_type.is_empty() && e.form >= 0)
                                && words(&e.name).iter().any(|n| ["create", "save", "add", "submit", "done", "ok", "continue"].contains(&n.as_str()))
                        });
                        match submit {
                            Some(button) => {
                                steps.push(Step::Click { target: button.target(), label: Some(format!("click {:?}", button.name)), timeout_ms: None });
                                steps.push(Step::Pause { ms: 900, label: None });
                                Next::Do(steps)
                            }
                            None => Next::Fail("the form has no Create/Save/Submit button".into()),
                        }
                    }
                    _ if view.dialog_open => Next::Fail("the form is still open after submitting (a field was refused?)".into()),
                    _ => Next::Done,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_split_into_clauses_with_intents() {
        let clauses = RulePlanner.normalize("Sign in, create a new project, press ⌘K to open the command palette and open the analytics dashboard").unwrap();
        let intents: Vec<&Intent> = clauses.iter().map(|c| &c.intent).collect();
        assert_eq!(intents[0], &Intent::SignIn);
        assert_eq!(intents[1], &Intent::Create { thing: "project".into() });
        assert_eq!(intents[2], &Intent::Shortcut { key: "k".into(), modifiers: vec![Modifier::Meta] });
        assert_eq!(intents[3], &Intent::Open { words: vec!["analytics".into(), "dashboard".into()] });
        let error = RulePlanner.normalize("Open settings and dance a little").unwrap_err();
        assert_eq!(error.clause, "dance a little");
        assert!(parse_combo("use ctrl+shift+p").is_some_and(|(k, m)| k == "p" && m == [Modifier::Ctrl, Modifier::Shift]));
    }

    #[test]
    fn open_prefers_what_an_open_dialog_offers() {
        let link = |name: &str, in_dialog: bool, role: &str| Element { role: role.into(), name: name.into(), in_dialog, selector: format!("#{}", name.replace(' ', "-")), ..Default::default() };
        let view = PageView {
            dialog_open: true,
            elements: vec![link("Analytics", false, "link"), link("Go to Analytics Navigation", true, "option")],
            ..Default::default()
        };
        let clause = &RulePlanner.normalize("open the analytics dashboard").unwrap()[0];
        match RulePlanner.next(clause, &view, &[]) {
            Next::Do(steps) => assert!(matches!(&steps[0], Step::Click { target, .. } if target.selector.as_deref() == Some("#Go-to-Analytics-Navigation"))),
            other => panic!("{other:?}"),
        }
    }
}
