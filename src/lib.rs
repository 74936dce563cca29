//! demoreel: records a browser session and renders polished demo videos from it.
//!
//! Modules are listed in the order a frame flows through them:
//! recording → timeline → compose → encode → render (the orchestration of one render).
//! `options` validates what the user asked for; `fixture` writes synthetic recordings
//! so every stage downstream of capture can be exercised without a browser; `sample_app`
//! serves Orbit, the bundled product the main job and the tests record.
//!
//! The service sits on top: `agent` turns a goal into steps, `runs` orchestrates capture
//! → render → gif for queued runs, `db` and `store` keep state and artifact bytes, `api`
//! and `serve` are the HTTP edge, `cli` the command line (including a client of the API).

pub mod fonts;
pub mod geometry;
pub mod options;
pub mod recording;
pub mod fixture;
pub mod timeline;
pub mod compose;
pub mod encode;
pub mod render;
pub mod capture;
pub mod gif;
pub mod sample_app;
pub mod agent;
pub mod secrets;
pub mod db;
pub mod store;
pub mod runs;
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
