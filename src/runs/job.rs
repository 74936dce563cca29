//! One run being worked on. Input: a claimed run. Output: its recording, its artifacts
//! stored through the artifact pipeline, `plan.json` and `events.jsonl`, and its status.
//! Invariant: the stages run in the documented order, each behind a cancel checkpoint;
//! the capture is finished (and `raw.mp4` kept) whatever the act loop answered.

use super::Runner;
use super::lifecycle;
use super::signals::Cancel;
use crate::agent::act::{Act, Journal, Stop};
use crate::capture::{Capture, RecordOptions};
use crate::db::{self, Credential, ErrorCode, Run, Stage};
use crate::options::RenderOptions;
use crate::produce::ProduceError;
use crate::recording::FrameSource;
use crate::render::intro::IntroRequest;
use crate::render::live::{LiveRawWriter, RecordError, finish_live, record_options_for};
use crate::run_spec::{AuthSource, IntroSpec, RunOptions};
use crate::steps::{Schemes, Step};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The last frame recorded before a step failed, stored with the failed run's artifacts.
pub const FAILURE_SCREENSHOT: &str = "failure.jpg";

pub(super) struct Job {
    pub(super) runner: Arc<Runner>,
    pub(super) run: Mutex<Run>,
    dir: PathBuf,
    events: Mutex<std::fs::File>,
    plan: Mutex<Value>,
    pub(super) cancel: Arc<Cancel>,
}

impl Job {
    pub(super) fn new(runner: Arc<Runner>, run: Run, dir: &Path, cancel: Arc<Cancel>) -> std::io::Result<Job> {
        std::fs::create_dir_all(dir)?;
        let events = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("events.jsonl"))?;
        let plan = json!({"goal": run.goal, "normalized_goal": null, "success_criteria": [], "iterations": [], "action_history": []});
        Ok(Job { runner, run: Mutex::new(run), dir: dir.to_path_buf(), events: Mutex::new(events), plan: Mutex::new(plan), cancel })
    }

    pub(super) fn id(&self) -> String {
        self.run.lock().unwrap().id.clone()
    }

    /// Writes the run as it is now; stops when the run ended elsewhere.
    pub(super) async fn save(&self) -> Result<(), Stop> {
        let snapshot = self.run.lock().unwrap().clone();
        match self.runner.db.save_run_progress(&snapshot, &self.runner.config.holder).await {
            Ok(true) => Ok(()),
            // The run ended elsewhere (cancelled while queued-and-claimed), or this process
            // no longer holds it (its lease ran out and another settled it): stop here.
            Ok(false) => Err(Stop::Cancelled),
            Err(e) => Err(Stop::failed(ErrorCode::Internal, format!("saving the run: {e}"))),
        }
    }

    async fn stage(&self, stage: Stage) -> Result<(), Stop> {
        self.checkpoint()?;
        lifecycle::enter(&mut self.run.lock().unwrap(), stage, &db::now());
        self.event("stage", json!({"stage": stage.as_str()}));
        self.save().await
    }

    fn checkpoint(&self) -> Result<(), Stop> {
        if self.cancel.is_set() { Err(Stop::Cancelled) } else { Ok(()) }
    }

    fn write_plan(&self) {
        let plan = self.plan.lock().unwrap().clone();
        let _ = crate::files::write_atomic(&self.dir.join("plan.json"), &serde_json::to_vec_pretty(&plan).unwrap_or_default());
    }

    /// The stages, in order: goal → recording → demo.mp4 → (intro) → (gif).
    pub(super) async fn work(self: Arc<Self>, record_permit: tokio::sync::OwnedSemaphorePermit) -> Result<(), Stop> {
        let (goal, target_url, options_json) = {
            let run = self.run.lock().unwrap();
            (run.goal.clone(), run.target_url.clone(), run.options.clone())
        };
        self.stage(Stage::NormalizingGoal).await?;
        let spec = RunOptions::from_stored(&options_json, self.runner.sealer.as_deref()).map_err(|e| Stop::failed(ErrorCode::Internal, e))?;
        let (options, workflow) = (&spec.render, &spec.workflow);
        let clauses = match &workflow {
            Some(_) => Vec::new(),
            None => self.runner.planner.normalize(&goal).map_err(|e| Stop::failed(ErrorCode::GoalNotUnderstood, e.to_string()))?,
        };
        {
            let mut plan = self.plan.lock().unwrap();
            plan["normalized_goal"] = match &workflow {
                Some(steps) => json!({"workflow_steps": steps.len()}),
                None => json!(clauses.iter().map(|c| json!({"clause": c.text, "intent": c.intent})).collect::<Vec<_>>()),
            };
            plan["success_criteria"] = json!(clauses.iter().map(|c| json!({"clause": c.text, "success": c.success})).collect::<Vec<_>>());
        }
        self.write_plan();
        // A workflow that signs in (one a demonstration made) uses the identity its
        // sign_in step names (a demonstration's identity signed in), else the site's
        // default credential, unless the run names one.
        let identity = spec.sign_in_identity().map(|(_, id)| id);
        let credential = self.credential(&spec.auth, &target_url, spec.signs_in(), identity.as_deref()).await?;
        // The intro's logo is fetched before recording, so a slow or refused logo costs
        // the run nothing later.
        let intro = match &spec.intro {
            Some(intro) => self.prepare_intro(intro).await,
            None => None,
        };

        self.stage(Stage::Executing).await?;
        let bundle = self.dir.join("recording");
        self.record(&target_url, &bundle, options, workflow.as_deref(), &clauses, credential).await?;
        drop(record_permit);
        self.render(&bundle, options, intro).await
    }

    /// The intro the run asked for, checked and with its images fetched; `None` (and an
    /// `intro_failed` event saying why) when it cannot be made.
    async fn prepare_intro(&self, intro: &IntroSpec) -> Option<IntroRequest> {
        // The key's own templates count: `name` without a version is its latest upload.
        let owner = self.run.lock().unwrap().owner.clone();
        match crate::template_library::prepare_intro(self.runner.db.as_ref(), &owner, intro, &self.runner.config.targets).await {
            Ok(request) => {
                self.plan.lock().unwrap()["intro"] = json!({"template": request.reference()});
                Some(request)
            }
            Err(unavailable) => {
                if unavailable.resolved {
                    self.plan.lock().unwrap()["intro"] = json!({"template": unavailable.template});
                }
                self.event("intro_failed", json!({"template": unavailable.template, "reason": unavailable.reason}));
                None
            }
        }
    }

    /// The browser records while the steps (or the clauses) run; `raw.mp4` is kept even
    /// when an action failed.
    async fn record(
        self: &Arc<Self>,
        target_url: &str,
        bundle: &Path,
        options: &RenderOptions,
        workflow: Option<&[Step]>,
        clauses: &[crate::agent::Clause],
        credential: Option<(Credential, Option<String>)>,
    ) -> Result<(), Stop> {
        let _ = std::fs::remove_dir_all(bundle);
        let record_options = RecordOptions { egress: Some(self.runner.config.targets.clone()), confinement: self.runner.config.confinement.clone(), ..record_options_for(&options.video) };
        let source = FrameSource::default();
        let raw = bundle.join(crate::render::RAW_MP4);
        let live = LiveRawWriter::start(bundle, record_options.page(), options.video.fps, source.subscribe());
        let mut capture = match Capture::start(target_url, bundle, &record_options, source).await {
            Ok(capture) => capture,
            Err(error) => {
                live.abandon();
                return Err(Stop::of_capture(error));
            }
        };
        self.run.lock().unwrap().recording_started = true;
        if let Err(stop) = self.save().await {
            let _ = finish_live(live, capture.finish().await).await;
            return Err(stop);
        }
        let input = super::input::RunInput { job: self.clone() };
        let acted = {
            let mut act = Act::new(&mut capture, &input, self.as_ref(), self.runner.planner.as_ref());
            match workflow {
                Some(steps) => act.workflow(steps, credential.as_ref().map(|(c, p)| (c, p.as_deref()))).await,
                None => act.goal(clauses, credential.as_ref().map(|(c, p)| (c, p.as_deref()))).await,
            }
        };
        let finished = finish_live(live, capture.finish().await).await;
        self.write_plan();
        if raw.is_file() {
            self.store_artifact(&raw, "raw.mp4", "video/mp4").await?;
        }
        // A finished recording is kept, so the run can be rendered again without a
        // browser (re-render jobs); a failed run's too.
        if bundle.join(crate::recording::META_FILE).is_file() {
            match self.runner.producer.keep_recording(&self.id(), bundle).await {
                Ok(bytes) => self.event("recording_kept", json!({"size_bytes": bytes})),
                Err(error) => self.event("recording_not_kept", json!({"reason": error.to_string()})),
            }
        }
        // A step that could not be done: the page as it was then, to see why.
        if matches!(&acted, Err(Stop::Failed { code: ErrorCode::StepFailed, .. }))
            && let Some(last) = crate::recording::Recording::open(bundle).ok().and_then(|r| r.frames.last().map(|f| f.path.clone()))
        {
            // A copy: the bundle keeps every frame (it is kept for re-renders).
            let screenshot = self.dir.join(FAILURE_SCREENSHOT);
            if std::fs::copy(&last, &screenshot).is_ok() {
                self.store_artifact(&screenshot, FAILURE_SCREENSHOT, "image/jpeg").await?;
            }
        }
        if let Ok(recorded) = &finished {
            if let Some(missed) = recorded.raw_missed_live {
                // The capture kept its frame rate; the video waited for the recording's end.
                self.event("raw_from_recording", json!({"missed_live": missed}));
            }
            let asked = record_options.frame_size();
            if recorded.frame_size.clearly_smaller_than(asked) {
                // The render scales such frames up: the run says why its video is soft.
                self.event("capture_smaller", json!({"asked": asked, "delivered": recorded.frame_size}));
            }
        }
        acted?;
        finished.map(|_| ()).map_err(|e| match e {
            RecordError::Capture(error) => Stop::of_capture(error),
            other => Stop::failed(ErrorCode::BrowserError, other.to_string()),
        })
    }

    /// demo.mp4 (starting on the intro card when one was asked for and could be made),
    /// then demo.gif: one render at a time on this machine.
    async fn render(&self, bundle: &Path, options: &RenderOptions, intro: Option<IntroRequest>) -> Result<(), Stop> {
        // Waiting for another run's render to end is cancellable like any other wait.
        let _render_permit = tokio::select! {
            permit = self.runner.render_slots.clone().acquire_owned() => permit.map_err(|_| Stop::failed(ErrorCode::Internal, "render slots closed"))?,
            _ = self.cancel.cancelled() => return Err(Stop::Cancelled),
        };
        self.stage(Stage::RenderingDemoVideo).await?;
        let cancel = self.cancel.clone();
        let (demo, intro_outcome) = self.runner.producer.render_demo(bundle, options, intro, &self.dir, Arc::new(move || cancel.is_set())).await.map_err(produce_stop)?;
        if let Some(outcome) = intro_outcome {
            // The card is drawn into demo.mp4 as it renders; this stage reports it.
            self.stage(Stage::RenderingIntro).await?;
            // Best-effort by contract: when the card failed, demo.mp4 ships without it and
            // the events say why.
            let (kind, fields) = crate::produce::events::intro(&outcome);
            self.event(kind, fields);
        }
        self.store_artifact(&demo, "demo.mp4", "video/mp4").await?;
        if options.artifacts.gif {
            self.stage(Stage::RenderingGif).await?;
            let cancel = self.cancel.clone();
            let made = self.runner.producer.gif(&demo, &options.artifacts, &self.dir, Arc::new(move || cancel.is_set())).await.map_err(produce_stop)?;
            for (kind, fields) in crate::produce::events::gif(&made, options.artifacts.gif_max_bytes) {
                self.event(kind, fields);
            }
            self.store_artifact(&made.path, "demo.gif", "image/gif").await?;
        }
        self.checkpoint()
    }

    /// The login to use: `options.auth` (or, for a workflow that signs in and names
    /// none, the identity its sign_in step names, else the site's default) resolved
    /// against the key's credentials and identities, with its password opened.
    async fn credential(&self, auth: &AuthSource, target_url: &str, signs_in: bool, identity: Option<&str>) -> Result<Option<(Credential, Option<String>)>, Stop> {
        let owner = self.run.lock().unwrap().owner.clone();
        let host = crate::steps::url::check(target_url, Schemes::Web)
            .ok()
            .and_then(|checked| checked.host)
            .ok_or_else(|| Stop::failed(ErrorCode::Internal, "the stored target_url is not an http or https URL"))?;
        let db = &self.runner.db;
        let (found, missing) = match (auth, identity) {
            (AuthSource::Default, _) => (db.default_credential_for_host(&owner, &host).await, format!("no default credential for {host}")),
            (AuthSource::Saved(id), _) => (db.credential(&owner, id).await, "the credential no longer exists".into()),
            (AuthSource::None, Some(id)) => (db.identity(&owner, id).await.map(|i| i.map(|i| i.as_credential())), format!("the identity {id} no longer exists")),
            (AuthSource::None, None) if signs_in => (db.default_credential_for_host(&owner, &host).await, format!("no default credential for {host}")),
            (AuthSource::None, None) => return Ok(None),
        };
        let Some(credential) = found.map_err(|e| Stop::failed(ErrorCode::Internal, e.to_string()))? else {
            self.event("login_skipped", json!({"reason": missing}));
            return Ok(None);
        };
        self.event("login_planned", json!({"credential": credential.label, "domain": credential.domain}));
        let password = match (&credential.password_sealed, &self.runner.sealer) {
            (Some(sealed), Some(sealer)) => Some(sealer.open(sealed).map_err(|e| Stop::failed(ErrorCode::LoginFailed, e.to_string()))?),
            (Some(_), None) => return Err(Stop::failed(ErrorCode::LoginFailed, "the server has no secret key to open the stored password")),
            (None, _) => None,
        };
        Ok(Some((credential, password)))
    }

    async fn store_artifact(&self, path: &Path, name: &str, content_type: &str) -> Result<(), Stop> {
        let artifact = self.runner.producer.store(&self.id(), path, name, content_type).await.map_err(produce_stop)?;
        self.event("artifact", json!({"name": name, "size_bytes": artifact.size_bytes}));
        Ok(())
    }

    /// Ends the run: plan.json and events.jsonl stored, the final status written.
    pub(super) async fn conclude(&self, outcome: Result<(), Stop>) {
        let status = {
            let mut run = self.run.lock().unwrap();
            lifecycle::conclude(&mut run, &outcome, &db::now());
            run.status
        };
        match &outcome {
            Err(Stop::Failed { code, message }) => self.event("run_finished", json!({"status": status.as_str(), "error": {"code": code, "message": message}})),
            _ => self.event("run_finished", json!({"status": status.as_str()})),
        }
        self.write_plan();
        let _ = self.store_artifact(&self.dir.join("plan.json"), "plan.json", "application/json").await;
        let _ = self.store_artifact(&self.dir.join("events.jsonl"), "events.jsonl", "application/x-ndjson").await;
        // The final status must land, or the run would look in flight until the next
        // start: a full disk or a busy database get ten tries, a second apart.
        let snapshot = self.run.lock().unwrap().clone();
        for attempt in 1..=10 {
            match self.runner.db.save_run_progress(&snapshot, &self.runner.config.holder).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(run = %snapshot.id, attempt, error = %e, "saving the final status");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}

fn produce_stop(error: ProduceError) -> Stop {
    match error {
        ProduceError::Cancelled => Stop::Cancelled,
        ProduceError::Store { .. } | ProduceError::RecordingMissing(_) | ProduceError::RecordingDamaged(_) => Stop::failed(ErrorCode::Internal, error.to_string()),
        ProduceError::Render(_) | ProduceError::Gif(_) => Stop::failed(ErrorCode::RenderFailed, error.to_string()),
    }
}

/// The run's journal: `events.jsonl` and `plan.json`, and its cancel flag.
impl Journal for Job {
    /// One line of events.jsonl. Callers never pass secrets.
    fn event(&self, kind: &str, fields: Value) {
        let mut file = self.events.lock().unwrap();
        let _ = writeln!(file, "{}", crate::produce::events::line(kind, fields));
    }

    fn iteration(&self, clause: &str, round: usize, actions: Vec<String>) {
        if let Some(list) = self.plan.lock().unwrap()["iterations"].as_array_mut() {
            list.push(json!({"clause": clause, "round": round, "actions": actions}));
        }
    }

    fn action(&self, label: &str, ok: bool, at_ms: f64) {
        if let Some(list) = self.plan.lock().unwrap()["action_history"].as_array_mut() {
            list.push(json!({"action": label, "ok": ok, "at_ms": at_ms.round()}));
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_set()
    }

    fn cancelled(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.cancel.cancelled())
    }
}
