//! The artifact pipeline, shared by runs and re-render jobs. Input: a finished
//! recording bundle and validated render options. Output: `demo.mp4` (and, for a
//! re-render, `raw.mp4`; `demo.gif` when asked) rendered, then each artifact stored with
//! its SHA-256 and recorded in the database as part of a generation; a run's recording
//! kept in the store and fetched back. Invariant: an artifact is listed only once its
//! bytes are stored whole; a render stops within a second of a cancel and leaves no file.

pub mod events;
pub mod preview;
pub mod recordings;

use crate::db::{self, Artifact, Database};
use crate::gif::GifSummary;
use crate::options::{ArtifactOptions, RenderOptions};
use crate::recording::Recording;
use crate::render::intro::{IntroOutcome, IntroRequest};
use crate::render::{self, Flow, Outputs};
use crate::store::ArtifactStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The caller's cancel stopped a render.
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Render(String),
    #[error("demo.gif: {0}")]
    Gif(String),
    #[error("storing {name}: {reason}")]
    Store { name: String, reason: String },
    /// The run kept no recording, or the store no longer has it.
    #[error("{0}")]
    RecordingMissing(String),
    /// The stored recording is not the one kept, or not a recording.
    #[error("{0}")]
    RecordingDamaged(String),
}

/// Initialises GStreamer from the calling (async, normal-priority) thread before a
/// background thread uses it, so GLib's thread pool keeps creating threads at the normal
/// priority (see [`crate::encode::init`]). An error shows again when the render starts.
fn prepare_background_encoding() {
    let _ = crate::encode::init();
}

/// Which generation of a run's artifacts a file joins: 0 the run's own, N > 0 its N-th
/// re-render (made by `render_job_id`, on its `attempt`-th try).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub number: u32,
    pub render_job_id: Option<String>,
    pub attempt: u32,
}

impl Generation {
    pub const ORIGINAL: Generation = Generation { number: 0, render_job_id: None, attempt: 0 };

    /// Where the bytes go: a re-render's tries each have their own folder, so a try that
    /// was given up for lost and finishes late never mixes its bytes with the next one's.
    fn storage_key(&self, run_id: &str, name: &str) -> String {
        match self.number {
            0 => format!("{run_id}/{name}"),
            n => format!("{run_id}/render-{n}.{}/{name}", self.attempt),
        }
    }
}

/// Frames rendered so far and in all, across the videos of one render.
#[derive(Debug, Default)]
pub struct RenderMeter {
    pub done: std::sync::atomic::AtomicU64,
    pub total: std::sync::atomic::AtomicU64,
}

/// Where artifacts go.
#[derive(Clone)]
pub struct Producer {
    pub db: Arc<dyn Database>,
    pub artifacts: Arc<dyn ArtifactStore>,
}

impl Producer {
    /// Renders `demo.mp4` of the bundle into `out_dir` on a background thread, starting on
    /// the card of `intro` when there is one (what became of it is answered beside the
    /// path); `cancelled` is asked every 15 output frames.
    pub async fn render_demo(
        &self,
        bundle: &Path,
        options: &RenderOptions,
        intro: Option<IntroRequest>,
        out_dir: &Path,
        cancelled: Arc<dyn Fn() -> bool + Send + Sync>,
    ) -> Result<(PathBuf, Option<IntroOutcome>), ProduceError> {
        let meter = Arc::new(RenderMeter::default());
        let outcome = self.render_outputs(bundle, options, intro, Outputs::DEMO, out_dir, cancelled, meter).await?;
        Ok((out_dir.join(render::DEMO_MP4), outcome))
    }

    /// Renders `outputs` of the bundle into `out_dir` off the async workers, counting
    /// frames into `meter`; `cancelled` is asked every 15 output frames. The render runs
    /// below the browser's priority ([`crate::priority::in_background`]): another run's
    /// capture keeps its frame rate while this one renders.
    #[allow(clippy::too_many_arguments)]
    pub async fn render_outputs(
        &self,
        bundle: &Path,
        options: &RenderOptions,
        intro: Option<IntroRequest>,
        outputs: Outputs,
        out_dir: &Path,
        cancelled: Arc<dyn Fn() -> bool + Send + Sync>,
        meter: Arc<RenderMeter>,
    ) -> Result<Option<IntroOutcome>, ProduceError> {
        use std::sync::atomic::Ordering::Relaxed;
        let (bundle, out, options) = (bundle.to_path_buf(), out_dir.to_path_buf(), options.clone());
        prepare_background_encoding();
        crate::priority::in_background("demo-render", move || {
            let recording = Recording::open(&bundle).map_err(|e| ProduceError::Render(e.to_string()))?;
            // Frames of the videos already finished, under the one being rendered.
            let mut finished_frames = 0;
            let mut progress = |event: render::Progress| {
                match event {
                    render::Progress::Started { frames, .. } => {
                        meter.total.fetch_add(frames, Relaxed);
                    }
                    render::Progress::Advanced { done, .. } => meter.done.store(finished_frames + done, Relaxed),
                    render::Progress::Finished { .. } => finished_frames = meter.total.load(Relaxed),
                }
                if cancelled() { Flow::Stop } else { Flow::Continue }
            };
            match render::render_with_intro(&recording, &options, intro.as_ref(), &out, outputs, &mut progress) {
                Ok(summary) => Ok(summary.intro),
                Err(render::RenderError::Cancelled) => Err(ProduceError::Cancelled),
                Err(other) => Err(ProduceError::Render(other.to_string())),
            }
        })
        .await
        .map_err(|e| ProduceError::Render(e.to_string()))?
    }

    /// Makes `demo.gif` from `demo` (the final `demo.mp4`) into `out_dir`, below the
    /// browser's priority. Stops (writing nothing) once `cancelled` answers true.
    pub async fn gif(&self, demo: &Path, options: &ArtifactOptions, out_dir: &Path, cancelled: Arc<dyn Fn() -> bool + Send + Sync>) -> Result<GifSummary, ProduceError> {
        let (source, target, options) = (demo.to_path_buf(), out_dir.join("demo.gif"), options.clone());
        prepare_background_encoding();
        crate::priority::in_background("gif-render", move || crate::gif::from_mp4_until(&source, &target, options.gif_width, options.gif_fps, options.gif_max_bytes, &*cancelled))
            .await
            .map_err(|e| ProduceError::Gif(e.to_string()))?
            .map_err(|e| match e {
                crate::gif::GifError::Cancelled => ProduceError::Cancelled,
                other => ProduceError::Gif(other.to_string()),
            })
    }

    /// Stores the file at `path` as artifact `name` of run `run_id`: bytes first (with
    /// their SHA-256), then the row that lists it.
    pub async fn store(&self, run_id: &str, path: &Path, name: &str, content_type: &str) -> Result<Artifact, ProduceError> {
        self.store_in(run_id, &Generation::ORIGINAL, path, name, content_type).await
    }

    /// [`Producer::store`] into `generation` of the run's artifacts.
    pub async fn store_in(&self, run_id: &str, generation: &Generation, path: &Path, name: &str, content_type: &str) -> Result<Artifact, ProduceError> {
        let fail = |reason: String| ProduceError::Store { name: name.to_string(), reason };
        let source = path.to_path_buf();
        let (sha256, size) = tokio::task::spawn_blocking(move || crate::files::sha256_file(&source))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(e.to_string()))?;
        let key = generation.storage_key(run_id, name);
        self.artifacts.put(&key, path, &sha256).await.map_err(|e| fail(e.to_string()))?;
        let artifact = Artifact {
            id: db::new_id(),
            run_id: run_id.to_string(),
            name: name.to_string(),
            content_type: content_type.to_string(),
            size_bytes: size as i64,
            sha256,
            storage_key: key,
            created_at: db::now(),
            generation: generation.number,
            render_job_id: generation.render_job_id.clone(),
        };
        self.db.insert_artifact(&artifact).await.map_err(|e| fail(e.to_string()))?;
        Ok(artifact)
    }
}
