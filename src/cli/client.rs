//! The CLI's HTTP client, shared by the commands of every resource (`runs`, `jobs`,
//! `tasks`, `credentials`, `feedback`, `templates upload`). Input: the key and server
//! (flags, environment, or the stored config). Output: the API's JSON, or its error as a
//! message naming the code and every field; downloads checked against their SHA-256.
//! Invariant: the key goes only to the server (a download's redirect is followed without
//! it), and a file downloaded is whole or absent.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
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
    // Private from its first byte: a plain write would show the key to every user of the
    // machine until a chmod after it.
    crate::files::write_private(&path, &serde_json::to_vec_pretty(&value)?).with_context(|| format!("writing {}", path.display()))?;
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
        let from_stdin = if args.api_key_stdin { Some(super::terminal::stdin_secret_line("--api-key-stdin")?) } else { None };
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

    /// Streams an artifact to `.NAME.partial`, checks its SHA-256, then renames it.
    pub(super) async fn download(&self, artifact_id: &str, path: &Path, sha256: Option<&str>) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut response = self
            .http
            .get(format!("{}/v1/downloads/{artifact_id}", self.server))
            .header("x-api-key", &self.key)
            .timeout(Duration::from_secs(3600))
            .send()
            .await?;
        if response.status().is_redirection() {
            let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let target = response.url().join(location).with_context(|| format!("downloading {}: a redirect to {location:?}", path.display()))?;
            response = self.http.get(target).timeout(Duration::from_secs(3600)).send().await?;
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

    pub(super) fn print(&self, value: &Value, text: impl FnOnce(&Value) -> String) {
        match self.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
            Output::Text => println!("{}", text(value)),
        }
    }
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

