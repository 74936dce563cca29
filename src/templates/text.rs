//! Text fitting for a card's text slot. Input: the text (1–120 characters, line breaks
//! kept), the slot's box, its largest and smallest font sizes, and the font. Output: the
//! lines and the font size. Invariant: the largest size at which every line fits the
//! box's width and all lines its height; below the smallest size only if nothing else
//! fits, and a word wider than the box is broken between characters.

use resvg::usvg;
use std::collections::HashMap;

/// Widths are measured once at this size and scaled: advance widths are linear in size.
const MEASURE_PX: f64 = 100.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub lines: Vec<String>,
    pub font_px: f64,
}

/// How the text is drawn, as far as its width depends on it.
#[derive(Debug, Clone)]
pub struct Font {
    pub weight: String,
    pub letter_spacing: f64,
}

/// Fits `text` into `width` × `height` pixels.
pub fn fit(text: &str, width: f64, height: f64, largest_px: f64, smallest_px: f64, line_height: f64, font: &Font) -> Fitted {
    let paragraphs: Vec<Vec<&str>> = text.split('\n').map(|p| p.split_whitespace().collect()).collect();
    let mut words: Vec<&str> = paragraphs.iter().flatten().copied().collect();
    words.sort_unstable();
    words.dedup();
    let widths = measure(&words, font);
    let space = widths.get(" ").copied().unwrap_or(MEASURE_PX * 0.32);
    let width_of = |word: &str| widths.get(word).copied().unwrap_or(MEASURE_PX * 0.6 * word.chars().count() as f64);
    let mut size = largest_px;
    loop {
        let scale = size / MEASURE_PX;
        let lines = wrap(&paragraphs, width / scale, space, &width_of, &widths);
        let fits = lines.len() as f64 * size * line_height <= height + 0.5;
        // Shrinking goes past the smallest size only while something still overflows,
        // and stops at a third of it: a card with tiny text is worse than a tight one.
        if fits || size <= smallest_px / 3.0 {
            return Fitted { lines, font_px: size };
        }
        size = (size * 0.95).max(smallest_px / 3.0);
    }
}

/// Greedy wrap at `limit` measure-size pixels; paragraphs stay separate lines.
fn wrap(paragraphs: &[Vec<&str>], limit: f64, space: f64, width_of: &dyn Fn(&str) -> f64, widths: &HashMap<String, f64>) -> Vec<String> {
    let mut lines = Vec::new();
    for words in paragraphs {
        let mut line = String::new();
        let mut line_width = 0.0;
        for word in words {
            let w = width_of(word);
            if line.is_empty() {
                if w > limit {
                    // A word wider than the box: cut it between characters.
                    for piece in break_word(word, limit, widths) {
                        if !line.is_empty() {
                            lines.push(std::mem::take(&mut line));
                        }
                        line_width = width_of(&piece).min(limit);
                        line = piece;
                    }
                } else {
                    line = (*word).to_string();
                    line_width = w;
                }
            } else if line_width + space + w <= limit {
                line.push(' ');
                line.push_str(word);
                line_width += space + w;
            } else {
                lines.push(std::mem::take(&mut line));
                line = (*word).to_string();
                line_width = w;
                if w > limit {
                    let pieces = break_word(word, limit, widths);
                    let last = pieces.len() - 1;
                    for (i, piece) in pieces.into_iter().enumerate() {
                        if i < last { lines.push(piece) } else { line = piece }
                    }
                    line_width = limit;
                }
            }
        }
        lines.push(line);
    }
    lines
}

/// Pieces of `word` each at most `limit` wide, by the width of an average character.
fn break_word(word: &str, limit: f64, widths: &HashMap<String, f64>) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let per_char = widths.get(word).copied().unwrap_or(MEASURE_PX * 0.6 * chars.len() as f64) / chars.len().max(1) as f64;
    let take = ((limit / per_char).floor() as usize).max(1);
    chars.chunks(take).map(|c| c.iter().collect()).collect()
}

/// Advance widths at [`MEASURE_PX`] of every word, and of one space (key `" "`), from
/// one parse of an SVG that sets each word apart.
fn measure(words: &[&str], font: &Font) -> HashMap<String, f64> {
    let mut svg = String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">"#);
    let mut text = |id: &str, content: &str| {
        svg.push_str(&format!(
            r#"<text id="{id}" x="0" y="100" font-family="{}" font-size="{MEASURE_PX}" font-weight="{}" letter-spacing="{}" xml:space="preserve">{}</text>"#,
            crate::fonts::FAMILY,
            escape(&font.weight),
            font.letter_spacing,
            escape(content)
        ));
    };
    // A space is measured between two letters: "x x" less "xx".
    text("spaced", "x x");
    text("joined", "xx");
    for (i, word) in words.iter().enumerate() {
        text(&format!("w{i}"), word);
    }
    svg.push_str("</svg>");
    let mut widths = HashMap::new();
    let Ok(tree) = usvg::Tree::from_str(&svg, &crate::fonts::svg_options()) else { return widths };
    let width = |id: &str| tree.node_by_id(id).map(|n| n.abs_bounding_box().width() as f64);
    if let (Some(spaced), Some(joined)) = (width("spaced"), width("joined")) {
        widths.insert(" ".to_string(), spaced - joined);
    }
    for (i, word) in words.iter().enumerate() {
        if let Some(w) = width(&format!("w{i}")) {
            widths.insert((*word).to_string(), w);
        }
    }
    widths
}

/// Escapes text for an XML attribute or element.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bold() -> Font {
        Font { weight: "bold".into(), letter_spacing: 0.0 }
    }

    #[test]
    fn short_text_takes_the_largest_size_on_one_line() {
        let fitted = fit("Meet Orbit", 1400.0, 400.0, 96.0, 40.0, 1.2, &bold());
        assert_eq!(fitted.lines, vec!["Meet Orbit"]);
        assert_eq!(fitted.font_px, 96.0);
    }

    #[test]
    fn long_text_wraps_and_shrinks_and_keeps_line_breaks() {
        let text = "Ship product demos that explain themselves\nrecorded from the real product, every release, in every language you sell in";
        let fitted = fit(text, 1200.0, 360.0, 96.0, 40.0, 1.2, &bold());
        assert!(fitted.lines.len() >= 3, "{:?}", fitted.lines);
        assert!(fitted.font_px < 96.0);
        assert!(fitted.lines.len() as f64 * fitted.font_px * 1.2 <= 360.5);
        // The first paragraph ends a line of its own.
        let joined = fitted.lines.join("|");
        assert!(joined.contains("themselves|"), "{joined}");
    }

    #[test]
    fn a_word_wider_than_the_box_is_broken() {
        let fitted = fit(&"W".repeat(120), 600.0, 600.0, 96.0, 40.0, 1.2, &bold());
        assert!(fitted.lines.len() > 1);
        assert_eq!(fitted.lines.concat(), "W".repeat(120));
    }
}
