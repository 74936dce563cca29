//! A workflow's declared parameters: what a replay fills in. Input: the parameters a
//! task version declares, and the `params` object a run gives. Output: the steps with
//! each `{{name}}` placeholder replaced by its value, or errors naming
//! `options.workflow.params.NAME`. Invariant: a step list handed to the runner holds no
//! placeholder: every declared parameter got a value of its type, and nothing else did.

use super::Step;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One value a workflow takes: named after the field it was typed into, typed after the
/// input, with the value demonstrated as the example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    /// `email`, `text`, `number`, `date` or `choice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value the person typed.
    pub example: String,
}

/// The text of a `type` step (or the option of a `select` step) that a parameter fills:
/// the whole text, nothing around it.
pub fn placeholder(name: &str) -> String {
    format!("{{{{{name}}}}}")
}

/// The parameter a step's text names, if it is a placeholder.
fn named_by(text: &str) -> Option<&str> {
    text.strip_prefix("{{")?.strip_suffix("}}")
}

/// JSON Schema of the parameters (a tool's `parameters`): every one required.
pub fn schema(parameters: &[Parameter]) -> Value {
    let properties: serde_json::Map<String, Value> = parameters
        .iter()
        .map(|p| {
            let property = match p.kind.as_str() {
                "email" => json!({"type": "string", "format": "email"}),
                "number" => json!({"type": "number"}),
                "date" => json!({"type": "string", "format": "date"}),
                _ => json!({"type": "string"}),
            };
            let mut property = property;
            property["examples"] = json!([p.example]);
            (p.name.clone(), property)
        })
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": parameters.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        "additionalProperties": false,
    })
}

/// A value checked against its parameter's type, as the text to type.
fn typed_value(parameter: &Parameter, value: &Value) -> Result<String, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if parameter.kind == "number" => n.to_string(),
        _ => return Err(format!("must be a {} (a string)", parameter.kind)),
    };
    if text.chars().count() > super::MAX_TYPED_CHARS {
        return Err(format!("must be at most {} characters", super::MAX_TYPED_CHARS));
    }
    let ok = match parameter.kind.as_str() {
        "email" => {
            let (local, domain) = text.split_once('@').unwrap_or(("", ""));
            !local.is_empty() && domain.contains('.') && !text.chars().any(char::is_whitespace)
        }
        "number" => text.trim().parse::<f64>().is_ok_and(f64::is_finite),
        // The value a date input holds: YYYY-MM-DD (a time or month input's shorter forms too).
        "date" => !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | ':' | 'T' | 'W')),
        _ => !text.is_empty(),
    };
    if ok { Ok(text) } else { Err(format!("must be a valid {} (the demonstrated value was {:?})", parameter.kind, parameter.example)) }
}

/// The steps with every placeholder filled from `params`; `(field, message)` pairs name
/// each parameter missing, mistyped or not declared.
pub fn fill(steps: &[Step], parameters: &[Parameter], params: Option<&Value>, prefix: &str) -> Result<Vec<Step>, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let empty = serde_json::Map::new();
    let given = match params {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => return Err(vec![(prefix.to_string(), "must be an object of parameter values".into())]),
    };
    let mut values = std::collections::HashMap::new();
    for parameter in parameters {
        let field = format!("{prefix}.{}", parameter.name);
        match given.get(&parameter.name) {
            None | Some(Value::Null) => errors.push((field, format!("is required ({}, e.g. {:?})", parameter.kind, parameter.example))),
            Some(value) => match typed_value(parameter, value) {
                Ok(text) => {
                    values.insert(parameter.name.as_str(), text);
                }
                Err(message) => errors.push((field, message)),
            },
        }
    }
    for name in given.keys().filter(|name| !parameters.iter().any(|p| &p.name == *name)) {
        let declared = parameters.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
        errors.push((format!("{prefix}.{name}"), format!("is not a parameter of this task (it takes: {declared})")));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let filled = steps
        .iter()
        .map(|step| match step {
            Step::Type { text, .. } | Step::Select { option: text, .. } if named_by(text).is_some_and(|name| values.contains_key(name)) => {
                let mut step = step.clone();
                if let Step::Type { text, .. } | Step::Select { option: text, .. } = &mut step {
                    *text = values[named_by(text).unwrap_or_default()].clone();
                }
                step
            }
            other => other.clone(),
        })
        .collect();
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::Target;

    fn typing(text: &str) -> Step {
        Step::Type { text: text.into(), target: Target { selector: Some("#f".into()), ..Target::default() }, secret: false, label: None, timeout_ms: None, only_within: None }
    }

    #[test]
    fn placeholders_are_filled_and_every_fault_names_its_parameter() {
        let parameters = vec![
            Parameter { name: "project_name".into(), kind: "text".into(), example: "Apollo".into() },
            Parameter { name: "owner_email".into(), kind: "email".into(), example: "ada@orbit.test".into() },
            Parameter { name: "seats".into(), kind: "number".into(), example: "3".into() },
        ];
        let steps = vec![typing("{{project_name}}"), typing("{{owner_email}}"), typing("{{seats}}"), typing("{{kept as typed}}")];
        let filled = fill(&steps, &parameters, Some(&json!({"project_name": "Zephyr", "owner_email": "max@orbit.test", "seats": 12})), "options.workflow.params").unwrap();
        let texts: Vec<_> = filled.iter().map(|s| if let Step::Type { text, .. } = s { text.clone() } else { String::new() }).collect();
        assert_eq!(texts, ["Zephyr", "max@orbit.test", "12", "{{kept as typed}}"]);

        let errors = fill(&steps, &parameters, Some(&json!({"owner_email": "nobody", "seats": "many", "colour": "red"})), "options.workflow.params").unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["options.workflow.params.project_name", "options.workflow.params.owner_email", "options.workflow.params.seats", "options.workflow.params.colour"]);
        assert!(fill(&steps, &parameters, Some(&json!([1])), "p").is_err());
    }

    #[test]
    fn the_schema_requires_every_parameter_with_its_type() {
        let parameters = vec![Parameter { name: "owner_email".into(), kind: "email".into(), example: "ada@orbit.test".into() }];
        let schema = schema(&parameters);
        assert_eq!(schema["required"], json!(["owner_email"]));
        assert_eq!(schema["properties"]["owner_email"]["format"], json!("email"));
        assert_eq!(schema["additionalProperties"], json!(false));
    }
}
