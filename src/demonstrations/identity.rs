//! A demonstration's identity signing in before the person arrives. Input: the live
//! capture (on the start page), the identity and its opened password. Output: how far
//! the sign-in got, and the recording time the person's part begins at. Invariant: the
//! password is typed only on the identity's domain (the act loop's sign-in checks the
//! page right before typing) and never reaches a log or the workflow; a one-time code
//! the site asks for is left to the person, who is the one who receives it.

use crate::agent::act::{Act, Journal, Stop};
use crate::agent::RulePlanner;
use crate::capture::{Capture, InputSource, NoValue};
use crate::db::Identity;
use crate::steps::Step;
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};

/// How the sign-in before the person went.
#[derive(Debug, Clone, PartialEq)]
pub enum SignedIn {
    /// Signed in; the person starts on the start page.
    Done,
    /// The password was accepted and the site asks for a one-time code: the person types it.
    AwaitsCode,
    /// It did not work; the person may sign in themselves.
    Failed(String),
}

impl SignedIn {
    /// The identity got past its password.
    pub fn worked(&self) -> bool {
        !matches!(self, SignedIn::Failed(_))
    }
}

/// Answers no code, noting that one was asked for: the person will type it.
#[derive(Default)]
struct CodeForThePerson {
    asked: AtomicBool,
}

impl InputSource for CodeForThePerson {
    fn ask<'a>(&'a self, _prompt: &'a str) -> BoxFuture<'a, Result<String, NoValue>> {
        self.asked.store(true, Ordering::SeqCst);
        Box::pin(async { Err(NoValue::Unavailable("the person who drives the demonstration types the code".into())) })
    }
}

/// The sign-in's steps go to the server's log (never a value: the act loop writes labels).
struct LogJournal<'a> {
    demonstration: &'a str,
}

impl Journal for LogJournal<'_> {
    fn event(&self, kind: &str, fields: Value) {
        tracing::debug!(demonstration = self.demonstration, kind, %fields, "identity sign-in");
    }
    fn iteration(&self, _clause: &str, _round: usize, _actions: Vec<String>) {}
    fn action(&self, label: &str, ok: bool, _at_ms: f64) {
        tracing::debug!(demonstration = self.demonstration, label, ok, "identity sign-in step");
    }
    fn is_cancelled(&self) -> bool {
        false
    }
    fn cancelled(&self) -> BoxFuture<'_, ()> {
        Box::pin(futures::future::pending())
    }
}

/// What the demonstration did before the person arrived: how the sign-in went, and
/// the steps a replay repeats for it (none when it failed: the person's own sign-in,
/// if any, is in their part).
#[derive(Debug, Clone, PartialEq)]
pub struct BeforeThePerson {
    pub signed_in: SignedIn,
    pub steps: Vec<Step>,
}

/// Signs the capture in with `identity` at its login page, then returns to `start_url`
/// when that is another page (unless a code is left for the person there).
pub async fn sign_in_before(capture: &mut Capture, demonstration: &str, start_url: &str, identity: &Identity, password: &str) -> BeforeThePerson {
    let elsewhere = identity.source != start_url;
    let credential = identity.as_credential();
    let code = CodeForThePerson::default();
    let journal = LogJournal { demonstration };
    let mut act = Act::new(capture, &code, &journal, &RulePlanner);
    let mut steps = Vec::new();
    if elsewhere {
        steps.push(Step::Goto { url: identity.source.clone(), label: Some("open the identity's login page".into()) });
    }
    steps.push(Step::SignIn { identity_id: Some(identity.id.clone()), label: None });
    let failed = |reason: String| BeforeThePerson { signed_in: SignedIn::Failed(reason), steps: Vec::new() };
    match act.workflow(&steps, Some((&credential, Some(password)))).await {
        Ok(()) => {}
        Err(_) if code.asked.load(Ordering::SeqCst) => return BeforeThePerson { signed_in: SignedIn::AwaitsCode, steps },
        Err(Stop::Failed { message, .. }) => return failed(message),
        Err(Stop::Cancelled) => return failed("cancelled".into()),
    }
    if elsewhere {
        let back = Step::Goto { url: start_url.to_string(), label: Some("return to the start page".into()) };
        if let Err(Stop::Failed { message, .. }) = act.workflow(std::slice::from_ref(&back), None).await {
            return failed(format!("signed in, but the start page did not open again: {message}"));
        }
        steps.push(back);
    }
    BeforeThePerson { signed_in: SignedIn::Done, steps }
}
