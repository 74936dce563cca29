//! The server process under abuse: hundreds of clients sending their request heads a
//! byte at a time do not keep a new request from being answered and are closed after
//! the header timeout; a second server refuses a data directory in use; SIGTERM ends the
//! server like Ctrl-C, taking its recording's browser with it.

use crate::common::TempDir;
use crate::service::{Client, Server, api_key, browsers_of, demoreel};
use demoreel::sample_app;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SLOW_CLIENTS: usize = 300;

/// A client that sends a request head one byte at a time, slower than any timeout, and
/// answers once the server has closed its connection.
async fn slow_client(addr: String) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else { return false };
    let head = b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            return true;
        }
        // A closed connection reads as the end of the stream (or a reset).
        let mut buffer = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(400), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    false
}

#[test]
fn slow_clients_a_second_server_and_sigterm_do_not_hurt_the_service() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("edge");
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let app = sample_app::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let mut server = Server::start(&data, &["--header-timeout-secs", "2"]);
        let key = api_key(&data);

        // One server per data directory.
        let second = demoreel().args(["serve", "--addr", "127.0.0.1:0", "--data-dir"]).arg(&data).output().unwrap();
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(!second.status.success() && stderr.contains("in use by another demoreel serve"), "{stderr}");
        assert!(stderr.contains(&format!("pid {}", server.pid())), "the holder is named: {stderr}");

        // Slow clients hold connections, a new request is still answered at once, and
        // the server closes them once the header timeout has passed.
        let addr = server.url.trim_start_matches("http://").to_string();
        let slow: Vec<_> = (0..SLOW_CLIENTS).map(|_| tokio::spawn(slow_client(addr.clone()))).collect();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let started = Instant::now();
        let answer = reqwest::get(format!("{}/healthz", server.url)).await.unwrap();
        let took = started.elapsed();
        assert_eq!(answer.status(), 200);
        assert!(took < Duration::from_secs(1), "a new request waited {took:?} behind {SLOW_CLIENTS} slow clients");
        let mut closed = 0;
        for client in slow {
            closed += tokio::time::timeout(Duration::from_secs(15), client).await.is_ok_and(|c| c.unwrap_or(false)) as usize;
        }
        assert_eq!(closed, SLOW_CLIENTS, "the server closes a connection whose head does not arrive in time");

        // SIGTERM while a run records: the server exits cleanly with its browser, and the
        // next start settles the run.
        let client = Client::new(&server, &key);
        let options = json!({"workflow": {"steps": [{"action": "pause", "ms": 60_000}]}, "video": {"size": {"width": 960, "height": 540}}});
        let id = client.create(json!({"target_url": app.url("/login"), "goal": "Wait", "options": options})).await;
        let frames = data.join("runs").join(&id).join("recording").join("frames");
        client.wait_for(&id, Duration::from_secs(60), |_| std::fs::read_dir(&frames).is_ok_and(|mut d| d.next().is_some())).await;
        let pid = server.pid();
        assert!(browsers_of(pid) > 0, "the run's browser is up");
        // SAFETY: kill(2) on the child process this test started.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let started = Instant::now();
        let status = loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "the server still runs 15 s after SIGTERM");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(status.success(), "SIGTERM ends the server cleanly: {status:?}");
        assert_eq!(browsers_of(pid), 0, "the browser went with the server");
        let restarted = Server::start(&data, &[]);
        let run = Client::new(&restarted, &key).run(&id).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert_eq!(run["error"]["code"], "interrupted", "{run}");
    });
}

/// `keys create --expires-in`, `keys list`, `keys revoke` on a running server's data
/// directory: a revoked key gets 401 on its next request, an expired one too, and the
/// listing never shows a key.
#[test]
fn keys_are_listed_revoked_and_expire() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("edge-keys");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let keys = |args: &[&str]| demoreel().arg("keys").args(args).arg("--data-dir").arg(&data).output().unwrap();
    let create = |args: &[&str]| {
        let out = keys(&[&["create"][..], args].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let lasting = create(&["--label", "lasting"]);
    let brief = create(&["--label", "brief", "--expires-in", "3s"]);
    assert!(brief["expires_at"].is_string() && lasting["expires_at"].is_null());
    let refused = keys(&["create", "--label", "never", "--expires-in", "0s"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--expires-in"));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = |key: &serde_json::Value| {
        let key = key["key"].as_str().unwrap().to_string();
        let url = format!("{}/v1/agent/runs", server.url);
        runtime.block_on(async move { reqwest::Client::new().get(url).header("x-api-key", key).send().await.unwrap().status().as_u16() })
    };
    assert_eq!((status(&lasting), status(&brief)), (200, 200));

    let revoked = keys(&["revoke", lasting["id"].as_str().unwrap()]);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    assert_eq!(status(&lasting), 401, "a revoked key is refused from its next request");
    let unknown = keys(&["revoke", "00000000-0000-0000-0000-000000000000"]);
    assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("no key has the id"));

    std::thread::sleep(std::time::Duration::from_millis(3200));
    assert_eq!(status(&brief), 401, "an expired key is refused");

    let listed = keys(&["list"]);
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    let listed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = listed["data"].as_array().unwrap();
    let row = |id: &serde_json::Value| rows.iter().find(|r| r["id"] == *id).unwrap().clone();
    assert!(row(&lasting["id"])["revoked_at"].is_string() && row(&brief["id"])["revoked_at"].is_null());
    assert_eq!(row(&brief["id"])["expires_at"], brief["expires_at"]);
    for key in [&lasting, &brief] {
        assert!(!text.contains(key["key"].as_str().unwrap()), "the listing shows a key");
    }
    assert!(!text.contains("hash"), "{text}");
}

/// `keys create --save` writes the CLI's config readable by its owner only; the remote
/// commands read it, and read `--options` by the rule the local ones use
/// (inline JSON, `@file`, or a bare file path).
#[test]
fn a_saved_key_is_private_and_runs_create_reads_options_from_a_bare_path() {
    use std::os::unix::fs::PermissionsExt;
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("edge-saved-key");
    let data = dir.path().join("data");
    let config_home = dir.path().join("config");
    // No workers: the run stays queued, and no browser starts.
    let server = Server::start(&data, &["--workers", "0"]);
    let cli = |args: &[&str]| demoreel().args(args).env("XDG_CONFIG_HOME", &config_home).env_remove("DEMOREEL_API_KEY").env_remove("DEMOREEL_SERVER").output().unwrap();
    let created = cli(&["keys", "create", "--label", "saved", "--save", "--server", &server.url, "--data-dir", data.to_str().unwrap()]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let config = config_home.join("demoreel").join("config.json");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the saved key is readable by its owner only");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!((saved["api_key"].as_str(), saved["server"].as_str()), (shown["key"].as_str(), Some(server.url.as_str())));

    let options = dir.path().join("run-options.json");
    std::fs::write(&options, r#"{"video": {"fps": 24}}"#).unwrap();
    let target = format!("{}/healthz", server.url);
    for given in [options.to_str().unwrap().to_string(), format!("@{}", options.display())] {
        let out = cli(&["runs", "create", &target, "--goal", "Open it", "--options", &given]);
        assert!(out.status.success(), "--options {given}: {}", String::from_utf8_lossy(&out.stderr));
        let run_id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["run_id"].as_str().unwrap().to_string();
        let status = cli(&["runs", "status", &run_id]);
        let run: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(run["options"]["video"]["fps"], 24, "--options {given}: the file's options reached the run: {run}");
    }
    let missing = cli(&["runs", "create", &target, "--goal", "Open it", "--options", "no-such-options.json"]);
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("--options: cannot read no-such-options.json"));
}

/// A flood of bad keys from one address is refused with 429 before the database is asked,
/// after a burst of 20; the address's allowance comes back at one a second, and good keys
/// never spend it.
#[test]
fn an_address_presenting_bad_keys_is_slowed_before_the_lookup() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("edge-bad-keys");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let key = api_key(&data);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let get = |key: String| {
            let request = http.get(format!("{}/v1/agent/runs", server.url)).header("x-api-key", key);
            async move { request.send().await.unwrap() }
        };
        for _ in 0..30 {
            assert_eq!(get(key.clone()).await.status(), 200, "good keys spend nothing");
        }
        let mut statuses = Vec::new();
        for n in 0..30 {
            let answer = get(format!("drk_{n:064}")).await;
            if answer.status() == 429 {
                assert!(answer.headers().contains_key("retry-after"));
            }
            statuses.push(answer.status().as_u16());
        }
        let refused = statuses.iter().filter(|s| **s == 401).count();
        assert!((20..=22).contains(&refused), "a burst of 20 bad keys is looked up: {statuses:?}");
        assert!(statuses[25..].iter().all(|s| *s == 429), "then the address is refused: {statuses:?}");
        assert_eq!(get(key.clone()).await.status(), 429, "before the lookup, a good key from the address waits too");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(get(key.clone()).await.status(), 200, "the allowance comes back");
    });
}
