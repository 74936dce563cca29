//! Strategies: any JSON value, with the words our parsers look for over-represented, and
//! a valid value with one of its parts replaced by any JSON.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names and values the parsers know, so generated objects reach past the first
/// unknown-key check.
const WORDS: &[&str] = &[
    "target_url", "goal", "options", "video", "artifacts", "auth", "workflow", "intro", "steps", "task_id",
    "action", "goto", "click", "type", "pause", "wait", "input", "press", "scroll", "url", "selector", "text",
    "role", "name", "ms", "timeout_ms", "prompt", "secret", "key", "size", "width", "height", "background",
    "cursor", "shortcuts", "blur_emails", "gif", "fps", "template", "content", "style", "source", "id",
    "default", "saved", "none", "small", "large", "https://example.com/", "http://127.0.0.1/", "file:///etc/passwd",
    "http://[::ffff:127.0.0.1]/", "http://2130706433/", "#12ab9f", "#fff", "1920", "simple", "button", "Sign in",
];

pub fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_string),
        1 => ".{0,24}",
        1 => "[a-z_]{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0u64..200_000).prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON numbers are finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        word().prop_map(Value::String),
    ]
}

/// Any JSON value up to four levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..6).prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every JSON pointer inside `value`, the root included.
fn pointers(value: &Value, here: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(child, format!("{here}/{}", key.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

/// `valid` with one part (chosen by `at`) replaced by `replacement`.
pub fn mutate(valid: &Value, at: prop::sample::Index, replacement: Value) -> Value {
    let mut all = Vec::new();
    pointers(valid, String::new(), &mut all);
    let pointer = &all[at.index(all.len())];
    let mut out = valid.clone();
    match out.pointer_mut(pointer) {
        Some(slot) => *slot = replacement,
        None => unreachable!("pointers come from the value itself"),
    }
    out
}

/// A run request that the API accepts (public target, every option in use).
pub fn valid_run_request() -> Value {
    serde_json::json!({
        "target_url": "https://example.com/app",
        "goal": "Create a project and invite a teammate",
        "options": {
            "video": {"size": {"width": 1280, "height": 720}, "cursor": "large", "shortcuts": true, "blur_emails": true},
            "artifacts": {"gif": true},
            "auth": {"source": "none"},
            "intro": {"template": "simple", "content": {"text": "Orbit"}},
            "workflow": {"steps": [
                {"action": "goto", "url": "https://example.com/login"},
                {"action": "click", "text": "Sign in"},
                {"action": "type", "selector": "#email", "text": "alex@example.com"},
                {"action": "input", "prompt": "Code", "role": "textbox", "name": "Code"},
                {"action": "pause", "ms": 500},
                {"action": "wait", "text": "Projects", "timeout_ms": 5000}
            ]}
        }
    })
}
