//! Request bodies → checked values. Input: parsed JSON. Output: typed requests, or an
//! [`ApiError::Invalid`] whose `details` name every bad field (`options.video.size.width`).
//! Invariant: nothing a client sends (wrong types, huge strings, unknown enum values)
//! reaches a handler unchecked or causes a 500.

use super::error::ApiError;
use crate::egress::TargetPolicy;
use crate::options::FieldError;
use crate::run_spec::{IntroSpec, RunOptionParts, RunOptions};
use serde_json::{Map, Value};

pub use crate::steps::url::MAX_URL_CHARS;
pub const MAX_GOAL_CHARS: usize = 2000;
/// A run's options, as JSON, are at most this long (they are stored with the run).
pub const MAX_OPTIONS_BYTES: usize = 64 * 1024;

/// An absolute http(s) URL with a host (the one URL rule) whose host, if it is a
/// literal address or this machine's name, the target policy allows; answers the host.
pub fn http_url(text: &str, targets: &TargetPolicy) -> Result<String, String> {
    let checked = crate::steps::url::check(text, crate::steps::Schemes::Web)?;
    targets.check_url(&checked.url).map_err(|reason| format!("{text:?} is not allowed: {reason} (the operator opens such targets with --allow-targets)"))?;
    Ok(checked.host.expect("web URLs have a host"))
}

pub fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| ApiError::field("body", "must be a JSON object"))
}

/// A required string of `min..=max` characters (after trimming).
pub fn string(map: &Map<String, Value>, key: &str, field: &str, min: usize, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let error = |message: String| FieldError { field: field.to_string(), message };
    match map.get(key) {
        None | Some(Value::Null) if min > 0 => {
            errors.push(error("is required".into()));
            None
        }
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            let n = text.trim().chars().count();
            if n < min || text.chars().count() > max {
                errors.push(error(if min > 0 { format!("must be {min} to {max} characters") } else { format!("must be at most {max} characters") }));
                None
            } else {
                Some(text.clone())
            }
        }
        Some(_) => {
            errors.push(error("must be a string".into()));
            None
        }
    }
}

/// An optional `true` or `false`; `default` when absent or null.
pub fn boolean(map: &Map<String, Value>, key: &str, default: bool, errors: &mut Vec<FieldError>) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError { field: key.to_string(), message: "must be true or false".into() });
            default
        }
    }
}

pub fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

/// A run request, checked.
#[derive(Debug)]
pub struct NewRun {
    pub target_url: String,
    pub target_host: String,
    pub goal: String,
    pub options: RunOptions,
    /// The options as the client sent them (the form stored with the run).
    pub options_json: Value,
    pub warnings: Vec<String>,
}

/// The template a run's `options.intro.template` names, looked up before the request is
/// checked (it may be one of the key's uploads, which live in the database); `None`
/// when the request names none, `Err` saying why when it names no known template.
pub type IntroTemplate = Option<Result<std::sync::Arc<crate::templates::Template>, String>>;

/// What `options.intro.template` of a run request says, if it is a string.
pub fn intro_reference(body: &Value) -> Option<&str> {
    body.pointer("/options/intro/template").and_then(Value::as_str)
}

/// [`IntroTemplate`] from the built-in templates alone: for checks made without a
/// database (tests, property checks).
pub fn builtin_intro_template(body: &Value) -> IntroTemplate {
    intro_reference(body).map(|reference| crate::templates::find_builtin(reference).ok_or_else(|| format!("no template {reference:?} (GET /v1/templates lists them)")))
}

pub fn new_run(body: &Value, targets: &TargetPolicy, intro_template: &IntroTemplate) -> Result<NewRun, ApiError> {
    let map = object(body)?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let target_url = string(map, "target_url", "target_url", 1, MAX_URL_CHARS, &mut errors);
    let target_host = target_url.as_deref().and_then(|url| match http_url(url, targets) {
        Ok(host) => Some(host),
        Err(message) => {
            errors.push(FieldError { field: "target_url".into(), message });
            None
        }
    });
    let goal = string(map, "goal", "goal", 1, MAX_GOAL_CHARS, &mut errors);
    let options = map.get("options").cloned().unwrap_or(Value::Null);
    if serde_json::to_string(&options).map_or(0, |text| text.len()) > MAX_OPTIONS_BYTES {
        return Err(ApiError::field("options", format!("must be at most {} KiB of JSON", MAX_OPTIONS_BYTES / 1024)));
    }
    let mut parts = RunOptionParts::parse(&options);
    check_workflow_targets(parts.workflow.as_deref(), targets, &mut parts.errors);
    if let Some(intro) = &parts.intro {
        check_intro_values(intro, intro_template, targets, "options.intro", &mut parts.errors);
    }
    let checked = match parts.into_options() {
        Ok(parsed) => {
            warnings.extend(parsed.warnings);
            Some(parsed.options)
        }
        Err(details) => {
            errors.extend(details);
            None
        }
    };
    for key in map.keys() {
        if !["target_url", "goal", "options"].contains(&key.as_str()) {
            warnings.push(format!("{key} is not a known field and was ignored"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    Ok(NewRun {
        target_url: target_url.expect("checked"),
        target_host: target_host.expect("checked"),
        goal: goal.expect("checked"),
        options: checked.expect("checked"),
        options_json: options,
        warnings,
    })
}

/// Every `goto` step of the workflow opens a target the operator allows.
fn check_workflow_targets(steps: Option<&[crate::steps::Step]>, targets: &TargetPolicy, errors: &mut Vec<FieldError>) {
    for (i, step) in steps.into_iter().flatten().enumerate() {
        if let crate::steps::Step::Goto { url, .. } = step
            && let Err(message) = http_url(url, targets)
        {
            errors.push(FieldError { field: format!("options.workflow.steps[{i}].url"), message });
        }
    }
}

/// An intro at `intro` (a run's or a re-render's `options.intro`): its shape, then its
/// values against the template, named under `prefix`.
pub fn check_intro(intro: Option<&Value>, template: &IntroTemplate, targets: &TargetPolicy, prefix: &str, errors: &mut Vec<FieldError>) -> Option<IntroSpec> {
    let intro = IntroSpec::parse(intro, prefix, errors)?;
    check_intro_values(&intro, template, targets, prefix, errors);
    Some(intro)
}

/// The intro's template exists, its `content` and `style` hold against the template's
/// schemas, and every image URL is http(s) and not a target the operator keeps closed.
fn check_intro_values(intro: &IntroSpec, template: &IntroTemplate, targets: &TargetPolicy, prefix: &str, errors: &mut Vec<FieldError>) {
    let template = match template {
        Some(Ok(template)) => template.clone(),
        Some(Err(reason)) => {
            errors.push(FieldError { field: format!("{prefix}.template"), message: reason.clone() });
            return;
        }
        // Looked up from the same request, so absent only by a caller's mistake: refused.
        None => {
            errors.push(FieldError { field: format!("{prefix}.template"), message: format!("no template {:?} (GET /v1/templates lists them)", intro.template) });
            return;
        }
    };
    errors.extend(template.check_values(intro.content.as_ref(), intro.style.as_ref(), prefix).err().unwrap_or_default());
    let refused = image_url_errors(&template, intro.content.as_ref(), targets, &format!("{prefix}.content"), errors);
    errors.extend(refused);
}

/// The image URLs of `content` against the target policy (a template's schema knows only
/// their shape), named under `prefix`; a field `already` names is not named again.
pub fn image_url_errors(template: &crate::templates::Template, content: Option<&Value>, targets: &TargetPolicy, prefix: &str, already: &[FieldError]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for field in &template.image_fields {
        let named = format!("{prefix}.{field}");
        if let Some(url) = content.and_then(|c| c.get(field)).and_then(Value::as_str)
            && !already.iter().any(|e| e.field == named)
            && let Err(message) = http_url(url, targets)
        {
            errors.push(FieldError { field: named, message });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value) -> Vec<String> {
        match new_run(&body, &TargetPolicy::public_only(), &builtin_intro_template(&body)) {
            Err(ApiError::Invalid { details, .. }) => details.into_iter().map(|d| d.field).collect(),
            Err(other) => panic!("{other:?}"),
            Ok(_) => vec![],
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(fields(json!({"goal": "x"})), ["target_url"]);
        assert_eq!(fields(json!({"target_url": "ftp://a/", "goal": ""})), ["target_url", "goal"]);
        assert_eq!(fields(json!({"target_url": 5, "goal": "x".repeat(2001)})), ["target_url", "goal"]);
        assert_eq!(fields(json!({"target_url": "https://a.test/", "goal": "g", "options": {"video": {"size": {"width": "wide"}}}})), ["options.video.size.width"]);
        assert_eq!(fields(json!({"target_url": "https://a.test/", "goal": "g", "options": {"auth": {"source": "saved"}}})), ["options.auth.id"]);
        assert_eq!(fields(json!({"target_url": "https://a.test/", "goal": "g", "options": {"workflow": {"steps": [{"action": "fly"}]}}})), ["options.workflow.steps[0]"]);
        assert_eq!(fields(json!({"target_url": "https://a.test/", "goal": "g", "options": {"intro": {"template": "wobble"}}})), ["options.intro.template"]);
        assert_eq!(fields(json!([1, 2])), ["body"]);
        assert_eq!(fields(json!({"target_url": "https://a.test/", "goal": "g", "options": {"video": {"padding": "x".repeat(MAX_OPTIONS_BYTES)}}})), ["options"]);
        assert_eq!(fields(json!({"target_url": "http://169.254.169.254/latest/", "goal": "g"})), ["target_url"]);
        let inward = json!({"target_url": "https://a.test/", "goal": "g", "options": {"workflow": {"steps": [
            {"action": "goto", "url": "https://a.test/ok"}, {"action": "goto", "url": "http://[::ffff:127.0.0.1]:8080/"}]}}});
        assert_eq!(fields(inward.clone()), ["options.workflow.steps[1].url"]);
        assert!(new_run(&inward, &TargetPolicy::parse("127.0.0.0/8", "test").unwrap(), &None).is_ok());
        let ok = new_run(&json!({"target_url": "https://a.test/x", "goal": "Open it", "options": {"colour": 1}}), &TargetPolicy::public_only(), &None).unwrap();
        assert_eq!(ok.target_host, "a.test");
        assert_eq!(ok.warnings, ["options.colour is not a known option and was ignored"]);
    }
}
