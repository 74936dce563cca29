//! Ranked locators for an element a person acted on. Input: what the element looked like
//! at the moment (role, accessible name, label, test id, id, text, a CSS path without
//! generated class names). Output: a step [`Target`] whose first way is the most robust
//! and whose fallbacks follow in rank: role + accessible name, role + label, test id,
//! id, visible text, CSS. Invariant: no way is given twice, and no way leans on
//! something a cosmetic change breaks (a generated class, a numbered id).

use crate::recording::ElementRef;
use crate::steps::Target;

/// Roles the step schema's `role` locator finds by accessible name.
const NAMED_ROLES: [&str; 10] = ["button", "link", "textbox", "checkbox", "radio", "tab", "menuitem", "option", "combobox", "searchbox"];

/// An id a framework made up (`:r3:`, `input-1837`, `ember42`) changes from one load to
/// the next: one with a run of three digits, or no letters, is not trusted.
fn stable_id(id: &str) -> bool {
    let plain = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let digits_in_a_row = id.chars().fold((0, 0), |(run, best), c| if c.is_ascii_digit() { (run + 1, best.max(run + 1)) } else { (0, best) }).1;
    plain && id.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && digits_in_a_row < 3
}

fn quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Every way to find `element` again, most robust first.
pub fn ways(element: &ElementRef) -> Vec<Target> {
    let none = Target::default();
    let mut ways: Vec<Target> = Vec::new();
    let is_field = matches!(element.kind.as_str(), "textarea" | "select") || element.role == "textbox" || element.role == "searchbox";
    if NAMED_ROLES.contains(&element.role.as_str()) {
        for name in [&element.name, &element.label] {
            if !name.is_empty() {
                ways.push(Target { role: Some(element.role.clone()), name: Some(name.clone()), ..none.clone() });
            }
        }
    }
    if !element.test_id.is_empty() {
        ways.push(Target { selector: Some(format!("[data-testid=\"{}\"]", quoted(&element.test_id))), ..none.clone() });
    }
    if stable_id(&element.id) {
        ways.push(Target { selector: Some(format!("#{}", element.id)), ..none.clone() });
    }
    // A field's text is what was typed into it, not a way to find it.
    if !element.name.is_empty() && !is_field {
        ways.push(Target { text: Some(element.name.clone()), ..none.clone() });
    }
    if !element.css.is_empty() {
        ways.push(Target { selector: Some(element.css.clone()), ..none.clone() });
    }
    let mut unique: Vec<Target> = Vec::new();
    for way in ways {
        if !unique.contains(&way) {
            unique.push(way);
        }
    }
    unique.truncate(1 + crate::steps::MAX_FALLBACKS);
    unique
}

/// The target a step finds `element` by: its best way, the others as fallbacks.
pub fn locate(element: &ElementRef) -> Target {
    let mut ways = ways(element).into_iter();
    let mut target = ways.next().unwrap_or_default();
    target.fallbacks = ways.collect();
    target
}

/// Whether a click on `element` is a click on nothing: no role, no name, nothing to
/// find it by but its place in the page (the page's background, an empty area).
pub fn is_nothing(element: &ElementRef) -> bool {
    matches!(element.kind.as_str(), "html" | "body")
        || (element.role.is_empty() && element.name.is_empty() && element.test_id.is_empty() && element.id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_are_ranked_role_and_name_first_then_label_test_id_id_text_css() {
        let button = ElementRef {
            role: "button".into(),
            name: "Create project".into(),
            test_id: "create".into(),
            id: "create-project".into(),
            css: "form > div.actions > button:nth-of-type(2)".into(),
            kind: "button".into(),
            ..ElementRef::default()
        };
        let target = locate(&button);
        let ways: Vec<String> = target.ways().map(Target::describe).collect();
        assert_eq!(
            ways,
            ["button \"Create project\"", "selector \"[data-testid=\\\"create\\\"]\"", "selector \"#create-project\"", "text \"Create project\"", "selector \"form > div.actions > button:nth-of-type(2)\""]
        );

        let field = ElementRef { role: "textbox".into(), name: "Owner email".into(), label: "Owner".into(), id: "input-4821".into(), css: "#project-owner".into(), kind: "email".into(), ..ElementRef::default() };
        let ways: Vec<String> = locate(&field).ways().map(Target::describe).collect();
        assert_eq!(ways, ["textbox \"Owner email\"", "textbox \"Owner\"", "selector \"#project-owner\""], "a generated id is left out, a field's value is no text to find it by");
    }

    #[test]
    fn an_element_without_a_name_is_found_by_test_id_then_id_then_css() {
        let mut bare = ElementRef { css: "main > div:nth-of-type(2)".into(), kind: "div".into(), ..ElementRef::default() };
        assert_eq!(locate(&bare).selector.as_deref(), Some("main > div:nth-of-type(2)"));
        assert!(is_nothing(&bare));
        bare.id = "card-3".into();
        assert_eq!(locate(&bare).selector.as_deref(), Some("#card-3"));
        bare.test_id = "plan \"pro\"".into();
        assert_eq!(locate(&bare).selector.as_deref(), Some("[data-testid=\"plan \\\"pro\\\"\"]"));
        assert!(!is_nothing(&bare));
        assert!(!stable_id(":r3:") && !stable_id("ember123") && stable_id("project-name") && stable_id("h2"));
    }
}
