//! Persistence: API keys, runs, artifacts, credentials, feedback, uploaded templates,
//! re-render jobs, demonstrations and their tasks, identities. Input: rows from the
//! api and the runner. Output: the same rows, read back by owner. Invariant: every read
//! the api makes is scoped to the key that asks (another key's row reads as missing), and
//! a status changes only along the run lifecycle (`queued → running ⇄ awaiting_input →
//! succeeded | failed | cancelled`) through conditional updates.
//!
//! [`Database`] is the interface, one trait per aggregate (keys, runs, artifacts,
//! credentials, feedback, templates, re-render jobs, demonstrations, identities); [`sql::SqlDatabase`] implements it on
//! SQLite (the embedded default) and on PostgreSQL (shared by many processes), chosen by
//! [`connect::DatabaseLocation`].

pub mod connect;
pub mod demonstrations;
pub mod identities;
pub mod ids;
pub mod render_jobs;
pub mod run_signals;
pub mod sql;
pub mod templates;
pub mod wakeups;

pub use connect::DatabaseLocation;
pub use demonstrations::{DemoStatus, Demonstration, DemonstrationRepo, NewDemonstration, Task, TaskVersion};
pub use identities::{Identity, IdentityRepo, IdentityStatus};
pub use ids::KeyId;
pub use sql::SqlDatabase;

pub use render_jobs::{RenderJob, RenderJobRepo, RenderTask, TaskStatus};
pub use run_signals::RunSignalRepo;
pub use templates::{PinFinder, StoredTemplate, TemplateDeletion, TemplateNeed, TemplateRepo};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database: {0}")]
    Corrupt(String),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    AwaitingInput,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] =
        [RunStatus::Queued, RunStatus::Running, RunStatus::AwaitingInput, RunStatus::Succeeded, RunStatus::Failed, RunStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::AwaitingInput => "awaiting_input",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AwaitingInput {
    pub prompt: String,
    pub requested_at: String,
    pub expires_at: String,
}

/// What a running run is doing (`progress_stage`, display only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    NormalizingGoal,
    Executing,
    RenderingDemoVideo,
    RenderingIntro,
    RenderingGif,
}

impl Stage {
    pub const ALL: [Stage; 5] = [Stage::NormalizingGoal, Stage::Executing, Stage::RenderingDemoVideo, Stage::RenderingIntro, Stage::RenderingGif];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::NormalizingGoal => "normalizing_goal",
            Stage::Executing => "executing",
            Stage::RenderingDemoVideo => "rendering_demo_video",
            Stage::RenderingIntro => "rendering_intro",
            Stage::RenderingGif => "rendering_gif",
        }
    }

    pub fn parse(text: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Why a run failed (`error.code`): exactly the codes the docs list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    GoalNotUnderstood,
    GoalFailed,
    NoCredential,
    LoginFailed,
    StepFailed,
    NavigationFailed,
    NavigationBlocked,
    InputExpired,
    BrowserError,
    TimeLimit,
    RenderFailed,
    Interrupted,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::GoalNotUnderstood,
        ErrorCode::GoalFailed,
        ErrorCode::NoCredential,
        ErrorCode::LoginFailed,
        ErrorCode::StepFailed,
        ErrorCode::NavigationFailed,
        ErrorCode::NavigationBlocked,
        ErrorCode::InputExpired,
        ErrorCode::BrowserError,
        ErrorCode::TimeLimit,
        ErrorCode::RenderFailed,
        ErrorCode::Interrupted,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::GoalNotUnderstood => "goal_not_understood",
            ErrorCode::GoalFailed => "goal_failed",
            ErrorCode::NoCredential => "no_credential",
            ErrorCode::LoginFailed => "login_failed",
            ErrorCode::StepFailed => "step_failed",
            ErrorCode::NavigationFailed => "navigation_failed",
            ErrorCode::NavigationBlocked => "navigation_blocked",
            ErrorCode::InputExpired => "input_expired",
            ErrorCode::BrowserError => "browser_error",
            ErrorCode::TimeLimit => "time_limit",
            ErrorCode::RenderFailed => "render_failed",
            ErrorCode::Interrupted => "interrupted",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub owner: KeyId,
    pub status: RunStatus,
    pub progress_stage: Option<Stage>,
    pub target_url: String,
    pub goal: String,
    pub options: serde_json::Value,
    pub awaiting_input: Option<AwaitingInput>,
    pub error: Option<RunError>,
    /// The browser recording began: a restart cannot simply start the run again.
    pub recording_started: bool,
    pub cancel_requested: bool,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub id: String,
    #[serde(skip)]
    pub run_id: String,
    pub name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// Where the artifact store keeps the bytes.
    #[serde(skip)]
    pub storage_key: String,
    pub created_at: String,
    /// 0: made by the run; N > 0: made by the run's N-th re-render.
    pub generation: u32,
    /// The re-render job that made it (none for the run's own).
    pub render_job_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Credential {
    pub id: String,
    pub owner: KeyId,
    pub label: String,
    pub domain: String,
    pub email: String,
    /// AES-256-GCM nonce + ciphertext of the password (see `crate::secrets`).
    pub password_sealed: Option<Vec<u8>>,
    pub is_default: bool,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: KeyId,
    pub label: String,
}

/// What the operator sees of a key: never its hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub id: KeyId,
    pub label: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A page of a list, newest first.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// What the recovery at start-up did with runs a previous process left unfinished.
#[derive(Debug, Default, PartialEq)]
pub struct Recovered {
    pub requeued: Vec<String>,
    pub failed: Vec<String>,
}

/// API keys (stored as hashes).
#[async_trait::async_trait]
pub trait KeyRepo: Send + Sync {
    async fn create_key(&self, label: &str, key_hash: &str, expires_at: Option<&str>) -> DbResult<ApiKey>;
    /// The key with this hash if it is neither revoked nor expired: read on every request,
    /// so a revocation holds from the next one.
    async fn key_by_hash(&self, key_hash: &str) -> DbResult<Option<ApiKey>>;
    /// The key with this id if it is neither revoked nor expired (a studio link names
    /// its key by id; the link ends with the key).
    async fn key_by_id(&self, id: &KeyId) -> DbResult<Option<ApiKey>>;
    /// Every key, oldest first (without hashes).
    async fn list_keys(&self) -> DbResult<Vec<KeyInfo>>;
    /// Revokes key `id` (a second revocation keeps the first time); false if none has it.
    async fn revoke_key(&self, id: &KeyId, at: &str) -> DbResult<bool>;
}

/// What storing a new run or re-render job came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Stored,
    /// The key already has as many waiting as its bound allows.
    QueueFull,
    /// The uploaded template it names was deleted after the request was checked.
    TemplateGone,
}

/// The checks a new run or re-render job passes as it is stored, under its key's lock.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionChecks<'a> {
    /// How many of the key's runs (or unfinished jobs) may wait at most.
    pub max_waiting: u32,
    /// The uploaded template it will draw, if it names one.
    pub template: Option<&'a TemplateNeed>,
}

impl AdmissionChecks<'_> {
    /// No bound and no template: what a store of a run made outside the api needs.
    pub const NONE: AdmissionChecks<'static> = AdmissionChecks { max_waiting: u32::MAX, template: None };
}

/// Runs and their lifecycle; the queue of runs is claimed through here.
#[async_trait::async_trait]
pub trait RunRepo: Send + Sync {
    async fn insert_run(&self, run: &Run) -> DbResult<()>;
    /// Stores the run unless its owner already has `checks.max_waiting` runs queued, or
    /// the uploaded template it draws (`checks.template`) is gone. The checks and the insert are one
    /// step under the key's lock: concurrent requests of one key are taken one at a time,
    /// so the bound holds under a flood, and a template delete cannot slip between them.
    async fn insert_run_within(&self, run: &Run, checks: &AdmissionChecks<'_>) -> DbResult<Admission>;
    /// The run if `owner` may see it.
    async fn run(&self, owner: &KeyId, id: &str) -> DbResult<Option<Run>>;
    async fn run_by_id(&self, id: &str) -> DbResult<Option<Run>>;
    async fn list_runs(&self, owner: &KeyId, status: Option<RunStatus>, limit: u32, cursor: Option<&str>) -> DbResult<Page<Run>>;
    /// Takes a queued run and marks it running, held by `holder` until `lease_until`,
    /// fairly across keys: a key with fewer runs at work goes first, then the key served
    /// longest ago, then the oldest run; a key with `max_active_per_owner` runs at work
    /// waits. `None` when nothing may start.
    async fn claim_next_run(&self, now: &str, max_active_per_owner: u32, holder: &str, lease_until: &str) -> DbResult<Option<Run>>;
    /// How many of `owner`'s runs are queued.
    async fn queued_runs(&self, owner: &KeyId) -> DbResult<u32>;
    /// Writes the runner's view of a run (status, stage, waiting, error, times) if
    /// `holder` still holds it and it has not ended (a cancel that won the race); answers
    /// whether it was written. A process whose lease ran out while it was stalled finds
    /// the run settled, or claimed by another, and writes nothing over it.
    async fn save_run_progress(&self, run: &Run, holder: &str) -> DbResult<bool>;
    /// Cancels a queued run at once, or flags a running one for its runner; answers the
    /// status the run had, or `None` if `owner` cannot see it.
    async fn request_cancel(&self, owner: &KeyId, id: &str, now: &str) -> DbResult<Option<RunStatus>>;
    /// Runs left at work by a process that is gone (their lease ran out, or `previous`, the
    /// holder starting again after it stopped, held them): re-queued if their recording
    /// had not begun, else failed with `interrupted`. Also drops input values past their
    /// window.
    async fn recover_interrupted(&self, now: &str, previous: Option<&str>) -> DbResult<Recovered>;
}

/// Artifact rows (the bytes are in the artifact store).
#[async_trait::async_trait]
pub trait ArtifactRepo: Send + Sync {
    async fn insert_artifact(&self, artifact: &Artifact) -> DbResult<()>;
    /// Every listed artifact of the run, oldest generation first: the run's own, then
    /// each re-render's whose task succeeded.
    async fn artifacts(&self, run_id: &str) -> DbResult<Vec<Artifact>>;
    /// The artifact and the owner of its run.
    async fn artifact(&self, id: &str) -> DbResult<Option<(Artifact, KeyId)>>;
}

/// Saved logins for target apps (passwords sealed).
#[async_trait::async_trait]
pub trait CredentialRepo: Send + Sync {
    async fn insert_credential(&self, credential: &Credential) -> DbResult<()>;
    async fn credentials(&self, owner: &KeyId) -> DbResult<Vec<Credential>>;
    async fn credential(&self, owner: &KeyId, id: &str) -> DbResult<Option<Credential>>;
    async fn update_credential(&self, credential: &Credential) -> DbResult<()>;
    /// Makes `id` the default of its domain (and no other credential of that domain).
    async fn set_default_credential(&self, owner: &KeyId, id: &str) -> DbResult<Option<Credential>>;
    async fn delete_credential(&self, owner: &KeyId, id: &str) -> DbResult<bool>;
    /// The owner's default credential serving `host`, by the one rule of which login
    /// serves a host (`steps::url::host_within`); the most specific domain wins.
    async fn default_credential_for_host(&self, owner: &KeyId, host: &str) -> DbResult<Option<Credential>> {
        let mut serving: Vec<Credential> =
            self.credentials(owner).await?.into_iter().filter(|c| c.is_default && crate::steps::url::host_within(host, &c.domain)).collect();
        serving.sort_by_key(|c| std::cmp::Reverse(c.domain.len()));
        Ok(serving.into_iter().next())
    }
    async fn any_stored_password(&self) -> DbResult<bool>;
}

#[async_trait::async_trait]
pub trait FeedbackRepo: Send + Sync {
    async fn insert_feedback(&self, owner: &KeyId, id: &str, feedback: &str, run_ids: &[String], now: &str) -> DbResult<()>;
}

/// The whole database.
pub trait Database: KeyRepo + RunRepo + RunSignalRepo + ArtifactRepo + CredentialRepo + FeedbackRepo + TemplateRepo + RenderJobRepo + DemonstrationRepo + IdentityRepo {}

impl<T: KeyRepo + RunRepo + RunSignalRepo + ArtifactRepo + CredentialRepo + FeedbackRepo + TemplateRepo + RenderJobRepo + DemonstrationRepo + IdentityRepo> Database for T {}

/// A list cursor names the last item shown by its place in creation order.
pub fn encode_cursor(seq: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("runs:{seq}"))
}

pub fn decode_cursor(cursor: &str) -> Option<i64> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("runs:")?.parse().ok()
}

/// Now, as the RFC 3339 UTC text every table stores.
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// `t` plus `seconds`, as RFC 3339 text.
pub fn later(seconds: u64) -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now() + std::time::Duration::from_secs(seconds)).to_string()
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
