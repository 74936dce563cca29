//! The service's browser, confined: run by `demoreel serve` as root, every Chromium
//! process of a run belongs to the unprivileged browser user, renderers are in Chromium's
//! seccomp sandbox, nothing of the server's environment reaches it, the whole browser is
//! in a memory-capped cgroup, its profile is a 0700 folder of that user under the data
//! directory, and all of it is gone when the run ends. Whatever else the server writes is
//! private to it (files 0600, folders 0700).

use crate::common::TempDir;
use crate::service::{Client, Server, api_key, terminal};
use demoreel::capture::confine::BrowserUser;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CANARY: &str = "canary-environment-value-7f3a";

fn status_field(pid: i32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).unwrap_or_default().trim().to_string()
}

/// A process's arguments (Chromium's helpers rewrite their title into one line with
/// spaces between the arguments; the paths here hold no spaces).
fn cmdline(pid: i32) -> Vec<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&bytes).split(['\0', ' ']).filter(|a| !a.is_empty()).map(str::to_string).collect()
}

/// The memory cgroup a process is in, as a folder under /sys/fs/cgroup, and its limit.
fn memory_cgroup(pid: i32) -> Option<(PathBuf, u64)> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (dir, limit_file) = match controllers {
            "memory" => (Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/')), "memory.limit_in_bytes"),
            "" => (Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')), "memory.max"),
            _ => continue,
        };
        if let Ok(limit) = std::fs::read_to_string(dir.join(limit_file)) {
            if let Ok(limit) = limit.trim().parse() {
                return Some((dir, limit));
            }
        }
    }
    None
}

#[test]
fn the_services_browser_runs_as_its_own_user_sandboxed_capped_and_clean() {
    let _machine = crate::common::whole_machine();
    assert!(demoreel::capture::confine::running_as_root(), "the suite runs as root, as the service does on the operator's machine");
    let user = BrowserUser::lookup("demoreel-browser").expect("scripts/setup.sh creates the browser user");
    let dir = TempDir::new("confine");
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(demoreel::sample_app::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let server = Server::start_with_env(&data, &["--browser-memory-mb", "1536"], &[("DEMOREEL_CANARY_TOKEN", CANARY), ("AWS_SECRET_ACCESS_KEY", CANARY)]);
    let key = api_key(&data);
    runtime.block_on(async {
        let client = Client::new(&server, &key);
        let id = client
            .create(json!({
                "target_url": app.url("/login"),
                "goal": "Show the sign-in page",
                "options": {"workflow": {"steps": [{"action": "pause", "ms": 6000}]}}
            }))
            .await;

        // While it records: find the browser's processes.
        let started = Instant::now();
        let pids = loop {
            let pids = demoreel::capture::browser::processes_of(server.pid());
            if pids.iter().any(|&p| cmdline(p).iter().any(|a| a == "--type=renderer")) {
                break pids;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no browser started: {}", client.run(&id).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Helpers come and go; every one seen is the browser user's, not root's.
        let mut renderers = 0;
        let mut profile = None;
        let mut cgroups = Vec::new();
        for &pid in &pids {
            let args = cmdline(pid);
            if args.is_empty() {
                continue;
            }
            let uid = status_field(pid, "Uid");
            assert!(uid.split_whitespace().all(|u| u == user.uid.to_string()), "process {pid} ({}) runs as uid {uid}", args[0]);
            assert!(!args.iter().any(|a| a == "--no-sandbox"), "process {pid} runs without the sandbox: {args:?}");
            let environment = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            assert!(!environment.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()), "process {pid} holds the server's environment");
            assert!(!String::from_utf8_lossy(&environment).contains("DEMOREEL_"), "process {pid} holds DEMOREEL_ variables");
            if args.iter().any(|a| a == "--type=renderer") {
                renderers += 1;
                // A renderer Chromium has just started enters seccomp a moment after it
                // appears: give it a second (or let it end) before judging.
                let mut seccomp = status_field(pid, "Seccomp");
                for _ in 0..20 {
                    if seccomp == "2" || seccomp.is_empty() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    seccomp = status_field(pid, "Seccomp");
                }
                assert!(seccomp == "2" || seccomp.is_empty(), "renderer {pid} is not in the seccomp sandbox (Seccomp: {seccomp})");
            }
            if let Some(path) = args.iter().find_map(|a| a.strip_prefix("--user-data-dir=")) {
                profile = Some(PathBuf::from(path));
            }
            if let Some(cgroup) = memory_cgroup(pid) {
                cgroups.push(cgroup);
            }
        }
        assert!(renderers > 0);
        let profile = profile.expect("the browser names its profile");
        assert_eq!(profile.parent().unwrap(), data.join("browsers"), "the profile lives under the data directory");
        let meta = std::fs::metadata(&profile).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o777), (user.uid, 0o700), "the profile is the browser user's alone");
        assert_eq!(cgroups.len(), pids.iter().filter(|&&p| !cmdline(p).is_empty()).count(), "every browser process is in a memory cgroup");
        for (cgroup, limit) in &cgroups {
            assert!(cgroup.to_string_lossy().contains("demoreel-chromium-"), "{} is not the session's cgroup", cgroup.display());
            assert_eq!(*limit, 1536 * 1024 * 1024, "the cap of {}", cgroup.display());
        }

        let done = client.wait_for(&id, Duration::from_secs(120), terminal).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        for _ in 0..50 {
            if demoreel::capture::browser::processes_of(server.pid()).is_empty() && !profile.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(demoreel::capture::browser::processes_of(server.pid()).is_empty(), "a browser outlived its run");
        assert!(!profile.exists(), "the profile outlived its run");
        for (cgroup, _) in &cgroups {
            assert!(!cgroup.exists(), "the cgroup {} outlived its run", cgroup.display());
        }
        let left: Vec<_> = std::fs::read_dir(data.join("browsers")).unwrap().flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "the browsers folder keeps {left:?}");
    });

    // Nothing the server wrote is readable by another user: the data directory can only
    // be passed through (to reach the browser's profile), the rest is 0700 and 0600.
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o711);
    assert_eq!(std::fs::metadata(data.join("browsers")).unwrap().permissions().mode() & 0o777, 0o711);
    let mut todo = vec![data.clone()];
    let mut checked = 0;
    while let Some(folder) = todo.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let (path, meta) = (entry.path(), entry.metadata().unwrap());
            // The test's own files (the server's log, the key it was given) are not the server's.
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if folder == data && (name.starts_with("serve-") || name == "secret.key") {
                continue;
            }
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                if path != data.join("browsers") {
                    assert_eq!(mode, 0o700, "{} is {mode:o}", path.display());
                }
                todo.push(path);
            } else {
                assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 5, "the data directory holds the run's files ({checked})");
}
