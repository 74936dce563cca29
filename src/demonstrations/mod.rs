//! Demonstrations: a person drives a live browser through a share link, and finishing
//! makes a workflow. Input: a stored demonstration (the api created it), then finish and
//! stop requests from the api, the person's page, or the timeouts. Output: a live
//! session per demonstration for the share pages, the recording bundle, a task version
//! with the workflow, and the demonstration's status. Invariant: a session holds one of
//! the recording slots from its creation to its end; its browser is closed on every path
//! (finish, stop, timeout, failure); the status moves only by the database's conditional
//! updates, so the api and the session never disagree about who ended it.

pub mod identity;
pub mod live;
pub mod locators;
pub mod token;
mod videos;
pub mod workflow;

use crate::capture::confine::Confinement;
use crate::capture::{Capture, RecordOptions};
use crate::db::{Database, DemoStatus, Demonstration};
use crate::egress::TargetPolicy;
use crate::geometry::Size;
use crate::recording::{FrameSource, Recording};
use live::{Command, LiveSession, LiveState};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often a live session reads its stored status (another server may have ended it).
const STATUS_CHECK: Duration = Duration::from_secs(2);

pub struct DemonstrationConfig {
    /// Where each session's recording is kept (`ID/recording`).
    pub work_dir: PathBuf,
    pub targets: TargetPolicy,
    pub confinement: Confinement,
    /// This process's name in the database: a restart ends only its own sessions.
    pub holder: String,
    /// The page a person drives, in CSS px.
    pub viewport: Size,
    /// Opens identities' passwords; `None` when the operator gave no secret key.
    pub sealer: Option<Arc<crate::secrets::Sealer>>,
}

pub struct Demonstrations {
    db: Arc<dyn Database>,
    config: DemonstrationConfig,
    /// The recording slots, shared with the runs of this process.
    slots: Arc<Semaphore>,
    live: Mutex<HashMap<String, Arc<LiveSession>>>,
    pub tokens: token::ShareTokens,
    /// Where a finished session's videos go (as a run's artifacts).
    producer: crate::produce::Producer,
}

impl Demonstrations {
    pub fn new(producer: crate::produce::Producer, config: DemonstrationConfig, slots: Arc<Semaphore>, tokens: token::ShareTokens) -> Arc<Demonstrations> {
        Arc::new(Demonstrations { db: producer.db.clone(), config, slots, live: Mutex::new(HashMap::new()), tokens, producer })
    }

    /// Sessions a previous run of this process left live: their browsers are gone.
    pub async fn recover(&self) -> crate::db::DbResult<u32> {
        self.db.end_held_demonstrations(&self.config.holder, "the server stopped during the session", &crate::db::now()).await
    }

    pub fn holder(&self) -> &str {
        &self.config.holder
    }

    /// A recording slot for a new session, if one is free now.
    pub fn reserve_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// The live session, if this process holds it.
    pub fn live(&self, id: &str) -> Option<Arc<LiveSession>> {
        self.live.lock().unwrap().get(id).cloned()
    }

    /// Starts the browser for a stored demonstration, holding `slot` until it ends.
    pub fn start(self: &Arc<Self>, demonstration: &Demonstration, slot: OwnedSemaphorePermit) -> Arc<LiveSession> {
        let viewport = crate::compose::layout::page_for_content(self.config.viewport).viewport;
        let (session, commands) = LiveSession::new(&demonstration.id, demonstration.user_name.clone(), demonstration.task_name.clone(), viewport);
        self.live.lock().unwrap().insert(demonstration.id.clone(), session.clone());
        let this = self.clone();
        let (demonstration, held) = (demonstration.clone(), session.clone());
        tokio::spawn(async move {
            let ended = this.supervise(&demonstration, &held, commands).await;
            let completed = matches!(ended, LiveState::Completed { .. });
            held.state.send_replace(ended);
            this.live.lock().unwrap().remove(&demonstration.id);
            // The person is done; the videos of what they did are made after, in the
            // session's slot (the render is the heavy part of a recording's cost).
            if completed {
                let bundle = this.config.work_dir.join(&demonstration.id).join("recording");
                match videos::keep(&this.db, &this.producer, &demonstration, &bundle).await {
                    Ok(run_id) => tracing::info!(demonstration = %demonstration.id, run = %run_id, "demonstration videos stored"),
                    Err(error) => tracing::warn!(demonstration = %demonstration.id, %error, "the demonstration's videos were not made"),
                }
            }
            drop(slot);
        });
        session
    }

    /// Moves a recording demonstration to `processing` and has its session make the
    /// workflow.
    pub async fn finish(&self, id: &str) -> Result<(), FinishError> {
        let now = crate::db::now();
        if !self.db.move_demonstration(id, &[DemoStatus::Recording], DemoStatus::Processing, None, &now).await? {
            let status = self.db.demonstration(None, id).await?.map_or("gone", |d| d.status.as_str());
            return Err(FinishError::NotRecording(status));
        }
        match self.live(id) {
            Some(session) => session.command(Command::Finish),
            // Recording in the database but no browser here: it cannot be finished.
            None => {
                let reason = "the session's browser is not held by this server";
                self.db.move_demonstration(id, &[DemoStatus::Processing], DemoStatus::Failed, Some(reason), &now).await?;
            }
        }
        Ok(())
    }

    /// Ends a demonstration without a workflow (a no-op once it ended).
    pub async fn stop(&self, id: &str, reason: &str) -> crate::db::DbResult<()> {
        let moved = self.db.move_demonstration(id, &[DemoStatus::Recording], DemoStatus::Stopped, Some(reason), &crate::db::now()).await?;
        if let (true, Some(session)) = (moved, self.live(id)) {
            session.command(Command::Stop { reason: reason.to_string() });
        }
        Ok(())
    }

    /// The session's life: the browser started, the person's time, then finish or stop.
    async fn supervise(&self, demonstration: &Demonstration, session: &Arc<LiveSession>, mut commands: tokio::sync::mpsc::UnboundedReceiver<Command>) -> LiveState {
        let dir = self.config.work_dir.join(&demonstration.id);
        let recording = dir.join("recording");
        let mut started = match self.open_browser(demonstration, &recording).await {
            Ok(capture) => capture,
            Err(error) => return self.fail(&demonstration.id, &format!("the browser did not start: {error}")).await,
        };
        // The identity signs in before the person sees the browser.
        let prelude = match &demonstration.identity_id {
            None => None,
            Some(identity_id) => match self.sign_in_identity(demonstration, identity_id, &mut started).await {
                Ok(before) => Some((before.steps, started.t_ms())),
                Err(error) => {
                    let _ = started.finish().await;
                    return self.fail(&demonstration.id, &error).await;
                }
            },
        };
        let relays = session.relay(&started);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        *session.started_epoch_ms.lock().unwrap() = Some(now.as_millis() as u64);
        *session.capture.write().await = Some(started);
        *session.last_input.lock().unwrap() = Instant::now();
        session.state.send_replace(LiveState::Recording);

        let command = self.wait_for_end(demonstration, session, &mut commands).await;
        let capture = session.capture.write().await.take();
        let finished = match capture {
            Some(capture) => capture.finish().await.map_err(|e| e.to_string()),
            None => Err("the browser was gone".to_string()),
        };
        relays.iter().for_each(|t| t.abort());
        match (command, finished) {
            (Command::Stop { reason }, _) => {
                // The api may have stopped it already; a timeout stops it here.
                let _ = self.db.move_demonstration(&demonstration.id, &[DemoStatus::Recording], DemoStatus::Stopped, Some(&reason), &crate::db::now()).await;
                LiveState::Stopped { reason }
            }
            (Command::Finish, Err(error)) => self.fail(&demonstration.id, &format!("the recording could not be kept: {error}")).await,
            (Command::Finish, Ok(summary)) => {
                let prelude = prelude.as_ref().map(|(steps, from_ms)| workflow::Prelude { steps, person_from_ms: *from_ms });
                self.make_workflow(demonstration, &summary.bundle, prelude).await
            }
        }
    }

    async fn open_browser(&self, demonstration: &Demonstration, recording: &std::path::Path) -> Result<Capture, String> {
        std::fs::create_dir_all(recording.parent().unwrap_or(recording)).map_err(|e| e.to_string())?;
        let page = crate::compose::layout::page_for_content(self.config.viewport);
        let options = RecordOptions {
            person_drives: true,
            blur_emails: false,
            egress: Some(self.config.targets.clone()),
            confinement: self.config.confinement.clone(),
            ..RecordOptions::new(page)
        };
        Capture::start(&demonstration.start_url, recording, &options, FrameSource::default()).await.map_err(|e| e.to_string())
    }

    /// Waits for finish or stop, or for the session to outlast its time or idle limit.
    async fn wait_for_end(&self, demonstration: &Demonstration, session: &LiveSession, commands: &mut tokio::sync::mpsc::UnboundedReceiver<Command>) -> Command {
        let began = Instant::now();
        let (max, idle) = (Duration::from_secs(demonstration.max_duration_s), Duration::from_secs(demonstration.idle_timeout_s));
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut status_check = tokio::time::interval(STATUS_CHECK);
        loop {
            tokio::select! {
                command = commands.recv() => return command.unwrap_or(Command::Stop { reason: "the server is stopping".into() }),
                _ = status_check.tick() => {
                    if let Some(reason) = self.ended_elsewhere(&demonstration.id).await {
                        return Command::Stop { reason };
                    }
                }
                _ = tick.tick() => {
                    if began.elapsed() >= max {
                        return Command::Stop { reason: format!("the session reached its max_duration of {} s", max.as_secs()) };
                    }
                    if session.last_input.lock().unwrap().elapsed() >= idle {
                        return Command::Stop { reason: format!("nobody drove the browser for its idle_timeout of {} s", idle.as_secs()) };
                    }
                }
            }
        }
    }

    /// Why the stored demonstration ended, if it did (through another server sharing the
    /// database). `processing` is not an end: a finish here moves the status before its
    /// command arrives. A failed read is not an end either.
    async fn ended_elsewhere(&self, id: &str) -> Option<String> {
        let stored = self.db.demonstration(None, id).await.ok().flatten()?;
        stored.status.is_terminal().then(|| stored.error.unwrap_or_else(|| format!("the demonstration was {} through another server", stored.status.as_str())))
    }

    /// Signs the browser in with the demonstration's identity, noting on the identity how
    /// it went. A sign-in that did not work is an error only when the demonstration asked
    /// for validation (`identity_skip_validation: false`); otherwise the person signs in.
    async fn sign_in_identity(&self, demonstration: &Demonstration, identity_id: &str, capture: &mut Capture) -> Result<identity::BeforeThePerson, String> {
        let strict = !demonstration.identity_skip_validation;
        let not_signed_in = |reason: String| {
            tracing::info!(demonstration = %demonstration.id, %reason, strict, "the identity did not sign in");
            if strict { Err(format!("login_failed: {reason}")) } else { Ok(identity::BeforeThePerson { signed_in: identity::SignedIn::Failed(reason), steps: Vec::new() }) }
        };
        let found = match uuid::Uuid::parse_str(identity_id) {
            Ok(_) => self.db.identity(&demonstration.owner, identity_id).await,
            Err(_) => Ok(None),
        };
        let identity = match found {
            Ok(Some(identity)) => identity,
            Ok(None) => return not_signed_in(format!("this key has no identity {identity_id:?}")),
            Err(error) => return not_signed_in(format!("reading the identity: {error}")),
        };
        let password = match self.config.sealer.as_ref().map(|sealer| sealer.open(&identity.password_sealed)) {
            Some(Ok(password)) => password,
            Some(Err(error)) => return not_signed_in(format!("the identity's password could not be opened: {error}")),
            None => return not_signed_in("the server has no secret key to open the identity's password".into()),
        };
        let before = identity::sign_in_before(capture, &demonstration.id, &demonstration.start_url, &identity, &password).await;
        let status = if before.signed_in.worked() { crate::db::IdentityStatus::Verified } else { crate::db::IdentityStatus::LoginFailed };
        if let Err(error) = self.db.set_identity_status(&identity.id, status, &crate::db::now()).await {
            tracing::warn!(identity = %identity.id, %error, "noting how the identity's sign-in went");
        }
        match before.signed_in {
            identity::SignedIn::Failed(reason) => not_signed_in(reason),
            _ => Ok(before),
        }
    }

    async fn make_workflow(&self, demonstration: &Demonstration, bundle: &std::path::Path, prelude: Option<workflow::Prelude<'_>>) -> LiveState {
        let recording = match Recording::open(bundle) {
            Ok(recording) => recording,
            Err(error) => return self.fail(&demonstration.id, &format!("reading the recording: {error}")).await,
        };
        let made = workflow::from_timeline(&demonstration.start_url, &recording.events, prelude);
        // What a replay will run must be a step list the runner accepts.
        if let Err(error) = serde_json::to_value(&made.steps).map_err(|e| e.to_string()).and_then(|steps| {
            crate::steps::parse_with(&steps, crate::steps::Schemes::Web).map(|_| ()).map_err(|e| e.to_string())
        }) {
            return self.fail(&demonstration.id, &format!("the demonstrated workflow is not a valid step list: {error}")).await;
        }
        let (steps, parameters) = match (serde_json::to_value(&made.steps), serde_json::to_value(&made.parameters)) {
            (Ok(steps), Ok(parameters)) => (steps, parameters),
            _ => return self.fail(&demonstration.id, "the workflow could not be written").await,
        };
        match self.db.complete_demonstration(&demonstration.id, &demonstration.start_url, &steps, &parameters, &crate::db::now()).await {
            Ok(Some(version)) => LiveState::Completed { task_id: demonstration.task_id.clone(), task_version_id: version.id, tool_id: demonstration.tool_id.clone() },
            Ok(None) => LiveState::Stopped { reason: "the demonstration was ended elsewhere".into() },
            Err(error) => self.fail(&demonstration.id, &format!("storing the workflow: {error}")).await,
        }
    }

    async fn fail(&self, id: &str, error: &str) -> LiveState {
        tracing::warn!(demonstration = id, error, "demonstration failed");
        let live = [DemoStatus::Recording, DemoStatus::Processing];
        if let Err(db_error) = self.db.move_demonstration(id, &live, DemoStatus::Failed, Some(error), &crate::db::now()).await {
            tracing::error!(demonstration = id, error = %db_error, "recording a demonstration's failure");
        }
        LiveState::Failed { error: error.to_string() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    /// The demonstration is in this status, not `recording`.
    #[error("the demonstration is {0}, not recording")]
    NotRecording(&'static str),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}
