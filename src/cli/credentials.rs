//! `demoreel credentials …`: saved logins for target apps, over the API. Input: a label,
//! domain and e-mail, the password from stdin or the environment (never an argument).
//! Output: the API's JSON (or a line per credential with `--output text`); the password
//! is never shown. Invariant: like `runs`, a failed request exits non-zero with the API's
//! message.

use super::client::{Client, ClientArgs};
use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

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
            return super::terminal::stdin_secret_line("--password-stdin").map(Some);
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
                body["password"] = json!(super::terminal::stdin_secret_line("--password-stdin")?);
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
