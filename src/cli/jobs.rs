//! `demoreel jobs …`: re-render jobs over the API. Input: run ids and the new render's
//! options (inline JSON, a file, or @file). Output: the API's JSON (or one line per job and run
//! with `--output text`); `jobs wait` shows frames done over total while it waits.
//! Invariant: like `runs`, a failed request exits non-zero with the API's message;
//! `jobs wait` exits 0 succeeded, 11 failed (some run failed), 12 cancelled.

use super::client::{Client, ClientArgs, Watched, wait_until, with_query};
use anyhow::Result;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Render RUN_IDS again with --options (video, intro, artifacts; absent ones take
    /// their defaults), without a browser: each run gets a new generation of artifacts.
    Create {
        #[arg(required = true)]
        run_ids: Vec<String>,
        /// The new render's options: inline JSON, a file, or @file (docs/options.md).
        #[arg(long)]
        options: Option<String>,
    },
    Status { id: String },
    /// Wait until the job ends (exit 0 succeeded, 11 failed, 12 cancelled).
    Wait {
        id: String,
        /// Give up after this many seconds (exit 1).
        #[arg(long)]
        timeout: Option<u64>,
    },
    Cancel { id: String },
    List {
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
}

/// `ID  STATUS  frames D/T`, then a line per run with its outcome.
fn job_lines(job: &Value) -> String {
    let progress = &job["progress"];
    let mut lines = vec![format!(
        "{}  {}  runs {}/{}  frames {}/{}",
        job["id"].as_str().unwrap_or("?"),
        job["status"].as_str().unwrap_or("?"),
        progress["runs_ended"],
        progress["runs_total"],
        progress["frames_done"],
        progress["frames_total"]
    )];
    for run in job["runs"].as_array().into_iter().flatten() {
        let error = run["error"]["message"].as_str().map(|m| format!(": {m}")).unwrap_or_default();
        let made = run["artifacts"].as_array().map(|a| format!("  {}", a.iter().filter_map(|a| a["name"].as_str()).collect::<Vec<_>>().join(" "))).unwrap_or_default();
        lines.push(format!("  {}  {}{error}{made}", run["run_id"].as_str().unwrap_or("?"), run["status"].as_str().unwrap_or("?")));
    }
    lines.join("\n")
}

/// Runs a `jobs` command; answers the process exit code.
pub async fn jobs(args: &ClientArgs, command: JobsCommand) -> Result<i32> {
    let client = Client::new(args)?;
    match command {
        JobsCommand::Create { run_ids, options } => {
            let mut body = json!({"run_ids": run_ids});
            if let Some(options) = super::local::options_arg(options.as_deref())? {
                body["options"] = options;
            }
            let (_, value) = client.call(Method::POST, "/v1/render-jobs", Some(body)).await?;
            client.print(&value, |v| format!("created render job {}", v["job_id"].as_str().unwrap_or("?")));
        }
        JobsCommand::Status { id } => {
            let (_, value) = client.call(Method::GET, &format!("/v1/render-jobs/{id}"), None).await?;
            client.print(&value, job_lines);
        }
        JobsCommand::Wait { id, timeout } => return wait(&client, &id, timeout).await,
        JobsCommand::Cancel { id } => {
            client.call(Method::POST, &format!("/v1/render-jobs/{id}/cancel"), None).await?;
            client.print(&json!({"cancelled": id}), |_| format!("cancel requested for render job {id}"));
        }
        JobsCommand::List { limit, cursor } => {
            let path = with_query("/v1/render-jobs", &[("limit", limit.map(|l| l.to_string())), ("cursor", cursor)]);
            let (_, value) = client.call(Method::GET, &path, None).await?;
            client.print(&value, |v| v["data"].as_array().map(|jobs| jobs.iter().map(job_lines).collect::<Vec<_>>().join("\n")).unwrap_or_default());
        }
    }
    Ok(0)
}

async fn wait(client: &Client, id: &str, timeout: Option<u64>) -> Result<i32> {
    let progress = |job: &Value| {
        let p = &job["progress"];
        format!("{}  runs {}/{}  frames {}/{}", job["status"].as_str().unwrap_or("?"), p["runs_ended"], p["runs_total"], p["frames_done"], p["frames_total"])
    };
    let ended = |status: &str| match status {
        "succeeded" => Some(0),
        "failed" => Some(11),
        "cancelled" => Some(12),
        _ => None,
    };
    wait_until(client, &Watched { path: format!("/v1/render-jobs/{id}"), what: format!("render job {id}"), timeout, progress: &progress, ended: &ended, summary: &job_lines }).await
}
