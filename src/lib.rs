//! demoreel: records a browser session and renders polished demo videos from it.
//!
//! Modules are listed so that each imports only modules above it (a test in
//! `tests/integration/structure.rs` holds the code to that). Read top to bottom, that is
//! the flow of a frame, with the leaves it stands on first:
//!
//! - leaves: `fonts`, `geometry` (coordinates typed by space), `files` (atomic writes,
//!   digests), `priority` (the browser first: background threads below it), `secrets` (sealed
//!   passwords, hashed keys, signed URLs), `options` (what the user asked for, validated);
//! - the recording (`recording`: the bundle, the captured frames' broadcast, the events
//!   and their key vocabulary) and the step schema with the one URL rule (`steps`): the
//!   data every stage shares; `run_spec` (a run's options, parsed once for the API and the
//!   runner); `egress` (where a run's browser may connect, and the
//!   filtering proxy that holds it to that);
//! - the stages a frame passes through: `capture` (Chromium → recording) → `timeline`
//!   (one clock: slots, cuts, overlays) → `compose` (layers into a picture), `templates` (intro cards drawn from `templates/`) → `encode`
//!   (GStreamer) → `render` (one render, and the live `raw.mp4`) → `gif`;
//! - stand-ins for the outside world: `fixture` (synthetic recordings), `sample_app`
//!   (Orbit, the product the main job and the tests record);
//! - the service: `db` and `store` (state and artifact bytes), `template_library` (the
//!   built-in and uploaded templates a key may use), `agent` (goal → steps, and
//!   the act loop that carries them out in a capture), `produce` (recording → stored
//!   artifacts), `runs` (the lifecycle), `render_jobs` (re-render workers), `demonstrations` (live
//!   sessions a person drives through a share link, and the workflows they make), `api` and
//!   `serve` (the HTTP edge), `cli`.

pub mod fonts;
pub mod geometry;
pub mod files;
pub mod priority;
pub mod secrets;
pub mod options;
pub mod recording;
pub mod steps;
pub mod run_spec;
pub mod egress;
pub mod capture;
pub mod timeline;
pub mod compose;
pub mod templates;
pub mod encode;
pub mod render;
pub mod gif;
pub mod fixture;
pub mod sample_app;
pub mod db;
pub mod store;
pub mod template_library;
pub mod produce;
pub mod agent;
pub mod runs;
pub mod render_jobs;
pub mod demonstrations;
pub mod api;
pub mod serve;
pub mod cli;

/// Where the project's files (pipelines, assets, templates) live.
///
/// `DEMOREEL_HOME` overrides it for an installed binary; by default it is the crate root
/// the binary was built from, which is what tests, benchmarks and the README commands use.
pub fn project_dir() -> std::path::PathBuf {
    match std::env::var_os("DEMOREEL_HOME") {
        Some(dir) => dir.into(),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
}
