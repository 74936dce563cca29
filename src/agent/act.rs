//! The act loop: a goal carried out in a live capture. Input: the clauses (or an inline
//! workflow), the login to use, a capture to drive and where input comes from. Output:
//! the steps run on the capture, each written to the run's journal. Invariant: a cancel
//! stops at the next checkpoint (between steps, and inside a long step); the password
//! and input values are typed as secrets and never written to the journal.

use super::{Clause, Element, Intent, Next, OBSERVE_JS, PageView, Planner};
use crate::capture::{Capture, CaptureError, InputSource, NoValue};
use crate::db::{Credential, ErrorCode};
use crate::steps::{Step, Target};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::time::Duration;

/// Rounds of actions a clause may take before it fails.
const MAX_ROUNDS: usize = 6;

/// Why acting (or a run) stopped early: a failure with its `error.code`, or a cancel.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    Failed { code: ErrorCode, message: String },
    Cancelled,
}

impl Stop {
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Stop {
        Stop::Failed { code, message: message.into() }
    }

    /// The stop a capture error means for a run.
    pub fn of_capture(error: CaptureError) -> Stop {
        match error {
            CaptureError::NoInput { reason: NoValue::Cancelled, .. } => Stop::Cancelled,
            CaptureError::NoInput { reason: reason @ NoValue::Expired { .. }, .. } => Stop::failed(ErrorCode::InputExpired, reason.to_string()),
            CaptureError::Step { description, reason, .. } if description.starts_with("go to") => {
                Stop::failed(ErrorCode::NavigationFailed, format!("{description}: {reason}"))
            }
            CaptureError::Step { .. } => Stop::failed(ErrorCode::StepFailed, error.to_string()),
            CaptureError::NavigationBlocked { .. } => Stop::failed(ErrorCode::NavigationBlocked, error.to_string()),
            // The server's own storage failed (a full disk): not the page's doing. The
            // path stays in the server's log; the client gets the reason.
            CaptureError::Io { reason, .. } => Stop::failed(ErrorCode::Internal, format!("the server could not write the recording: {reason}")),
            other => Stop::failed(ErrorCode::BrowserError, other.to_string()),
        }
    }
}

/// Where the act loop writes what it does and learns of a cancel: the run's journal.
pub trait Journal: Send + Sync {
    /// One event (never a secret in `fields`).
    fn event(&self, kind: &str, fields: Value);
    /// The actions planned for a clause's round (for `plan.json`).
    fn iteration(&self, clause: &str, round: usize, actions: Vec<String>);
    /// An action done, at recording time `at_ms`.
    fn action(&self, label: &str, ok: bool, at_ms: f64);
    fn is_cancelled(&self) -> bool;
    /// Resolves when a cancel arrives.
    fn cancelled(&self) -> BoxFuture<'_, ()>;
}

/// One goal being carried out.
pub struct Act<'a> {
    pub capture: &'a mut Capture,
    pub input: &'a dyn InputSource,
    pub journal: &'a dyn Journal,
    pub planner: &'a dyn Planner,
    /// Steps run so far (1-based numbers in messages).
    step_number: usize,
}

impl<'a> Act<'a> {
    pub fn new(capture: &'a mut Capture, input: &'a dyn InputSource, journal: &'a dyn Journal, planner: &'a dyn Planner) -> Act<'a> {
        Act { capture, input, journal, planner, step_number: 0 }
    }

    fn checkpoint(&self) -> Result<(), Stop> {
        if self.journal.is_cancelled() { Err(Stop::Cancelled) } else { Ok(()) }
    }

    /// Runs the workflow's steps in order; a `sign_in` step signs in with `credential`.
    pub async fn workflow(&mut self, steps: &[Step], credential: Option<(&Credential, Option<&str>)>) -> Result<(), Stop> {
        self.plan("workflow", 0, steps);
        for step in steps {
            self.checkpoint()?;
            match (step, credential) {
                (Step::SignIn { .. }, Some((credential, password))) => self.sign_in(credential, password).await?,
                (Step::SignIn { .. }, None) => {
                    return Err(Stop::failed(
                        ErrorCode::NoCredential,
                        "the workflow signs in and the run has no credential (options.auth, or a saved default for the site)",
                    ));
                }
                _ => self.step(step).await?,
            }
        }
        Ok(())
    }

    /// Signs in (when there is a credential), then carries out each clause.
    pub async fn goal(&mut self, clauses: &[Clause], credential: Option<(&Credential, Option<&str>)>) -> Result<(), Stop> {
        let signed_in = credential.is_some();
        if let Some((credential, password)) = credential {
            self.sign_in(credential, password).await?;
        }
        for clause in clauses {
            self.checkpoint()?;
            self.journal.event("clause_started", json!({"clause": clause.text}));
            if clause.intent == Intent::SignIn && !signed_in {
                let view = self.observe().await?;
                if view.elements.iter().any(Element::is_password) {
                    return Err(Stop::failed(
                        ErrorCode::NoCredential,
                        format!("{:?}: the page asks for a password and the run has no credential (options.auth)", clause.text),
                    ));
                }
            }
            self.clause(clause).await?;
            self.journal.event("clause_done", json!({"clause": clause.text}));
        }
        Ok(())
    }

    /// Rounds of observe → plan → act until the planner says the clause is done.
    async fn clause(&mut self, clause: &Clause) -> Result<(), Stop> {
        let mut done: Vec<Vec<Step>> = Vec::new();
        loop {
            self.checkpoint()?;
            let view = self.observe().await?;
            // A code the product asks for mid-goal is answered first; then the page is read again.
            if self.answer_code_if_asked(&view).await? {
                continue;
            }
            match self.planner.next(clause, &view, &done) {
                Next::Done => return Ok(()),
                Next::Fail(reason) => return Err(Stop::failed(ErrorCode::GoalFailed, format!("{:?}: {reason}", clause.text))),
                Next::Do(_) if done.len() >= MAX_ROUNDS => {
                    return Err(Stop::failed(ErrorCode::GoalFailed, format!("{:?}: still not done after {MAX_ROUNDS} rounds of actions", clause.text)));
                }
                Next::Do(steps) => {
                    self.plan(&clause.text, done.len(), &steps);
                    self.steps(&steps).await?;
                    done.push(steps);
                }
            }
        }
    }

    fn plan(&self, clause: &str, round: usize, steps: &[Step]) {
        self.journal.iteration(clause, round, steps.iter().map(Step::describe).collect());
    }

    async fn steps(&mut self, steps: &[Step]) -> Result<(), Stop> {
        for step in steps {
            self.checkpoint()?;
            self.step(step).await?;
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step) -> Result<(), Stop> {
        self.step_number += 1;
        let label = step.describe();
        // A long step (a pause, a slow page) must not hold a cancel: it is dropped
        // mid-way, and the recording is finished by the caller as usual.
        let result = tokio::select! {
            result = self.capture.step(self.step_number, step, self.input) => result,
            _ = self.journal.cancelled() => {
                self.journal.event("action", json!({"action": label, "ok": false, "stopped_by": "cancel"}));
                return Err(Stop::Cancelled);
            }
        };
        match self.capture.take_fallback() {
            // The page changed since the workflow was made: the step found its element
            // by a looser way.
            Some(way) => self.journal.event("action", json!({"action": label, "ok": result.is_ok(), "found_by_fallback": way})),
            None => self.journal.event("action", json!({"action": label, "ok": result.is_ok()})),
        }
        self.journal.action(&label, result.is_ok(), self.capture.t_ms());
        result.map_err(Stop::of_capture)
    }

    async fn observe(&self) -> Result<PageView, Stop> {
        for _ in 0..3 {
            if let Ok(view) = self.capture.read_page::<PageView>(OBSERVE_JS).await {
                return Ok(view);
            }
            // The page may be navigating: look again in a moment.
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        Err(Stop::failed(ErrorCode::BrowserError, "the page could not be read (it kept navigating or crashed)"))
    }

    /// Fills the sign-in form: the login name, the password (a secret), submit; then a
    /// one-time code if the product asks for one.
    async fn sign_in(&mut self, credential: &Credential, password: Option<&str>) -> Result<(), Stop> {
        // A page that draws its form after loading gets the step's usual time to show it.
        let started = std::time::Instant::now();
        let view = loop {
            let view = self.observe().await?;
            if view.elements.iter().any(|e| e.is_login_name()) || started.elapsed() >= Duration::from_millis(crate::steps::DEFAULT_TIMEOUT_MS) {
                break view;
            }
            self.checkpoint()?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let Some(name_field) = view.elements.iter().find(|e| e.is_login_name()) else {
            return Err(Stop::failed(ErrorCode::LoginFailed, "no e-mail or username field on the page"));
        };
        let by = |e: &Element| Target { selector: Some(e.selector.clone()), ..Default::default() };
        let mut steps =
            vec![Step::Type { text: credential.email.clone(), target: by(name_field), secret: false, label: Some("type the login e-mail".into()), timeout_ms: None, only_within: None }];
        if let (Some(password), Some(field)) = (password, view.elements.iter().find(|e| e.is_password())) {
            steps.push(Step::Type {
                text: password.to_string(),
                target: by(field),
                secret: true,
                label: Some("type the password".into()),
                timeout_ms: None,
                only_within: Some(credential.domain.clone()),
            });
        }
        steps.push(Step::Press { key: "Enter".into(), modifiers: vec![], label: Some("submit the sign-in form".into()) });
        steps.push(Step::Pause { ms: 1200, label: None });
        self.plan("sign in", 0, &steps);
        self.steps(&steps).await?;
        let mut view = self.observe().await?;
        if self.answer_code_if_asked(&view).await? {
            view = self.observe().await?;
        }
        if view.elements.iter().any(Element::is_password) {
            return Err(Stop::failed(ErrorCode::LoginFailed, "the sign-in form is still shown after submitting (wrong e-mail or password?)"));
        }
        Ok(())
    }

    /// A one-time-code field in `view` asks `input` for the code (the run waits in
    /// `awaiting_input`); the answer is typed as a secret and submitted. Answers whether
    /// it did (the page then changed).
    async fn answer_code_if_asked(&mut self, view: &PageView) -> Result<bool, Stop> {
        let Some(field) = view.elements.iter().find(|e| e.is_one_time_code() && e.empty) else { return Ok(false) };
        let prompt = if field.label.is_empty() { "One-time code".to_string() } else { field.label.clone() };
        let target = Target { selector: Some(field.selector.clone()), ..Default::default() };
        let steps = [
            Step::Input { prompt, target, label: Some("type the one-time code".into()), timeout_ms: None },
            Step::Press { key: "Enter".into(), modifiers: vec![], label: Some("submit the code".into()) },
            Step::Pause { ms: 1200, label: None },
        ];
        self.plan("one-time code", 0, &steps);
        for step in &steps {
            self.step(step).await?;
        }
        Ok(true)
    }
}
