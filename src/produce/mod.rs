//! The artifact pipeline, shared by runs and (next) re-render jobs. Input: a finished
//! recording bundle and validated render options. Output: `demo.mp4` (and `demo.gif`
//! when asked) rendered, then each artifact stored with its SHA-256 and recorded in the
//! database. Invariant: an artifact is listed only once its bytes are stored whole; a
//! render stops within a second of a cancel and leaves no file.

pub mod preview;

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
}

/// Where artifacts go.
#[derive(Clone)]
pub struct Producer {
    pub db: Arc<dyn Database>,
    pub artifacts: Arc<dyn ArtifactStore>,
}

impl Producer {
    /// Renders `demo.mp4` of the bundle into `out_dir` off the async workers, starting on
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
        let (bundle, out, options) = (bundle.to_path_buf(), out_dir.to_path_buf(), options.clone());
        tokio::task::spawn_blocking(move || {
            let recording = Recording::open(&bundle).map_err(|e| ProduceError::Render(e.to_string()))?;
            let outputs = Outputs { raw: false, demo: true };
            let mut progress = |_| if cancelled() { Flow::Stop } else { Flow::Continue };
            match render::render_with_intro(&recording, &options, intro.as_ref(), &out, outputs, &mut progress) {
                Ok(summary) => Ok((out.join(render::DEMO_MP4), summary.intro)),
                Err(render::RenderError::Cancelled) => Err(ProduceError::Cancelled),
                Err(other) => Err(ProduceError::Render(other.to_string())),
            }
        })
        .await
        .map_err(|e| ProduceError::Render(e.to_string()))?
    }

    /// Makes `demo.gif` from `demo` (the final `demo.mp4`) into `out_dir`.
    /// Stops (writing nothing) once `cancelled` answers true.
    pub async fn gif(&self, demo: &Path, options: &ArtifactOptions, out_dir: &Path, cancelled: Arc<dyn Fn() -> bool + Send + Sync>) -> Result<GifSummary, ProduceError> {
        let (source, target, options) = (demo.to_path_buf(), out_dir.join("demo.gif"), options.clone());
        tokio::task::spawn_blocking(move || crate::gif::from_mp4_until(&source, &target, options.gif_width, options.gif_fps, options.gif_max_bytes, &*cancelled))
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
        let fail = |reason: String| ProduceError::Store { name: name.to_string(), reason };
        let source = path.to_path_buf();
        let (sha256, size) = tokio::task::spawn_blocking(move || crate::files::sha256_file(&source))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(e.to_string()))?;
        let key = format!("{run_id}/{name}");
        self.artifacts.put(&key, path).await.map_err(|e| fail(e.to_string()))?;
        let artifact = Artifact {
            id: db::new_id(),
            run_id: run_id.to_string(),
            name: name.to_string(),
            content_type: content_type.to_string(),
            size_bytes: size as i64,
            sha256,
            storage_key: key,
            created_at: db::now(),
        };
        self.db.insert_artifact(&artifact).await.map_err(|e| fail(e.to_string()))?;
        Ok(artifact)
    }
}
