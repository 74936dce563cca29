//! A demonstration's timeline made into a workflow. Input: the start URL and the timeline
//! of a person-driven recording (clicks and fills with what each element looked like,
//! keys, scrolls, navigations). Output: steps in the step schema (`docs/steps.md`) and
//! the parameters the typed values declare (each typed value becomes a `{{name}}`
//! placeholder a replay fills). Invariant: no secret becomes a value: a sign-in (a login
//! name, a password, its submit and a one-time code) becomes one `sign_in` step that a
//! replay does with its own credential, any other secret field an `input` step; noise
//! (focus clicks, clicks on nothing, small scrolls) makes no step.

use super::locators::{is_nothing, locate};
use crate::recording::{Action, ElementRef, Event, Modifier, TimedEvent};
use crate::steps::params::{Parameter, placeholder};
use crate::steps::{Step, Target};

#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub steps: Vec<Step>,
    pub parameters: Vec<Parameter>,
}

/// One action of the person, before steps are made of it.
#[derive(Debug)]
enum Act<'a> {
    Click(&'a ElementRef),
    Fill { element: &'a ElementRef, value: Option<&'a str> },
    Press { key: &'a str, modifiers: &'a [Modifier] },
    Scroll { dx: f64, dy: f64 },
    /// A login name, a password, the submit, and a one-time code if one was asked.
    SignIn,
}

/// An act, when it happened, and whether the page navigated just before it.
#[derive(Debug)]
struct Timed<'a> {
    act: Act<'a>,
    t_ms: f64,
    after_navigation: bool,
}

/// Keys worth a step of their own: ones that submit or dismiss, and shortcuts. Other
/// keys typed into a field are in its fill.
fn pressed(key: &str, modifiers: &[Modifier]) -> bool {
    let commanding = modifiers.iter().any(|m| matches!(m, Modifier::Ctrl | Modifier::Meta | Modifier::Alt));
    key != "•" && (commanding || matches!(key, "Enter" | "Escape"))
}

fn acts(events: &[TimedEvent]) -> Vec<Timed<'_>> {
    let mut acts: Vec<Timed> = Vec::new();
    let mut navigated = false;
    for timed in events {
        let act = match &timed.event {
            Event::Navigation { .. } => {
                navigated = true;
                continue;
            }
            Event::Acted { action: Action::Click, element, .. } => Act::Click(element),
            Event::Acted { action: Action::Fill, element, value, secret } => Act::Fill { element, value: if *secret { None } else { value.as_deref() } },
            Event::Key { key, modifiers, .. } if pressed(key, modifiers) => Act::Press { key, modifiers },
            Event::Scroll { dx, dy, .. } => Act::Scroll { dx: *dx, dy: *dy },
            _ => continue,
        };
        // Repeats fold: a field filled again keeps its last value, a scroll adds up.
        match (acts.last_mut().map(|last| &mut last.act), &act) {
            (Some(Act::Fill { element: before, value }), Act::Fill { element, value: now }) if before.css == element.css => *value = *now,
            (Some(Act::Scroll { dx, dy }), Act::Scroll { dx: more_x, dy: more_y }) => {
                *dx += more_x;
                *dy += more_y;
            }
            _ => acts.push(Timed { act, t_ms: timed.t_ms, after_navigation: std::mem::take(&mut navigated) }),
        }
    }
    acts
}

fn is_password(act: &Act) -> bool {
    matches!(act, Act::Fill { element, value: None } if element.kind == "password")
}

/// A click that only put the focus in the field filled next.
fn is_focus_click(acts: &[Timed], index: usize) -> bool {
    matches!((&acts[index].act, acts.get(index + 1).map(|a| &a.act)), (Act::Click(element), Some(Act::Fill { element: next, .. })) if next.css == element.css)
}

/// What submits a form: Enter, or a click on a button.
fn is_submit(act: &Act) -> bool {
    matches!(act, Act::Press { key: "Enter", modifiers } if modifiers.is_empty()) || matches!(act, Act::Click(element) if element.role == "button")
}

/// Where a one-time code typed from `start` ends (its submit, if one follows): focus
/// clicks, then a secret field that is no password; `None` when no code comes there.
fn code_typed_from(acts: &[Timed<'_>], start: usize) -> Option<usize> {
    let mut code = start;
    while code < acts.len() && is_focus_click(acts, code) {
        code += 1;
    }
    if !matches!(acts.get(code).map(|a| &a.act), Some(Act::Fill { value: None, element }) if element.kind != "password") {
        return None;
    }
    Some(if acts.get(code + 1).is_some_and(|a| is_submit(&a.act)) { code + 1 } else { code })
}

/// The sign-ins folded into one act each: from the login name typed before a password
/// (focus clicks between them included), through the submit after it, and a one-time
/// code typed and submitted next. A password with no login name before it (a PIN, a
/// confirmation) stays a secret field that a replay asks for.
fn fold_sign_ins(mut acts: Vec<Timed<'_>>) -> Vec<Timed<'_>> {
    let mut from = 0;
    while let Some(password) = acts[from..].iter().position(|a| is_password(&a.act)).map(|p| p + from) {
        from = password + 1;
        let mut start = password;
        while start > 0 && is_focus_click(&acts, start - 1) {
            start -= 1;
        }
        if !(start > 0 && matches!(acts[start - 1].act, Act::Fill { value: Some(_), .. })) {
            continue;
        }
        start -= 1;
        while start > 0 && is_focus_click(&acts, start - 1) {
            start -= 1;
        }
        let mut end = password;
        if acts.get(end + 1).is_some_and(|a| is_submit(&a.act)) {
            end += 1;
            end = code_typed_from(&acts, end + 1).unwrap_or(end);
        }
        let folded = Timed { act: Act::SignIn, t_ms: acts[start].t_ms, after_navigation: acts[start].after_navigation };
        acts.splice(start..=end, [folded]);
        from = start + 1;
    }
    acts
}

/// The person waited this long for the element they acted on next: the replay waits
/// for it explicitly, with room to spare.
const WAITED_MS: f64 = 1_500.0;

/// A `wait` for `target` when the person waited for it to appear: after a navigation,
/// or long after their previous step (`waited_ms`).
fn wait_for(target: &Target, navigated: bool, waited_ms: f64) -> Option<Step> {
    if !(navigated || waited_ms >= WAITED_MS) {
        return None;
    }
    let timeout_ms = ((waited_ms * 3.0) as u64).clamp(crate::steps::DEFAULT_TIMEOUT_MS, 60_000);
    Some(Step::Wait { target: target.clone(), label: None, timeout_ms: Some(timeout_ms) })
}

/// What the demonstration did before the person arrived (its identity signing in): the
/// steps a replay repeats first, and when the person's part of the timeline begins.
#[derive(Debug, Clone, Copy)]
pub struct Prelude<'a> {
    pub steps: &'a [Step],
    pub person_from_ms: f64,
}

/// A one-time code the person typed (and submitted) first, finishing the prelude's
/// sign-in: it is part of that `sign_in` step, which a replay does with its own code.
fn drop_finishing_code(acts: &mut Vec<Timed<'_>>) {
    if let Some(end) = code_typed_from(acts, 0) {
        acts.drain(..=end);
    }
}

/// The workflow a person demonstrated from `start_url`, after the `prelude` if there was one.
pub fn from_timeline(start_url: &str, events: &[TimedEvent], prelude: Option<Prelude>) -> Workflow {
    let person_from = prelude.map_or(0, |p| events.iter().position(|e| e.t_ms >= p.person_from_ms).unwrap_or(events.len()));
    let mut acts = fold_sign_ins(acts(&events[person_from..]));
    let mut steps = vec![Step::Goto { url: start_url.to_string(), label: None }];
    if let Some(prelude) = prelude {
        steps.extend_from_slice(prelude.steps);
        if matches!(prelude.steps.last(), Some(Step::SignIn { .. })) {
            drop_finishing_code(&mut acts);
        }
    }
    let mut parameters: Vec<Parameter> = Vec::new();
    // Since the last step: did the page navigate, and when did the person first reach
    // for the next element (a focus click counts)? A prelude's sign-in navigated.
    let mut navigated = prelude.is_some_and(|p| !p.steps.is_empty());
    let mut reached_ms: Option<f64> = None;
    let mut last_step_ms: Option<f64> = None;
    for (index, timed) in acts.iter().enumerate() {
        navigated |= timed.after_navigation;
        let found_by = match &timed.act {
            Act::Click(element) | Act::Fill { element, .. } => Some(locate(element)),
            _ => None,
        };
        let step = match &timed.act {
            Act::Click(_) if is_focus_click(&acts, index) => {
                reached_ms.get_or_insert(timed.t_ms);
                continue;
            }
            Act::Click(element) if is_nothing(element) => continue,
            Act::Click(_) => Step::Click { target: found_by.clone().unwrap_or_default(), label: None, timeout_ms: None },
            Act::Fill { element, value: None } => {
                let prompt = if element.name.is_empty() { "the secret value".to_string() } else { element.name.clone() };
                Step::Input { prompt, target: found_by.clone().unwrap_or_default(), label: None, timeout_ms: None }
            }
            Act::Fill { element, value: Some(value) } => {
                let parameter = parameter(element, value, &parameters);
                let text = placeholder(&parameter.name);
                parameters.push(parameter);
                let target = found_by.clone().unwrap_or_default();
                // A drop-down's value is chosen, not typed.
                match element.kind.as_str() {
                    "select" => Step::Select { option: text, target, label: None, timeout_ms: None },
                    _ => Step::Type { text, target, secret: false, label: None, timeout_ms: None, only_within: None },
                }
            }
            Act::Press { key, modifiers } => Step::Press { key: key.to_string(), modifiers: modifiers.to_vec(), label: None },
            // A nudge of the wheel is not a step.
            Act::Scroll { dx, dy } if dx.abs() + dy.abs() < 100.0 => continue,
            Act::Scroll { dx, dy } => Step::Scroll { dx: *dx, dy: *dy, label: None },
            Act::SignIn => Step::SignIn { identity_id: None, label: None },
        };
        let reached = reached_ms.take().unwrap_or(timed.t_ms);
        let waited_ms = last_step_ms.map_or(0.0, |last| reached - last);
        if let Some(wait) = found_by.as_ref().and_then(|target| wait_for(target, navigated, waited_ms)) {
            steps.push(wait);
        }
        steps.push(step);
        navigated = false;
        last_step_ms = Some(timed.t_ms);
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
    use serde_json::json;

    fn element(role: &str, name: &str, id: &str, kind: &str) -> ElementRef {
        let label = if role == "textbox" { name } else { "" };
        ElementRef { role: role.into(), name: name.into(), label: label.into(), id: id.into(), css: if id.is_empty() { format!("form > {kind}") } else { format!("#{id}") }, kind: kind.into(), ..ElementRef::default() }
    }

    fn at(t_ms: f64, event: Event) -> TimedEvent {
        TimedEvent { t_ms, event }
    }

    fn click(t_ms: f64, element: &ElementRef) -> TimedEvent {
        at(t_ms, Event::Acted { action: Action::Click, element: element.clone(), value: None, secret: false })
    }

    fn fill(t_ms: f64, element: &ElementRef, value: Option<&str>) -> TimedEvent {
        at(t_ms, Event::Acted { action: Action::Fill, element: element.clone(), value: value.map(str::to_string), secret: value.is_none() })
    }

    fn enter(t_ms: f64) -> TimedEvent {
        at(t_ms, Event::Key { key: "Enter".into(), code: "Enter".into(), modifiers: vec![], text: None })
    }

    fn navigation(t_ms: f64, url: &str) -> TimedEvent {
        at(t_ms, Event::Navigation { url: url.into() })
    }

    /// A person signs in (e-mail, password, Enter, then the e-mailed code), opens the
    /// dialog, names the project, gives the owner's e-mail (typed twice), and creates it;
    /// with focus clicks, a click on the page's background and wheel nudges between.
    fn creating_a_project() -> Vec<TimedEvent> {
        let email = element("textbox", "Work email", "email", "email");
        let password = element("textbox", "Password", "password", "password");
        let code = element("textbox", "Verification code", "code", "text");
        let name = element("textbox", "Project name", "project-name", "text");
        let owner = element("textbox", "Owner email", "project-owner", "email");
        let background = ElementRef { css: "main > div".into(), kind: "div".into(), ..ElementRef::default() };
        vec![
            navigation(0.0, "http://app.test/login"),
            click(900.0, &email),
            fill(2_000.0, &email, Some("ada@orbit.test")),
            click(2_400.0, &password),
            fill(3_100.0, &password, None),
            enter(3_200.0),
            navigation(3_500.0, "http://app.test/verify"),
            fill(9_000.0, &code, None),
            enter(9_100.0),
            navigation(9_400.0, "http://app.test/projects"),
            click(10_200.0, &background),
            at(10_500.0, Event::Scroll { x: 0.0, y: 0.0, dx: 0.0, dy: 40.0 }),
            at(10_600.0, Event::Scroll { x: 0.0, y: 0.0, dx: 0.0, dy: -40.0 }),
            click(11_000.0, &element("button", "New project", "", "button")),
            click(11_600.0, &name),
            fill(12_500.0, &name, Some("Apollo launch")),
            click(12_900.0, &owner),
            fill(13_400.0, &owner, Some("max@")),
            fill(14_000.0, &owner, Some("max@orbit.test")),
            click(14_600.0, &element("button", "Create project", "", "button")),
        ]
    }

    #[test]
    fn a_sign_in_becomes_one_step_and_no_secret_or_login_reaches_the_workflow() {
        let workflow = from_timeline("http://app.test/", &creating_a_project(), None);
        let steps = serde_json::to_value(&workflow.steps).unwrap();
        let actions: Vec<&str> = steps.as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["goto", "sign_in", "wait", "click", "type", "type", "click"], "{steps:#}");
        let text = steps.to_string();
        for kept_out in ["ada@orbit.test", "Work email", "Password", "Verification code", "max@"] {
            assert!(!text.contains(kept_out), "{kept_out} is not in the workflow: {text}");
        }
        assert!(workflow.parameters.iter().all(|p| !p.example.contains("ada@")), "the login is the replay's credential, not a parameter");
    }

    #[test]
    fn an_identity_sign_in_comes_first_and_the_code_the_person_typed_is_part_of_it() {
        // The identity typed the login and password (the timeline's first 3.2 s, reported
        // by the page like a person's input); the person arrived at the code prompt.
        let identity = "7f0db4ad-74ca-42e5-896e-3f0daea36c13";
        let prelude_steps = [Step::SignIn { identity_id: Some(identity.into()), label: None }];
        let prelude = Prelude { steps: &prelude_steps, person_from_ms: 3_300.0 };
        let workflow = from_timeline("http://app.test/", &creating_a_project(), Some(prelude));
        let steps = serde_json::to_value(&workflow.steps).unwrap();
        let actions: Vec<&str> = steps.as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["goto", "sign_in", "wait", "click", "type", "type", "click"], "no input step for the code: {steps:#}");
        assert_eq!(steps[1], json!({"action": "sign_in", "identity_id": identity}));
        assert!(!steps.to_string().contains("ada@orbit.test"), "the identity's login is not in the workflow");
        // Without the prelude's sign-in (it failed), the person's code is asked for.
        let failed = Prelude { steps: &[], person_from_ms: 3_300.0 };
        let workflow = from_timeline("http://app.test/", &creating_a_project(), Some(failed));
        let asks = workflow.steps.iter().any(|s| matches!(s, Step::Input { .. }));
        let signs_in = workflow.steps.iter().any(|s| matches!(s, Step::SignIn { .. }));
        assert!(asks && !signs_in, "{:#?}", workflow.steps);
    }

    #[test]
    fn typed_values_become_parameters_named_and_typed_after_their_fields() {
        let workflow = from_timeline("http://app.test/", &creating_a_project(), None);
        assert_eq!(
            workflow.parameters,
            vec![
                Parameter { name: "project_name".into(), kind: "text".into(), example: "Apollo launch".into() },
                Parameter { name: "owner_email".into(), kind: "email".into(), example: "max@orbit.test".into() },
            ]
        );
        let steps = serde_json::to_value(&workflow.steps).unwrap();
        assert_eq!(steps[4], json!({"action": "type", "text": "{{project_name}}", "role": "textbox", "name": "Project name", "secret": false, "fallbacks": [{"selector": "#project-name"}]}));
        assert_eq!(steps[5]["text"], json!("{{owner_email}}"));
    }

    #[test]
    fn noise_makes_no_step_and_a_wait_marks_where_the_person_waited() {
        let workflow = from_timeline("http://app.test/", &creating_a_project(), None);
        let steps = serde_json::to_value(&workflow.steps).unwrap();
        // The background click and the wheel nudges are gone; the focus clicks are part
        // of their fills.
        assert!(!steps.to_string().contains("main > div") && !steps.to_string().contains("scroll"), "{steps:#}");
        // After the sign-in's navigation the person waited for "New project".
        assert_eq!(steps[2]["action"], json!("wait"));
        assert_eq!(steps[2]["role"], json!("button"));
        assert_eq!(steps[2]["name"], json!("New project"));
        assert!(steps[2]["timeout_ms"].as_u64().unwrap() >= crate::steps::DEFAULT_TIMEOUT_MS);
        assert_eq!(steps[3], json!({"action": "click", "role": "button", "name": "New project", "fallbacks": [{"text": "New project"}, {"selector": "form > button"}]}));
        // Steps that followed each other quickly have no wait between them.
        assert_eq!(steps.as_array().unwrap().iter().filter(|s| s["action"] == json!("wait")).count(), 1, "{steps:#}");
        // A big scroll is kept, the sum of its turns.
        let events = vec![
            at(0.0, Event::Scroll { x: 0.0, y: 0.0, dx: 0.0, dy: 300.0 }),
            at(100.0, Event::Scroll { x: 0.0, y: 0.0, dx: 0.0, dy: 300.0 }),
        ];
        assert_eq!(serde_json::to_value(&from_timeline("http://app.test/", &events, None).steps).unwrap()[1], json!({"action": "scroll", "dx": 0.0, "dy": 600.0}));
    }

    /// A timeline a person recorded through the share page: signing in to the sample app
    /// (e-mail, password, Enter, the mailed code, Enter), then creating "Apollo launch"
    /// owned by grace@orbit.test.
    const RECORDED: &str = include_str!("../../tests/fixtures/demonstration-timeline.jsonl");

    #[test]
    fn a_recorded_timeline_makes_a_sign_in_two_parameters_and_no_secret() {
        let events: Vec<TimedEvent> = RECORDED.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let workflow = from_timeline("http://app.test/", &events, None);
        let steps = serde_json::to_value(&workflow.steps).unwrap();
        let actions: Vec<&str> = steps.as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).filter(|a| *a != "wait").collect();
        assert_eq!(actions, ["goto", "sign_in", "click", "type", "type", "click"], "{steps:#}");
        let names: Vec<(&str, &str, &str)> = workflow.parameters.iter().map(|p| (p.name.as_str(), p.kind.as_str(), p.example.as_str())).collect();
        assert_eq!(names, [("project_name", "text", "Apollo launch"), ("owner_email", "email", "grace@orbit.test")]);
        let text = steps.to_string();
        assert!(!text.contains(crate::sample_app::PASSWORD) && !text.contains(crate::sample_app::EMAIL) && !RECORDED.contains(crate::sample_app::PASSWORD), "{text}");
        assert_eq!(steps.as_array().unwrap().last().unwrap()["fallbacks"][0], json!({"text": "Create project"}));
    }

    #[test]
    fn a_secret_outside_a_sign_in_is_asked_for_and_every_step_parses() {
        let pin = element("textbox", "Card PIN", "pin", "password");
        let events = vec![click(0.0, &element("button", "Pay", "pay", "button")), fill(500.0, &pin, None)];
        let workflow = from_timeline("http://app.test/", &events, None);
        let steps = serde_json::to_value(&workflow.steps).unwrap();
        // A password field with no login name typed before it is no sign-in: the replay
        // asks for its value.
        assert_eq!(steps[2], json!({"action": "input", "prompt": "Card PIN", "role": "textbox", "name": "Card PIN", "fallbacks": [{"selector": "#pin"}]}));
        let code = element("textbox", "One-time code", "otp", "text");
        let workflow = from_timeline("http://app.test/", &[fill(0.0, &code, None)], None);
        let steps = serde_json::to_value(&workflow.steps).unwrap();
        assert_eq!(steps[1], json!({"action": "input", "prompt": "One-time code", "role": "textbox", "name": "One-time code", "fallbacks": [{"selector": "#otp"}]}));
        for workflow in [from_timeline("http://app.test/", &creating_a_project(), None), workflow] {
            let value = serde_json::to_value(&workflow.steps).unwrap();
            crate::steps::parse_with(&value, crate::steps::Schemes::Web).expect("a generated workflow is a valid step list");
        }
    }

    #[test]
    fn a_drop_down_choice_is_a_choice_parameter_chosen_by_a_select_step() {
        let plan = ElementRef { role: "combobox".into(), name: "Plan".into(), label: "Plan".into(), id: "plan".into(), css: "#plan".into(), kind: "select".into(), ..ElementRef::default() };
        let workflow = from_timeline("http://app.test/", &[click(0.0, &plan), fill(800.0, &plan, Some("team"))], None);
        assert_eq!(workflow.parameters, vec![Parameter { name: "plan".into(), kind: "choice".into(), example: "team".into() }]);
        let steps = serde_json::to_value(&workflow.steps).unwrap();
        assert_eq!(steps[1], json!({"action": "select", "option": "{{plan}}", "role": "combobox", "name": "Plan", "fallbacks": [{"selector": "#plan"}]}), "{steps:#}");
        let parsed = crate::steps::parse_with(&steps, crate::steps::Schemes::Web).unwrap();
        let filled = crate::steps::params::fill(&parsed, &workflow.parameters, Some(&json!({"plan": "Enterprise"})), "params").unwrap();
        assert!(matches!(&filled[1], Step::Select { option, .. } if option == "Enterprise"), "{filled:#?}");
    }
}
