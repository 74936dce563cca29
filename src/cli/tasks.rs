//! `demoreel tasks …`: the tasks demonstrations made, over the API. Input: a task id.
//! Output: the API's JSON (or, with `--output text`, a line per task or version, and a
//! version's steps one per line). Invariant: like `runs`, a failed request exits
//! non-zero with the API's message.

use super::client::{Client, ClientArgs, with_query};
use anyhow::Result;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

#[derive(Subcommand, Debug)]
pub enum TasksCommand {
    /// The key's tasks, newest first.
    List {
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One task: its name, description, tool, and versions.
    Show { id: String },
    /// A task's versions, newest first; with --version, that version's workflow (start
    /// URL, steps with their locators, parameters).
    Versions {
        id: String,
        #[arg(long)]
        version: Option<String>,
    },
}

fn task_line(task: &Value) -> String {
    format!("{}  {}  tool {}", task["id"].as_str().unwrap_or("?"), task["name"].as_str().unwrap_or("?"), task["tool_id"].as_str().unwrap_or("?"))
}

fn version_line(version: &Value) -> String {
    let parameters: Vec<String> = version["parameters"].as_array().into_iter().flatten().map(|p| format!("{} ({})", p["name"].as_str().unwrap_or("?"), p["type"].as_str().unwrap_or("?"))).collect();
    format!(
        "v{}  {}  {} steps  parameters: {}",
        version["version"],
        version["id"].as_str().unwrap_or("?"),
        version["steps"].as_array().map_or(0, Vec::len),
        if parameters.is_empty() { "none".to_string() } else { parameters.join(", ") }
    )
}

/// A version's workflow, one step per line with every locator it tries.
fn workflow_lines(version: &Value) -> String {
    let mut lines = vec![version_line(version), format!("start  {}", version["start_url"].as_str().unwrap_or("?"))];
    for (n, step) in version["steps"].as_array().into_iter().flatten().enumerate() {
        lines.push(format!("{:>3}  {}", n + 1, step));
    }
    lines.join("\n")
}

/// Runs a `tasks` command; answers the process exit code.
pub async fn tasks(args: &ClientArgs, command: TasksCommand) -> Result<i32> {
    let client = Client::new(args)?;
    match command {
        TasksCommand::List { limit, cursor } => {
            let path = with_query("/v1/tasks", &[("limit", limit.map(|l| l.to_string())), ("cursor", cursor)]);
            let (_, value) = client.call(Method::GET, &path, None).await?;
            client.print(&value, |v| v["items"].as_array().map(|tasks| tasks.iter().map(task_line).collect::<Vec<_>>().join("\n")).unwrap_or_default());
        }
        TasksCommand::Show { id } => {
            let (_, value) = client.call(Method::GET, &format!("/v1/tasks/{id}"), None).await?;
            client.print(&value, |task| {
                let mut lines = vec![task_line(task), task["description"].as_str().unwrap_or("").to_string()];
                lines.extend(task["versions"].as_array().into_iter().flatten().rev().map(version_line));
                lines.join("\n")
            });
        }
        TasksCommand::Versions { id, version: Some(version) } => {
            let (_, value) = client.call(Method::GET, &format!("/v1/tasks/{id}/versions/{version}"), None).await?;
            client.print(&value, workflow_lines);
        }
        TasksCommand::Versions { id, version: None } => {
            let (_, value) = client.call(Method::GET, &format!("/v1/tasks/{id}/versions"), None).await?;
            client.print(&value, |v| v["items"].as_array().map(|versions| versions.iter().map(version_line).collect::<Vec<_>>().join("\n")).unwrap_or_default());
        }
    }
    Ok(0)
}
