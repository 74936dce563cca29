//! Key chips on the output clock. Input: key events on output time. Output: the chips
//! visible at any time, with their opacity and stacking row.
//! Invariants: only keyboard actions with ⌃ ⌥ ⌘ or a special key are chipped (plain
//! typing, with or without ⇧, is not); quick repeats of one combination are one chip with
//! a count; a chip is fully visible for at least `HOLD_MS` after its last press.

use super::cursor::OutputEvent;
use crate::recording::{Event, chip_label};

pub const FADE_IN_MS: f64 = 120.0;
pub const HOLD_MS: f64 = 1000.0;
pub const FADE_OUT_MS: f64 = 220.0;
/// Presses of the same combination closer than this collapse into one chip.
pub const REPEAT_MS: f64 = 900.0;
/// Time a chip takes to move up a row when a newer one arrives below it.
const RESTACK_MS: f64 = 160.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Chip {
    pub label: String,
    pub count: u32,
    /// Output ms of the first press.
    pub start: f64,
    /// Output ms of each press after the first, for the counter.
    pub repeats: Vec<f64>,
}

impl Chip {
    fn last_press(&self) -> f64 {
        self.repeats.last().copied().unwrap_or(self.start)
    }
    fn end(&self) -> f64 {
        self.last_press() + HOLD_MS + FADE_OUT_MS
    }
}

/// A chip as drawn at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ChipNow {
    pub label: String,
    /// Presses so far (the ×N counter shows when above 1).
    pub count: u32,
    pub opacity: f64,
    /// 0 = the bottom row; older chips sit higher, moving up smoothly.
    pub row: f64,
}

#[derive(Debug, Clone, Default)]
pub struct ChipSchedule {
    chips: Vec<Chip>,
}

impl ChipSchedule {
    pub fn build(events: &[OutputEvent<'_>]) -> ChipSchedule {
        let mut chips: Vec<Chip> = Vec::new();
        for &(t, event) in events {
            let Event::Key { key, modifiers, .. } = event else { continue };
            let Some(label) = chip_label(key, modifiers) else { continue };
            match chips.last_mut() {
                Some(last) if last.label == label && t - last.last_press() < REPEAT_MS => {
                    last.count += 1;
                    last.repeats.push(t);
                }
                _ => chips.push(Chip { label, count: 1, start: t, repeats: Vec::new() }),
            }
        }
        ChipSchedule { chips }
    }

    pub fn chips(&self) -> &[Chip] {
        &self.chips
    }

    pub fn at(&self, t: f64) -> Vec<ChipNow> {
        let visible: Vec<&Chip> = self.chips.iter().filter(|c| c.start <= t && t < c.end()).collect();
        visible
            .iter()
            .enumerate()
            .map(|(i, chip)| {
                let fade_in = ((t - chip.start) / FADE_IN_MS).clamp(0.0, 1.0);
                let fade_out = ((chip.end() - t) / FADE_OUT_MS).clamp(0.0, 1.0);
                let row = visible[i + 1..].iter().map(|newer| ((t - newer.start) / RESTACK_MS).clamp(0.0, 1.0)).sum();
                let count = 1 + chip.repeats.iter().filter(|&&r| r <= t).count() as u32;
                ChipNow { label: chip.label.clone(), count, opacity: ease(fade_in.min(fade_out)), row }
            })
            .collect()
    }
}

fn ease(u: f64) -> f64 {
    u * u * (3.0 - 2.0 * u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::Modifier;

    fn key(key: &str, modifiers: &[Modifier]) -> Event {
        Event::Key { key: key.into(), code: String::new(), modifiers: modifiers.to_vec(), text: None }
    }

    #[test]
    fn repeats_collapse_and_chips_stack() {
        let down = key("ArrowDown", &[]);
        let palette = key("k", &[Modifier::Meta]);
        let events: Vec<OutputEvent> = vec![(0.0, &down), (250.0, &down), (500.0, &down), (600.0, &palette)];
        let schedule = ChipSchedule::build(&events);
        assert_eq!(schedule.chips().len(), 2);
        let now = schedule.at(1000.0);
        assert_eq!(now[0].label, "↓");
        assert_eq!(now[0].count, 3);
        assert_eq!(now[0].row, 1.0);
        assert_eq!(now[1].row, 0.0);
        // Held a full second after the last press, gone after the fade.
        assert_eq!(schedule.at(500.0 + HOLD_MS).iter().find(|c| c.label == "↓").unwrap().opacity, 1.0);
        assert!(schedule.at(500.0 + HOLD_MS + FADE_OUT_MS + 1.0).iter().all(|c| c.label != "↓"));
    }
}
