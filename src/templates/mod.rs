//! Intro templates: the folders under `templates/` (one per template: `manifest.json`,
//! `scene.svg`, optional `assets/`), checked and made into cards. Input: a template
//! folder, and a request's `content` and `style`. Output: a [`Template`] whose values are
//! checked against its own JSON Schemas, and cards drawn from it.
//! Invariant: a loaded template has made a card at two sizes with its defaults, so a
//! later failure can only come from the values or the images of one request.
//! `docs/templates.md` describes the format for authors.

pub mod fetch;
pub mod manifest;
pub mod motion;
pub mod scene;
pub mod slots;
pub mod text;

pub use manifest::Manifest;
pub use scene::{Card, SceneInputs};

use crate::geometry::Size;
use crate::options::FieldError;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Largest scene and largest sum of assets a template may have.
pub const MAX_SCENE_BYTES: usize = 512 * 1024;
pub const MAX_ASSET_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TemplateError {
    #[error("manifest.json: {field}: {reason}")]
    Manifest { field: String, reason: String },
    #[error("{file}: {reason}")]
    Scene { file: String, reason: String },
    #[error("{0}")]
    Files(String),
}

/// An image format demoreel draws, recognised by its bytes (never by a name or a header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Svg,
}

impl ImageFormat {
    pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(ImageFormat::Png);
        }
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(ImageFormat::Jpeg);
        }
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
        let head = head.trim_start_matches('\u{feff}').trim_start();
        (head.starts_with("<svg") || (head.starts_with("<?xml") || head.starts_with("<!--")) && head.contains("<svg")).then_some(ImageFormat::Svg)
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Svg => "image/svg+xml",
        }
    }
}

/// An image a slot shows.
#[derive(Debug, Clone)]
pub struct Image {
    pub bytes: Arc<Vec<u8>>,
    pub kind: ImageFormat,
}

/// A loaded template.
pub struct Template {
    pub manifest: Manifest,
    scene: String,
    assets: Arc<HashMap<String, Vec<u8>>>,
    content_validator: jsonschema::Validator,
    style_validator: jsonschema::Validator,
    /// Content fields an `<image data-slot>` shows: URLs fetched before recording.
    pub image_fields: Vec<String>,
    /// Whether the scene shows the demo's first frame.
    pub uses_first_frame: bool,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").field("reference", &self.manifest.reference()).finish()
    }
}

/// `content` and `style` after defaults, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    pub content: Map<String, Value>,
    pub style: Map<String, Value>,
}

impl Template {
    /// Loads a template from its files: `manifest.json`, `scene.svg` and `assets/NAME`.
    pub fn from_files(files: &HashMap<String, Vec<u8>>) -> Result<Template, TemplateError> {
        let manifest_bytes = files.get("manifest.json").ok_or_else(|| TemplateError::Files("manifest.json: missing".into()))?;
        let manifest = Manifest::parse(manifest_bytes).map_err(|reason| match reason.split_once(": ") {
            Some((field, reason)) if !field.contains(' ') => TemplateError::Manifest { field: field.into(), reason: reason.into() },
            _ => TemplateError::Manifest { field: "(file)".into(), reason },
        })?;
        let scene_bytes = files.get("scene.svg").ok_or_else(|| TemplateError::Files("scene.svg: missing".into()))?;
        if scene_bytes.len() > MAX_SCENE_BYTES {
            return Err(TemplateError::Scene { file: "scene.svg".into(), reason: format!("{} bytes; at most {MAX_SCENE_BYTES}", scene_bytes.len()) });
        }
        let scene = String::from_utf8(scene_bytes.clone()).map_err(|_| TemplateError::Scene { file: "scene.svg".into(), reason: "not UTF-8".into() })?;
        let mut assets = HashMap::new();
        let mut total = 0;
        for (name, bytes) in files {
            match name.as_str() {
                "manifest.json" | "scene.svg" => {}
                _ if name.starts_with("assets/") && name.len() > 7 && !name[7..].contains('/') && !name.contains("..") => {
                    if ImageFormat::sniff(bytes).is_none() {
                        return Err(TemplateError::Files(format!("{name}: not a PNG, JPEG or SVG")));
                    }
                    total += bytes.len();
                    assets.insert(name.clone(), bytes.clone());
                }
                _ => return Err(TemplateError::Files(format!("{name}: a template holds manifest.json, scene.svg and assets/NAME only"))),
            }
        }
        if total > MAX_ASSET_BYTES {
            return Err(TemplateError::Files(format!("assets: {total} bytes; at most {MAX_ASSET_BYTES}")));
        }
        let build = |schema: &Value| jsonschema::options().should_validate_formats(true).build(schema).expect("checked by Manifest::parse");
        let (content_validator, style_validator) = (build(&manifest.content_schema), build(&manifest.style_schema));
        check_placeholders(&scene, &manifest)?;
        let slots = scene_slots(&scene);
        let image_fields = slots.iter().filter(|(tag, _)| tag == "image").map(|(_, slot)| slot.clone()).collect();
        let uses_first_frame = slots.iter().any(|(_, slot)| slot == "first-frame");
        let template = Template { manifest, scene, assets: Arc::new(assets), content_validator, style_validator, image_fields, uses_first_frame };
        template.self_check()?;
        Ok(template)
    }

    /// Loads the template in folder `dir`.
    pub fn from_dir(dir: &Path) -> Result<Template, TemplateError> {
        Template::from_files(&files_of_folder(dir)?)
    }

    /// Makes a card at two sizes from the defaults (and stand-in images), so that a
    /// template that cannot draw is refused when it is loaded, naming what is wrong.
    fn self_check(&self) -> Result<(), TemplateError> {
        let sample = self.example();
        let stand_in = Image { bytes: Arc::new(STAND_IN_LOGO.as_bytes().to_vec()), kind: ImageFormat::Svg };
        let images: HashMap<String, Image> = self.image_fields.iter().map(|f| (f.clone(), stand_in.clone())).collect();
        for size in [Size { width: 1920, height: 1080 }, Size { width: 1080, height: 1920 }] {
            self.card(&sample, &images, None, size)?;
        }
        Ok(())
    }

    /// The defaults with the manifest's example content: what a preview shows when asked
    /// for nothing in particular.
    pub fn example(&self) -> Values {
        let mut content = self.manifest.default_content.clone();
        content.extend(self.manifest.example_content.clone());
        Values { content, style: self.manifest.default_style.clone() }
    }

    /// Checks `content` and `style` (either may be absent) after filling in the defaults;
    /// errors name the field under `prefix` (`options.intro.style.textColor`).
    pub fn check_values(&self, content: Option<&Value>, style: Option<&Value>, prefix: &str) -> Result<Values, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut merged = |given: Option<&Value>, defaults: &Map<String, Value>, key: &str, validator: &jsonschema::Validator| {
            let mut map = defaults.clone();
            match given {
                None | Some(Value::Null) => {}
                Some(Value::Object(given)) => map.extend(given.clone()),
                Some(_) => {
                    errors.push(FieldError { field: format!("{prefix}.{key}"), message: "must be an object".into() });
                    return map;
                }
            }
            let value = Value::Object(map.clone());
            for error in validator.iter_errors(&value) {
                errors.push(field_error(&error, &format!("{prefix}.{key}")));
            }
            map
        };
        let content = merged(content, &self.manifest.default_content, "content", &self.content_validator);
        let style = merged(style, &self.manifest.default_style, "style", &self.style_validator);
        for field in &self.image_fields {
            if let Some(value) = content.get(field) {
                let url = value.as_str().unwrap_or_default();
                if let Err(reason) = crate::steps::url::check(url, crate::steps::url::Schemes::Web) {
                    errors.push(FieldError { field: format!("{prefix}.content.{field}"), message: reason });
                }
            }
        }
        errors.dedup();
        if errors.is_empty() { Ok(Values { content, style }) } else { Err(errors) }
    }

    /// Makes the card for checked `values` at `size`.
    pub fn card(&self, values: &Values, images: &HashMap<String, Image>, first_frame: Option<&[u8]>, size: Size) -> Result<Card, TemplateError> {
        let inputs = SceneInputs { size, content: &values.content, style: &values.style, images, first_frame };
        scene::make_card(&self.manifest, &self.scene, &self.assets, &inputs)
    }

    /// What the API lists: name, version, description, duration and both schemas.
    pub fn describe(&self, origin: &str) -> Value {
        let m = &self.manifest;
        serde_json::json!({
            "name": m.name,
            "version": m.version,
            "reference": m.reference(),
            "description": m.description,
            "duration_ms": m.duration_ms,
            "transition_ms": m.transition_ms,
            "origin": origin,
            "content": m.content_schema,
            "style": m.style_schema,
            "defaults": {"content": m.default_content, "style": m.default_style},
            "example": {"content": self.example().content},
            "image_fields": self.image_fields,
            "uses_first_frame": self.uses_first_frame,
        })
    }
}

/// The files of a template folder, by the names a template uses (`manifest.json`,
/// `scene.svg`, `assets/NAME`): what a template is loaded from, or uploaded as.
pub fn files_of_folder(dir: &Path) -> Result<HashMap<String, Vec<u8>>, TemplateError> {
    let read_error = |path: &Path, e: std::io::Error| TemplateError::Files(format!("{}: {e}", path.display()));
    let mut files = HashMap::new();
    for name in ["manifest.json", "scene.svg"] {
        let path = dir.join(name);
        files.insert(name.to_string(), std::fs::read(&path).map_err(|e| read_error(&path, e))?);
    }
    let assets = dir.join("assets");
    if assets.is_dir() {
        for entry in std::fs::read_dir(&assets).map_err(|e| read_error(&assets, e))? {
            let path = entry.map_err(|e| read_error(&assets, e))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            files.insert(format!("assets/{name}"), std::fs::read(&path).map_err(|e| read_error(&path, e))?);
        }
    }
    Ok(files)
}

/// A JSON Schema error as a field error: the path of the value at fault (for a missing
/// or unexpected property, the property itself).
fn field_error(error: &jsonschema::ValidationError<'_>, prefix: &str) -> FieldError {
    let mut field = prefix.to_string();
    for segment in error.instance_path().to_string().split('/').filter(|s| !s.is_empty()) {
        field.push('.');
        field.push_str(&segment.replace("~1", "/").replace("~0", "~"));
    }
    let message = error.to_string();
    match error.kind() {
        jsonschema::error::ValidationErrorKind::Required { property } => {
            FieldError { field: format!("{field}.{}", property.as_str().unwrap_or_default()), message: "is required".into() }
        }
        jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
            FieldError { field: format!("{field}.{}", unexpected.join(",")), message: "is not a field of this template".into() }
        }
        jsonschema::error::ValidationErrorKind::Pattern { pattern } if pattern.contains("#[0-9A-Fa-f]{6}") => {
            FieldError { field, message: "must be a colour #RRGGBB".into() }
        }
        _ => FieldError { field, message },
    }
}

/// Every `{{content.NAME}}` and `{{style.NAME}}` of the scene names a property its schema
/// declares: a misspelt placeholder would otherwise draw nothing, silently.
fn check_placeholders(scene: &str, manifest: &Manifest) -> Result<(), TemplateError> {
    let declared = |schema: &Value, name: &str| schema.get("properties").and_then(|p| p.get(name)).is_some();
    let mut rest = scene;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(TemplateError::Scene { file: "scene.svg".into(), reason: "a {{ without its }}".into() });
        };
        let key = after[..end].trim();
        let known = match key.split_once('.') {
            _ if key == "width" || key == "height" => true,
            Some(("content", name)) => declared(&manifest.content_schema, name),
            Some(("style", name)) => declared(&manifest.style_schema, name),
            _ => false,
        };
        if !known {
            return Err(TemplateError::Scene {
                file: "scene.svg".into(),
                reason: format!("{{{{{key}}}}} names nothing: placeholders are width, height, and content.NAME or style.NAME of a property the manifest's schema declares"),
            });
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

/// The elements of a scene that carry `data-slot`, as (tag, slot) pairs.
fn scene_slots(scene: &str) -> Vec<(String, String)> {
    let Ok(document) = resvg::usvg::roxmltree::Document::parse(scene) else { return Vec::new() };
    document
        .descendants()
        .filter_map(|n| n.attribute("data-slot").map(|slot| (n.tag_name().name().to_string(), slot.to_string())))
        .collect()
}

/// A logo for checking and previewing templates without fetching anything.
pub const STAND_IN_LOGO: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240"><rect x="8" y="8" width="224" height="224" rx="56" fill="#6366F1"/><circle cx="120" cy="120" r="58" fill="none" stroke="#FFFFFF" stroke-width="22"/><circle cx="170" cy="70" r="20" fill="#FFFFFF"/></svg>"##;

/// The templates that ship with demoreel, in `templates/` of the project.
pub fn builtin() -> &'static [Arc<Template>] {
    static BUILTIN: OnceLock<Vec<Arc<Template>>> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let dir = crate::project_dir().join("templates");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .filter_map(|path| match Template::from_dir(&path) {
                Ok(template) => Some(Arc::new(template)),
                Err(error) => {
                    tracing::error!(folder = %path.display(), %error, "a built-in template does not load");
                    None
                }
            })
            .collect()
    })
}

/// A built-in template by name, or by `name@version`.
pub fn find_builtin(reference: &str) -> Option<Arc<Template>> {
    let (name, version) = match reference.split_once('@') {
        Some((name, version)) => (name, Some(version.parse::<u32>().ok()?)),
        None => (reference, None),
    };
    builtin().iter().find(|t| t.manifest.name == name && version.is_none_or(|v| v == t.manifest.version)).cloned()
}
