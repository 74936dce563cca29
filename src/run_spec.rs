//! A run's options, parsed once. Input: the `options` object of a run request (at the
//! API), or the same JSON as stored with the run (secret step texts sealed). Output:
//! [`RunOptions`]: the render options, where the login comes from, the workflow's steps
//! and the intro, typed. Invariant: the API and the runner read options through the same
//! parser, so what the API accepted is what the runner does; nothing else reads a run's
//! options by JSON path. Checks that need the outside world (the target policy, a
//! template's schema, the key's credentials) stay at the API, on these typed values.

use crate::options::{FieldError, RenderOptions};
use crate::secrets::Sealer;
use crate::steps::{Schemes, Step};
use serde_json::{Map, Value};

/// Where a run's login comes from (`options.auth`).
#[derive(Debug, Clone, PartialEq)]
pub enum AuthSource {
    /// No login, unless the workflow signs in (then the identity it names, or the
    /// site's default credential).
    None,
    /// The key's default credential for the target's site.
    Default,
    /// The saved credential with this id.
    Saved(String),
}

/// `options.intro`: the card to play before the demo. Its values are checked against the
/// template's schemas where the template is known (the API, and again before rendering).
#[derive(Debug, Clone, PartialEq)]
pub struct IntroSpec {
    /// A template's name, or `name@version`.
    pub template: String,
    pub content: Option<Value>,
    pub style: Option<Value>,
}

/// A run's options, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub render: RenderOptions,
    pub auth: AuthSource,
    /// The steps to follow instead of planning from the goal (`options.workflow.steps`).
    pub workflow: Option<Vec<Step>>,
    pub intro: Option<IntroSpec>,
}

/// Options as parsed from a request: the checked options and what was ignored.
#[derive(Debug)]
pub struct ParsedRunOptions {
    pub options: RunOptions,
    /// Keys that are not options, named by their path (`options.colour`).
    pub warnings: Vec<String>,
}

/// What could be read of a request's options, and what was wrong: the API checks the
/// parts that parsed against the outside world before answering, so one answer names
/// every problem.
#[derive(Debug)]
pub struct RunOptionParts {
    pub render: Option<RenderOptions>,
    pub auth: AuthSource,
    pub workflow: Option<Vec<Step>>,
    pub intro: Option<IntroSpec>,
    pub errors: Vec<FieldError>,
    pub warnings: Vec<String>,
}

impl RunOptionParts {
    pub fn parse(options: &Value) -> RunOptionParts {
        let mut parts = RunOptionParts { render: None, auth: AuthSource::None, workflow: None, intro: None, errors: Vec::new(), warnings: Vec::new() };
        let empty = Map::new();
        let map = match options {
            Value::Null => &empty,
            Value::Object(map) => map,
            _ => {
                parts.errors.push(field_error("options", "must be a JSON object"));
                return parts;
            }
        };
        match crate::options::parse(options) {
            Ok(parsed) => {
                parts.warnings.extend(parsed.warnings.into_iter().map(|w| format!("options.{w}")));
                parts.render = Some(parsed.options);
            }
            Err(e) => parts.errors.extend(e.details.into_iter().map(|d| FieldError { field: format!("options.{}", d.field), message: d.message })),
        }
        parts.auth = parse_auth(map.get("auth"), &mut parts.errors);
        parts.workflow = parse_workflow(map.get("workflow"), &mut parts.errors);
        parts.intro = IntroSpec::parse(map.get("intro"), "options.intro", &mut parts.errors);
        let unknown = map.keys().filter(|k| !KNOWN_KEYS.contains(&k.as_str()));
        parts.warnings.extend(unknown.map(|k| format!("options.{k} is not a known option and was ignored")));
        parts
    }

    /// The options, when nothing was wrong; otherwise every problem.
    pub fn into_options(self) -> Result<ParsedRunOptions, Vec<FieldError>> {
        match self.render {
            Some(render) if self.errors.is_empty() => {
                let options = RunOptions { render, auth: self.auth, workflow: self.workflow, intro: self.intro };
                Ok(ParsedRunOptions { options, warnings: self.warnings })
            }
            _ => Err(self.errors),
        }
    }
}

const KNOWN_KEYS: [&str; 5] = ["video", "artifacts", "auth", "workflow", "intro"];

impl RunOptions {
    /// Parses a request's `options` (null for none); every problem at once, each field
    /// named from the request's root (`options.video.size.width`).
    pub fn parse(options: &Value) -> Result<ParsedRunOptions, Vec<FieldError>> {
        RunOptionParts::parse(options).into_options()
    }

    /// The options stored with a run, for the runner: sealed secret texts opened with
    /// `sealer`, then parsed as the API parsed them.
    pub fn from_stored(stored: &Value, sealer: Option<&Sealer>) -> Result<RunOptions, String> {
        let mut opened = stored.clone();
        crate::steps::sealed::open(&mut opened, sealer).map_err(|e| format!("stored options.workflow.{e}"))?;
        RunOptions::parse(&opened).map(|parsed| parsed.options).map_err(|errors| {
            let named: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            format!("stored options: {}", named.join("; "))
        })
    }

    /// Whether the workflow signs in (a replay of a demonstrated sign-in).
    pub fn signs_in(&self) -> bool {
        self.workflow.iter().flatten().any(|step| matches!(step, Step::SignIn { .. }))
    }

    /// The identity the workflow's sign-in names (a demonstration's identity signed in),
    /// as `(field, id)`.
    pub fn sign_in_identity(&self) -> Option<(String, String)> {
        self.workflow.iter().flatten().enumerate().find_map(|(i, step)| match step {
            Step::SignIn { identity_id: Some(id), .. } => Some((format!("options.workflow.steps[{i}].identity_id"), id.clone())),
            _ => None,
        })
    }
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.to_string(), message: message.into() }
}

fn parse_auth(auth: Option<&Value>, errors: &mut Vec<FieldError>) -> AuthSource {
    let Some(auth) = auth.filter(|v| !v.is_null()) else { return AuthSource::None };
    let Some(map) = auth.as_object() else {
        errors.push(field_error("options.auth", "must be an object"));
        return AuthSource::None;
    };
    match map.get("source").and_then(Value::as_str) {
        None | Some("none") => AuthSource::None,
        Some("default") => AuthSource::Default,
        Some("saved") => match map.get("id").and_then(Value::as_str) {
            Some(id) if uuid::Uuid::parse_str(id).is_ok() => AuthSource::Saved(id.to_string()),
            _ => {
                errors.push(field_error("options.auth.id", "must be the id (uuid) of a saved credential"));
                AuthSource::None
            }
        },
        Some(other) => {
            errors.push(field_error("options.auth.source", format!("unknown value {other:?}; expected none, default or saved")));
            AuthSource::None
        }
    }
}

/// `options.workflow`: its steps, for the web (a `goto` opens only http and https). A
/// `task_id` was replaced by its task's steps before the request got here.
fn parse_workflow(workflow: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Vec<Step>> {
    let workflow = workflow.filter(|v| !v.is_null())?;
    let Some(map) = workflow.as_object() else {
        errors.push(field_error("options.workflow", "must be an object"));
        return None;
    };
    match (map.get("steps"), map.get("task_id")) {
        (Some(steps), _) => match crate::steps::parse_with(&serde_json::json!({"steps": steps}), Schemes::Web) {
            Ok(steps) => Some(steps),
            Err(e) => {
                errors.push(FieldError { field: format!("options.workflow.{}", e.field), message: e.message });
                None
            }
        },
        (None, Some(_)) => {
            errors.push(field_error("options.workflow.task_id", "no such task"));
            None
        }
        (None, None) => {
            errors.push(field_error("options.workflow", "needs steps (or a task_id)"));
            None
        }
    }
}

impl IntroSpec {
    /// The intro at `intro` (absent or null: none), its fields named under `prefix`.
    pub fn parse(intro: Option<&Value>, prefix: &str, errors: &mut Vec<FieldError>) -> Option<IntroSpec> {
        let intro = intro.filter(|v| !v.is_null())?;
        let Some(map) = intro.as_object() else {
            errors.push(field_error(prefix, "must be an object"));
            return None;
        };
        for key in map.keys().filter(|k| !["template", "content", "style"].contains(&k.as_str())) {
            errors.push(FieldError { field: format!("{prefix}.{key}"), message: "is not a field of an intro (template, content, style)".into() });
        }
        let template = match map.get("template") {
            Some(Value::String(name)) => name.clone(),
            None | Some(Value::Null) => {
                errors.push(FieldError { field: format!("{prefix}.template"), message: "is required".into() });
                return None;
            }
            Some(_) => {
                errors.push(FieldError { field: format!("{prefix}.template"), message: "must be a template's name, or name@version".into() });
                return None;
            }
        };
        Some(IntroSpec { template, content: map.get("content").cloned(), style: map.get("style").cloned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(options: Value) -> Vec<String> {
        RunOptions::parse(&options).err().unwrap_or_default().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn every_bad_option_is_named_from_the_requests_root() {
        assert_eq!(fields(json!([1])), ["options"]);
        assert_eq!(fields(json!({"video": {"fps": 7}, "auth": {"source": "saved"}, "workflow": {"steps": [{"action": "fly"}]}, "intro": {"template": 3}})), [
            "options.video.fps",
            "options.auth.id",
            "options.workflow.steps[0]",
            "options.intro.template"
        ]);
        assert_eq!(fields(json!({"workflow": {"steps": [{"action": "goto", "url": "file:///etc/passwd"}]}})), ["options.workflow.steps[0].url"]);
        assert_eq!(fields(json!({"workflow": {}})), ["options.workflow"]);
    }

    #[test]
    fn checked_options_are_typed() {
        let parsed = RunOptions::parse(&json!({
            "video": {"fps": 24}, "colour": 1,
            "auth": {"source": "default"},
            "workflow": {"steps": [{"action": "goto", "url": "https://a.test/"}, {"action": "sign_in", "identity_id": "8d5f1c2e-4a7b-4c1d-9e3f-2b6a7c8d9e0f"}]},
            "intro": {"template": "simple@1", "content": {"title": "Hi"}}
        }))
        .unwrap();
        assert_eq!(parsed.warnings, ["options.colour is not a known option and was ignored"]);
        let options = parsed.options;
        assert_eq!(options.render.video.fps, 24);
        assert_eq!(options.auth, AuthSource::Default);
        assert_eq!(options.workflow.as_ref().map(Vec::len), Some(2));
        assert!(options.signs_in());
        assert_eq!(options.sign_in_identity(), Some(("options.workflow.steps[1].identity_id".into(), "8d5f1c2e-4a7b-4c1d-9e3f-2b6a7c8d9e0f".into())));
        assert_eq!(options.intro, Some(IntroSpec { template: "simple@1".into(), content: Some(json!({"title": "Hi"})), style: None }));
        let none = RunOptions::parse(&Value::Null).unwrap().options;
        assert_eq!((none.auth, none.workflow, none.intro, none.render), (AuthSource::None, None, None, RenderOptions::default()));
    }

    #[test]
    fn stored_options_open_their_sealed_secrets_first() {
        let sealer = Sealer::new(&[3u8; 32]);
        let mut stored = json!({"workflow": {"steps": [{"action": "type", "selector": "#code", "text": "482913", "secret": true}]}});
        crate::steps::sealed::seal(&mut stored, &sealer);
        let options = RunOptions::from_stored(&stored, Some(&sealer)).unwrap();
        assert!(matches!(&options.workflow.unwrap()[0], Step::Type { text, .. } if text == "482913"));
        let refused = RunOptions::from_stored(&stored, None).unwrap_err();
        assert!(refused.contains("steps[0]") && refused.contains("no secret key"), "{refused}");
    }
}
