//! `demoreel serve`: the API, the store, the runners and a render worker in one process. Input: a
//! [`ServeConfig`] (flags and environment). Output: a listening server. Invariant: one
//! server per data directory (a lock, [`lock`]); at start-up no run is left `running`
//! from an earlier process on this data directory (re-queued if its recording had not
//! begun, else failed `interrupted`; runs of other processes sharing the database are
//! settled so once their lease runs out, `runs::queue`); a server holding stored passwords refuses to start without the key
//! that opens them; slow clients are bounded ([`http`]).

pub mod http;
pub mod lock;

use crate::api::{self, ApiConfig, AppState, Services};
use crate::db::Database;
use crate::db::{DatabaseLocation, SqlDatabase};
use crate::demonstrations::token::ShareTokens;
use crate::demonstrations::{DemonstrationConfig, Demonstrations};
use crate::render_jobs::workspace::Workspace;
use crate::render_jobs::{RenderWorker, WorkerConfig};
use crate::runs::signals::InProcess;
use crate::runs::{Runner, RunnerConfig};
use crate::secrets::{Sealer, UrlSigner};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    /// State lives here: `demoreel.db`, `artifacts/`, `runs/`, `signing.key`.
    pub data_dir: PathBuf,
    /// `--database`: a path, `sqlite://PATH` or `postgres://…` (default: DATA_DIR/demoreel.db).
    pub database: Option<String>,
    /// `--store`: where artifacts go (default: DATA_DIR/artifacts).
    pub store: Option<String>,
    pub recordings_at_once: usize,
    pub renders_at_once: usize,
    /// Re-render tasks rendered at once in this process; 0 runs no render worker.
    pub render_job_slots: usize,
    /// `--workers 0` makes this false: the process answers the API only, recording no runs
    /// and rendering no re-render tasks (other processes sharing the database do).
    pub workers: bool,
    pub input_window: Duration,
    /// The longest a run may take once claimed.
    pub max_run: Duration,
    /// The operator's key for stored passwords (AES-256-GCM).
    pub secret_key: Option<[u8; 32]>,
    pub api: ApiConfig,
    /// Runs of one key at work at once.
    pub max_active_per_key: u32,
    pub http: http::HttpLimits,
    /// How long an ended run's small work files stay; `None` keeps them.
    pub work_retention: Option<Duration>,
    /// As whom and how big a run's browser runs; its `profiles` is the data
    /// directory's `browsers/`.
    pub browser: crate::capture::confine::Confinement,
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demoreel.db")
}

/// Whatever this process creates from now on is its own: files 0600, folders 0700 (the
/// database and its journal, the signing key, every run's pages and videos). The server
/// and the `keys` commands, which share the data directory, both call it.
pub fn keep_files_private() {
    // SAFETY: umask has no preconditions; it only sets this process's file-mode mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// Opens (and migrates) the database `--database` names, or the data directory's; from
/// here on this process creates only private files (see [`keep_files_private`]).
pub async fn open_database(data_dir: &Path, database: Option<&str>) -> anyhow::Result<SqlDatabase> {
    keep_files_private();
    let location = DatabaseLocation::parse(database, &database_path(data_dir)).map_err(anyhow::Error::msg)?;
    SqlDatabase::open(&location).await.map_err(|e| anyhow::anyhow!("{}: {e}", location.display()))
}

/// On PostgreSQL, wakes this process's dispatcher and render workers whenever any process
/// stores a run or a job (they poll too, every second or two, which is all SQLite has).
pub async fn relay_wakeups(database: &SqlDatabase, signals: Arc<InProcess>) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    use crate::db::wakeups::Queued;
    use crate::runs::signals::Signals;
    let relay = database.relay_wakeups(move |queued| match queued {
        Queued::Run => signals.run_queued(),
        Queued::RenderJob => signals.render_queued(),
    });
    relay.await.map_err(|e| anyhow::anyhow!("listening for queued work on the database: {e}"))
}

/// The name this server holds its runs by in the database: kept in the data directory
/// (`instance-id`), so a server starting again on it settles at once the runs it held
/// before it stopped, and no other process takes that name.
pub fn holder_name(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("instance-id");
    let id = match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
        _ => {
            let id = crate::db::new_id();
            crate::files::write_atomic(&path, id.as_bytes()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            id
        }
    };
    Ok(format!("serve-{id}"))
}

pub struct Server {
    pub addr: SocketAddr,
    _lock: lock::DataDirLock,
    serve_task: tokio::task::JoinHandle<()>,
    sweeper: Option<tokio::task::JoinHandle<()>>,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
    settler: tokio::task::JoinHandle<()>,
    /// On PostgreSQL: runs and jobs other processes store wake this one's workers.
    wakeups: Option<tokio::task::JoinHandle<()>>,
    render_worker: Option<(Arc<RenderWorker>, tokio::task::JoinHandle<()>)>,
    /// The in-process render worker's folder, held while the server lives.
    _render_workspace: Option<Workspace>,
}

impl Server {
    /// Serves until the process ends.
    pub async fn wait(&mut self) {
        let _ = (&mut self.serve_task).await;
    }

    /// Before a planned stop: the re-render tasks this server renders go back to the
    /// queue now (for the next start or another worker) rather than after their lease.
    pub async fn release_render_tasks(&self) -> usize {
        match &self.render_worker {
            Some((worker, _)) => worker.release().await,
            None => 0,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.serve_task.abort();
        self.settler.abort();
        if let Some(dispatcher) = &self.dispatcher {
            dispatcher.abort();
        }
        if let Some(sweeper) = &self.sweeper {
            sweeper.abort();
        }
        if let Some(wakeups) = &self.wakeups {
            wakeups.abort();
        }
        if let Some((_, task)) = &self.render_worker {
            task.abort();
        }
    }
}

/// Makes the data directory of a process that records: it lists nothing to anyone else
/// (0700); with a browser user it may be passed through (0711) to reach that user's own
/// profiles under `browsers/`, nothing else being readable by it.
pub fn prepare_data_dir(data_dir: &Path, browser: &crate::capture::confine::Confinement) -> anyhow::Result<()> {
    keep_files_private();
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let profiles_inside = browser.user.is_some() && browser.profiles.as_ref().is_some_and(|p| p.starts_with(data_dir));
    let mode = if profiles_inside { 0o711 } else { 0o700 };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(data_dir)
        .and_then(|()| std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(mode)))
        .map_err(|e| anyhow::anyhow!("--data-dir {}: {e}", data_dir.display()))
}

/// Before a process records: the stored passwords must open with the key it was given,
/// and browsers a dead process left under `profiles` are ended.
pub async fn ready_to_record(db: &dyn Database, secret_key: Option<&[u8; 32]>, browser: &crate::capture::confine::Confinement) -> anyhow::Result<()> {
    if secret_key.is_none() && db.any_stored_password().await? {
        anyhow::bail!(
            "the database holds encrypted passwords but no secret key was given: set DEMOREEL_SECRET_KEY or --secret-key-file (the key they were stored with)"
        );
    }
    let orphans = crate::capture::browser::sweep_orphans(browser.profiles.as_deref());
    if orphans > 0 {
        tracing::warn!(orphans, "ended browser sessions left by a process that died");
    }
    Ok(())
}

/// The live demonstrations this process holds (sessions it left live when it stopped
/// are failed first: their browsers are gone).
async fn start_demonstrations(
    config: &ServeConfig,
    producer: crate::produce::Producer,
    runner: &Runner,
    signer: &UrlSigner,
    sealer: Option<Arc<Sealer>>,
) -> anyhow::Result<Arc<Demonstrations>> {
    let demonstration_config = DemonstrationConfig {
        work_dir: config.data_dir.join("demonstrations"),
        targets: config.api.targets.clone(),
        confinement: config.browser.clone(),
        holder: holder_name(&config.data_dir)?,
        viewport: crate::geometry::Size { width: 1280, height: 720 },
        sealer,
    };
    let demonstrations = Demonstrations::new(producer, demonstration_config, runner.record_slots(), ShareTokens::new(signer));
    let ended = demonstrations.recover().await?;
    if ended > 0 {
        tracing::warn!(ended, "demonstrations left live by the last process failed");
    }
    Ok(demonstrations)
}

pub async fn start(config: ServeConfig) -> anyhow::Result<Server> {
    prepare_data_dir(&config.data_dir, &config.browser)?;
    let lock = lock::DataDirLock::acquire(&config.data_dir)?;
    let database = open_database(&config.data_dir, config.database.as_deref()).await?;
    let signals = Arc::new(InProcess::default());
    let wakeups = match config.workers {
        true => relay_wakeups(&database, signals.clone()).await?,
        false => None,
    };
    let db: Arc<dyn Database> = Arc::new(database);
    ready_to_record(db.as_ref(), config.secret_key.as_ref(), &config.browser).await?;
    let holder = holder_name(&config.data_dir)?;
    let sealer = config.secret_key.as_ref().map(|k| Arc::new(Sealer::new(k)));
    let artifacts = crate::store::open(config.store.as_deref(), &config.data_dir.join("artifacts")).map_err(anyhow::Error::msg)?;
    let signer = UrlSigner::load_or_create(&config.data_dir.join("signing.key"))?;
    let runner = Arc::new(Runner::new(
        db.clone(),
        artifacts.clone(),
        signals.clone(),
        sealer.clone(),
        Arc::new(crate::agent::RulePlanner),
        RunnerConfig {
            work_dir: config.data_dir.join("runs"),
            recordings_at_once: config.recordings_at_once,
            renders_at_once: config.renders_at_once,
            input_window: config.input_window,
            targets: config.api.targets.clone(),
            max_run: config.max_run,
            max_active_per_key: config.max_active_per_key,
            confinement: config.browser.clone(),
            work_retention: config.work_retention,
            holder,
        },
    ));
    let recovered = runner.queue.settle_left_behind(true).await?;
    if !recovered.requeued.is_empty() || !recovered.failed.is_empty() {
        tracing::warn!(requeued = recovered.requeued.len(), failed = recovered.failed.len(), "runs left unfinished by the last process");
    }
    let render_workspace = match config.workers && config.render_job_slots > 0 {
        true => {
            let root = config.data_dir.join("render-jobs");
            Some(Workspace::start_worker(&root, "serve").map_err(|e| anyhow::anyhow!("claiming a folder under {}: {e}", root.display()))?)
        }
        false => None,
    };
    let render_worker = render_workspace.as_ref().map(|workspace| {
        let worker_config = WorkerConfig { slots: config.render_job_slots, ..WorkerConfig::new(workspace.dir().to_path_buf(), config.api.targets.clone()) };
        let worker = Arc::new(RenderWorker::new(db.clone(), artifacts.clone(), signals.clone(), worker_config));
        (worker.clone(), worker.spawn())
    });
    let demonstrations = match config.workers {
        true => Some(start_demonstrations(&config, crate::produce::Producer { db: db.clone(), artifacts: artifacts.clone() }, &runner, &signer, sealer.clone()).await?),
        false => None,
    };
    let state = AppState::new(Services { db, artifacts, signer, sealer, signals, demonstrations, config: config.api.clone() });
    let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|e| anyhow::anyhow!("--addr {}: {e}", config.addr))?;
    let addr = listener.local_addr()?;
    let app = api::router(state);
    let serve_task = tokio::spawn(http::serve(listener, app, config.http.clone()));
    let dispatcher = config.workers.then(|| runner.clone().spawn_dispatcher());
    let settler = runner.clone().spawn_settler();
    let sweeper = runner.spawn_work_sweeper();
    Ok(Server { addr, _lock: lock, serve_task, dispatcher, settler, sweeper, wakeups, render_worker, _render_workspace: render_workspace })
}
