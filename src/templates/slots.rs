//! Filling a scene's slots. Input: the scene's text, the values, the images and the card
//! size. Output: the scene with `{{…}}` placeholders replaced and each `data-slot`
//! element rewritten as the markup that draws its value (wrapped text lines, an inlined
//! image, a filled rectangle). Invariant: every value is escaped for XML, so a value can
//! never add markup of its own.

use super::Image;
use super::scene::SceneInputs;
use super::text::{self, Font, escape};
use crate::geometry::Size;
use resvg::usvg;
use serde_json::Value;

/// Replaces `{{width}}`, `{{height}}`, `{{content.NAME}}` and `{{style.NAME}}` with their
/// values, escaped for XML. A placeholder naming nothing is an error.
pub(super) fn fill_placeholders(svg: &str, inputs: &SceneInputs<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(svg.len());
    let mut rest = svg;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("a {{ without its }}")?;
        let key = after[..end].trim();
        let value = match key {
            "width" => inputs.size.width.to_string(),
            "height" => inputs.size.height.to_string(),
            _ => {
                let (map, name) = match key.split_once('.') {
                    Some(("content", name)) => (inputs.content, name),
                    Some(("style", name)) => (inputs.style, name),
                    _ => return Err(format!("{{{{{key}}}}}: placeholders are width, height, content.NAME and style.NAME")),
                };
                match map.get(name) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::Bool(b)) => b.to_string(),
                    None | Some(Value::Null) => String::new(),
                    Some(_) => return Err(format!("{{{{{key}}}}}: an object or list is filled by a data-slot, not a placeholder")),
                }
            }
        };
        out.push_str(&escape(&value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A slot's length attribute: `12.5%` of the output's width or height, or a number in
/// units of a 1080-pixel video.
fn slot_length(text: &str, whole: f64, unit: f64) -> Result<f64, String> {
    let text = text.trim();
    let value = match text.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0 * whole),
        None => text.parse::<f64>().map(|v| v * unit),
    };
    value.ok().filter(|v| v.is_finite()).ok_or_else(|| format!("{text:?} is not a length (a number, or a percentage)"))
}

/// Presentation attributes a text slot passes on to each of its lines.
const TEXT_ATTRIBUTES: [&str; 7] = ["fill", "fill-opacity", "font-weight", "font-style", "letter-spacing", "opacity", "font-family"];

/// The text slot as one `<g id="LAYER.lineN">` per line.
pub(super) fn text_markup(node: usvg::roxmltree::Node<'_, '_>, value: &str, layer: &str, size: Size, unit: f64) -> Result<(String, usize), String> {
    let (cw, ch) = (size.width as f64, size.height as f64);
    let data = |name: &str| node.attribute(name).ok_or_else(|| format!("{name} is required"));
    let parts: Vec<&str> = data("data-box")?.split_whitespace().collect();
    let [x, y, w, h] = parts.as_slice() else { return Err("data-box: four lengths, x y width height".into()) };
    let (x, y, w, h) = (slot_length(x, cw, unit)?, slot_length(y, ch, unit)?, slot_length(w, cw, unit)?, slot_length(h, ch, unit)?);
    if w <= 0.0 || h <= 0.0 {
        return Err("data-box: width and height above 0".into());
    }
    let sizes: Vec<f64> = data("data-font-size")?.split_whitespace().map(|s| s.parse::<f64>()).collect::<Result<_, _>>().map_err(|_| "data-font-size: two numbers, largest and smallest")?;
    let [largest, smallest] = sizes.as_slice() else { return Err("data-font-size: two numbers, largest and smallest".into()) };
    if !(*smallest > 0.0 && smallest <= largest && *largest <= 1000.0) {
        return Err("data-font-size: 0 < smallest <= largest <= 1000".into());
    }
    let line_height = node.attribute("data-line-height").map_or(Ok(1.2), |v| v.parse::<f64>().ok().filter(|v| (0.6..=4.0).contains(v)).ok_or("data-line-height: 0.6..4"))?;
    let align = node.attribute("data-align").unwrap_or("center");
    let valign = node.attribute("data-valign").unwrap_or("middle");
    let font = Font {
        weight: node.attribute("font-weight").unwrap_or("normal").to_string(),
        letter_spacing: node.attribute("letter-spacing").and_then(|v| v.parse().ok()).unwrap_or(0.0),
    };
    let fitted = text::fit(value, w, h, largest * unit, smallest * unit, line_height, &font);
    let block = fitted.lines.len() as f64 * fitted.font_px * line_height;
    let top = match valign {
        "top" => y,
        "bottom" => y + h - block,
        "middle" => y + (h - block) / 2.0,
        other => return Err(format!("data-valign: top, middle or bottom, not {other:?}")),
    };
    let (anchor, ax) = match align {
        "left" => ("start", x),
        "center" => ("middle", x + w / 2.0),
        "right" => ("end", x + w),
        other => return Err(format!("data-align: left, center or right, not {other:?}")),
    };
    let passed: String = TEXT_ATTRIBUTES
        .iter()
        .filter(|a| **a != "font-family")
        .filter_map(|a| node.attribute(*a).map(|v| format!(r#" {a}="{}""#, escape(v))))
        .collect();
    let mut markup = String::new();
    for (i, line) in fitted.lines.iter().enumerate() {
        // The baseline sits where the line's em box is centred in its line box.
        let baseline = top + (i as f64 + 0.5) * fitted.font_px * line_height + 0.36 * fitted.font_px;
        markup.push_str(&format!(
            r#"<g id="{layer}.line{i}"><text x="{ax:.2}" y="{baseline:.2}" font-family="{}" font-size="{:.2}" text-anchor="{anchor}" xml:space="preserve"{passed}>{}</text></g>"#,
            crate::fonts::FAMILY,
            fitted.font_px,
            escape(line)
        ));
    }
    Ok((markup, fitted.lines.len()))
}

/// The image slot with the fetched image inlined.
pub(super) fn image_markup(node: usvg::roxmltree::Node<'_, '_>, image: &Image) -> String {
    use base64::Engine;
    let kept: String = node
        .attributes()
        .filter(|a| !a.name().starts_with("data-") && a.name() != "href")
        .map(|a| format!(r#" {}="{}""#, a.name(), escape(a.value())))
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&image.bytes[..]);
    format!(r#"<image{kept} href="data:{};base64,{encoded}"/>"#, image.kind.mime())
}

/// A `<rect>` slot painted with a background value (`none`, `solid`, `gradient`).
pub(super) fn background_markup(node: usvg::roxmltree::Node<'_, '_>, value: &Value) -> Result<String, String> {
    let kept: String = node
        .attributes()
        .filter(|a| !a.name().starts_with("data-") && a.name() != "fill")
        .map(|a| format!(r#" {}="{}""#, a.name(), escape(a.value())))
        .collect();
    let color = |key: &str| value.get(key).and_then(Value::as_str).and_then(crate::options::parse_hex_color).map(|c| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2));
    match value.get("type").and_then(Value::as_str) {
        Some("none") => Ok(String::new()),
        Some("solid") => Ok(format!(r#"<rect{kept} fill="{}"/>"#, color("color").ok_or("a solid background needs color #RRGGBB")?)),
        Some("gradient") => {
            let (from, to) = (color("from").ok_or("gradient: from #RRGGBB")?, color("to").ok_or("gradient: to #RRGGBB")?);
            let (x2, y2) = match value.get("direction").and_then(Value::as_str).unwrap_or("diagonal") {
                "vertical" => (0, 1),
                "horizontal" => (1, 0),
                _ => (1, 1),
            };
            Ok(format!(
                r#"<linearGradient id="demoreel-background-slot" x1="0" y1="0" x2="{x2}" y2="{y2}"><stop offset="0" stop-color="{from}"/><stop offset="1" stop-color="{to}"/></linearGradient><rect{kept} fill="url(#demoreel-background-slot)"/>"#
            ))
        }
        _ => Err("a background is {\"type\": \"none\" | \"solid\" | \"gradient\", ...}".into()),
    }
}

