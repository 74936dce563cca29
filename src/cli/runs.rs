//! `demoreel runs …`: runs over the API. Input: a target and goal with options (inline
//! JSON, a file, or @file), or a run id. Output: the API's JSON on stdout (or a readable
//! summary with `--output text`), errors on stderr; artifacts downloaded into a folder.
//! Invariant: a failed request exits non-zero with the API's message; `runs wait` exits 0
//! succeeded, 10 awaiting input, 11 failed, 12 cancelled.

use super::client::{Client, ClientArgs, Watched, wait_until, with_query};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// Create a run: record URL doing GOAL.
    Create {
        url: String,
        #[arg(long)]
        goal: String,
        /// Run options: inline JSON, a file, or @file (docs/options.md).
        #[arg(long)]
        options: Option<String>,
    },
    Status { id: String },
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Wait until the run ends or asks for input (exit 0 succeeded, 10 awaiting input, 11 failed, 12 cancelled).
    Wait {
        id: String,
        /// Give up after this many seconds (exit 1).
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Answer a run waiting for input (a one-time code): from --value-stdin (first line)
    /// or DEMOREEL_INPUT_VALUE.
    Input {
        id: String,
        /// Read the value from stdin (first line).
        #[arg(long)]
        value_stdin: bool,
        /// The value itself: visible to every user of the machine in the process list.
        #[arg(long, conflicts_with = "value_stdin")]
        value: Option<String>,
    },
    Cancel { id: String },
    Artifacts { id: String },
    /// Download artifacts into --dir.
    Download {
        id: String,
        #[arg(long, conflicts_with = "all")]
        artifact: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        dir: PathBuf,
    },
}

fn run_line(run: &Value) -> String {
    let stage = run["progress_stage"].as_str().map(|s| format!(" ({s})")).unwrap_or_default();
    let error = run["error"]["message"].as_str().map(|m| format!(": {m}")).unwrap_or_default();
    let waiting = run["awaiting_input"]["prompt"].as_str().map(|p| format!(": waiting for {p:?} until {}", run["awaiting_input"]["expires_at"].as_str().unwrap_or("?"))).unwrap_or_default();
    format!("{}  {}{stage}{waiting}{error}", run["id"].as_str().unwrap_or("?"), run["status"].as_str().unwrap_or("?"))
}

/// Runs a `runs` command; answers the process exit code.
pub async fn runs(args: &ClientArgs, command: RunsCommand) -> Result<i32> {
    let client = Client::new(args)?;
    use reqwest::Method;
    match command {
        RunsCommand::Create { url, goal, options } => {
            let mut body = json!({"target_url": url, "goal": goal});
            if let Some(options) = super::local::options_arg(options.as_deref())? {
                body["options"] = options;
            }
            let (_, value) = client.call(Method::POST, "/v1/agent/runs", Some(body)).await?;
            client.print(&value, |v| format!("created run {}", v["run_id"].as_str().unwrap_or("?")));
        }
        RunsCommand::Status { id } => {
            let (_, value) = client.call(Method::GET, &format!("/v1/agent/runs/{id}"), None).await?;
            client.print(&value, run_line);
        }
        RunsCommand::List { status, limit, cursor } => {
            let path = with_query("/v1/agent/runs", &[("status", status), ("limit", limit.map(|l| l.to_string())), ("cursor", cursor)]);
            let (_, value) = client.call(Method::GET, &path, None).await?;
            client.print(&value, |v| v["data"].as_array().map(|runs| runs.iter().map(run_line).collect::<Vec<_>>().join("\n")).unwrap_or_default());
        }
        RunsCommand::Wait { id, timeout } => return wait(&client, &id, timeout).await,
        RunsCommand::Input { id, value_stdin, value } => {
            if value.is_some() {
                eprintln!("demoreel: warning: --value shows the code in the process list; use --value-stdin or DEMOREEL_INPUT_VALUE");
            }
            let value = match (value, value_stdin) {
                (Some(value), _) => value,
                (None, true) => super::terminal::stdin_secret_line("--value-stdin")?,
                (None, false) => std::env::var("DEMOREEL_INPUT_VALUE")
                    .ok()
                    .filter(|v| !v.is_empty())
                    .context("no value: pass --value-stdin (the value on stdin) or set DEMOREEL_INPUT_VALUE")?,
            };
            client.call(Method::POST, &format!("/v1/agent/runs/{id}/input"), Some(json!({"value": value}))).await?;
            client.print(&json!({"ok": true}), |_| "input sent; the run resumes".into());
        }
        RunsCommand::Cancel { id } => {
            client.call(Method::POST, &format!("/v1/agent/runs/{id}/cancel"), None).await?;
            client.print(&json!({"ok": true}), |_| "cancel requested".into());
        }
        RunsCommand::Artifacts { id } => {
            let (_, value) = client.call(Method::GET, &format!("/v1/agent/runs/{id}/artifacts"), None).await?;
            client.print(&value, |v| {
                v["data"].as_array().map(|a| a.iter().map(|a| format!("{}  {} bytes  {}", a["name"].as_str().unwrap_or("?"), a["size_bytes"], a["sha256"].as_str().unwrap_or(""))).collect::<Vec<_>>().join("\n")).unwrap_or_default()
            });
        }
        RunsCommand::Download { id, artifact, all, dir } => {
            if artifact.is_none() && !all {
                bail!("give --artifact NAME or --all");
            }
            let (_, value) = client.call(Method::GET, &format!("/v1/agent/runs/{id}/artifacts"), None).await?;
            let list = value["data"].as_array().cloned().unwrap_or_default();
            let chosen: Vec<&Value> = list.iter().filter(|a| all || artifact.as_deref() == a["name"].as_str()).collect();
            if chosen.is_empty() {
                bail!("run {id} has no artifact {:?} (it has: {})", artifact.unwrap_or_default(), list.iter().filter_map(|a| a["name"].as_str()).collect::<Vec<_>>().join(", "));
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("--dir {}", dir.display()))?;
            let mut saved = Vec::new();
            for a in chosen {
                let name = a["name"].as_str().unwrap_or("artifact");
                let path = dir.join(name);
                client.download(a["id"].as_str().unwrap_or_default(), &path, a["sha256"].as_str()).await?;
                saved.push(json!({"name": name, "path": path, "size_bytes": a["size_bytes"]}));
            }
            client.print(&json!({"saved": saved}), |v| v["saved"].as_array().map(|s| s.iter().map(|s| format!("{}", s["path"].as_str().unwrap_or(""))).collect::<Vec<_>>().join("\n")).unwrap_or_default());
        }
    }
    Ok(0)
}

async fn wait(client: &Client, id: &str, timeout: Option<u64>) -> Result<i32> {
    let progress = |run: &Value| format!("{} {}", run["status"].as_str().unwrap_or("?"), run["progress_stage"].as_str().unwrap_or("")).trim().to_string();
    let ended = |status: &str| match status {
        "succeeded" => Some(0),
        "awaiting_input" => Some(10),
        "failed" => Some(11),
        "cancelled" => Some(12),
        _ => None,
    };
    wait_until(client, &Watched { path: format!("/v1/agent/runs/{id}"), what: format!("run {id}"), timeout, progress: &progress, ended: &ended, summary: &run_line }).await
}
