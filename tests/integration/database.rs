//! The store suite: every repository of the database, straight through its trait, run
//! once on the embedded SQLite file and once on a real PostgreSQL server (started per test
//! from Debian's binaries, see `postgres.rs`): lifecycles, ownership, paging, fairness,
//! leases, retries, and concurrent claimers that never take one task twice.

use crate::common::TempDir;
use crate::postgres::PgServer;
use demoreel::db::render_jobs::{Lease, TaskError};
use demoreel::db::{
    Admission, AdmissionChecks, Artifact, ArtifactRepo, Credential, CredentialRepo, DatabaseLocation, ErrorCode, FeedbackRepo, KeyId, KeyRepo, RenderJobRepo, Run, RunError, RunRepo, RunSignalRepo, RunStatus,
    SqlDatabase, TaskStatus, TemplateNeed, TemplateRepo,
};
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// Runs `suite` on a fresh SQLite file.
fn on_sqlite<F, Fut>(suite: F)
where
    F: FnOnce(Arc<SqlDatabase>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = TempDir::new("store-sqlite");
    runtime().block_on(async {
        let db = SqlDatabase::open_sqlite(&dir.path().join("demoreel.db")).await.unwrap();
        suite(Arc::new(db)).await
    });
}

/// Runs `suite` on a fresh database of a PostgreSQL server of its own.
fn on_postgres<F, Fut>(suite: F)
where
    F: FnOnce(Arc<SqlDatabase>) -> Fut,
    Fut: Future<Output = ()>,
{
    let server = PgServer::start();
    runtime().block_on(async {
        let url = server.new_database().await;
        let db = SqlDatabase::open(&DatabaseLocation::Postgres(url)).await.unwrap();
        suite(Arc::new(db)).await
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// One test per database for each suite below.
macro_rules! on_both {
    ($($suite:ident),* $(,)?) => {$(
        mod $suite {
            #[test]
            fn sqlite() {
                super::on_sqlite(super::$suite)
            }
            #[test]
            fn postgres() {
                super::on_postgres(super::$suite)
            }
        }
    )*};
}

on_both!(keys, runs_lifecycle, runs_claimed_fairly, runs_held_by_leases, artifacts_and_generations, credentials, identities, one_task_per_name, templates, render_tasks_leased_and_retried, concurrent_claims, queues_bounded_under_concurrent_creation, run_queue_interface, template_deletes_and_creations_take_turns);

/// On PostgreSQL a run or a job stored through one connection wakes a listener on another
/// (another process, waiting for its next poll) at once, and a refused one wakes nobody;
/// on SQLite there is nothing to listen to.
#[test]
fn stored_runs_and_jobs_wake_listening_processes_on_postgres() {
    use demoreel::db::wakeups::Queued;
    use std::time::{Duration, Instant};
    on_sqlite(|db| async move { assert!(db.relay_wakeups(|_| {}).await.unwrap().is_none()) });
    on_postgres(|db| async move {
        let (alice, _) = two_keys(&db).await;
        let (sender, mut heard) = tokio::sync::mpsc::unbounded_channel();
        let relay = db.relay_wakeups(move |queued| sender.send(queued).unwrap_or_default()).await.unwrap().expect("PostgreSQL has notifications");
        let at = "2026-01-01T00:00:00.000Z";
        let stored = Instant::now();
        db.insert_run(&new_run("r", &alice, at)).await.unwrap();
        let queued = tokio::time::timeout(Duration::from_millis(500), heard.recv()).await.expect("a stored run is heard at once").unwrap();
        eprintln!("a stored run heard {:?} after its store began", stored.elapsed());
        assert_eq!(queued, Queued::Run);
        db.insert_render_job("j", &alice, &json!({}), &["r".into()], at).await.unwrap();
        let queued = tokio::time::timeout(Duration::from_millis(500), heard.recv()).await.expect("a stored job is heard at once").unwrap();
        assert_eq!(queued, Queued::RenderJob);
        let refused = db.insert_run_within(&new_run("r2", &alice, at), &AdmissionChecks { max_waiting: 1, template: None }).await.unwrap();
        assert_eq!(refused, Admission::QueueFull);
        assert!(tokio::time::timeout(Duration::from_millis(300), heard.recv()).await.is_err(), "a refused run wakes nobody");
        relay.abort();
    });
}

/// A lease that holds for the whole test.
const FAR: &str = "2099-01-01T00:00:00.000Z";

fn new_run(id: &str, owner: &KeyId, created_at: &str) -> Run {
    Run {
        id: id.into(),
        owner: owner.clone(),
        status: RunStatus::Queued,
        progress_stage: None,
        target_url: "https://app.example.com/".into(),
        goal: "Open the dashboard".into(),
        options: json!({"video": {"width": 1280}}),
        awaiting_input: None,
        error: None,
        recording_started: false,
        cancel_requested: false,
        created_at: created_at.into(),
        updated_at: created_at.into(),
        started_at: None,
        finished_at: None,
    }
}

async fn two_keys(db: &SqlDatabase) -> (KeyId, KeyId) {
    let alice = db.create_key("alice", "hash-alice", None).await.unwrap().id;
    let bob = db.create_key("bob", "hash-bob", None).await.unwrap().id;
    (alice, bob)
}

async fn keys(db: Arc<SqlDatabase>) {
    let (alice, _) = two_keys(&db).await;
    assert_eq!(db.key_by_hash("hash-alice").await.unwrap().unwrap().id, alice);
    assert_eq!(db.key_by_id(&alice).await.unwrap().unwrap().label, "alice");
    assert!(db.key_by_hash("hash-nobody").await.unwrap().is_none());
    let expired = db.create_key("old", "hash-old", Some("2000-01-01T00:00:00.000Z")).await.unwrap();
    assert!(db.key_by_hash("hash-old").await.unwrap().is_none(), "an expired key is not live");
    assert!(db.revoke_key(&alice, "2026-01-01T00:00:00.000Z").await.unwrap());
    assert!(db.revoke_key(&alice, "2027-01-01T00:00:00.000Z").await.unwrap());
    assert!(db.key_by_hash("hash-alice").await.unwrap().is_none(), "a revoked key is not live");
    assert!(!db.revoke_key(&KeyId::new("no-such-key"), "2026-01-01T00:00:00.000Z").await.unwrap());
    let listed = db.list_keys().await.unwrap();
    assert_eq!(listed.len(), 3);
    let alice_info = listed.iter().find(|k| k.id == alice).unwrap();
    assert_eq!(alice_info.revoked_at.as_deref(), Some("2026-01-01T00:00:00.000Z"), "the first revocation's time stays");
    assert!(listed.iter().any(|k| k.id == expired.id && k.expires_at.is_some()));
}

async fn runs_lifecycle(db: Arc<SqlDatabase>) {
    let (alice, bob) = two_keys(&db).await;
    for i in 0..5 {
        db.insert_run(&new_run(&format!("a{i}"), &alice, &format!("2026-01-01T00:00:0{i}.000Z"))).await.unwrap();
    }
    db.insert_run(&new_run("b0", &bob, "2026-01-01T00:00:09.000Z")).await.unwrap();
    assert!(db.run(&bob, "a0").await.unwrap().is_none(), "another key's run reads as missing");
    let run = db.run(&alice, "a0").await.unwrap().unwrap();
    assert_eq!((run.status, run.options["video"]["width"].as_i64()), (RunStatus::Queued, Some(1280)));

    // Newest first, two at a time, the cursor continuing where the page ended.
    let first = db.list_runs(&alice, None, 2, None).await.unwrap();
    assert_eq!(first.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a4", "a3"]);
    let second = db.list_runs(&alice, None, 2, first.next_cursor.as_deref()).await.unwrap();
    assert_eq!(second.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a2", "a1"]);
    let last = db.list_runs(&alice, None, 2, second.next_cursor.as_deref()).await.unwrap();
    assert_eq!((last.items.len(), last.next_cursor), (1, None));
    assert_eq!(db.queued_runs(&alice).await.unwrap(), 5);

    // Cancel: a queued run at once, a running one flagged, an ended one untouched.
    assert_eq!(db.request_cancel(&alice, "a0", "2026-01-02T00:00:00.000Z").await.unwrap(), Some(RunStatus::Queued));
    assert_eq!(db.run(&alice, "a0").await.unwrap().unwrap().status, RunStatus::Cancelled);
    assert_eq!(db.request_cancel(&bob, "a1", "2026-01-02T00:00:00.000Z").await.unwrap(), None);
    let mut running = db.claim_next_run("2026-01-02T00:00:01.000Z", 5, "p", FAR).await.unwrap().unwrap();
    assert_eq!((running.id.as_str(), running.status), ("a1", RunStatus::Running));
    assert_eq!(db.request_cancel(&alice, "a1", "2026-01-02T00:00:02.000Z").await.unwrap(), Some(RunStatus::Running));
    assert!(db.run(&alice, "a1").await.unwrap().unwrap().cancel_requested);
    running.status = RunStatus::Failed;
    running.error = Some(RunError { code: ErrorCode::StepFailed, message: "no button".into() });
    assert!(db.save_run_progress(&running, "p").await.unwrap());
    running.status = RunStatus::Succeeded;
    assert!(!db.save_run_progress(&running, "p").await.unwrap(), "an ended run is not written again");
    let failed = db.run(&alice, "a1").await.unwrap().unwrap();
    assert_eq!((failed.status, failed.error.unwrap().code), (RunStatus::Failed, ErrorCode::StepFailed));
    assert_eq!(db.request_cancel(&alice, "a1", "2026-01-02T00:00:03.000Z").await.unwrap(), Some(RunStatus::Failed));
    let only_failed = db.list_runs(&alice, Some(RunStatus::Failed), 10, None).await.unwrap();
    assert_eq!(only_failed.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a1"]);

    // After a crash, when the holder starts again: a run whose recording had not begun is
    // queued again, one that was recording fails `interrupted`.
    let fresh = db.claim_next_run("2026-01-02T00:00:04.000Z", 5, "p", FAR).await.unwrap().unwrap();
    let mut recording = db.claim_next_run("2026-01-02T00:00:05.000Z", 5, "p", FAR).await.unwrap().unwrap();
    recording.recording_started = true;
    assert!(db.save_run_progress(&recording, "p").await.unwrap());
    assert_eq!(db.recover_interrupted("2026-01-02T00:01:00.000Z", None).await.unwrap(), Default::default(), "their lease holds");
    let recovered = db.recover_interrupted("2026-01-02T00:01:00.000Z", Some("p")).await.unwrap();
    assert_eq!((recovered.requeued, recovered.failed), (vec![fresh.id.clone()], vec![recording.id.clone()]));
    assert_eq!(db.run_by_id(&recording.id).await.unwrap().unwrap().error.unwrap().code, ErrorCode::Interrupted);
    db.insert_feedback(&alice, "f1", "the cursor is great", &["a1".into()], "2026-01-03T00:00:00.000Z").await.unwrap();
}

/// The runner's queue through its interface, as two processes sharing the database use
/// it: keys take turns, a key's runs at work stay within the bound, only the holder
/// renews and it sees a cancel asked through the API, a dispatcher waiting for work wakes
/// when a run is queued, and a planned stop settles only the stopping process's runs.
async fn run_queue_interface(db: Arc<SqlDatabase>) {
    use demoreel::runs::queue::{DatabaseRunQueue, RunQueue};
    use demoreel::runs::signals::{InProcess, Signals};
    let (alice, bob) = two_keys(&db).await;
    for (id, owner, at) in [("a1", &alice, "2026-01-01T00:00:01.000Z"), ("a2", &alice, "2026-01-01T00:00:02.000Z"), ("b1", &bob, "2026-01-01T00:00:03.000Z")] {
        db.insert_run(&new_run(id, owner, at)).await.unwrap();
    }
    let signals = Arc::new(InProcess::default());
    let first: Arc<dyn RunQueue> = Arc::new(DatabaseRunQueue::new(db.clone(), signals.clone(), "first", 1));
    let second: Arc<dyn RunQueue> = Arc::new(DatabaseRunQueue::new(db.clone(), signals.clone(), "second", 1));
    assert_eq!(first.holder(), "first");
    let taken = first.take().await.unwrap().expect("alice's first run");
    assert_eq!((taken.id.as_str(), taken.status), ("a1", RunStatus::Running));
    assert_eq!(second.take().await.unwrap().map(|r| r.id).as_deref(), Some("b1"), "bob's run before alice's second: keys take turns");
    assert!(first.take().await.unwrap().is_none(), "alice has one at work, her bound: a2 waits");
    assert_eq!(second.renew("a1").await.unwrap(), None, "only the holder renews");
    assert_eq!(first.renew("a1").await.unwrap(), Some(false));
    assert_eq!(db.request_cancel(&alice, "a1", &demoreel::db::now()).await.unwrap(), Some(RunStatus::Running));
    assert_eq!(first.renew("a1").await.unwrap(), Some(true), "the holder sees the cancel");

    let waiting = {
        let first = first.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            first.wait_for_more(std::time::Duration::from_secs(10)).await;
            started.elapsed()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    signals.run_queued();
    let waited = waiting.await.unwrap();
    assert!(waited < std::time::Duration::from_secs(5), "a queued run wakes the waiting dispatcher (waited {waited:?})");

    assert_eq!(first.settle_left_behind(false).await.unwrap(), Default::default(), "live holds are left alone");
    let stopped = second.settle_left_behind(true).await.unwrap();
    assert_eq!((stopped.requeued, stopped.failed), (vec!["b1".to_string()], vec![]), "the stopping process's run goes back to the queue");
    assert_eq!(db.run_by_id("a1").await.unwrap().unwrap().status, RunStatus::Running, "the other process's run is untouched");
}

async fn runs_claimed_fairly(db: Arc<SqlDatabase>) {
    let (alice, bob) = two_keys(&db).await;
    for (i, owner) in [&alice, &alice, &alice, &bob].into_iter().enumerate() {
        db.insert_run(&new_run(&format!("r{i}"), owner, &format!("2026-01-01T00:00:0{i}.000Z"))).await.unwrap();
    }
    // Alice queued three before Bob's one, yet Bob's goes second: keys take turns.
    let claim = |at: &'static str| {
        let db = db.clone();
        async move { db.claim_next_run(at, 1, "p", FAR).await.unwrap().map(|r| r.id) }
    };
    assert_eq!(claim("2026-01-02T00:00:01.000Z").await.as_deref(), Some("r0"));
    assert_eq!(claim("2026-01-02T00:00:02.000Z").await.as_deref(), Some("r3"));
    assert_eq!(claim("2026-01-02T00:00:03.000Z").await, None, "each key is at its cap of one run at work");
    let mut done = db.run_by_id("r0").await.unwrap().unwrap();
    done.status = RunStatus::Succeeded;
    assert!(db.save_run_progress(&done, "p").await.unwrap());
    assert_eq!(claim("2026-01-02T00:00:04.000Z").await.as_deref(), Some("r1"));
}

/// Runs held by processes through leases: renewals by the holder only, a cancel seen at
/// the next renewal, a dead process's runs settled once their lease ran out, and input
/// values left for a run in another process, taken once.
async fn runs_held_by_leases(db: Arc<SqlDatabase>) {
    let (alice, _) = two_keys(&db).await;
    for id in ["r1", "r2", "r3"] {
        db.insert_run(&new_run(id, &alice, "2026-01-01T00:00:00.000Z")).await.unwrap();
    }
    let now = demoreel::db::now();
    let r1 = db.claim_next_run(&now, 5, "p1", FAR).await.unwrap().unwrap();
    let r2 = db.claim_next_run(&now, 5, "p2", "2000-01-01T00:00:00.000Z").await.unwrap().unwrap();
    assert_eq!(db.renew_run(&r1.id, "p1", FAR).await.unwrap(), Some(false));
    assert_eq!(db.renew_run(&r1.id, "p2", FAR).await.unwrap(), None, "only the holder renews");
    assert_eq!(db.request_cancel(&alice, &r1.id, &now).await.unwrap(), Some(RunStatus::Running));
    assert_eq!(db.renew_run(&r1.id, "p1", FAR).await.unwrap(), Some(true), "the holder sees the cancel at its next renewal");

    // p2 stopped renewing: its run is settled by anyone; p1's is not, until p1 restarts.
    let settled = db.recover_interrupted(&demoreel::db::now(), None).await.unwrap();
    assert_eq!((settled.requeued, settled.failed), (vec![r2.id.clone()], vec![]));
    assert_eq!(db.run_by_id(&r1.id).await.unwrap().unwrap().status, RunStatus::Running);
    // p2 was only stalled: when it writes again, its run is another's (p4 took it anew).
    let retaken = db.claim_next_run(&now, 5, "p4", FAR).await.unwrap().unwrap();
    assert_eq!(retaken.id, r2.id);
    let mut stale = r2.clone();
    stale.status = RunStatus::Failed;
    stale.error = Some(RunError { code: ErrorCode::StepFailed, message: "from the stalled process".into() });
    assert!(!db.save_run_progress(&stale, "p2").await.unwrap(), "a process that lost its lease writes nothing");
    assert_eq!(db.run_by_id(&r2.id).await.unwrap().unwrap().status, RunStatus::Running, "the run is p4's, untouched");
    let mut current = retaken.clone();
    current.status = RunStatus::Succeeded;
    assert!(db.save_run_progress(&current, "p4").await.unwrap(), "its holder writes");
    let restarted = db.recover_interrupted(&demoreel::db::now(), Some("p1")).await.unwrap();
    assert_eq!(restarted.failed, vec![r1.id.clone()]);
    assert_eq!(db.run_by_id(&r1.id).await.unwrap().unwrap().status, RunStatus::Cancelled, "its cancel was asked for");
    assert_eq!(db.renew_run(&r1.id, "p1", FAR).await.unwrap(), None, "a settled run is no longer held");

    // A value for a run awaiting input in another process: sealed bytes, taken once.
    let mut waiting = db.claim_next_run(&demoreel::db::now(), 5, "p3", FAR).await.unwrap().unwrap();
    assert!(!db.put_run_input(&waiting.id, b"sealed", &now, FAR).await.unwrap(), "only a run awaiting input takes a value");
    waiting.status = RunStatus::AwaitingInput;
    assert!(db.save_run_progress(&waiting, "p3").await.unwrap());
    assert!(db.put_run_input(&waiting.id, &[0, 255, 7], &now, FAR).await.unwrap());
    let answered = db.run_by_id(&waiting.id).await.unwrap().unwrap();
    assert_eq!((answered.status, answered.awaiting_input.is_none()), (RunStatus::Running, true), "the answer moves the run on at once");
    assert!(!db.put_run_input(&waiting.id, b"second", &now, FAR).await.unwrap(), "a run takes one answer per wait");
    assert_eq!(db.take_run_input(&waiting.id, &now).await.unwrap(), Some(vec![0, 255, 7]));
    assert_eq!(db.take_run_input(&waiting.id, &now).await.unwrap(), None);
    assert!(db.save_run_progress(&waiting, "p3").await.unwrap());
    assert!(db.put_run_input(&waiting.id, b"late", "2000-01-01T00:00:00.000Z", "2000-01-01T00:05:00.000Z").await.unwrap());
    assert_eq!(db.take_run_input(&waiting.id, &now).await.unwrap(), None, "a value past its window is not given");
}

fn artifact(id: &str, run_id: &str, name: &str, generation: u32, job: Option<&str>) -> Artifact {
    Artifact {
        id: id.into(),
        run_id: run_id.into(),
        name: name.into(),
        content_type: "video/mp4".into(),
        size_bytes: 1234,
        sha256: "ab".repeat(32),
        storage_key: format!("{run_id}/{generation}/{name}"),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        generation,
        render_job_id: job.map(str::to_string),
    }
}

async fn artifacts_and_generations(db: Arc<SqlDatabase>) {
    let (alice, _) = two_keys(&db).await;
    db.insert_run(&new_run("r", &alice, "2026-01-01T00:00:00.000Z")).await.unwrap();
    db.insert_artifact(&artifact("x0", "r", "demo.mp4", 0, None)).await.unwrap();
    // Writing an artifact again (a retried upload) replaces its row, not adds one.
    db.insert_artifact(&artifact("x1", "r", "demo.mp4", 0, None)).await.unwrap();
    assert_eq!(db.artifacts("r").await.unwrap().iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["x1"]);
    let (found, owner) = db.artifact("x1").await.unwrap().unwrap();
    assert_eq!((found.storage_key.as_str(), owner.as_str()), ("r/0/demo.mp4", alice.as_str()));

    db.set_run_recording("r", "recordings/r.tar", "cd").await.unwrap();
    assert_eq!(db.run_recording("r").await.unwrap(), Some(("recordings/r.tar".into(), "cd".into())));
    db.insert_render_job("j1", &alice, &json!({"video": {"width": 640}}), &["r".into()], "2026-01-02T00:00:00.000Z").await.unwrap();
    let claimed = db.claim_render_task("w", "2026-01-02T00:00:01.000Z", "2099-01-01T00:00:00.000Z").await.unwrap().unwrap();
    assert_eq!((claimed.task.generation, claimed.options["video"]["width"].as_i64()), (1, Some(640)));
    db.insert_artifact(&artifact("y1", "r", "demo.mp4", 1, Some("j1"))).await.unwrap();
    assert_eq!(db.artifacts("r").await.unwrap().len(), 1, "a generation is listed only once its task succeeded");
    assert!(db.finish_render_task(&claimed.task, "w", TaskStatus::Succeeded, None, "2026-01-02T00:00:02.000Z").await.unwrap());
    let listed = db.artifacts("r").await.unwrap();
    assert_eq!(listed.iter().map(|a| (a.id.as_str(), a.generation)).collect::<Vec<_>>(), [("x1", 0), ("y1", 1)]);
    assert_eq!(listed[1].render_job_id.as_deref(), Some("j1"));
    // The next job's task renders the generation after.
    db.insert_render_job("j2", &alice, &json!({}), &["r".into()], "2026-01-03T00:00:00.000Z").await.unwrap();
    assert_eq!(db.render_job(&alice, "j2").await.unwrap().unwrap().tasks[0].generation, 2);
}

fn credential(id: &str, owner: &KeyId, domain: &str, is_default: bool) -> Credential {
    Credential {
        id: id.into(),
        owner: owner.clone(),
        label: id.into(),
        domain: domain.into(),
        email: format!("{id}@example.com"),
        password_sealed: Some(vec![0, 159, 255, 7]),
        is_default,
        created_at: format!("2026-01-01T00:00:0{}.000Z", id.len()),
    }
}

async fn credentials(db: Arc<SqlDatabase>) {
    let (alice, bob) = two_keys(&db).await;
    assert!(!db.any_stored_password().await.unwrap());
    db.insert_credential(&credential("c1", &alice, "example.com", true)).await.unwrap();
    db.insert_credential(&credential("c22", &alice, "example.com", true)).await.unwrap();
    db.insert_credential(&credential("c333", &alice, "app.example.com", true)).await.unwrap();
    assert!(db.any_stored_password().await.unwrap());
    let c1 = db.credential(&alice, "c1").await.unwrap().unwrap();
    assert!(!c1.is_default, "a new default of a domain takes over");
    assert_eq!(c1.password_sealed.as_deref(), Some(&[0u8, 159, 255, 7][..]), "sealed bytes come back as written");
    assert_eq!(db.default_credential_for_host(&alice, "app.example.com").await.unwrap().unwrap().id, "c333");
    assert_eq!(db.default_credential_for_host(&alice, "www.example.com").await.unwrap().unwrap().id, "c22");
    assert!(db.default_credential_for_host(&bob, "www.example.com").await.unwrap().is_none());
    assert!(db.set_default_credential(&alice, "c1").await.unwrap().is_some());
    assert_eq!(db.default_credential_for_host(&alice, "www.example.com").await.unwrap().unwrap().id, "c1");
    assert!(db.credential(&bob, "c1").await.unwrap().is_none());
    assert!(!db.delete_credential(&bob, "c1").await.unwrap());
    assert!(db.delete_credential(&alice, "c1").await.unwrap());
    assert_eq!(db.credentials(&alice).await.unwrap().len(), 2);
}

async fn identities(db: Arc<SqlDatabase>) {
    use demoreel::db::{Identity, IdentityRepo, IdentityStatus};
    let (alice, bob) = two_keys(&db).await;
    assert!(!db.any_stored_password().await.unwrap());
    let identity = |id: &str, created_at: &str| Identity {
        id: id.into(),
        owner: alice.clone(),
        name: format!("Ada {id}"),
        source: "https://app.example.com/login".into(),
        domain: "app.example.com".into(),
        username: "ada".into(),
        password_sealed: vec![0, 159, 255, 7],
        status: IdentityStatus::Unverified,
        created_at: created_at.into(),
        updated_at: created_at.into(),
    };
    db.insert_identity(&identity("i1", "2026-01-01T00:00:00.000Z")).await.unwrap();
    db.insert_identity(&identity("i2", "2026-01-02T00:00:00.000Z")).await.unwrap();
    assert!(db.any_stored_password().await.unwrap(), "an identity's password needs the key too");
    let listed: Vec<String> = db.identities(&alice).await.unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(listed, ["i2", "i1"], "newest first");
    assert!(db.identities(&bob).await.unwrap().is_empty() && db.identity(&bob, "i1").await.unwrap().is_none(), "another key sees none");
    db.set_identity_status("i1", IdentityStatus::LoginFailed, "2026-01-03T00:00:00.000Z").await.unwrap();
    let read = db.identity(&alice, "i1").await.unwrap().unwrap();
    assert_eq!((read.status, read.updated_at.as_str(), read.password_sealed.as_slice()), (IdentityStatus::LoginFailed, "2026-01-03T00:00:00.000Z", &[0u8, 159, 255, 7][..]));
    let login = read.as_credential();
    assert_eq!((login.email.as_str(), login.domain.as_str()), ("ada", "app.example.com"), "signs in as its username on its domain");
    assert!(!db.delete_identity(&bob, "i1").await.unwrap());
    assert!(db.delete_identity(&alice, "i1").await.unwrap());
    assert_eq!(db.identities(&alice).await.unwrap().len(), 1);
}

/// Four first demonstrations of one name at once make one task, each its own session.
async fn one_task_per_name(db: Arc<SqlDatabase>) {
    use demoreel::db::{DemonstrationRepo, NewDemonstration};
    let (alice, bob) = two_keys(&db).await;
    let demonstration = |owner: &KeyId| NewDemonstration {
        id: demoreel::db::new_id(),
        owner: owner.clone(),
        task_id: demoreel::db::new_id(),
        tool_id: demoreel::db::new_id(),
        task_name: "Create a project".into(),
        task_description: "Name it and give its owner".into(),
        user_name: None,
        start_url: "https://app.example.com/".into(),
        identity_id: None,
        identity_skip_validation: true,
        max_duration_s: 60,
        idle_timeout_s: 60,
        holder: "test".into(),
    };
    let at_once = (0..4).map(|_| {
        let (db, new) = (db.clone(), demonstration(&alice));
        tokio::spawn(async move { db.insert_demonstration(&new, "2026-01-01T00:00:00.000Z").await.unwrap() })
    });
    let made: Vec<_> = futures::future::join_all(at_once).await.into_iter().map(Result::unwrap).collect();
    let tasks: std::collections::HashSet<&str> = made.iter().map(|d| d.task_id.as_str()).collect();
    let sessions: std::collections::HashSet<&str> = made.iter().map(|d| d.id.as_str()).collect();
    assert_eq!((tasks.len(), sessions.len()), (1, 4), "one task, four sessions: {made:#?}");
    assert_eq!(db.list_tasks(&alice, 10, None).await.unwrap().items.len(), 1);
    let other = db.insert_demonstration(&demonstration(&bob), "2026-01-01T00:00:00.000Z").await.unwrap();
    assert!(!tasks.contains(other.task_id.as_str()), "another key's task of the same name is its own");
}

async fn templates(db: Arc<SqlDatabase>) {
    let (alice, bob) = two_keys(&db).await;
    let files = HashMap::from([("manifest.json".to_string(), b"{}".to_vec()), ("assets/logo.png".to_string(), vec![137, 80, 78, 71, 0, 255])]);
    for _ in 0..2 {
        db.insert_template(&alice, "launch", "A launch card", &files, "2026-01-01T00:00:00.000Z").await.unwrap();
    }
    let deleted = db.delete_unpinned_template_versions(&alice, "launch", Some(2), "2026-01-02T00:00:00.000Z", &no_pins).await.unwrap();
    assert_eq!((deleted.existing, deleted.deleted), (vec![1, 2], vec![2]));
    let third = db.insert_template(&alice, "launch", "A launch card", &files, "2026-01-03T00:00:00.000Z").await.unwrap();
    assert_eq!(third.version, 3, "a deleted version's number is never given again");
    let latest = db.template(&alice, "launch", None).await.unwrap().unwrap();
    assert_eq!((latest.version, latest.files.get("assets/logo.png")), (3, files.get("assets/logo.png")));
    assert!(db.template(&alice, "launch", Some(2)).await.unwrap().is_none());
    assert!(db.template(&bob, "launch", None).await.unwrap().is_none());
    assert_eq!(db.template_versions(&alice, Some("launch")).await.unwrap().iter().map(|t| t.version).collect::<Vec<_>>(), [1, 3]);

    // The pin check is handed the key's unfinished runs, and what it keeps stays.
    db.insert_run(&new_run("r", &alice, "2026-01-01T00:00:00.000Z")).await.unwrap();
    let pin_latest_for_r = |unfinished: &[(String, serde_json::Value)], latest: Option<u32>| {
        assert_eq!((unfinished.len(), unfinished[0].0.as_str(), &unfinished[0].1["video"]["width"]), (1, "r", &json!(1280)));
        HashMap::from([(latest.unwrap(), vec!["r".to_string()])])
    };
    let deleted = db.delete_unpinned_template_versions(&alice, "launch", None, "2026-01-04T00:00:00.000Z", &pin_latest_for_r).await.unwrap();
    assert_eq!((deleted.deleted, deleted.kept), (vec![1], vec![(3, vec!["r".to_string()])]));
    let nothing = db.delete_unpinned_template_versions(&bob, "launch", None, "2026-01-04T00:00:00.000Z", &no_pins).await.unwrap();
    assert_eq!(nothing, Default::default(), "another key's template is not there to delete");
}

/// A run (or job) that names an uploaded template and a delete of that template, asked at
/// the same moment: either the run is stored and the delete keeps the version it draws,
/// or the delete goes first and the run is refused. Never a stored run whose template is
/// gone.
async fn template_deletes_and_creations_take_turns(db: Arc<SqlDatabase>) {
    let (alice, _) = two_keys(&db).await;
    let at = "2026-01-01T00:00:00.000Z";
    let files = HashMap::from([("manifest.json".to_string(), b"{}".to_vec())]);
    let need = |name: &str, version: Option<u32>| TemplateNeed { name: name.to_string(), version };

    // One order, then the other.
    db.insert_template(&alice, "first", "", &files, at).await.unwrap();
    let wanted = need("first", None);
    let mut run = new_run("stored-first", &alice, at);
    run.options["intro"] = json!({"template": "first"});
    assert_eq!(db.insert_run_within(&run, &AdmissionChecks { max_waiting: 100, template: Some(&wanted) }).await.unwrap(), Admission::Stored);
    let deleted = db.delete_unpinned_template_versions(&alice, "first", None, at, &pins_by_intro("first")).await.unwrap();
    assert_eq!((deleted.deleted, deleted.kept), (vec![], vec![(1, vec!["stored-first".to_string()])]));
    db.insert_template(&alice, "second", "", &files, at).await.unwrap();
    db.delete_unpinned_template_versions(&alice, "second", None, at, &pins_by_intro("second")).await.unwrap();
    let wanted = need("second", Some(1));
    let mut run = new_run("stored-after", &alice, at);
    run.options["intro"] = json!({"template": "second@1"});
    assert_eq!(db.insert_run_within(&run, &AdmissionChecks { max_waiting: 100, template: Some(&wanted) }).await.unwrap(), Admission::TemplateGone);
    assert!(db.run(&alice, "stored-after").await.unwrap().is_none(), "a refused run is not stored");
    db.insert_run(&new_run("rendered", &alice, at)).await.unwrap();
    let (options, checks) = (json!({"intro": {"template": "second@1"}}), AdmissionChecks { max_waiting: 100, template: Some(&wanted) });
    let job = db.insert_render_job_within("job", &alice, &options, &["rendered".into()], at, &checks).await.unwrap();
    assert_eq!(job, Admission::TemplateGone);
    assert!(db.render_job(&alice, "job").await.unwrap().is_none(), "a refused job is not stored");

    // Both at once, many times over: each pair ends one of the two ways.
    for i in 0..12 {
        let name = format!("race-{i}");
        db.insert_template(&alice, &name, "", &files, at).await.unwrap();
        let (store_db, owner, name_for_run) = (db.clone(), alice.clone(), name.clone());
        let store = tokio::spawn(async move {
            let mut run = new_run(&format!("run-{name_for_run}"), &owner, at);
            run.options["intro"] = json!({"template": name_for_run});
            let wanted = TemplateNeed { name: name_for_run, version: None };
            store_db.insert_run_within(&run, &AdmissionChecks { max_waiting: 100, template: Some(&wanted) }).await.unwrap()
        });
        let (delete_db, owner, name_for_delete) = (db.clone(), alice.clone(), name.clone());
        let delete = tokio::spawn(async move { delete_db.delete_unpinned_template_versions(&owner, &name_for_delete, None, at, &pins_by_intro(&name_for_delete)).await.unwrap() });
        let (stored, deleted) = (store.await.unwrap(), delete.await.unwrap());
        match stored {
            Admission::Stored => assert_eq!((deleted.deleted, deleted.kept), (vec![], vec![(1, vec![format!("run-{name}")])]), "{name}: the run was stored, so its version stays"),
            Admission::TemplateGone => assert_eq!(deleted.deleted, [1], "{name}: the run was refused, so the delete went first"),
            Admission::QueueFull => panic!("{name}: no bound was reached"),
        }
    }
}

/// A pin check that keeps nothing.
fn no_pins(_: &[(String, serde_json::Value)], _: Option<u32>) -> HashMap<u32, Vec<String>> {
    HashMap::new()
}

/// A pin check like the library's: an unfinished run whose intro names `name` (with no
/// version) keeps the latest version.
fn pins_by_intro(name: &str) -> impl Fn(&[(String, serde_json::Value)], Option<u32>) -> HashMap<u32, Vec<String>> + Send + Sync + 'static {
    let name = name.to_string();
    move |unfinished, latest| {
        let users: Vec<String> = unfinished.iter().filter(|(_, options)| options["intro"]["template"] == name.as_str()).map(|(id, _)| id.clone()).collect();
        match (latest, users.is_empty()) {
            (Some(latest), false) => HashMap::from([(latest, users)]),
            _ => HashMap::new(),
        }
    }
}

async fn render_tasks_leased_and_retried(db: Arc<SqlDatabase>) {
    let (alice, bob) = two_keys(&db).await;
    for id in ["r1", "r2"] {
        db.insert_run(&new_run(id, &alice, "2026-01-01T00:00:00.000Z")).await.unwrap();
    }
    db.insert_run(&new_run("rb", &bob, "2026-01-01T00:00:00.000Z")).await.unwrap();
    let past = "2000-01-01T00:00:00.000Z";
    db.insert_render_job("ja", &alice, &json!({}), &["r1".into(), "r2".into()], past).await.unwrap();
    db.insert_render_job("jb", &bob, &json!({}), &["rb".into()], past).await.unwrap();
    assert_eq!(db.unfinished_render_jobs(&alice).await.unwrap(), 1);
    let now = demoreel::db::now();
    let first = db.claim_render_task("w1", &now, past).await.unwrap().unwrap();
    assert_eq!(first.task.run_id, "r1");
    // Bob's task before Alice's second: keys with fewer tasks rendering go first.
    let second = db.claim_render_task("w2", &now, "2099-01-01T00:00:00.000Z").await.unwrap().unwrap();
    assert_eq!(second.task.run_id, "rb");
    assert_eq!(db.renew_render_task(&second.task, "w2", "2099-01-01T00:00:00.000Z", 10, 40).await.unwrap(), Lease::Held { cancel_requested: false });
    assert_eq!(db.renew_render_task(&second.task, "w1", "2099-01-01T00:00:00.000Z", 10, 40).await.unwrap(), Lease::Lost, "only the holder renews");

    // w1's lease ran out: its task is queued again after a backoff, the try counted.
    assert_eq!(db.requeue_lost_render_tasks(&now, 3).await.unwrap(), 1);
    let job = db.render_job(&alice, "ja").await.unwrap().unwrap();
    assert_eq!((job.tasks[0].status, job.tasks[0].attempts), (TaskStatus::Queued, 1));
    let third = db.claim_render_task("w3", &now, "2099-01-01T00:00:00.000Z").await.unwrap().unwrap();
    assert_eq!(third.task.run_id, "r2", "a requeued task waits out its backoff");
    assert!(!db.finish_render_task(&first.task, "w1", TaskStatus::Succeeded, None, &now).await.unwrap(), "a worker that lost its lease cannot finish");
    let failure = TaskError { code: "recording_missing".into(), message: "the recording of run r2 is gone".into() };
    assert!(db.finish_render_task(&third.task, "w3", TaskStatus::Failed, Some(&failure), &now).await.unwrap());
    assert!(db.release_render_task(&second.task, "w2", &now).await.unwrap());
    let bobs = db.render_job(&bob, "jb").await.unwrap().unwrap();
    assert_eq!((bobs.tasks[0].status, bobs.tasks[0].attempts), (TaskStatus::Queued, 0), "a release does not count as a try");

    // Cancel: queued tasks at once; a running one sees the flag at its next renewal.
    let again = db.claim_render_task("w4", &now, "2099-01-01T00:00:00.000Z").await.unwrap().unwrap();
    assert_eq!(again.task.run_id, "rb");
    assert_eq!(db.cancel_render_job(&alice, "jb", &now).await.unwrap(), None, "another key's job reads as missing");
    assert_eq!(db.cancel_render_job(&bob, "jb", &now).await.unwrap(), Some(true));
    assert_eq!(db.renew_render_task(&again.task, "w4", "2099-01-01T00:00:00.000Z", 1, 2).await.unwrap(), Lease::Held { cancel_requested: true });
    assert!(db.finish_render_task(&again.task, "w4", TaskStatus::Cancelled, None, &now).await.unwrap());
    assert_eq!(db.cancel_render_job(&bob, "jb", &now).await.unwrap(), Some(false), "an ended job cannot be cancelled");
    let job = db.render_job(&alice, "ja").await.unwrap().unwrap();
    assert_eq!(job.tasks[1].error.as_ref().map(|e| e.code.as_str()), Some("recording_missing"));

    // A task whose worker vanished at its last try fails `interrupted`.
    db.insert_run(&new_run("r3", &alice, "2026-01-01T00:00:00.000Z")).await.unwrap();
    db.insert_render_job("jc", &alice, &json!({}), &["r3".into()], past).await.unwrap();
    while db.claim_render_task("w5", &demoreel::db::now(), past).await.unwrap().is_some() {}
    db.requeue_lost_render_tasks(&demoreel::db::now(), 1).await.unwrap();
    let jc = db.render_job(&alice, "jc").await.unwrap().unwrap();
    assert_eq!(jc.tasks[0].status, TaskStatus::Failed);
    assert_eq!(jc.tasks[0].error.as_ref().map(|e| e.code.as_str()), Some("interrupted"));
    let listed = db.list_render_jobs(&alice, 1, None).await.unwrap();
    assert_eq!(listed.items[0].id, "jc");
    let rest = db.list_render_jobs(&alice, 1, listed.next_cursor.as_deref()).await.unwrap();
    assert_eq!((rest.items[0].id.as_str(), rest.next_cursor), ("ja", None));
}

/// Eight claimers at once over 60 tasks: each task is claimed exactly once.
async fn concurrent_claims(db: Arc<SqlDatabase>) {
    let (alice, bob) = two_keys(&db).await;
    let mut runs = (Vec::new(), Vec::new());
    for i in 0..60 {
        let owner = if i % 2 == 0 { &alice } else { &bob };
        let id = format!("r{i}");
        db.insert_run(&new_run(&id, owner, "2026-01-01T00:00:00.000Z")).await.unwrap();
        if i % 2 == 0 { runs.0.push(id) } else { runs.1.push(id) }
    }
    let past = "2000-01-01T00:00:00.000Z";
    db.insert_render_job("ja", &alice, &json!({}), &runs.0, past).await.unwrap();
    db.insert_render_job("jb", &bob, &json!({}), &runs.1, past).await.unwrap();
    let claimers = (0..8).map(|w| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(claimed) = db.claim_render_task(&format!("w{w}"), &demoreel::db::now(), "2099-01-01T00:00:00.000Z").await.unwrap() {
                mine.push(claimed.task.run_id);
            }
            mine
        })
    });
    let mut claimed: Vec<String> = Vec::new();
    for claimer in claimers.collect::<Vec<_>>() {
        claimed.extend(claimer.await.unwrap());
    }
    claimed.sort();
    let mut expected: Vec<String> = runs.0.iter().chain(&runs.1).cloned().collect();
    expected.sort();
    assert_eq!(claimed, expected, "every task claimed once, none twice");
}

/// A flood of creations by one key at once: exactly the bound is stored, for runs and
/// for render jobs, and jobs on one run each take a generation of their own.
async fn queues_bounded_under_concurrent_creation(db: Arc<SqlDatabase>) {
    let (alice, bob) = two_keys(&db).await;
    let at = "2026-01-01T00:00:00.000Z";
    let runs = (0..12).map(|i| {
        let (db, run) = (db.clone(), new_run(&format!("q{i}"), &alice, at));
        tokio::spawn(async move { db.insert_run_within(&run, &AdmissionChecks { max_waiting: 5, template: None }).await.unwrap() })
    });
    let stored = futures::future::join_all(runs).await.into_iter().filter(|stored| *stored.as_ref().unwrap() == Admission::Stored).count();
    assert_eq!(stored, 5, "12 runs asked at once against a bound of 5");
    assert_eq!(db.queued_runs(&alice).await.unwrap(), 5);
    let bobs = db.insert_run_within(&new_run("qb", &bob, at), &AdmissionChecks { max_waiting: 5, template: None }).await.unwrap();
    assert_eq!(bobs, Admission::Stored, "another key's queue is its own");

    db.insert_run(&new_run("kept", &alice, at)).await.unwrap();
    let jobs = (0..8).map(|i| {
        let (db, owner) = (db.clone(), alice.clone());
        let checks = AdmissionChecks { max_waiting: 3, template: None };
        tokio::spawn(async move { (db.insert_render_job_within(&format!("j{i}"), &owner, &json!({}), &["kept".into()], at, &checks).await.unwrap() == Admission::Stored).then_some(format!("j{i}")) })
    });
    let stored: Vec<String> = futures::future::join_all(jobs).await.into_iter().filter_map(|stored| stored.unwrap()).collect();
    assert_eq!(stored.len(), 3, "8 jobs asked at once against a bound of 3");
    let mut generations = Vec::new();
    for id in &stored {
        generations.extend(db.render_job(&alice, id).await.unwrap().unwrap().tasks.iter().map(|task| task.generation));
    }
    generations.sort();
    assert_eq!(generations, [1, 2, 3], "each job's re-render of the run is a generation of its own");
}
