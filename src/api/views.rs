//! What the API shows of each row. Input: rows of the database. Output: the JSON shapes
//! of `spec/api.md`. Invariant: a view holds no secret (no password, no ciphertext, no
//! storage key, no owner).

use crate::db::{Artifact, AwaitingInput, Credential, Run, RunError, Stage};
use serde::Serialize;

/// A run object.
#[derive(Debug, Serialize)]
pub struct RunView<'a> {
    pub id: &'a str,
    pub status: &'static str,
    pub progress_stage: Option<&'static str>,
    pub awaiting_input: Option<&'a AwaitingInput>,
    pub error: Option<&'a RunError>,
    pub target_url: &'a str,
    pub goal: &'a str,
    /// The options as the client sent them, less secret step texts.
    pub options: serde_json::Value,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub started_at: Option<&'a str>,
    pub finished_at: Option<&'a str>,
}

impl<'a> From<&'a Run> for RunView<'a> {
    fn from(run: &'a Run) -> RunView<'a> {
        RunView {
            id: &run.id,
            status: run.status.as_str(),
            progress_stage: run.progress_stage.map(Stage::as_str),
            awaiting_input: run.awaiting_input.as_ref(),
            error: run.error.as_ref(),
            target_url: &run.target_url,
            goal: &run.goal,
            options: crate::steps::sealed::for_display(&run.options),
            created_at: &run.created_at,
            updated_at: &run.updated_at,
            started_at: run.started_at.as_deref(),
            finished_at: run.finished_at.as_deref(),
        }
    }
}

/// An artifact with its signed download link.
#[derive(Debug, Serialize)]
pub struct ArtifactView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
    pub sha256: &'a str,
    pub download_url: String,
    pub created_at: &'a str,
    /// 0: made by the run; N: by its N-th re-render.
    pub generation: u32,
    pub render_job_id: Option<&'a str>,
}

impl<'a> ArtifactView<'a> {
    pub fn new(artifact: &'a Artifact, download_url: String) -> ArtifactView<'a> {
        ArtifactView {
            id: &artifact.id,
            name: &artifact.name,
            content_type: &artifact.content_type,
            size_bytes: artifact.size_bytes,
            sha256: &artifact.sha256,
            download_url,
            created_at: &artifact.created_at,
            generation: artifact.generation,
            render_job_id: artifact.render_job_id.as_deref(),
        }
    }
}

/// A credential: never the password, nor its ciphertext.
#[derive(Debug, Serialize)]
pub struct CredentialView<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub domain: &'a str,
    pub email: &'a str,
    pub is_default: bool,
    pub created_at: &'a str,
}

impl<'a> From<&'a Credential> for CredentialView<'a> {
    fn from(c: &'a Credential) -> CredentialView<'a> {
        CredentialView { id: &c.id, label: &c.label, domain: &c.domain, email: &c.email, is_default: c.is_default, created_at: &c.created_at }
    }
}

/// A page of a list: `{"data": [...], "next_cursor": ...}`.
#[derive(Debug, Serialize)]
pub struct ListView<T: Serialize> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}
