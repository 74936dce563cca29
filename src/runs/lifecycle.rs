//! The run lifecycle as data. Input: a run and what just happened to it (a stage began,
//! it waits for input, it resumed, it ended). Output: the run as it must be stored.
//! Invariant: a run moves only forward through `queued → running ⇄ awaiting_input →
//! succeeded | failed | cancelled`; an ended run carries no stage and no wait, and a
//! failed one always carries its code.

use crate::agent::act::Stop;
use crate::db::{AwaitingInput, ErrorCode, Run, RunError, RunStatus, Stage};

/// A stage begins (display only).
pub fn enter(run: &mut Run, stage: Stage, now: &str) {
    run.progress_stage = Some(stage);
    run.updated_at = now.to_string();
}

/// The run waits for a value from the API.
pub fn await_input(run: &mut Run, waiting: AwaitingInput, now: &str) {
    run.status = RunStatus::AwaitingInput;
    run.awaiting_input = Some(waiting);
    run.updated_at = now.to_string();
}

/// The wait is over (answered, expired or cancelled): running again until it concludes.
pub fn resume(run: &mut Run, now: &str) {
    run.status = RunStatus::Running;
    run.awaiting_input = None;
    run.updated_at = now.to_string();
}

/// The run ended with `outcome`.
pub fn conclude(run: &mut Run, outcome: &Result<(), Stop>, now: &str) {
    let (status, error) = match outcome {
        Ok(()) => (RunStatus::Succeeded, None),
        Err(Stop::Cancelled) => (RunStatus::Cancelled, None),
        Err(Stop::Failed { code, message }) => (RunStatus::Failed, Some(RunError { code: *code, message: message.clone() })),
    };
    run.status = status;
    run.error = error;
    run.progress_stage = None;
    run.awaiting_input = None;
    run.finished_at = Some(now.to_string());
    run.updated_at = now.to_string();
}

/// A run that could not even start (its work directory could not be made) ends failed
/// rather than staying `running`.
pub fn fail_unstarted(run: &mut Run, message: &str, now: &str) {
    conclude(run, &Err(Stop::failed(ErrorCode::Internal, message)), now);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> Run {
        Run {
            id: "r".into(),
            owner: crate::db::KeyId::new("k"),
            status: RunStatus::Running,
            progress_stage: None,
            target_url: "https://a.test/".into(),
            goal: "g".into(),
            options: serde_json::Value::Null,
            awaiting_input: None,
            error: None,
            recording_started: false,
            cancel_requested: false,
            created_at: "t0".into(),
            updated_at: "t0".into(),
            started_at: Some("t0".into()),
            finished_at: None,
        }
    }

    #[test]
    fn a_run_waits_resumes_and_ends_clean() {
        let mut run = running();
        enter(&mut run, Stage::Executing, "t1");
        assert_eq!(run.progress_stage.map(Stage::as_str), Some("executing"));
        await_input(&mut run, AwaitingInput { prompt: "Code".into(), requested_at: "t2".into(), expires_at: "t3".into() }, "t2");
        assert_eq!(run.status, RunStatus::AwaitingInput);
        assert!(run.awaiting_input.is_some());
        resume(&mut run, "t2");
        assert_eq!((run.status, run.awaiting_input.is_none()), (RunStatus::Running, true));
        conclude(&mut run, &Ok(()), "t4");
        assert_eq!(run.status, RunStatus::Succeeded);
        assert!(run.status.is_terminal() && run.progress_stage.is_none() && run.error.is_none());
        assert_eq!(run.finished_at.as_deref(), Some("t4"));
    }

    #[test]
    fn an_ended_run_keeps_no_wait_and_a_failure_keeps_its_code() {
        let mut run = running();
        enter(&mut run, Stage::RenderingDemoVideo, "t1");
        await_input(&mut run, AwaitingInput { prompt: "Code".into(), requested_at: "t1".into(), expires_at: "t2".into() }, "t1");
        conclude(&mut run, &Err(Stop::failed(ErrorCode::InputExpired, "no input within 300 s")), "t3");
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error.as_ref().map(|e| e.code.as_str()), Some("input_expired"));
        assert!(run.awaiting_input.is_none() && run.progress_stage.is_none());

        let mut cancelled = running();
        conclude(&mut cancelled, &Err(Stop::Cancelled), "t1");
        assert_eq!((cancelled.status, cancelled.error.is_none()), (RunStatus::Cancelled, true));

        let mut unstarted = running();
        fail_unstarted(&mut unstarted, "no work directory", "t1");
        assert_eq!(unstarted.error.map(|e| e.code), Some(ErrorCode::Internal));
    }

    #[test]
    fn capture_errors_map_to_the_documented_codes() {
        use crate::capture::{CaptureError, NoValue};
        let code = |error| match Stop::of_capture(error) {
            Stop::Failed { code, .. } => Some(code),
            Stop::Cancelled => None,
        };
        let step = |description: &str| CaptureError::Step { index: 1, description: description.into(), reason: "r".into() };
        assert_eq!(code(step("go to https://a.test/")), Some(ErrorCode::NavigationFailed));
        assert_eq!(code(step("click button \"New\"")), Some(ErrorCode::StepFailed));
        assert_eq!(code(CaptureError::NoInput { index: 1, description: "d".into(), reason: NoValue::Expired { seconds: 3 } }), Some(ErrorCode::InputExpired));
        assert_eq!(code(CaptureError::NoInput { index: 1, description: "d".into(), reason: NoValue::Cancelled }), None);
        assert_eq!(code(CaptureError::NoFrames(15)), Some(ErrorCode::BrowserError));
        // Every code the docs list has one spelling, read back as itself.
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
    }
}
