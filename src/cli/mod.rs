//! Command-line edge. Input: argv. Output: the command run, a progress bar on a terminal
//! and one summary line on stdout. Invariant: arguments are validated into typed values
//! before anything is written.

pub mod client;
mod credentials;
mod feedback;
mod jobs;
mod local;
mod serve;
mod tasks;
mod templates;
mod terminal;
mod recording;
mod runs;
mod worker;

pub use local::read_options;
pub use serve::ServeArgs;

use crate::geometry::Size;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "demoreel",
    version,
    about = "Records a browser session and renders polished demo videos from it",
    after_help = "The API: docs/api.md. Options of a run, of render and of record: docs/options.md. Steps: docs/steps.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Render raw.mp4 and demo.mp4 from a recording bundle.
    Render {
        /// The recording bundle (a directory with meta.json).
        recording: PathBuf,
        /// Where the videos go (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Render options: inline JSON, a file, or @file (`{"video": {...}, "intro": {...}}`,
        /// spec/video.md); `intro.template` may also be a template folder.
        #[arg(long)]
        options: Option<String>,
        /// Render only one of the videos.
        #[arg(long, value_enum)]
        only: Option<OnlyVideo>,
    },
    /// Make a GIF from a video (demo.mp4) as a run makes demo.gif, with the GIF settings of
    /// --options (`artifacts.gif_width`, `gif_fps`, `gif_max_bytes`).
    Gif {
        /// The video to convert (an MP4 with H.264, as demo.mp4).
        video: PathBuf,
        /// The GIF to write (written whole or not at all).
        #[arg(long)]
        out: PathBuf,
        /// Options: inline JSON, a file, or @file (`{"artifacts": {"gif_width": 960}}`, docs/options.md).
        #[arg(long)]
        options: Option<String>,
    },
    /// Record URL in Chromium while running a step list: writes the recording bundle and
    /// raw.mp4 (encoded live) into --out.
    Record {
        url: String,
        /// The step list: a JSON file (`[...]` or `{"steps": [...]}`, docs/steps.md).
        #[arg(long)]
        steps: Option<PathBuf>,
        /// The recording bundle directory (must not hold a recording yet).
        #[arg(long)]
        out: PathBuf,
        /// Render options the capture is sized for (`video.size`, `video.fps`), as for `render`.
        #[arg(long)]
        options: Option<String>,
    },
    /// Serve the HTTP API with its runners (spec/api.md); state in --data-dir.
    Serve(ServeArgs),
    /// A worker as its own process (renders, and records with --record-slots), sharing a
    /// server's database and artifact store.
    Worker(worker::WorkerArgs),
    /// API keys (made directly in the data directory's database; shown once).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Runs through the API: create, status, list, wait, input, cancel, artifacts, download.
    Runs {
        #[command(flatten)]
        client: client::ClientArgs,
        #[command(subcommand)]
        command: runs::RunsCommand,
    },
    /// Re-render jobs: runs' recordings rendered again with other options, no browser.
    Jobs {
        #[command(flatten)]
        client: client::ClientArgs,
        #[command(subcommand)]
        command: jobs::JobsCommand,
    },
    /// Tasks that demonstrations made: list, show, versions (a run replays one with
    /// options.workflow.task_id).
    Tasks {
        #[command(flatten)]
        client: client::ClientArgs,
        #[command(subcommand)]
        command: tasks::TasksCommand,
    },
    /// Saved logins for target apps.
    Credentials {
        #[command(flatten)]
        client: client::ClientArgs,
        #[command(subcommand)]
        command: credentials::CredentialsCommand,
    },
    /// Send feedback about runs.
    Feedback {
        #[command(flatten)]
        client: client::ClientArgs,
        /// The feedback (1..10000 characters).
        #[arg(long)]
        text: String,
        /// A run it is about (repeatable, at most 20).
        #[arg(long = "run")]
        runs: Vec<String>,
    },
    /// Serve Orbit, the bundled sample product, until interrupted (sign in as
    /// ada@orbit.test / orbit-demo-2026; one-time codes appear at /outbox).
    SampleApp {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: std::net::SocketAddr,
    },
    /// Test fixtures.
    Fixture {
        #[command(subcommand)]
        command: FixtureCommand,
    },
    /// Intro templates: list, show, preview (PNG, MP4 or GIF), validate and watch a
    /// template folder (docs/templates.md).
    Templates {
        #[command(subcommand)]
        command: templates::TemplatesCommand,
    },
}

/// Where a server's state is, for the commands that work on it directly.
#[derive(clap::Args, Debug)]
pub struct StateLocation {
    /// Where state lives: the SQLite database, artifacts, work files, the URL-signing key.
    #[arg(long, env = "DEMOREEL_DATA_DIR", default_value = "demoreel-data")]
    pub data_dir: PathBuf,
    /// The database, if not DATA_DIR/demoreel.db: a path, `sqlite://PATH`, or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (shared by every `demoreel serve` and
    /// `demoreel worker` of a deployment).
    #[arg(long, env = "DEMOREEL_DATABASE")]
    pub database: Option<String>,
}

/// Where a process that works (`serve`, `worker`) finds its state and the artifact store:
/// one set of flags, so a deployment's processes are pointed at the same places alike.
#[derive(clap::Args, Debug)]
pub struct ProcessState {
    #[command(flatten)]
    pub location: StateLocation,
    /// Where artifacts and kept recordings go: a directory (or `file://DIR`), or an
    /// S3-compatible bucket, `s3://BUCKET/PREFIX?endpoint=URL&region=R&downloads=redirect|stream`,
    /// with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set (default: DATA_DIR/artifacts).
    #[arg(long, env = "DEMOREEL_STORE")]
    pub store: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create an API key; it is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        label: String,
        #[command(flatten)]
        state: StateLocation,
        /// Also save it (with --server) as the CLI's default key.
        #[arg(long)]
        save: bool,
        #[arg(long, env = "DEMOREEL_SERVER")]
        server: Option<String>,
        /// The key stops working after this long (`90d`, `12h`); by default it does not.
        #[arg(long, value_parser = local::parse_lifetime)]
        expires_in: Option<std::time::Duration>,
    },
    /// List the keys: id, label, when made, when they expire or were revoked.
    List {
        #[command(flatten)]
        state: StateLocation,
    },
    /// Revoke a key by its id: requests with it get 401 from then on.
    Revoke {
        id: String,
        #[command(flatten)]
        state: StateLocation,
    },
}

#[derive(Subcommand, Debug)]
pub enum FixtureCommand {
    /// Write a synthetic recording of a scripted session with a sample product.
    Synth {
        #[arg(long)]
        out: PathBuf,
        /// Length in seconds (4..3600).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Frame size in pixels, WxH (even numbers).
        #[arg(long, default_value = "1280x720", value_parser = local::parse_size)]
        size: Size,
    },
    /// Write demo.mp4's static base (background and shadow, no page) as a PNG, for
    /// comparisons with other tools that must draw onto the same background.
    Background {
        #[arg(long)]
        out: PathBuf,
        /// Render options, as for `render`.
        #[arg(long)]
        options: Option<String>,
        /// Size of the captured frames the layout is made for, WxH.
        #[arg(long, default_value = "1920x1080", value_parser = local::parse_size)]
        frame_size: Size,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlyVideo {
    Raw,
    Demo,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Render { recording, out, options, only } => local::render(&recording, &out, options.as_deref(), only),
        Command::Gif { video, out, options } => local::gif(&video, &out, options.as_deref()),
        Command::Record { url, steps, out, options } => local::record(&url, steps.as_deref(), &out, options.as_deref()),
        Command::SampleApp { addr } => local::sample_app(addr),
        Command::Serve(args) => serve::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Keys { command } => local::keys(command),
        Command::Runs { client, command } => exit_with(runtime()?.block_on(runs::runs(&client, command))?),
        Command::Jobs { client, command } => exit_with(runtime()?.block_on(jobs::jobs(&client, command))?),
        Command::Tasks { client, command } => exit_with(runtime()?.block_on(tasks::tasks(&client, command))?),
        Command::Credentials { client, command } => exit_with(runtime()?.block_on(credentials::credentials(&client, command))?),
        Command::Feedback { client, text, runs } => exit_with(runtime()?.block_on(feedback::feedback(&client, text, runs))?),
        Command::Fixture { command } => local::fixture(command),
        Command::Templates { command } => templates::run(command),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

/// Client commands answer an exit code (`runs wait` has several).
fn exit_with(code: i32) -> Result<()> {
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

