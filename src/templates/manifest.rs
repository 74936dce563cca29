//! A template's `manifest.json`. Input: the file's bytes. Output: a [`Manifest`] whose
//! every field is checked, or the first problem naming its field
//! (`layers.title.keyframes.y[1].ease`). Invariant: a `Manifest` value always animates:
//! times lie within the card, easings and lengths are known, schemas compile.

use super::motion::{Length, Track};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Shortest and longest card.
pub const DURATION_MS: std::ops::RangeInclusive<u64> = 1000..=10_000;

#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub version: u32,
    pub description: String,
    pub duration_ms: u64,
    /// The last part of the card, cross-faded into the demo's first frame.
    pub transition_ms: u64,
    /// JSON Schemas of `content` and `style` (with the shared `$defs` added).
    pub content_schema: Value,
    pub style_schema: Value,
    pub default_content: Map<String, Value>,
    pub default_style: Map<String, Value>,
    /// Content that shows the template off: what checks and previews use when a request
    /// gives none (never filled into a run's card).
    pub example_content: Map<String, Value>,
    /// Motion of the scene's layers by layer id; a layer not named stands still.
    pub layers: BTreeMap<String, LayerMotion>,
}

#[derive(Debug, Clone, Default)]
pub struct LayerMotion {
    pub opacity: Option<Track<f64>>,
    pub x: Option<Track<Length>>,
    pub y: Option<Track<Length>>,
    pub scale: Option<Track<f64>>,
    /// Gaussian-like blur radius in units of a 1080-pixel video.
    pub blur: Option<Track<f64>>,
    /// Drawn only inside its own resting box: what moves in from outside is revealed.
    pub clip: bool,
    /// A text layer animated one line at a time, each this much after the one before.
    pub line_stagger_ms: Option<f64>,
}

impl LayerMotion {
    /// When this layer stops moving (the last keyframe of its last line).
    pub fn end_ms(&self, lines: usize) -> f64 {
        let tracks = [
            self.opacity.as_ref().map(Track::end_ms),
            self.x.as_ref().map(Track::end_ms),
            self.y.as_ref().map(Track::end_ms),
            self.scale.as_ref().map(Track::end_ms),
            self.blur.as_ref().map(Track::end_ms),
        ];
        let last = tracks.into_iter().flatten().fold(0.0, f64::max);
        last + self.line_stagger_ms.unwrap_or(0.0) * lines.saturating_sub(1) as f64
    }
}

/// Definitions every template's schemas may use by `{"$ref": "#/$defs/color"}` and
/// `{"$ref": "#/$defs/background"}`.
pub fn shared_defs() -> Value {
    serde_json::json!({
        "color": {"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$", "description": "a colour, #RRGGBB"},
        "background": {
            "oneOf": [
                {"type": "object", "additionalProperties": false, "required": ["type"], "properties": {"type": {"const": "none"}}},
                {"type": "object", "additionalProperties": false, "required": ["type", "color"],
                 "properties": {"type": {"const": "solid"}, "color": {"$ref": "#/$defs/color"}}},
                {"type": "object", "additionalProperties": false, "required": ["type", "from", "to"],
                 "properties": {"type": {"const": "gradient"}, "from": {"$ref": "#/$defs/color"}, "to": {"$ref": "#/$defs/color"},
                                "direction": {"enum": ["vertical", "horizontal", "diagonal"]}}}
            ]
        },
        "text": {"type": "string", "minLength": 1, "maxLength": 120},
        "imageUrl": {"type": "string", "format": "uri", "maxLength": 2048, "description": "an absolute http or https URL of a PNG, JPEG or SVG"}
    })
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let map = value.as_object().ok_or("the manifest is a JSON object")?;
        const KNOWN: [&str; 9] = ["name", "version", "description", "duration_ms", "transition_ms", "schema", "defaults", "example", "layers"];
        if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("{unknown}: unknown field (known: {})", KNOWN.join(", ")));
        }
        let name = map.get("name").and_then(Value::as_str).ok_or("name: a string is required")?;
        if !valid_name(name) {
            return Err("name: 1 to 48 characters of a-z, 0-9 and -, starting with a letter".into());
        }
        let version = map.get("version").and_then(Value::as_u64).filter(|v| (1..=1_000_000).contains(v)).ok_or("version: a whole number from 1")? as u32;
        let description = map.get("description").and_then(Value::as_str).filter(|d| !d.is_empty() && d.chars().count() <= 300).ok_or("description: 1 to 300 characters")?;
        let duration_ms = map
            .get("duration_ms")
            .and_then(Value::as_u64)
            .filter(|d| DURATION_MS.contains(d))
            .ok_or_else(|| format!("duration_ms: {}..{} milliseconds", DURATION_MS.start(), DURATION_MS.end()))?;
        let transition_ms = match map.get("transition_ms") {
            None => 500.min(duration_ms / 2),
            Some(v) => v.as_u64().filter(|t| *t <= duration_ms / 2).ok_or("transition_ms: 0 to half of duration_ms")?,
        };
        let schema = map.get("schema").and_then(Value::as_object).ok_or("schema: an object with \"content\" and \"style\" JSON Schemas")?;
        let content_schema = compile_check(schema.get("content"), "schema.content")?;
        let style_schema = compile_check(schema.get("style"), "schema.style")?;
        let defaults = map.get("defaults").cloned().unwrap_or(Value::Object(Map::new()));
        let defaults = defaults.as_object().ok_or("defaults: an object with \"content\" and \"style\"")?;
        let object = |key: &str| match defaults.get(key) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(format!("defaults.{key}: an object")),
        };
        let (default_content, default_style) = (object("content")?, object("style")?);
        let example_content = match map.get("example").map(|e| e.get("content")) {
            None | Some(None) => Map::new(),
            Some(Some(Value::Object(m))) => m.clone(),
            Some(Some(_)) => return Err("example.content: an object".into()),
        };
        let mut layers = BTreeMap::new();
        if let Some(list) = map.get("layers") {
            let list = list.as_object().ok_or("layers: an object of layer id → motion")?;
            for (id, motion) in list {
                let motion = parse_motion(motion).map_err(|m| format!("layers.{id}{m}"))?;
                if motion.end_ms(1) > duration_ms as f64 {
                    return Err(format!("layers.{id}: keyframes run past duration_ms ({duration_ms})"));
                }
                layers.insert(id.clone(), motion);
            }
        }
        Ok(Manifest {
            name: name.to_string(),
            version,
            description: description.to_string(),
            duration_ms,
            transition_ms,
            content_schema,
            style_schema,
            default_content,
            default_style,
            example_content,
            layers,
        })
    }

    /// `name@version`, as plans and events record it.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

pub fn valid_name(name: &str) -> bool {
    (1..=48).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Adds the shared `$defs` and checks the schema compiles.
fn compile_check(schema: Option<&Value>, field: &str) -> Result<Value, String> {
    let mut schema = schema.cloned().ok_or_else(|| format!("{field}: a JSON Schema is required"))?;
    let map = schema.as_object_mut().ok_or_else(|| format!("{field}: a JSON Schema object"))?;
    if map.get("type").and_then(Value::as_str) != Some("object") {
        return Err(format!("{field}.type: \"object\""));
    }
    let defs = map.entry("$defs").or_insert_with(|| Value::Object(Map::new()));
    let defs = defs.as_object_mut().ok_or_else(|| format!("{field}.$defs: an object"))?;
    if let Value::Object(shared) = shared_defs() {
        for (k, v) in shared {
            defs.entry(k).or_insert(v);
        }
    }
    jsonschema::options().should_validate_formats(true).build(&schema).map_err(|e| format!("{field}: {e}"))?;
    Ok(schema)
}

fn parse_motion(value: &Value) -> Result<LayerMotion, String> {
    let map = value.as_object().ok_or(": an object with \"keyframes\", \"clip\", \"lines\"")?;
    if let Some(unknown) = map.keys().find(|k| !["keyframes", "clip", "lines"].contains(&k.as_str())) {
        return Err(format!(".{unknown}: unknown field (keyframes, clip, lines)"));
    }
    let mut motion = LayerMotion::default();
    match map.get("clip") {
        None => {}
        Some(Value::String(s)) if s == "bounds" => motion.clip = true,
        Some(Value::String(s)) if s == "none" => {}
        Some(_) => return Err(".clip: \"bounds\" or \"none\"".into()),
    }
    if let Some(lines) = map.get("lines") {
        let stagger = lines.get("stagger_ms").and_then(Value::as_f64).filter(|s| (0.0..=2000.0).contains(s));
        motion.line_stagger_ms = Some(stagger.ok_or(".lines.stagger_ms: 0..2000 milliseconds")?);
    }
    let Some(keyframes) = map.get("keyframes") else { return Ok(motion) };
    let keyframes = keyframes.as_object().ok_or(".keyframes: an object of property → keyframes")?;
    let number = |lo: f64, hi: f64| move |v: &Value| v.as_f64().filter(|x| (lo..=hi).contains(x)).ok_or_else(|| format!("a number within {lo}..{hi}"));
    for (property, track) in keyframes {
        let here = |m: String| format!(".keyframes.{property}{m}");
        match property.as_str() {
            "opacity" => motion.opacity = Some(Track::parse(track, number(0.0, 1.0)).map_err(here)?),
            "scale" => motion.scale = Some(Track::parse(track, number(0.0, 20.0)).map_err(here)?),
            "blur" => motion.blur = Some(Track::parse(track, number(0.0, 200.0)).map_err(here)?),
            "x" => motion.x = Some(Track::parse(track, Length::parse).map_err(here)?),
            "y" => motion.y = Some(Track::parse(track, Length::parse).map_err(here)?),
            other => return Err(format!(".keyframes.{other}: unknown property (opacity, x, y, scale, blur)")),
        }
    }
    Ok(motion)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(extra: Value) -> Value {
        let mut base = json!({
            "name": "card", "version": 1, "description": "A card", "duration_ms": 2000,
            "schema": {"content": {"type": "object"}, "style": {"type": "object"}},
            "layers": {"title": {"keyframes": {"opacity": [{"at": 0, "value": 0}, {"at": 400, "value": 1}]}}}
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    #[test]
    fn a_good_manifest_parses_with_its_shared_definitions() {
        let m = Manifest::parse(manifest(json!({})).to_string().as_bytes()).unwrap();
        assert_eq!(m.reference(), "card@1");
        assert_eq!(m.transition_ms, 500);
        assert!(m.style_schema["$defs"]["color"].is_object());
    }

    #[test]
    fn every_problem_names_its_field() {
        let cases = [
            (json!({"name": "Card!"}), "name:"),
            (json!({"duration_ms": 50}), "duration_ms:"),
            (json!({"layers": {"title": {"keyframes": {"spin": []}}}}), "layers.title.keyframes.spin"),
            (json!({"layers": {"title": {"keyframes": {"y": [{"at": 0, "value": "9em"}]}}}}), "layers.title.keyframes.y[0]: value"),
            (json!({"layers": {"title": {"keyframes": {"opacity": [{"at": 0, "value": 0}, {"at": 9000, "value": 1}]}}}}), "layers.title: keyframes run past"),
            (json!({"schema": {"content": {"type": "object", "properties": {"text": {"type": 7}}}, "style": {"type": "object"}}}), "schema.content"),
            (json!({"colour": 1}), "colour: unknown field"),
        ];
        for (extra, expected) in cases {
            let error = Manifest::parse(manifest(extra.clone()).to_string().as_bytes()).unwrap_err();
            assert!(error.starts_with(expected), "{extra} → {error}");
        }
    }
}
