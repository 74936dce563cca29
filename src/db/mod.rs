//! Persistence: API keys, runs, artifacts, credentials, feedback. Input: rows from the
//! api and the runner. Output: the same rows, read back by owner. Invariant: every read
//! the api makes is scoped to the key that asks (another key's row reads as missing), and
//! a status changes only along the run lifecycle (`queued → running ⇄ awaiting_input →
//! succeeded | failed | cancelled`) through conditional updates.
//!
//! [`Store`] is the interface; [`sqlite::SqliteStore`] the embedded default.

pub mod sqlite;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database: {0}")]
    Corrupt(String),
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub owner: String,
    pub status: RunStatus,
    pub progress_stage: Option<String>,
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
}

#[derive(Debug, Clone)]
pub struct Credential {
    pub id: String,
    pub owner: String,
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
    pub id: String,
    pub label: String,
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

/// The persistence interface: SQLite by default; a shared database for many workers
/// implements the same.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    async fn create_key(&self, label: &str, key_hash: &str) -> DbResult<ApiKey>;
    async fn key_by_hash(&self, key_hash: &str) -> DbResult<Option<ApiKey>>;

    async fn insert_run(&self, run: &Run) -> DbResult<()>;
    /// The run if `owner` may see it.
    async fn run(&self, owner: &str, id: &str) -> DbResult<Option<Run>>;
    async fn run_by_id(&self, id: &str) -> DbResult<Option<Run>>;
    async fn list_runs(&self, owner: &str, status: Option<RunStatus>, limit: u32, cursor: Option<&str>) -> DbResult<Page<Run>>;
    /// Takes the oldest queued run and marks it running; `None` when nothing is queued.
    async fn claim_next_run(&self, now: &str) -> DbResult<Option<Run>>;
    /// Writes the runner's view of a run (status, stage, waiting, error, times) unless
    /// the run already ended (a cancel that won the race); answers whether it was written.
    async fn save_run_progress(&self, run: &Run) -> DbResult<bool>;
    /// Cancels a queued run at once, or flags a running one for its runner; answers the
    /// status the run had, or `None` if `owner` cannot see it.
    async fn request_cancel(&self, owner: &str, id: &str, now: &str) -> DbResult<Option<RunStatus>>;
    /// At start-up: runs left running are re-queued if their recording had not begun,
    /// else failed with `interrupted`.
    async fn recover_interrupted(&self, now: &str) -> DbResult<Recovered>;

    async fn insert_artifact(&self, artifact: &Artifact) -> DbResult<()>;
    async fn artifacts(&self, run_id: &str) -> DbResult<Vec<Artifact>>;
    /// The artifact and the owner of its run.
    async fn artifact(&self, id: &str) -> DbResult<Option<(Artifact, String)>>;

    async fn insert_credential(&self, credential: &Credential) -> DbResult<()>;
    async fn credentials(&self, owner: &str) -> DbResult<Vec<Credential>>;
    async fn credential(&self, owner: &str, id: &str) -> DbResult<Option<Credential>>;
    async fn update_credential(&self, credential: &Credential) -> DbResult<()>;
    /// Makes `id` the default of its domain (and no other credential of that domain).
    async fn set_default_credential(&self, owner: &str, id: &str) -> DbResult<Option<Credential>>;
    async fn delete_credential(&self, owner: &str, id: &str) -> DbResult<bool>;
    async fn default_credential(&self, owner: &str, domain: &str) -> DbResult<Option<Credential>>;
    async fn any_stored_password(&self) -> DbResult<bool>;

    async fn insert_feedback(&self, owner: &str, id: &str, feedback: &str, run_ids: &[String], now: &str) -> DbResult<()>;
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
