//! `demoreel feedback`: feedback about runs, over the API. Input: the text and the runs
//! it is about. Output: the API's answer. Invariant: a failed request exits non-zero with
//! the API's message.

use super::client::{Client, ClientArgs};
use anyhow::Result;
use serde_json::json;

pub async fn feedback(args: &ClientArgs, text: String, run_ids: Vec<String>) -> Result<i32> {
    let client = Client::new(args)?;
    let (_, value) = client.call(reqwest::Method::POST, "/v1/agent/feedback", Some(json!({"feedback": text, "run_ids": run_ids}))).await?;
    client.print(&value, |_| "thank you: feedback sent".into());
    Ok(0)
}
