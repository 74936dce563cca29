//! Runs: queued requests become recordings and videos. Input: runs queued by the api.
//! Output: the run's status and progress in the store, its artifacts in the artifact
//! store, `events.jsonl` and `plan.json`. Invariant: a run moves only forward through
//! `queued → running ⇄ awaiting_input → succeeded | failed | cancelled`; it stops at the
//! next checkpoint after a cancel (between actions, between render stages, and inside a
//! render within a second); passwords and input values never reach the store, the
//! events or the plan.
//!
//! The dispatcher keeps at most `recordings_at_once` browsers and `renders_at_once`
//! renders busy (default one each: a 2-core machine records one run while it renders
//! the previous one).

pub mod hub;

use crate::agent::{Clause, Next, PageView, Planner};
use crate::capture::{self, Capture, CaptureError, InputSource, NoValue, RecordOptions, steps::Step};
use crate::db::{self, AwaitingInput, Credential, Run, RunError, RunStatus, Store};
use crate::secrets::Sealer;
use crate::store::ArtifactStore;
use hub::{Cancel, Hub};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Where runs keep their recording and videos while they work.
    pub work_dir: PathBuf,
    pub recordings_at_once: usize,
    pub renders_at_once: usize,
    /// How long a run waits in `awaiting_input`.
    pub input_window: Duration,
}

pub struct Runner {
    pub store: Arc<dyn Store>,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub hub: Arc<Hub>,
    pub sealer: Option<Arc<Sealer>>,
    pub planner: Arc<dyn Planner>,
    pub config: RunnerConfig,
    record_slots: Arc<Semaphore>,
    render_slots: Arc<Semaphore>,
}

/// Why a run stopped early: its `error.code` and message, or a cancel.
#[derive(Debug)]
enum Stop {
    Failed { code: &'static str, message: String },
    Cancelled,
}

impl Stop {
    fn failed(code: &'static str, message: impl Into<String>) -> Stop {
        Stop::Failed { code, message: message.into() }
    }
}

impl Runner {
    pub fn new(
        store: Arc<dyn Store>,
        artifacts: Arc<dyn ArtifactStore>,
        hub: Arc<Hub>,
        sealer: Option<Arc<Sealer>>,
        planner: Arc<dyn Planner>,
        config: RunnerConfig,
    ) -> Runner {
        let record_slots = Arc::new(Semaphore::new(config.recordings_at_once.max(1)));
        let render_slots = Arc::new(Semaphore::new(config.renders_at_once.max(1)));
        Runner { store, artifacts, hub, sealer, planner, config, record_slots, render_slots }
    }

    /// Takes queued runs as recording slots free up, for as long as the process lives.
    pub fn spawn_dispatcher(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let Ok(permit) = self.record_slots.clone().acquire_owned().await else { return };
                match self.store.claim_next_run(&db::now()).await {
                    Ok(Some(run)) => {
                        let runner = self.clone();
                        tokio::spawn(async move { runner.execute(run, permit).await });
                    }
                    Ok(None) => {
                        drop(permit);
                        let _ = tokio::time::timeout(Duration::from_secs(2), self.hub.queued.notified()).await;
                    }
                    Err(e) => {
                        drop(permit);
                        eprintln!("demoreel: claiming a queued run: {e}");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        })
    }

    async fn execute(self: Arc<Self>, run: Run, record_permit: tokio::sync::OwnedSemaphorePermit) {
        let run_id = run.id.clone();
        let cancel = self.hub.cancel_flag(&run_id);
        let dir = self.config.work_dir.join(&run_id);
        let job = Job::new(self.clone(), run, &dir, cancel.clone());
        let job = match job {
            Ok(job) => job,
            Err(e) => {
                // Nothing can be recorded without a work directory: fail the run, never strand it.
                eprintln!("demoreel: run {run_id}: cannot create {}: {e}", dir.display());
                if let Ok(Some(mut run)) = self.store.run_by_id(&run_id).await {
                    let now = db::now();
                    run.status = RunStatus::Failed;
                    run.error = Some(RunError { code: "internal".into(), message: "the server could not create the run's work directory".into() });
                    run.progress_stage = None;
                    run.finished_at = Some(now.clone());
                    run.updated_at = now;
                    let _ = self.store.save_run_progress(&run).await;
                }
                self.hub.finished(&run_id);
                return;
            }
        };
        let job = Arc::new(job);
        // A cancel that arrived while queued-but-claimed, or in the database from elsewhere.
        if job.run.lock().unwrap().cancel_requested {
            cancel.set();
        }
        job.event("run_started", json!({}));
        let outcome = job.clone().work(record_permit).await;
        job.conclude(outcome).await;
        self.hub.finished(&run_id);
        let _ = std::fs::remove_dir_all(dir.join("recording").join("frames"));
    }
}

/// One run being worked on.
struct Job {
    runner: Arc<Runner>,
    run: Mutex<Run>,
    dir: PathBuf,
    events: Mutex<std::fs::File>,
    plan: Mutex<Value>,
    cancel: Arc<Cancel>,
}

impl Job {
    fn new(runner: Arc<Runner>, run: Run, dir: &Path, cancel: Arc<Cancel>) -> std::io::Result<Job> {
        std::fs::create_dir_all(dir)?;
        let events = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("events.jsonl"))?;
        let plan = json!({"goal": run.goal, "normalized_goal": null, "success_criteria": [], "iterations": [], "action_history": []});
        Ok(Job { runner, run: Mutex::new(run), dir: dir.to_path_buf(), events: Mutex::new(events), plan: Mutex::new(plan), cancel })
    }

    fn id(&self) -> String {
        self.run.lock().unwrap().id.clone()
    }

    /// One line of events.jsonl. Callers never pass secrets.
    fn event(&self, kind: &str, mut fields: Value) {
        fields["at"] = json!(db::now());
        fields["type"] = json!(kind);
        let mut file = self.events.lock().unwrap();
        let _ = writeln!(file, "{fields}");
    }

    async fn save(&self) -> Result<(), Stop> {
        let snapshot = {
            let mut run = self.run.lock().unwrap();
            run.updated_at = db::now();
            run.clone()
        };
        match self.runner.store.save_run_progress(&snapshot).await {
            Ok(true) => Ok(()),
            // The run ended elsewhere (cancelled while queued-and-claimed): stop here.
            Ok(false) => Err(Stop::Cancelled),
            Err(e) => Err(Stop::failed("internal", format!("saving the run: {e}"))),
        }
    }

    async fn stage(&self, stage: &str) -> Result<(), Stop> {
        self.checkpoint()?;
        self.run.lock().unwrap().progress_stage = Some(stage.to_string());
        self.event("stage", json!({"stage": stage}));
        self.save().await
    }

    fn checkpoint(&self) -> Result<(), Stop> {
        if self.cancel.is_set() { Err(Stop::Cancelled) } else { Ok(()) }
    }

    fn write_plan(&self) {
        let plan = self.plan.lock().unwrap().clone();
        let _ = std::fs::write(self.dir.join("plan.json"), serde_json::to_vec_pretty(&plan).unwrap_or_default());
    }

    async fn work(self: Arc<Self>, record_permit: tokio::sync::OwnedSemaphorePermit) -> Result<(), Stop> {
        let (goal, target_url, options_json) = {
            let run = self.run.lock().unwrap();
            (run.goal.clone(), run.target_url.clone(), run.options.clone())
        };
        let parsed = crate::options::parse(&options_json).map_err(|e| Stop::failed("invalid_options", format!("{:?}", e.details)))?;
        let options = parsed.options;

        // normalizing_goal: the goal as clauses, or the inline workflow.
        self.stage("normalizing_goal").await?;
        let workflow = match options_json.pointer("/workflow/steps") {
            Some(steps) => Some(crate::capture::steps::parse(&json!({"steps": steps})).map_err(|e| Stop::failed("invalid_options", format!("options.workflow.{e}")))?),
            None => None,
        };
        let clauses = match &workflow {
            Some(_) => Vec::new(),
            None => self.runner.planner.normalize(&goal).map_err(|e| Stop::failed("goal_not_understood", e.to_string()))?,
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
        let credential = self.credential(&options_json, &target_url).await?;

        // executing: the browser records while the clauses (or steps) run.
        self.stage("executing").await?;
        let bundle = self.dir.join("recording");
        let _ = std::fs::remove_dir_all(&bundle);
        let record_options = RecordOptions::for_video(&options.video);
        let mut capture = Capture::start(&target_url, &bundle, &record_options).await.map_err(capture_stop)?;
        self.run.lock().unwrap().recording_started = true;
        if let Err(stop) = self.save().await {
            let _ = capture.finish().await;
            return Err(stop);
        }
        let input = RunInput { job: self.clone() };
        let acted = self.act(&mut capture, &input, workflow.as_deref(), &clauses, credential.as_ref()).await;
        let finished = capture.finish().await;
        self.write_plan();
        drop(record_permit);
        let raw = bundle.join(capture::RAW_MP4);
        if raw.is_file() {
            // The capture as it happened is kept even when an action failed.
            self.store_artifact(&raw, "raw.mp4", "video/mp4").await?;
        }
        acted?;
        finished.map_err(capture_stop)?;

        // Rendering, one render at a time on this machine.
        let _render_permit = self.runner.render_slots.clone().acquire_owned().await.map_err(|_| Stop::failed("internal", "render slots closed"))?;
        self.stage("rendering_demo_video").await?;
        let demo = self.render_demo(&bundle, &options).await?;
        self.store_artifact(&demo, "demo.mp4", "video/mp4").await?;
        if options_json.get("intro").is_some_and(|i| !i.is_null()) {
            self.stage("rendering_intro").await?;
            // Best-effort by contract: demo.mp4 ships without the card, and the events say why.
            self.event("intro_skipped", json!({"reason": "intro templates are not rendered by this version of demoreel"}));
        }
        if options.artifacts.gif {
            self.stage("rendering_gif").await?;
            let gif_path = self.dir.join("demo.gif");
            let artifacts = options.artifacts.clone();
            let (source, target) = (demo.clone(), gif_path.clone());
            let made = tokio::task::spawn_blocking(move || crate::gif::from_mp4(&source, &target, artifacts.gif_width, artifacts.gif_fps, artifacts.gif_max_bytes))
                .await
                .map_err(|e| Stop::failed("render_failed", e.to_string()))?
                .map_err(|e| Stop::failed("render_failed", format!("demo.gif: {e}")))?;
            self.event("gif", json!({"width": made.width, "height": made.height, "frames": made.frames, "bytes": made.bytes, "narrowed_to_fit": made.narrowed}));
            self.store_artifact(&gif_path, "demo.gif", "image/gif").await?;
        }
        self.checkpoint()
    }

    /// The login to use: `options.auth` resolved against the key's credentials.
    async fn credential(&self, options: &Value, target_url: &str) -> Result<Option<Credential>, Stop> {
        let owner = self.run.lock().unwrap().owner.clone();
        let host = crate::api::validate::http_url(target_url).map_err(|e| Stop::failed("invalid_options", format!("target_url {e}")))?;
        let store = &self.runner.store;
        let found = match options.pointer("/auth/source").and_then(Value::as_str) {
            Some("default") => store.default_credential(&owner, &host).await,
            Some("saved") => {
                let id = options.pointer("/auth/id").and_then(Value::as_str).unwrap_or_default();
                store.credential(&owner, id).await
            }
            _ => return Ok(None),
        };
        let credential = found.map_err(|e| Stop::failed("internal", e.to_string()))?;
        match &credential {
            Some(c) => self.event("login_planned", json!({"credential": c.label, "domain": c.domain})),
            None => self.event("login_skipped", json!({"reason": format!("no default credential for {host}")})),
        }
        Ok(credential)
    }

    /// Runs the workflow, or signs in (when there is a credential) and then each clause.
    async fn act(&self, capture: &mut Capture, input: &RunInput, workflow: Option<&[Step]>, clauses: &[Clause], credential: Option<&Credential>) -> Result<(), Stop> {
        let mut step_number = 0usize;
        if let Some(steps) = workflow {
            self.iteration("workflow", 0, steps);
            for step in steps {
                self.checkpoint()?;
                step_number += 1;
                self.step(capture, input, &mut step_number, step).await?;
            }
            return Ok(());
        }
        let mut signed_in = false;
        if let Some(credential) = credential {
            self.sign_in(capture, input, credential, &mut step_number).await?;
            signed_in = true;
        }
        for clause in clauses {
            self.checkpoint()?;
            self.event("clause_started", json!({"clause": clause.text}));
            if clause.intent == crate::agent::Intent::SignIn && !signed_in {
                let view = self.observe(capture).await?;
                if view.elements.iter().any(|e| e.is_password()) {
                    return Err(Stop::failed("no_credential", format!("{:?}: the page asks for a password and the run has no credential (options.auth)", clause.text)));
                }
            }
            let mut done: Vec<Vec<Step>> = Vec::new();
            loop {
                self.checkpoint()?;
                let view = self.observe(capture).await?;
                // A code the product asks for mid-goal is answered first; then the page is read again.
                if self.answer_code_if_asked(capture, input, &mut step_number, &view).await? {
                    continue;
                }
                match self.runner.planner.next(clause, &view, &done) {
                    Next::Done => break,
                    Next::Fail(reason) => return Err(Stop::failed("goal_failed", format!("{:?}: {reason}", clause.text))),
                    Next::Do(_) if done.len() >= 6 => {
                        return Err(Stop::failed("goal_failed", format!("{:?}: still not done after 6 rounds of actions", clause.text)));
                    }
                    Next::Do(steps) => {
                        self.iteration(&clause.text, done.len(), &steps);
                        for step in &steps {
                            self.checkpoint()?;
                            self.step(capture, input, &mut step_number, step).await?;
                        }
                        done.push(steps);
                    }
                }
            }
            self.event("clause_done", json!({"clause": clause.text}));
        }
        Ok(())
    }

    fn iteration(&self, clause: &str, round: usize, steps: &[Step]) {
        let described: Vec<String> = steps.iter().map(Step::describe).collect();
        let mut plan = self.plan.lock().unwrap();
        if let Some(list) = plan["iterations"].as_array_mut() {
            list.push(json!({"clause": clause, "round": round, "actions": described}));
        }
    }

    async fn step(&self, capture: &mut Capture, input: &RunInput, number: &mut usize, step: &Step) -> Result<(), Stop> {
        *number += 1;
        let label = step.describe();
        // A long step (a pause, a slow page) must not hold a cancel: it is dropped
        // mid-way, and the recording is finished by the caller as usual.
        let result = tokio::select! {
            result = capture.step(*number, step, input) => result,
            _ = self.cancel.cancelled() => {
                self.event("action", json!({"action": label, "ok": false, "stopped_by": "cancel"}));
                return Err(Stop::Cancelled);
            }
        };
        self.event("action", json!({"action": label, "ok": result.is_ok()}));
        if let Some(list) = self.plan.lock().unwrap()["action_history"].as_array_mut() {
            list.push(json!({"action": label, "ok": result.is_ok(), "at_ms": capture.t_ms().round()}));
        }
        result.map_err(capture_stop)
    }

    async fn observe(&self, capture: &Capture) -> Result<PageView, Stop> {
        for _ in 0..3 {
            if let Ok(value) = capture.page().evaluate(crate::agent::OBSERVE_JS).await
                && let Ok(text) = value.into_value::<String>()
                && let Ok(view) = serde_json::from_str::<PageView>(&text)
            {
                return Ok(view);
            }
            // The page may be navigating: look again in a moment.
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        Err(Stop::failed("browser_error", "the page could not be read (it kept navigating or crashed)"))
    }

    /// Fills the sign-in form: the login name, the password (a secret), submit; then a
    /// one-time code if the product asks for one.
    async fn sign_in(&self, capture: &mut Capture, input: &RunInput, credential: &Credential, number: &mut usize) -> Result<(), Stop> {
        let password = match (&credential.password_sealed, &self.runner.sealer) {
            (Some(sealed), Some(sealer)) => Some(sealer.open(sealed).map_err(|e| Stop::failed("login_failed", e.to_string()))?),
            (Some(_), None) => return Err(Stop::failed("login_failed", "the server has no secret key to open the stored password")),
            (None, _) => None,
        };
        let view = self.observe(capture).await?;
        let Some(name_field) = view.elements.iter().find(|e| e.is_login_name()) else {
            return Err(Stop::failed("login_failed", "no e-mail or username field on the page"));
        };
        let by = |e: &crate::agent::Element| crate::capture::steps::Target { selector: Some(e.selector.clone()), ..Default::default() };
        let mut steps = vec![Step::Type { text: credential.email.clone(), target: by(name_field), secret: false, label: Some("type the login e-mail".into()), timeout_ms: None }];
        if let (Some(password), Some(field)) = (&password, view.elements.iter().find(|e| e.is_password())) {
            steps.push(Step::Type { text: password.clone(), target: by(field), secret: true, label: Some("type the password".into()), timeout_ms: None });
        }
        steps.push(Step::Press { key: "Enter".into(), modifiers: vec![], label: Some("submit the sign-in form".into()) });
        steps.push(Step::Pause { ms: 1200, label: None });
        self.iteration("sign in", 0, &steps);
        for step in &steps {
            self.checkpoint()?;
            self.step(capture, input, number, step).await?;
        }
        let mut view = self.observe(capture).await?;
        if self.answer_code_if_asked(capture, input, number, &view).await? {
            view = self.observe(capture).await?;
        }
        if view.elements.iter().any(|e| e.is_password()) {
            return Err(Stop::failed("login_failed", "the sign-in form is still shown after submitting (wrong e-mail or password?)"));
        }
        Ok(())
    }

    /// A one-time-code field in `view` puts the run in `awaiting_input`; the answer is
    /// typed as a secret and submitted. Answers whether it did (the page then changed).
    async fn answer_code_if_asked(&self, capture: &mut Capture, input: &RunInput, number: &mut usize, view: &PageView) -> Result<bool, Stop> {
        let Some(field) = view.elements.iter().find(|e| e.is_one_time_code() && e.empty) else { return Ok(false) };
        let prompt = if field.label.is_empty() { "One-time code".to_string() } else { field.label.clone() };
        let target = crate::capture::steps::Target { selector: Some(field.selector.clone()), ..Default::default() };
        let steps = [
            Step::Input { prompt, target, label: Some("type the one-time code".into()), timeout_ms: None },
            Step::Press { key: "Enter".into(), modifiers: vec![], label: Some("submit the code".into()) },
            Step::Pause { ms: 1200, label: None },
        ];
        self.iteration("one-time code", 0, &steps);
        for step in &steps {
            self.step(capture, input, number, step).await?;
        }
        Ok(true)
    }

    async fn render_demo(&self, bundle: &Path, options: &crate::options::RenderOptions) -> Result<PathBuf, Stop> {
        let (bundle, out, options, cancel) = (bundle.to_path_buf(), self.dir.clone(), options.clone(), self.cancel.clone());
        let rendered = tokio::task::spawn_blocking(move || {
            let recording = crate::recording::Recording::open(&bundle).map_err(|e| e.to_string())?;
            let outputs = crate::render::Outputs { raw: false, demo: true };
            crate::render::render_cancellable(&recording, &options, &out, outputs, &mut |_| {}, cancel.flag()).map_err(|e| match e {
                crate::render::RenderError::Cancelled => "cancelled".to_string(),
                other => other.to_string(),
            })
        })
        .await
        .map_err(|e| Stop::failed("render_failed", e.to_string()))?;
        match rendered {
            Ok(_) => Ok(self.dir.join(crate::render::DEMO_MP4)),
            Err(reason) if reason == "cancelled" => Err(Stop::Cancelled),
            Err(reason) => Err(Stop::failed("render_failed", reason)),
        }
    }

    async fn store_artifact(&self, path: &Path, name: &str, content_type: &str) -> Result<(), Stop> {
        let fail = |e: String| Stop::failed("internal", format!("storing {name}: {e}"));
        let (sha256, size) = tokio::task::spawn_blocking({
            let path = path.to_path_buf();
            move || sha256_file(&path)
        })
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))?;
        let run_id = self.id();
        let key = format!("{run_id}/{name}");
        self.runner.artifacts.put(&key, path).await.map_err(|e| fail(e.to_string()))?;
        let artifact = db::Artifact {
            id: db::new_id(),
            run_id,
            name: name.to_string(),
            content_type: content_type.to_string(),
            size_bytes: size as i64,
            sha256,
            storage_key: key,
            created_at: db::now(),
        };
        self.runner.store.insert_artifact(&artifact).await.map_err(|e| fail(e.to_string()))?;
        self.event("artifact", json!({"name": name, "size_bytes": size}));
        Ok(())
    }

    /// Ends the run: plan.json and events.jsonl stored, the final status written.
    async fn conclude(&self, outcome: Result<(), Stop>) {
        let (status, error) = match &outcome {
            Ok(()) => (RunStatus::Succeeded, None),
            Err(Stop::Cancelled) => (RunStatus::Cancelled, None),
            Err(Stop::Failed { code, message }) => (RunStatus::Failed, Some(RunError { code: code.to_string(), message: message.clone() })),
        };
        match &error {
            Some(e) => self.event("run_finished", json!({"status": status.as_str(), "error": e})),
            None => self.event("run_finished", json!({"status": status.as_str()})),
        }
        self.write_plan();
        let _ = self.store_artifact(&self.dir.join("plan.json"), "plan.json", "application/json").await;
        let _ = self.store_artifact(&self.dir.join("events.jsonl"), "events.jsonl", "application/x-ndjson").await;
        let snapshot = {
            let mut run = self.run.lock().unwrap();
            run.status = status;
            run.error = error;
            run.progress_stage = None;
            run.awaiting_input = None;
            let now = db::now();
            run.finished_at = Some(now.clone());
            run.updated_at = now;
            run.clone()
        };
        if let Err(e) = self.runner.store.save_run_progress(&snapshot).await {
            eprintln!("demoreel: run {}: saving the final status: {e}", snapshot.id);
        }
    }
}

fn capture_stop(error: CaptureError) -> Stop {
    match error {
        CaptureError::NoInput { reason: NoValue::Cancelled, .. } => Stop::Cancelled,
        CaptureError::NoInput { reason: reason @ NoValue::Expired { .. }, .. } => Stop::failed("input_expired", reason.to_string()),
        CaptureError::Step { description, reason, .. } if description.starts_with("go to") => {
            Stop::failed("navigation_failed", format!("{description}: {reason}"))
        }
        CaptureError::Step { .. } => Stop::failed("step_failed", error.to_string()),
        other => Stop::failed("browser_error", other.to_string()),
    }
}

fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// The run's side of an input step: `awaiting_input` in the store, the value from the
/// api through the hub, the window's expiry, a cancel.
struct RunInput {
    job: Arc<Job>,
}

impl InputSource for RunInput {
    fn ask<'a>(&'a self, prompt: &'a str) -> futures::future::BoxFuture<'a, Result<String, NoValue>> {
        Box::pin(async move {
            let job = &self.job;
            let id = job.id();
            let window = job.runner.config.input_window;
            let receiver = job.runner.hub.expect_input(&id);
            let waiting = AwaitingInput { prompt: prompt.to_string(), requested_at: db::now(), expires_at: db::later(window.as_secs().max(1)) };
            {
                let mut run = job.run.lock().unwrap();
                run.status = RunStatus::AwaitingInput;
                run.awaiting_input = Some(waiting.clone());
            }
            job.event("awaiting_input", json!({"prompt": waiting.prompt, "expires_at": waiting.expires_at}));
            if job.save().await.is_err() {
                job.runner.hub.stop_expecting_input(&id);
                return Err(NoValue::Cancelled);
            }
            let answer = tokio::select! {
                // The hub drops the sender only when the run is finished.
                value = receiver => value.map_err(|_| NoValue::Cancelled),
                _ = tokio::time::sleep(window) => Err(NoValue::Expired { seconds: window.as_secs() }),
                _ = job.cancel.cancelled() => Err(NoValue::Cancelled),
            };
            job.runner.hub.stop_expecting_input(&id);
            {
                let mut run = job.run.lock().unwrap();
                run.status = RunStatus::Running;
                run.awaiting_input = None;
            }
            match &answer {
                // The value itself is never written down.
                Ok(_) => job.event("input_received", json!({})),
                Err(reason) => job.event("input_missing", json!({"reason": reason.to_string()})),
            }
            if answer.is_ok() {
                job.save().await.map_err(|_| NoValue::Cancelled)?;
            }
            answer
        })
    }
}
