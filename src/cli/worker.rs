//! `demoreel worker`: a render worker as its own process, beside a `demoreel serve` (or
//! other workers) sharing the database and the artifact store. Input: where the database
//! and the store are, how many tasks at once, the lease. Output: re-render tasks claimed
//! and rendered until Ctrl-C or SIGTERM (which give the tasks in flight back to the queue).
//! Invariant: the worker takes no lock on the data directory (many may share it) and holds
//! each task only by its lease, so a worker killed mid-render loses nothing another worker
//! cannot finish.

use super::runtime;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The data directory `demoreel serve` uses: its `demoreel.db` and `artifacts/` unless
    /// --database and --store say otherwise.
    #[arg(long, env = "DEMOREEL_DATA_DIR", default_value = "demoreel-data")]
    pub data_dir: PathBuf,
    /// The database, if not DATA_DIR/demoreel.db: a path, `sqlite://PATH`, or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` as for `demoreel serve --database`.
    #[arg(long, env = "DEMOREEL_DATABASE")]
    pub database: Option<String>,
    /// The artifact store: a directory (or `file://DIR`), or `s3://BUCKET/PREFIX?…` as
    /// for `demoreel serve --store`.
    #[arg(long, env = "DEMOREEL_STORE")]
    pub store: Option<String>,
    /// Runs of re-render jobs rendered at once.
    #[arg(long, default_value_t = 1)]
    pub render_slots: usize,
    /// Browsers recording at once: recording is done by `demoreel serve` processes (any
    /// number sharing a database); must be 0.
    #[arg(long, default_value_t = 0)]
    pub record_slots: usize,
    /// Seconds a claimed task stays this worker's without renewal (it renews four times
    /// a second); a killed worker's task goes to another after it.
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
    /// Where tasks unpack recordings and render (default: DATA_DIR/render-jobs/worker-PID).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Networks and hosts an intro's images may come from beyond the public internet.
    #[arg(long, env = "DEMOREEL_ALLOW_TARGETS", default_value = "")]
    pub allow_targets: String,
}

pub(super) fn run(args: WorkerArgs) -> Result<()> {
    if args.record_slots > 0 {
        bail!("--record-slots: `demoreel worker` renders only; runs are recorded by `demoreel serve` processes, several of which may share one PostgreSQL database (see docs/scaling.md); use 0");
    }
    if args.render_slots == 0 || args.lease_secs < 2 {
        bail!("--render-slots must be at least 1 and --lease-secs at least 2");
    }
    let database = crate::db::DatabaseLocation::parse(args.database.as_deref(), &crate::serve::database_path(&args.data_dir)).map_err(anyhow::Error::msg)?;
    let artifacts = crate::store::open(args.store.as_deref(), &args.data_dir.join("artifacts")).map_err(anyhow::Error::msg)?;
    let targets = crate::egress::TargetPolicy::parse(&args.allow_targets, "--allow-targets").map_err(anyhow::Error::msg)?;
    let work_dir = args.work_dir.clone().unwrap_or_else(|| args.data_dir.join("render-jobs").join(format!("worker-{}", std::process::id())));
    runtime()?.block_on(async {
        crate::serve::keep_files_private();
        let db = crate::db::SqlDatabase::open(&database).await.with_context(|| format!("--database {}", database.display()))?;
        let config = crate::render_jobs::WorkerConfig {
            slots: args.render_slots,
            lease: std::time::Duration::from_secs(args.lease_secs),
            ..crate::render_jobs::WorkerConfig::new(work_dir.clone(), targets)
        };
        let signals = std::sync::Arc::new(crate::runs::signals::InProcess::default());
        let worker = std::sync::Arc::new(crate::render_jobs::RenderWorker::new(std::sync::Arc::new(db), artifacts, signals, config));
        // The one line scripts wait for.
        println!("demoreel worker {} rendering from {}", worker.id(), database.display());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let task = worker.clone().spawn();
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            _ = task => {}
            _ = tokio::signal::ctrl_c() => eprintln!("demoreel: worker stopping (interrupt)"),
            _ = terminate.recv() => eprintln!("demoreel: worker stopping (terminate)"),
        }
        // Tasks cut short go back to the queue now; a worker killed outright leaves them
        // to their lease instead.
        let released = worker.release().await;
        if released > 0 {
            eprintln!("demoreel: {released} render task(s) given back to the queue");
        }
        let _ = std::fs::remove_dir_all(&work_dir);
        Ok(())
    })
}
