//! Secret step texts at rest. Input: a run's `options` JSON as validated at the API, and
//! the server's sealer. Output: the same options with the text of every `secret: true`
//! `type` step replaced by `sealed_text` (base64 of nonce ‖ AES-GCM ciphertext), and
//! back again for the runner. Invariant: a stored or shown step never holds a secret in
//! the clear; the runner's steps hold it only after [`open`].

use crate::secrets::Sealer;
use base64::Engine;
use serde_json::Value;

const SEALED: &str = "sealed_text";

fn steps_mut(options: &mut Value) -> impl Iterator<Item = &mut serde_json::Map<String, Value>> {
    options.pointer_mut("/workflow/steps").and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut)
}

fn is_secret_type(step: &serde_json::Map<String, Value>) -> bool {
    step.get("action").and_then(Value::as_str) == Some("type") && step.get("secret") == Some(&Value::Bool(true))
}

/// The indexes of the steps whose text is a secret (`type` with `secret: true`).
pub fn secret_steps(options: &Value) -> Vec<usize> {
    let steps = options.pointer("/workflow/steps").and_then(Value::as_array);
    steps.into_iter().flatten().enumerate().filter(|(_, s)| s.as_object().is_some_and(is_secret_type)).map(|(i, _)| i).collect()
}

/// Replaces every secret step's `text` by its sealed form.
pub fn seal(options: &mut Value, sealer: &Sealer) {
    for step in steps_mut(options).filter(|s| is_secret_type(s)) {
        if let Some(Value::String(text)) = step.remove("text") {
            step.insert(SEALED.into(), Value::String(base64::engine::general_purpose::STANDARD.encode(sealer.seal(&text))));
        }
    }
}

/// Puts every sealed text back as `text`, for the runner. Errors name the step.
pub fn open(options: &mut Value, sealer: Option<&Sealer>) -> Result<(), String> {
    for (index, step) in steps_mut(options).enumerate() {
        let Some(sealed) = step.remove(SEALED) else { continue };
        let Some(sealer) = sealer else {
            return Err(format!("steps[{index}] holds a sealed secret and the server has no secret key to open it"));
        };
        let bytes = sealed.as_str().and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
        let text = bytes.and_then(|b| sealer.open(&b).ok()).ok_or_else(|| format!("steps[{index}]: its sealed secret does not open with this server's key"))?;
        step.insert("text".into(), Value::String(text));
    }
    Ok(())
}

/// The options as the API shows them: sealed texts left out (`secret: true` stays).
pub fn for_display(options: &Value) -> Value {
    let mut shown = options.clone();
    for step in steps_mut(&mut shown) {
        step.remove(SEALED);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_text_is_sealed_shown_without_it_and_opened_back() {
        let sealer = Sealer::new(&[7u8; 32]);
        let original = json!({"workflow": {"steps": [
            {"action": "type", "selector": "#user", "text": "ada"},
            {"action": "type", "selector": "#code", "text": "482913", "secret": true},
            {"action": "click", "text": "Go"}
        ]}});
        let mut stored = original.clone();
        seal(&mut stored, &sealer);
        let text = serde_json::to_string(&stored).unwrap();
        assert!(!text.contains("482913"), "{text}");
        assert_eq!(stored["workflow"]["steps"][0]["text"], "ada", "a plain text stays");
        assert_eq!(secret_steps(&stored), vec![1]);
        let shown = for_display(&stored);
        assert_eq!(shown["workflow"]["steps"][1], json!({"action": "type", "selector": "#code", "secret": true}));
        let mut opened = stored.clone();
        open(&mut opened, Some(&sealer)).unwrap();
        assert_eq!(opened, original);
        let mut keyless = stored.clone();
        assert!(open(&mut keyless, None).unwrap_err().contains("steps[1]"));
        let mut wrong_key = stored;
        assert!(open(&mut wrong_key, Some(&Sealer::new(&[8u8; 32]))).unwrap_err().contains("does not open"));
    }
}
