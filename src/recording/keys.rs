//! The key vocabulary of the recording's events. Input: a key and its modifiers as the
//! timeline stores them. Output: the mac-style label a key chip (and a step's
//! description) shows. Invariant: plain typing, with or without ⇧, has no label.

use super::Modifier;

/// The mac-style label of a key press, or None for plain typing.
pub fn chip_label(key: &str, modifiers: &[Modifier]) -> Option<String> {
    let special = match key {
        "Enter" => Some("↵"),
        "Escape" => Some("esc"),
        "Tab" => Some("⇥"),
        "Backspace" => Some("⌫"),
        "Delete" => Some("⌦"),
        "ArrowLeft" => Some("←"),
        "ArrowRight" => Some("→"),
        "ArrowUp" => Some("↑"),
        "ArrowDown" => Some("↓"),
        _ => None,
    };
    let commanding = modifiers.iter().any(|m| matches!(m, Modifier::Ctrl | Modifier::Alt | Modifier::Meta));
    if special.is_none() && !commanding {
        return None;
    }
    if matches!(key, "Control" | "Alt" | "Shift" | "Meta") {
        return None; // a modifier pressed on its own completes nothing
    }
    let mut label = String::new();
    for (modifier, glyph) in [(Modifier::Ctrl, "⌃"), (Modifier::Alt, "⌥"), (Modifier::Shift, "⇧"), (Modifier::Meta, "⌘")] {
        if modifiers.contains(&modifier) {
            label.push_str(glyph);
        }
    }
    match special {
        Some(glyph) => label.push_str(glyph),
        None if key == " " => label.push_str("Space"),
        None if key.chars().count() == 1 => label.extend(key.chars().flat_map(char::to_uppercase)),
        None => label.push_str(key),
    }
    Some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_mac_order_and_skip_typing() {
        assert_eq!(chip_label("k", &[Modifier::Meta]).as_deref(), Some("⌘K"));
        assert_eq!(chip_label("p", &[Modifier::Meta, Modifier::Shift]).as_deref(), Some("⇧⌘P"));
        assert_eq!(chip_label("c", &[Modifier::Ctrl]).as_deref(), Some("⌃C"));
        assert_eq!(chip_label("Enter", &[]).as_deref(), Some("↵"));
        assert_eq!(chip_label("ArrowDown", &[]).as_deref(), Some("↓"));
        assert_eq!(chip_label("A", &[Modifier::Shift]), None);
        assert_eq!(chip_label("a", &[]), None);
        assert_eq!(chip_label("Meta", &[Modifier::Meta]), None);
    }
}
