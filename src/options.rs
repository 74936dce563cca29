//! Render options (`options.video` and `options.artifacts` of spec/video.md).
//! Input: the user's JSON. Output: [`RenderOptions`] with every default resolved, or every
//! problem at once, each naming its field (`video.size.width`).
//! Invariant: a `RenderOptions` value is always renderable; later stages never re-validate.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    pub video: VideoOptions,
    pub artifacts: ArtifactOptions,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoOptions {
    pub cursor: CursorSize,
    pub shortcuts: bool,
    pub blur_emails: bool,
    pub width: u32,
    pub height: u32,
    pub content: ContentFit,
    pub background: Background,
    /// demoreel extension: output frame rate, one of [`FRAME_RATES`].
    pub fps: u32,
    /// demoreel extension: how `redact` rectangles are hidden in demo.mp4.
    pub redaction: RedactionMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactionMode {
    Blur,
    Pixelate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorSize {
    Small,
    Default,
    Large,
    None,
}

/// How much of the canvas the page covers in framed mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ContentFit {
    /// Edge to edge: the page is the whole video (background `none`).
    EdgeToEdge,
    /// The content area is this fraction of the canvas in each dimension.
    Scale(f64),
    /// The content area is the canvas less this many pixels on every side.
    Padding(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradientDirection {
    Vertical,
    Horizontal,
    Diagonal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    None,
    Solid(Rgb),
    Gradient { from: Rgb, to: Rgb, direction: GradientDirection },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactOptions {
    pub gif: bool,
    pub gif_width: u32,
    pub gif_fps: u32,
    pub gif_max_bytes: Option<u64>,
}

pub const FRAME_RATES: [u32; 5] = [24, 25, 30, 50, 60];
pub const DEFAULT_FRAMED_SCALE: f64 = 0.9;
/// Smallest content area (each side) that padding may leave.
const MIN_CONTENT_SIDE: u32 = 160;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid options: {}", .details.iter().map(|d| format!("{}: {}", d.field, d.message)).collect::<Vec<_>>().join("; "))]
pub struct OptionsError {
    pub details: Vec<FieldError>,
}

/// Valid options plus the names of keys that were ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub options: RenderOptions,
    pub warnings: Vec<String>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        parse(&Value::Object(Map::new())).expect("empty options are valid").options
    }
}

/// Validates `{"video": {...}, "artifacts": {...}}`; other top-level keys (auth, intro,
/// workflow) belong to other stages and are left alone.
pub fn parse(value: &Value) -> Result<Parsed, OptionsError> {
    let mut v = Validator::default();
    let root = match value {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => {
            v.error("options", "must be a JSON object");
            return Err(OptionsError { details: v.errors });
        }
    };
    let video_map = v.object(&root, "video", "video");
    let artifacts_map = v.object(&root, "artifacts", "artifacts");

    let cursor = match v.string(&video_map, "cursor", "video.cursor").as_deref() {
        None | Some("default") => CursorSize::Default,
        Some("small") => CursorSize::Small,
        Some("large") => CursorSize::Large,
        Some("none") => CursorSize::None,
        Some(other) => {
            v.error("video.cursor", format!("unknown value {other:?}; expected small, default, large or none"));
            CursorSize::Default
        }
    };
    let shortcuts = v.boolean(&video_map, "shortcuts", "video.shortcuts").unwrap_or(false);
    let blur_emails = v.boolean(&video_map, "blur_emails", "video.blur_emails").unwrap_or(false);
    let fps = match v.integer(&video_map, "fps", "video.fps") {
        None => 30,
        Some(fps) if FRAME_RATES.contains(&(fps as u32)) && fps <= 60 => fps as u32,
        Some(fps) => {
            v.error("video.fps", format!("{fps} is not supported; expected one of 24, 25, 30, 50, 60"));
            30
        }
    };
    let redaction = match v.string(&video_map, "redaction", "video.redaction").as_deref() {
        None | Some("blur") => RedactionMode::Blur,
        Some("pixelate") => RedactionMode::Pixelate,
        Some(other) => {
            v.error("video.redaction", format!("unknown value {other:?}; expected blur or pixelate"));
            RedactionMode::Blur
        }
    };
    let background = parse_background(&mut v, &video_map);

    let size_map = v.object(&video_map, "size", "video.size");
    let width = v.dimension(&size_map, "width", "video.size.width", 1920, 320, 3840);
    let height = v.dimension(&size_map, "height", "video.size.height", 1080, 240, 2160);
    let content = parse_content(&mut v, &size_map, background, width, height);
    v.unknown_keys(&video_map, "video", &["cursor", "shortcuts", "blur_emails", "fps", "redaction", "size", "background"]);
    v.unknown_keys(&size_map, "video.size", &["width", "height", "content"]);

    let artifacts = parse_artifacts(&mut v, &artifacts_map);

    if !v.errors.is_empty() {
        return Err(OptionsError { details: v.errors });
    }
    Ok(Parsed {
        options: RenderOptions {
            video: VideoOptions { cursor, shortcuts, blur_emails, width, height, content, background, fps, redaction },
            artifacts,
        },
        warnings: v.warnings,
    })
}

/// `options.artifacts`: the GIF's switch, width, rate and byte budget.
fn parse_artifacts(v: &mut Validator, artifacts_map: &Map<String, Value>) -> ArtifactOptions {
    let gif = v.boolean(artifacts_map, "gif", "artifacts.gif").unwrap_or(false);
    let gif_width = match v.integer(artifacts_map, "gif_width", "artifacts.gif_width") {
        None => 960,
        Some(w) if (160..=1920).contains(&w) => w as u32,
        Some(_) => {
            v.error("artifacts.gif_width", "must be between 160 and 1920");
            960
        }
    };
    let gif_fps = match v.integer(artifacts_map, "gif_fps", "artifacts.gif_fps") {
        None => 12,
        Some(f) if (1..=30).contains(&f) => f as u32,
        Some(_) => {
            v.error("artifacts.gif_fps", "must be between 1 and 30");
            12
        }
    };
    let gif_max_bytes = match v.integer(artifacts_map, "gif_max_bytes", "artifacts.gif_max_bytes") {
        None => None,
        Some(b) if b >= 10_000 => Some(b as u64),
        Some(_) => {
            v.error("artifacts.gif_max_bytes", "must be at least 10000");
            None
        }
    };
    v.unknown_keys(artifacts_map, "artifacts", &["gif", "gif_width", "gif_fps", "gif_max_bytes"]);
    ArtifactOptions { gif, gif_width, gif_fps, gif_max_bytes }
}

fn parse_background(v: &mut Validator, video: &Map<String, Value>) -> Background {
    let map = v.object(video, "background", "video.background");
    let kind = v.string(&map, "type", "video.background.type");
    match kind.as_deref() {
        None if map.is_empty() => Background::None,
        None => {
            v.error("video.background.type", "is required: none, solid or gradient");
            Background::None
        }
        Some("none") => {
            v.unknown_keys(&map, "video.background", &["type"]);
            Background::None
        }
        Some("solid") => {
            let color = v.color(&map, "color", "video.background.color", true);
            v.unknown_keys(&map, "video.background", &["type", "color"]);
            Background::Solid(color.unwrap_or(Rgb(0, 0, 0)))
        }
        Some("gradient") => {
            let from = v.color(&map, "from", "video.background.from", true);
            let to = v.color(&map, "to", "video.background.to", true);
            let direction = match v.string(&map, "direction", "video.background.direction").as_deref() {
                None | Some("diagonal") => GradientDirection::Diagonal,
                Some("vertical") => GradientDirection::Vertical,
                Some("horizontal") => GradientDirection::Horizontal,
                Some(other) => {
                    v.error(
                        "video.background.direction",
                        format!("unknown value {other:?}; expected vertical, horizontal or diagonal"),
                    );
                    GradientDirection::Diagonal
                }
            };
            v.unknown_keys(&map, "video.background", &["type", "from", "to", "direction"]);
            Background::Gradient { from: from.unwrap_or(Rgb(0, 0, 0)), to: to.unwrap_or(Rgb(0, 0, 0)), direction }
        }
        Some(other) => {
            v.error("video.background.type", format!("unknown value {other:?}; expected none, solid or gradient"));
            Background::None
        }
    }
}

fn parse_content(
    v: &mut Validator,
    size: &Map<String, Value>,
    background: Background,
    width: u32,
    height: u32,
) -> ContentFit {
    let content = v.object(size, "content", "video.size.content");
    let scale = v.number(&content, "scale", "video.size.content.scale");
    let padding = v.integer(&content, "padding", "video.size.content.padding");
    v.unknown_keys(&content, "video.size.content", &["scale", "padding"]);
    if scale.is_some() && padding.is_some() {
        v.error("video.size.content", "give either scale or padding, not both");
        return ContentFit::EdgeToEdge;
    }
    if let Some(scale) = scale
        && !(0.5..=1.0).contains(&scale)
    {
        v.error("video.size.content.scale", format!("{scale} is out of range 0.5..1.0"));
    }
    if let Some(padding) = padding {
        let limit = (width.min(height).saturating_sub(MIN_CONTENT_SIDE)) / 2;
        if padding < 0 || padding as u64 > limit as u64 {
            v.error(
                "video.size.content.padding",
                format!("{padding} is out of range 0..{limit} for a {width}x{height} video"),
            );
        }
    }
    if background == Background::None {
        if !content.is_empty() {
            v.warnings.push("video.size.content is ignored: background none renders edge to edge".into());
        }
        return ContentFit::EdgeToEdge;
    }
    match (scale, padding) {
        (_, Some(padding)) => ContentFit::Padding(padding.max(0) as u32),
        (Some(scale), None) => ContentFit::Scale(scale),
        (None, None) => ContentFit::Scale(DEFAULT_FRAMED_SCALE),
    }
}

/// Collects field errors instead of stopping at the first, so a user fixes them in one go.
#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
    warnings: Vec<String>,
}

impl Validator {
    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.to_string(), message: message.into() });
    }

    fn object(&mut self, parent: &Map<String, Value>, key: &str, field: &str) -> Map<String, Value> {
        match parent.get(key) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                self.error(field, "must be an object");
                Map::new()
            }
        }
    }

    fn string(&mut self, parent: &Map<String, Value>, key: &str, field: &str) -> Option<String> {
        match parent.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.error(field, "must be a string");
                None
            }
        }
    }

    fn boolean(&mut self, parent: &Map<String, Value>, key: &str, field: &str) -> Option<bool> {
        match parent.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(field, "must be true or false");
                None
            }
        }
    }

    fn number(&mut self, parent: &Map<String, Value>, key: &str, field: &str) -> Option<f64> {
        match parent.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(_) => {
                self.error(field, "must be a number");
                None
            }
        }
    }

    fn integer(&mut self, parent: &Map<String, Value>, key: &str, field: &str) -> Option<i64> {
        match parent.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Some(i),
                None => {
                    self.error(field, "must be a whole number");
                    None
                }
            },
            Some(_) => {
                self.error(field, "must be a whole number");
                None
            }
        }
    }

    fn dimension(&mut self, parent: &Map<String, Value>, key: &str, field: &str, default: u32, min: u32, max: u32) -> u32 {
        match self.integer(parent, key, field) {
            None => default,
            Some(n) if n < min as i64 || n > max as i64 => {
                self.error(field, format!("{n} is out of range {min}..{max}"));
                default
            }
            Some(n) if n % 2 != 0 => {
                self.error(field, format!("{n} is odd; video sizes must be even"));
                default
            }
            Some(n) => n as u32,
        }
    }

    fn color(&mut self, parent: &Map<String, Value>, key: &str, field: &str, required: bool) -> Option<Rgb> {
        match self.string(parent, key, field) {
            None => {
                if required && !parent.contains_key(key) {
                    self.error(field, "is required (#RRGGBB)");
                }
                None
            }
            Some(text) => match parse_hex_color(&text) {
                Some(rgb) => Some(rgb),
                None => {
                    self.error(field, format!("{text:?} is not a #RRGGBB colour"));
                    None
                }
            },
        }
    }

    fn unknown_keys(&mut self, map: &Map<String, Value>, prefix: &str, known: &[&str]) {
        for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
            self.warnings.push(format!("{prefix}.{key} is not a known option and was ignored"));
        }
    }
}

pub fn parse_hex_color(text: &str) -> Option<Rgb> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some(Rgb(channel(0)?, channel(2)?, channel(4)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Vec<String> {
        parse(&value).unwrap_err().details.into_iter().map(|d| d.field).collect()
    }

    #[test]
    fn defaults_are_edge_to_edge_1080p30() {
        let o = RenderOptions::default();
        assert_eq!((o.video.width, o.video.height, o.video.fps), (1920, 1080, 30));
        assert_eq!(o.video.content, ContentFit::EdgeToEdge);
        assert_eq!(o.video.background, Background::None);
    }

    #[test]
    fn framed_mode_defaults_to_scale_0_9() {
        let p = parse(&json!({"video": {"background": {"type": "solid", "color": "#102030"}}})).unwrap();
        assert_eq!(p.options.video.content, ContentFit::Scale(0.9));
        assert_eq!(p.options.video.background, Background::Solid(Rgb(0x10, 0x20, 0x30)));
    }

    #[test]
    fn every_bad_field_is_named() {
        let got = fields(json!({"video": {
            "cursor": "huge",
            "fps": 29,
            "size": {"width": 1921, "height": 100, "content": {"scale": 0.2}},
            "background": {"type": "gradient", "from": "red", "to": "#00ff00", "direction": "radial"}
        }}));
        assert_eq!(
            got,
            [
                "video.cursor",
                "video.fps",
                "video.background.from",
                "video.background.direction",
                "video.size.width",
                "video.size.height",
                "video.size.content.scale"
            ]
        );
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        assert_eq!(fields(json!({"video": "big"})), ["video"]);
        assert_eq!(fields(json!({"video": {"shortcuts": "yes"}})), ["video.shortcuts"]);
        assert_eq!(fields(json!({"video": {"size": {"width": 1280.5}}})), ["video.size.width"]);
        assert_eq!(fields(json!([1, 2])), ["options"]);
    }

    #[test]
    fn unknown_keys_warn() {
        let p = parse(&json!({"video": {"sparkles": true}})).unwrap();
        assert_eq!(p.warnings, ["video.sparkles is not a known option and was ignored"]);
    }
}
