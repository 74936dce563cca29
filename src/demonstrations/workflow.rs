//! A demonstration's timeline made into a workflow. Input: the start URL and the timeline
//! of a person-driven recording (clicks and fills with what each element looked like,
//! keys, scrolls). Output: steps in the step schema (`docs/steps.md`) and the parameters
//! the typed values declare. Invariant: no secret becomes a value (a password or
//! one-time-code field becomes an `input` step); each element is found by the most
//! robust locator it offered (role + accessible name, then test id, id, text, CSS).

use crate::recording::{Action, ElementRef, Event, Modifier, TimedEvent};
use crate::steps::{Step, Target};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parameter {
    pub name: String,
    /// `email`, `text`, `number`, `date` or `choice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value the person typed.
    pub example: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub steps: Vec<Step>,
    pub parameters: Vec<Parameter>,
}

/// Roles the step schema's `role` locator finds by accessible name.
const NAMED_ROLES: [&str; 10] = ["button", "link", "textbox", "checkbox", "radio", "tab", "menuitem", "option", "combobox", "searchbox"];

/// The most robust way to find `element` again.
pub fn locate(element: &ElementRef) -> Target {
    let none = Target::default();
    if NAMED_ROLES.contains(&element.role.as_str()) && !element.name.is_empty() {
        return Target { role: Some(element.role.clone()), name: Some(element.name.clone()), ..none };
    }
    if !element.test_id.is_empty() {
        return Target { selector: Some(format!("[data-testid=\"{}\"]", element.test_id.replace('"', "\\\""))), ..none };
    }
    if !element.id.is_empty() && element.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Target { selector: Some(format!("#{}", element.id)), ..none };
    }
    if !element.name.is_empty() && !matches!(element.kind.as_str(), "textarea" | "select") && element.role != "textbox" {
        return Target { text: Some(element.name.clone()), ..none };
    }
    Target { selector: (!element.css.is_empty()).then(|| element.css.clone()), ..none }
}

/// One action of the person, before steps are made of it.
enum Act<'a> {
    Click(&'a ElementRef),
    Fill { element: &'a ElementRef, value: Option<&'a str> },
    Press { key: &'a str, modifiers: &'a [Modifier] },
    Scroll { dx: f64, dy: f64 },
}

/// Keys worth a step of their own: ones that submit or dismiss, and shortcuts. Other
/// keys typed into a field are in its fill.
fn pressed(key: &str, modifiers: &[Modifier]) -> bool {
    let commanding = modifiers.iter().any(|m| matches!(m, Modifier::Ctrl | Modifier::Meta | Modifier::Alt));
    key != "•" && (commanding || matches!(key, "Enter" | "Escape"))
}

fn acts(events: &[TimedEvent]) -> Vec<Act<'_>> {
    let mut acts: Vec<Act> = Vec::new();
    for timed in events {
        let act = match &timed.event {
            Event::Acted { action: Action::Click, element, .. } => Act::Click(element),
            Event::Acted { action: Action::Fill, element, value, secret } => Act::Fill { element, value: if *secret { None } else { value.as_deref() } },
            Event::Key { key, modifiers, .. } if pressed(key, modifiers) => Act::Press { key, modifiers },
            Event::Scroll { dx, dy, .. } => Act::Scroll { dx: *dx, dy: *dy },
            _ => continue,
        };
        // Repeats fold: a field filled again keeps its last value, a scroll adds up.
        match (acts.last_mut(), &act) {
            (Some(Act::Fill { element: before, value }), Act::Fill { element, value: now }) if before.css == element.css => *value = *now,
            (Some(Act::Scroll { dx, dy }), Act::Scroll { dx: more_x, dy: more_y }) => {
                *dx += more_x;
                *dy += more_y;
            }
            _ => acts.push(act),
        }
    }
    acts
}

/// The workflow a person demonstrated from `start_url`.
pub fn from_timeline(start_url: &str, events: &[TimedEvent]) -> Workflow {
    let acts = acts(events);
    let mut steps = vec![Step::Goto { url: start_url.to_string(), label: None }];
    let mut parameters: Vec<Parameter> = Vec::new();
    for (index, act) in acts.iter().enumerate() {
        match act {
            // A click that only put the focus in the field filled next is part of the fill.
            Act::Click(element) if matches!(acts.get(index + 1), Some(Act::Fill { element: next, .. }) if next.css == element.css) => {}
            Act::Click(element) => steps.push(Step::Click { target: locate(element), label: None, timeout_ms: None }),
            Act::Fill { element, value: None } => {
                let prompt = if element.name.is_empty() { "the secret value".to_string() } else { element.name.clone() };
                steps.push(Step::Input { prompt, target: locate(element), label: None, timeout_ms: None });
            }
            Act::Fill { element, value: Some(value) } => {
                parameters.push(parameter(element, value, &parameters));
                steps.push(Step::Type { text: value.to_string(), target: locate(element), secret: false, label: None, timeout_ms: None, only_within: None });
            }
            Act::Press { key, modifiers } => steps.push(Step::Press { key: key.to_string(), modifiers: modifiers.to_vec(), label: None }),
            // A nudge of the wheel is not a step.
            Act::Scroll { dx, dy } if dx.abs() + dy.abs() >= 100.0 => steps.push(Step::Scroll { dx: *dx, dy: *dy, label: None }),
            Act::Scroll { .. } => {}
        }
    }
    Workflow { steps, parameters }
}

/// The parameter a typed value declares: named after the field (its label, placeholder
/// or name), typed after the input, unique within the workflow.
fn parameter(element: &ElementRef, value: &str, taken: &[Parameter]) -> Parameter {
    let source = [&element.label, &element.name, &element.id].into_iter().find(|s| !s.is_empty()).map(String::as_str).unwrap_or("value");
    let base: String = source
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(4)
        .collect::<Vec<_>>()
        .join("_");
    let base = if base.is_empty() { "value".to_string() } else { base };
    let mut name = base.clone();
    let mut n = 2;
    while taken.iter().any(|p| p.name == name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    let kind = match element.kind.as_str() {
        "email" => "email",
        "number" | "range" => "number",
        "date" | "datetime-local" | "month" | "week" | "time" => "date",
        "select" => "choice",
        _ => "text",
    };
    Parameter { name, kind: kind.to_string(), example: value.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(role: &str, name: &str, css: &str, kind: &str) -> ElementRef {
        ElementRef { role: role.into(), name: name.into(), label: name.into(), css: css.into(), kind: kind.into(), ..ElementRef::default() }
    }

    fn at(t_ms: f64, event: Event) -> TimedEvent {
        TimedEvent { t_ms, event }
    }

    #[test]
    fn clicks_and_fills_become_steps_found_by_role_and_name_with_secrets_asked_for() {
        let email = element("textbox", "Work email", "#email", "email");
        let password = element("textbox", "Password", "#password", "password");
        let events = vec![
            at(1.0, Event::Acted { action: Action::Click, element: email.clone(), value: None, secret: false }),
            at(2.0, Event::Acted { action: Action::Fill, element: email.clone(), value: Some("a@b.c".into()), secret: false }),
            at(3.0, Event::Acted { action: Action::Fill, element: email.clone(), value: Some("ada@example.com".into()), secret: false }),
            at(4.0, Event::Acted { action: Action::Fill, element: password.clone(), value: None, secret: true }),
            at(5.0, Event::Key { key: "Enter".into(), code: "Enter".into(), modifiers: vec![], text: None }),
            at(6.0, Event::Scroll { x: 0.0, y: 0.0, dx: 0.0, dy: 80.0 }),
            at(6.1, Event::Scroll { x: 0.0, y: 0.0, dx: 0.0, dy: 80.0 }),
            at(7.0, Event::Acted { action: Action::Click, element: element("button", "Sign in", "form > button", "button"), value: None, secret: false }),
        ];
        let workflow = from_timeline("http://app.test/", &events);
        let steps = serde_json::to_value(&workflow.steps).unwrap();
        assert_eq!(
            steps,
            serde_json::json!([
                {"action": "goto", "url": "http://app.test/"},
                {"action": "type", "text": "ada@example.com", "role": "textbox", "name": "Work email", "secret": false},
                {"action": "input", "prompt": "Password", "role": "textbox", "name": "Password"},
                {"action": "press", "key": "Enter", "modifiers": []},
                {"action": "scroll", "dx": 0.0, "dy": 160.0},
                {"action": "click", "role": "button", "name": "Sign in"},
            ])
        );
        assert_eq!(workflow.parameters, vec![Parameter { name: "work_email".into(), kind: "email".into(), example: "ada@example.com".into() }]);
        assert!(!steps.to_string().contains("a@b.c"), "an earlier value of a field is not kept");
    }

    #[test]
    fn an_element_without_a_name_is_found_by_test_id_then_id_then_css() {
        let mut bare = element("", "", "main > div:nth-of-type(2)", "div");
        assert_eq!(locate(&bare).selector.as_deref(), Some("main > div:nth-of-type(2)"));
        bare.id = "card-3".into();
        assert_eq!(locate(&bare).selector.as_deref(), Some("#card-3"));
        bare.test_id = "plan \"pro\"".into();
        assert_eq!(locate(&bare).selector.as_deref(), Some("[data-testid=\"plan \\\"pro\\\"\"]"));
    }
}
