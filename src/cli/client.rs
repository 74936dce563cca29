//! The CLI's client commands over the HTTP API. Input: parsed arguments, the key and
//! server (flags, environment, or the stored config). Output: the API's JSON on stdout
//! (or a readable summary with `--output text`), errors on stderr. Invariant: a failed
//! request exits non-zero with the API's message; `runs wait` exits 0 succeeded, 10
//! awaiting input, 11 failed, 12 cancelled.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// The demoreel server.
    #[arg(long, env = "DEMOREEL_SERVER", global = true)]
    pub server: Option<String>,
    /// The API key. Visible to every user of the machine in the process list: prefer
    /// DEMOREEL_API_KEY, --api-key-stdin, or the stored config (`keys create --save`).
    #[arg(long, global = true)]
    pub api_key: Option<String>,
    /// Read the API key from stdin (first line).
    #[arg(long, global = true)]
    pub api_key_stdin: bool,
    /// json (default) or text for people.
    #[arg(long, value_enum, default_value_t = Output::Json, global = true)]
    pub output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Json,
    Text,
}

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// Create a run: record URL doing GOAL.
    Create {
        url: String,
        #[arg(long)]
        goal: String,
        /// Run options: inline JSON or @file (spec/video.md).
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

#[derive(Subcommand, Debug)]
pub enum CredentialsCommand {
    List,
    /// Store a login for a target domain; the password is read from --password-stdin or DEMOREEL_CREDENTIAL_PASSWORD.
    Create {
        #[arg(long)]
        label: String,
        #[arg(long)]
        domain: String,
        #[arg(long)]
        email: String,
        /// Read the password from stdin (first line).
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        default: bool,
    },
    Update {
        id: String,
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        domain: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    SetDefault { id: String },
    Delete { id: String },
}

/// Where `keys create --save` keeps the server and key for later commands.
pub fn config_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("demoreel").join("config.json")
}

pub fn save_config(server: Option<&str>, key: &str) -> Result<PathBuf> {
    let path = config_path();
    std::fs::create_dir_all(path.parent().expect("config has a parent"))?;
    let mut value = json!({"api_key": key});
    if let Some(server) = server {
        value["server"] = json!(server);
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&value)?)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(path)
}

pub(super) struct Client {
    http: reqwest::Client,
    server: String,
    key: String,
    output: Output,
}

impl Client {
    pub(super) fn new(args: &ClientArgs) -> Result<Client> {
        let stored: Value = std::fs::read(config_path()).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
        let server = args
            .server
            .clone()
            .or_else(|| stored["server"].as_str().map(str::to_string))
            .unwrap_or_else(|| "http://127.0.0.1:8080".to_string());
        if args.api_key.is_some() {
            eprintln!("demoreel: warning: --api-key shows the key in the process list; use DEMOREEL_API_KEY or --api-key-stdin");
        }
        let from_stdin = if args.api_key_stdin { Some(read_secret_line("--api-key-stdin")?) } else { None };
        let key = (args.api_key.clone())
            .or(from_stdin)
            .or_else(|| std::env::var("DEMOREEL_API_KEY").ok().filter(|k| !k.is_empty()))
            .or_else(|| stored["api_key"].as_str().map(str::to_string))
            .with_context(|| {
                format!("no API key: set DEMOREEL_API_KEY, pass --api-key-stdin, or save one with `demoreel keys create --save` ({})", config_path().display())
            })?;
        // Redirects are not followed with the key: a download's 302 points at the artifact
        // store (a presigned link that carries its own authority), which must never see
        // the API key; `download` follows it without the key.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Client { http, server: server.trim_end_matches('/').to_string(), key, output: args.output })
    }

    pub(super) async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.server)).header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("cannot reach {}", self.server))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status >= 400 {
            let details: Vec<String> = value["details"]
                .as_array()
                .map(|d| d.iter().map(|d| format!("\n  {}: {}", d["field"].as_str().unwrap_or("?"), d["message"].as_str().unwrap_or(""))).collect())
                .unwrap_or_default();
            bail!("{status} {}: {}{}", value["code"].as_str().unwrap_or("error"), value["message"].as_str().unwrap_or(&value.to_string()), details.concat());
        }
        Ok((status, value))
    }

    pub(super) fn print(&self, value: &Value, text: impl FnOnce(&Value) -> String) {
        match self.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
            Output::Text => println!("{}", text(value)),
        }
    }
}

fn run_line(run: &Value) -> String {
    let stage = run["progress_stage"].as_str().map(|s| format!(" ({s})")).unwrap_or_default();
    let error = run["error"]["message"].as_str().map(|m| format!(": {m}")).unwrap_or_default();
    let waiting = run["awaiting_input"]["prompt"].as_str().map(|p| format!(": waiting for {p:?} until {}", run["awaiting_input"]["expires_at"].as_str().unwrap_or("?"))).unwrap_or_default();
    format!("{}  {}{stage}{waiting}{error}", run["id"].as_str().unwrap_or("?"), run["status"].as_str().unwrap_or("?"))
}

pub(super) fn read_options(arg: Option<&str>) -> Result<Option<Value>> {
    let Some(arg) = arg else { return Ok(None) };
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("--options: cannot read {path}"))?,
        None => arg.to_string(),
    };
    Ok(Some(serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--options: invalid JSON: {e}"))?))
}

/// The first line of stdin, for a secret that must not be an argument; `flag` names
/// where it was asked for.
fn read_secret_line(flag: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let secret = line.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        bail!("{flag}: stdin held nothing");
    }
    Ok(secret)
}

/// Runs a `runs` command; answers the process exit code.
pub async fn runs(args: &ClientArgs, command: RunsCommand) -> Result<i32> {
    let client = Client::new(args)?;
    use reqwest::Method;
    match command {
        RunsCommand::Create { url, goal, options } => {
            let mut body = json!({"target_url": url, "goal": goal});
            if let Some(options) = read_options(options.as_deref())? {
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
                (None, true) => read_secret_line("--value-stdin")?,
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
                download(&client, a["id"].as_str().unwrap_or_default(), &path, a["sha256"].as_str()).await?;
                saved.push(json!({"name": name, "path": path, "size_bytes": a["size_bytes"]}));
            }
            client.print(&json!({"saved": saved}), |v| v["saved"].as_array().map(|s| s.iter().map(|s| format!("{}", s["path"].as_str().unwrap_or(""))).collect::<Vec<_>>().join("\n")).unwrap_or_default());
        }
    }
    Ok(0)
}

/// Streams an artifact to `.NAME.partial`, checks its SHA-256, then renames it.
async fn download(client: &Client, artifact_id: &str, path: &Path, sha256: Option<&str>) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut response = client
        .http
        .get(format!("{}/v1/downloads/{artifact_id}", client.server))
        .header("x-api-key", &client.key)
        .timeout(Duration::from_secs(3600))
        .send()
        .await?;
    if response.status().is_redirection() {
        let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let target = response.url().join(location).with_context(|| format!("downloading {}: a redirect to {location:?}", path.display()))?;
        response = client.http.get(target).timeout(Duration::from_secs(3600)).send().await?;
    }
    if !response.status().is_success() {
        bail!("downloading {}: {}", path.display(), response.status());
    }
    let partial = crate::files::partial_path(path);
    let mut file = tokio::fs::File::create(&partial).await?;
    let mut digest = crate::files::Sha256Stream::default();
    while let Some(chunk) = response.chunk().await? {
        digest.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    let (got, _) = digest.finish();
    if let Some(expected) = sha256
        && expected != got
    {
        let _ = tokio::fs::remove_file(&partial).await;
        bail!("{}: checksum mismatch (expected {expected}, got {got})", path.display());
    }
    let target = path.to_path_buf();
    tokio::task::spawn_blocking(move || crate::files::commit(&partial, &target)).await??;
    Ok(())
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

/// What `runs wait` and `jobs wait` poll, and how they read it.
pub(super) struct Watched<'a> {
    pub path: String,
    /// `run ID`, `render job ID`: named when the wait times out.
    pub what: String,
    pub timeout: Option<u64>,
    /// The live line; without a terminal a line is printed when it changes.
    pub progress: &'a dyn Fn(&Value) -> String,
    /// The exit code of a status that ends the wait.
    pub ended: &'a dyn Fn(&str) -> Option<i32>,
    pub summary: &'a dyn Fn(&Value) -> String,
}

/// Polls `watched.path` until its status ends the wait: a live line on a terminal (a line
/// per change otherwise), then the object on stdout; answers the exit code.
pub(super) async fn wait_until(client: &Client, watched: &Watched<'_>) -> Result<i32> {
    use std::io::{IsTerminal, Write};
    let started = Instant::now();
    let live = std::io::stderr().is_terminal();
    let mut last_line = String::new();
    loop {
        let (_, value) = client.call(reqwest::Method::GET, &watched.path, None).await?;
        let status = value["status"].as_str().unwrap_or("?").to_string();
        let line = (watched.progress)(&value);
        if live {
            eprint!("\r\x1b[2K{:>5.0} s  {line}", started.elapsed().as_secs_f64());
            let _ = std::io::stderr().flush();
        } else if line != last_line {
            eprintln!("{:>5.0} s  {line}", started.elapsed().as_secs_f64());
        }
        last_line = line;
        if let Some(code) = (watched.ended)(&status) {
            if live {
                eprintln!();
            }
            client.print(&value, watched.summary);
            return Ok(code);
        }
        if watched.timeout.is_some_and(|t| started.elapsed() >= Duration::from_secs(t)) {
            if live {
                eprintln!();
            }
            bail!("{} is still {status} after {} s", watched.what, watched.timeout.unwrap_or(0));
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

/// `base?key=value&…` of the pairs given.
pub(super) fn with_query(base: &str, pairs: &[(&str, Option<String>)]) -> String {
    let query: Vec<String> = pairs.iter().filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={v}"))).collect();
    if query.is_empty() { base.to_string() } else { format!("{base}?{}", query.join("&")) }
}

pub async fn credentials(args: &ClientArgs, command: CredentialsCommand) -> Result<i32> {
    let client = Client::new(args)?;
    use reqwest::Method;
    let line = |c: &Value| {
        format!(
            "{}  {}  {} <{}>{}",
            c["id"].as_str().unwrap_or("?"),
            c["domain"].as_str().unwrap_or("?"),
            c["label"].as_str().unwrap_or("?"),
            c["email"].as_str().unwrap_or("?"),
            if c["is_default"].as_bool() == Some(true) { "  (default)" } else { "" }
        )
    };
    let password = |from_stdin: bool| -> Result<Option<String>> {
        if from_stdin {
            return read_secret_line("--password-stdin").map(Some);
        }
        Ok(std::env::var("DEMOREEL_CREDENTIAL_PASSWORD").ok().filter(|p| !p.is_empty()))
    };
    let value = match command {
        CredentialsCommand::List => client.call(Method::GET, "/v1/agent/credentials", None).await?.1,
        CredentialsCommand::Create { label, domain, email, password_stdin, default } => {
            let mut body = json!({"label": label, "domain": domain, "email": email, "is_default": default});
            if let Some(p) = password(password_stdin)? {
                body["password"] = json!(p);
            }
            client.call(Method::POST, "/v1/agent/credentials", Some(body)).await?.1
        }
        CredentialsCommand::Update { id, label, domain, email, password_stdin } => {
            let mut body = json!({});
            for (key, value) in [("label", label), ("domain", domain), ("email", email)] {
                if let Some(v) = value {
                    body[key] = json!(v);
                }
            }
            if password_stdin {
                body["password"] = json!(read_secret_line("--password-stdin")?);
            }
            client.call(Method::PATCH, &format!("/v1/agent/credentials/{id}"), Some(body)).await?.1
        }
        CredentialsCommand::SetDefault { id } => client.call(Method::POST, &format!("/v1/agent/credentials/{id}/set-default"), None).await?.1,
        CredentialsCommand::Delete { id } => {
            client.call(Method::DELETE, &format!("/v1/agent/credentials/{id}"), None).await?;
            json!({"deleted": id})
        }
    };
    client.print(&value, |v| match v["data"].as_array() {
        Some(list) => list.iter().map(line).collect::<Vec<_>>().join("\n"),
        None if v.get("deleted").is_some() => format!("deleted {}", v["deleted"].as_str().unwrap_or("")),
        None => line(v),
    });
    Ok(0)
}

pub async fn feedback(args: &ClientArgs, text: String, run_ids: Vec<String>) -> Result<i32> {
    let client = Client::new(args)?;
    let (_, value) = client.call(reqwest::Method::POST, "/v1/agent/feedback", Some(json!({"feedback": text, "run_ids": run_ids}))).await?;
    client.print(&value, |_| "thank you: feedback sent".into());
    Ok(0)
}
