//! Integration tests, one module per area. They drive the real stages: synthetic
//! recordings on disk, the real compositor, and real GStreamer encode/decode.

mod api;
mod bundles;
mod capture;
mod cli;
mod common;
mod confine;
mod crash;
mod database;
mod demonstrations;
mod edge;
mod egress;
mod golden;
mod identities;
mod hostile;
mod live_raw;
mod object_store;
mod overlays;
mod postgres;
mod privacy;
mod render_jobs;
mod render_outputs;
mod replays;
mod sample_app;
mod scale_out;
mod service;
mod structure;
mod studio;
mod supply_chain;
mod templates;
