//! What a render says about itself in `events.jsonl`, the same for a run and for a
//! re-render. Input: the outcomes of the intro card and of the GIF's making. Output:
//! events as `(type, fields)`, in the order they happened. Invariant: a run's events and
//! a re-render's say the same thing in the same words.

use crate::gif::GifSummary;
use crate::render::intro::IntroOutcome;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// The card played before the content, or why it could not be made.
pub fn intro(outcome: &IntroOutcome) -> (&'static str, Value) {
    match outcome {
        IntroOutcome::Added { template, slots, duration_ms } => {
            ("intro", json!({"template": template, "duration_ms": duration_ms, "frames": slots, "content_shifted_ms": duration_ms}))
        }
        IntroOutcome::Failed { template, reason } => ("intro_failed", json!({"template": template, "reason": reason})),
    }
}

/// Each lowering the byte budget forced, in the order it was made, then the GIF as made.
pub fn gif(made: &GifSummary, budget: Option<u64>) -> Vec<(&'static str, Value)> {
    let mut events: Vec<(&'static str, Value)> = made
        .budget_steps
        .iter()
        .map(|step| ("gif_budget_step", json!({"lowered": step.lowered, "from": step.from, "to": step.to, "bytes_before": step.bytes_before, "budget": budget})))
        .collect();
    let settings = made.settings;
    events.push((
        "gif",
        json!({
            "width": made.width, "height": made.height, "frames": made.frames, "bytes": made.bytes,
            "fps": settings.fps, "colours": settings.colours, "lossiness": settings.lossiness,
            "narrowed_to_fit": made.narrowed(), "over_budget": made.over_budget,
        }),
    ));
    events
}

/// One event as a line of `events.jsonl`: its fields, with `type` and `at` (now).
pub fn line(kind: &str, mut fields: Value) -> String {
    fields["at"] = json!(crate::db::now());
    fields["type"] = json!(kind);
    fields.to_string()
}

/// Writes `events` as a whole `events.jsonl` at `path`.
pub fn write(path: &Path, events: Vec<(&'static str, Value)>) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (kind, fields) in events {
        writeln!(file, "{}", line(kind, fields))?;
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()
}
