//! A finished demonstration's own recording, through the artifact pipeline. Input: the
//! stored demonstration and its recording bundle. Output: a run of the same key that holds
//! them (succeeded, its goal naming the task), with `raw.mp4` and `demo.mp4` (the cursor,
//! clicks and key chips of what the person did) stored as its artifacts, and the
//! recording kept for re-render jobs. Invariant: the workflow never waits for this; each
//! artifact is listed only once its bytes are stored whole.

use crate::db::{Database, Demonstration, Run, RunStatus};
use crate::options::RenderOptions;
use crate::produce::Producer;
use crate::render::{self, Outputs};
use std::path::Path;
use std::sync::Arc;

/// Makes the run, renders and stores its videos; answers the run's id.
pub(super) async fn keep(db: &Arc<dyn Database>, producer: &Producer, demonstration: &Demonstration, bundle: &Path) -> Result<String, String> {
    let now = crate::db::now();
    let run = Run {
        id: crate::db::new_id(),
        owner: demonstration.owner.clone(),
        status: RunStatus::Succeeded,
        progress_stage: None,
        target_url: demonstration.start_url.clone(),
        goal: format!("Demonstration: {}", demonstration.task_name),
        options: serde_json::json!({}),
        awaiting_input: None,
        error: None,
        recording_started: true,
        cancel_requested: false,
        created_at: now.clone(),
        updated_at: now.clone(),
        started_at: Some(demonstration.created_at.clone()),
        finished_at: Some(now),
    };
    db.insert_run(&run).await.map_err(|e| e.to_string())?;
    db.set_demonstration_run(&demonstration.id, &run.id).await.map_err(|e| e.to_string())?;

    let out = bundle.parent().unwrap_or(bundle).join("videos");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let meter = Arc::new(crate::produce::RenderMeter::default());
    let options = options_for(bundle)?;
    producer.render_outputs(bundle, &options, None, Outputs::BOTH, &out, Arc::new(|| false), meter).await.map_err(|e| e.to_string())?;
    for name in [render::RAW_MP4, render::DEMO_MP4] {
        producer.store(&run.id, &out.join(name), name, "video/mp4").await.map_err(|e| e.to_string())?;
    }
    producer.keep_recording(&run.id, bundle).await.map_err(|e| e.to_string())?;
    Ok(run.id)
}

/// The videos have the page's own size and shape: the page followed the person's window,
/// which is seldom 16:9, and the default 1920×1080 edge to edge would crop its top and
/// bottom away.
fn options_for(bundle: &Path) -> Result<RenderOptions, String> {
    // meta.json alone: the frame index of a long session is not this question's business.
    let page = crate::recording::Recording::read_meta(bundle).map_err(|e| e.to_string())?.frame_size;
    let side = |px: u32, smallest: u32, largest: u32| px.clamp(smallest, largest) & !1;
    let size = serde_json::json!({"width": side(page.width, 320, 3840), "height": side(page.height, 240, 2160)});
    crate::options::parse(&serde_json::json!({"video": {"size": size}})).map(|parsed| parsed.options).map_err(|e| e.to_string())
}
