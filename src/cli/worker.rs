//! `demoreel worker`: a worker as its own process, beside a `demoreel serve` (or other
//! workers) sharing the database and the artifact store. Input: where the database and the
//! store are, how many runs it records and re-render tasks it renders at once, the lease.
//! Output: runs recorded and tasks rendered until Ctrl-C or SIGTERM (which give the tasks
//! in flight back to the queue and settle the runs in flight). Invariant: the worker takes
//! no lock on the data directory (many may share it) and holds each run and task only by
//! its lease, so a worker killed mid-work loses nothing another process cannot settle or
//! finish.

use super::runtime;
use crate::db::Database;
use crate::render_jobs::workspace::Workspace;
use crate::runs::signals::InProcess;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The data directory, database and artifact store of the `demoreel serve` it works
    /// beside (its `demoreel.db` and `artifacts/` unless --database and --store say otherwise).
    #[command(flatten)]
    pub state: super::ProcessState,
    /// Runs of re-render jobs rendered at once (0: none, with --record-slots above 0).
    #[arg(long, env = "DEMOREEL_RENDER_SLOTS", default_value_t = 1)]
    pub render_slots: usize,
    /// Runs recorded at once, each in its own browser, then rendered here (0: none).
    /// Needs the browser set-up `demoreel serve` has (scripts/setup.sh) and, when runs
    /// sign in with stored passwords or take one-time codes through another process, the
    /// same operator key (--secret-key-file) as every process sharing the database.
    #[arg(long, env = "DEMOREEL_RECORD_SLOTS", default_value_t = 0)]
    pub record_slots: usize,
    /// Seconds a claimed task stays this worker's without renewal (it renews four times
    /// a second); a killed worker's task goes to another after it.
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
    /// Where tasks unpack recordings and render (default: DATA_DIR/render-jobs/worker-PID,
    /// claimed under a lock; the folders of workers that died are swept at start and
    /// every 10 minutes). A folder given here is used as is and removed at a planned stop.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// How runs record here (with --record-slots): the browser, the operator's key,
    /// reachable targets (an intro's images too), limits.
    #[command(flatten)]
    pub recording: super::recording::RecordingArgs,
}

/// What records runs in this worker (with --record-slots): its runner and the tasks that
/// claim, settle and sweep runs, stopped with the worker.
struct Recorder {
    runner: Arc<crate::runs::Runner>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    /// Checks the browser set-up and the operator's key, then starts claiming runs under
    /// a name of this process's own (its runs are held by it; see `runs::queue`).
    async fn start(
        args: &WorkerArgs,
        db: Arc<dyn Database>,
        artifacts: Arc<dyn crate::store::ArtifactStore>,
        signals: Arc<InProcess>,
        targets: crate::egress::TargetPolicy,
    ) -> Result<Recorder> {
        let recording = &args.recording;
        let confinement = recording.confinement(&args.state.location.data_dir)?;
        let secret_key = recording.secret_key()?;
        crate::serve::prepare_data_dir(&args.state.location.data_dir, &confinement)?;
        crate::serve::ready_to_record(db.as_ref(), secret_key.as_ref(), &confinement).await?;
        let sealer = secret_key.as_ref().map(|k| Arc::new(crate::secrets::Sealer::new(k)));
        let config = crate::runs::RunnerConfig {
            work_dir: args.state.location.data_dir.join("runs"),
            recordings_at_once: args.record_slots,
            // A run renders right after it records, in the slot it recorded in.
            renders_at_once: args.record_slots,
            input_window: recording.input_window(),
            max_run: recording.max_run(),
            targets,
            max_active_per_key: recording.max_active_per_key.unwrap_or(args.record_slots as u32),
            confinement,
            work_retention: recording.work_retention(),
            holder: format!("worker-{}", crate::db::new_id()),
        };
        let runner = Arc::new(crate::runs::Runner::new(db, artifacts, signals, sealer, Arc::new(crate::agent::RulePlanner), config));
        let mut tasks = vec![runner.clone().spawn_dispatcher(), runner.clone().spawn_settler()];
        tasks.extend(runner.clone().spawn_work_sweeper());
        Ok(Recorder { runner, tasks })
    }

    /// A planned stop: no new runs are claimed, and the runs in flight are settled now
    /// (re-queued if their recording had not begun, else failed `interrupted`) rather
    /// than when their lease runs out; their browsers end with the process.
    async fn stop(self) -> usize {
        for task in &self.tasks {
            task.abort();
        }
        match self.runner.queue.settle_left_behind(true).await {
            Ok(settled) => settled.requeued.len() + settled.failed.len(),
            Err(error) => {
                tracing::warn!(error = %error, "settling this worker's runs; the other processes settle them when their lease runs out");
                0
            }
        }
    }
}

/// Where this worker's re-render tasks work (with the claim that keeps it, for the
/// default folder). The default folder is claimed under a lock that dies with the
/// process, so a worker killed outright leaves it to the next sweep; a --work-dir is the
/// operator's, used as given. Within the runtime: the claim starts a periodic sweep.
fn render_folder(args: &WorkerArgs) -> Result<(Option<Workspace>, PathBuf)> {
    let root = args.state.location.data_dir.join("render-jobs");
    match (&args.work_dir, args.render_slots) {
        (Some(dir), _) => Ok((None, dir.clone())),
        (None, 0) => Ok((None, root)),
        (None, _) => {
            let workspace = Workspace::start_worker(&root, &format!("worker-{}", std::process::id())).with_context(|| format!("claiming a folder under {}", root.display()))?;
            let dir = workspace.dir().to_path_buf();
            Ok((Some(workspace), dir))
        }
    }
}

pub(super) fn run(args: WorkerArgs) -> Result<()> {
    if args.render_slots == 0 && args.record_slots == 0 {
        bail!("--render-slots and --record-slots are both 0: this worker would do nothing");
    }
    if args.lease_secs < 2 {
        bail!("--lease-secs must be at least 2");
    }
    args.recording.check()?;
    let data_dir = &args.state.location.data_dir;
    let database = crate::db::DatabaseLocation::parse(args.state.location.database.as_deref(), &crate::serve::database_path(data_dir)).map_err(anyhow::Error::msg)?;
    let artifacts = crate::store::open(args.state.store.as_deref(), &data_dir.join("artifacts")).map_err(anyhow::Error::msg)?;
    let targets = args.recording.targets()?;
    let runtime = runtime()?;
    let worked = runtime.block_on(async {
        crate::serve::keep_files_private();
        let sql = crate::db::SqlDatabase::open(&database).await.with_context(|| format!("--database {}", database.display()))?;
        let signals = Arc::new(InProcess::default());
        // Lives until the runtime stops, with the worker.
        let _wakeups = crate::serve::relay_wakeups(&sql, signals.clone()).await?;
        let db: Arc<dyn Database> = Arc::new(sql);
        let recorder = match args.record_slots {
            0 => None,
            _ => Some(Recorder::start(&args, db.clone(), artifacts.clone(), signals.clone(), targets.clone()).await?),
        };
        let (workspace, work_dir) = render_folder(&args)?;
        let renderer = (args.render_slots > 0).then(|| {
            let config = crate::render_jobs::WorkerConfig {
                slots: args.render_slots,
                lease: std::time::Duration::from_secs(args.lease_secs),
                ..crate::render_jobs::WorkerConfig::new(work_dir.clone(), targets)
            };
            let worker = Arc::new(crate::render_jobs::RenderWorker::new(db.clone(), artifacts, signals, config));
            (worker.clone(), worker.spawn())
        });
        let name = match (&renderer, &recorder) {
            (Some((worker, _)), _) => worker.id().to_string(),
            (None, Some(recorder)) => recorder.runner.config.holder.clone(),
            (None, None) => unreachable!("checked above: one of the slot counts is above 0"),
        };
        // The one line scripts wait for.
        println!("demoreel worker {name} recording {} and rendering {} at once from {}", args.record_slots, args.render_slots, database.display());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => eprintln!("demoreel: worker stopping (interrupt)"),
            _ = terminate.recv() => eprintln!("demoreel: worker stopping (terminate)"),
        }
        // Tasks cut short go back to the queue now; a worker killed outright leaves them
        // to their lease instead.
        if let Some((worker, task)) = renderer {
            task.abort();
            let released = worker.release().await;
            if released > 0 {
                eprintln!("demoreel: {released} render task(s) given back to the queue");
            }
        }
        if let Some(recorder) = recorder {
            let settled = recorder.stop().await;
            if settled > 0 {
                eprintln!("demoreel: {settled} run(s) in flight settled (re-queued, or failed `interrupted` once recording)");
            }
        }
        match workspace {
            Some(workspace) => workspace.release(),
            None if args.render_slots > 0 => {
                let _ = std::fs::remove_dir_all(&work_dir);
            }
            None => {}
        }
        Ok(())
    });
    // A recording's browser ends with its task, as the runtime stops.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    worked
}
