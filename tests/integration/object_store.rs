//! The S3 artifact store against a real S3-compatible server (`s3s-fs`, a separate process
//! speaking S3 over HTTP with SigV4, installed by scripts/test.sh): whole and multipart
//! uploads, ranges, presigned downloads, a store down for ten seconds, a store gone for good.

use crate::common::TempDir;
use demoreel::store::s3::{Credentials, S3Store};
use demoreel::store::settings::{S3Settings, StoreSettings};
use demoreel::store::{ArtifactStore, Location};
use futures::StreamExt;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "demoreel-test-access";
pub const SECRET_KEY: &str = "demoreel-test-secret-0123456789";
pub const BUCKET: &str = "demoreel-artifacts";

/// An `s3s-fs` process serving `root` on a port of its own; killed when dropped.
pub struct S3Server {
    pub root: TempDir,
    pub port: u16,
    child: Option<Child>,
}

fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("DEMOREEL_TEST_S3_SERVER") {
        return PathBuf::from(path);
    }
    let installed = Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cargo/bin/s3s-fs");
    if installed.exists() { installed } else { PathBuf::from("s3s-fs") }
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = TempDir::new("s3");
        std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = S3Server { root, port, child: None };
        server.start_again();
        server
    }

    /// Starts the server (again) on the same port and folder.
    pub fn start_again(&mut self) {
        let child = Command::new(server_binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string(), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} (scripts/test.sh installs it): {e}", server_binary().display()));
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "the S3 server did not listen on {} within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `--store` for this server, with `extra` settings (`&downloads=stream`).
    pub fn store_url(&self, prefix: &str, extra: &str) -> String {
        format!("s3://{BUCKET}/{prefix}?endpoint={}{extra}", self.endpoint())
    }

    pub fn settings(&self, prefix: &str, extra: &str) -> S3Settings {
        match StoreSettings::parse(&self.store_url(prefix, extra), "--store").unwrap() {
            StoreSettings::S3(settings) => settings,
            StoreSettings::Local(_) => unreachable!(),
        }
    }

    pub fn store(&self, prefix: &str, extra: &str) -> S3Store {
        S3Store::new(self.settings(prefix, extra), Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
    }

    /// The file the server keeps `key` in (s3s-fs stores each object as a file).
    pub fn object_file(&self, prefix: &str, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(prefix).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// `size` bytes that differ from place to place (a shifted part would show).
fn patterned_file(dir: &Path, name: &str, size: usize) -> (PathBuf, Vec<u8>, String) {
    let bytes: Vec<u8> = (0..size).map(|i| ((i * 7 + i / 4093) % 251) as u8).collect();
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    let (sha256, _) = demoreel::files::sha256_file(&path).unwrap();
    (path, bytes, sha256)
}

async fn read_all(store: &S3Store, key: &str, start: u64, length: u64) -> Vec<u8> {
    let mut stream = store.read(key, start, length).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    bytes
}

#[test]
fn artifacts_round_trip_whole_and_in_parts_with_ranges_and_presigned_downloads() {
    let _machine = crate::common::shared_machine();
    let server = S3Server::start();
    let work = TempDir::new("s3-files");
    rt().block_on(async {
        let store = server.store("team/a", "&part_size_mib=5");
        let (small, small_bytes, small_sha) = patterned_file(work.path(), "small.mp4", 100_000);
        let (large, large_bytes, large_sha) = patterned_file(work.path(), "large.tar", 12 * 1024 * 1024 + 12_345);
        store.put("run-1/demo.mp4", &small, &small_sha).await.unwrap();
        store.put("run-1/recording.tar", &large, &large_sha).await.unwrap(); // three parts
        // What the server holds is the file, byte for byte (the parts joined in order).
        for (key, sha) in [("run-1/demo.mp4", &small_sha), ("run-1/recording.tar", &large_sha)] {
            let held = server.object_file("team/a", key);
            assert_eq!(&demoreel::files::sha256_file(&held).unwrap().0, sha, "{key} as stored by the server");
            let fetched = work.path().join("fetched");
            store.fetch(key, &fetched).await.unwrap();
            assert_eq!(&demoreel::files::sha256_file(&fetched).unwrap().0, sha, "{key} fetched back");
        }
        // A range across the first part's end, read through the store.
        let start = 5 * 1024 * 1024 - 10;
        assert_eq!(read_all(&store, "run-1/recording.tar", start as u64, 20).await, large_bytes[start..start + 20]);
        // The presigned GET: the whole object, and a range, with the download's headers.
        let Location::Redirect(url) = store.locate("run-1/demo.mp4").await.unwrap() else { panic!("redirect downloads by default") };
        assert!(url.starts_with(&server.endpoint()) && url.contains("X-Amz-Signature="), "{url}");
        let http = reqwest::Client::new();
        let whole = http.get(&url).send().await.unwrap();
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.headers()["content-type"], "video/mp4");
        assert_eq!(whole.headers()["content-disposition"], "attachment; filename=\"demo.mp4\"");
        assert_eq!(whole.bytes().await.unwrap().to_vec(), small_bytes);
        let part = http.get(&url).header("range", "bytes=1000-1999").send().await.unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().await.unwrap().to_vec(), small_bytes[1000..2000]);
        // A link whose signature was changed opens nothing.
        let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        let flipped = if &url[at..at + 1] == "0" { "1" } else { "0" };
        let forged = format!("{}{flipped}{}", &url[..at], &url[at + 1..]);
        assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);
        // A key never stored reads as not found (a recording gone), not as a failure.
        let missing = store.fetch("run-2/recording.tar", &work.path().join("missing")).await.unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound, "{missing}");
        // Refused credentials fail at once (no retries) and say where.
        let wrong = S3Store::new(server.settings("team/a", ""), Credentials::new(ACCESS_KEY, "not-the-secret", None, None, "test"));
        let started = Instant::now();
        let refused = wrong.put("run-1/other.mp4", &small, &small_sha).await.unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(3), "a refusal is not retried: {:?}", started.elapsed());
        assert!(refused.contains(&server.endpoint()) && refused.contains("team/a/run-1/other.mp4"), "{refused}");
        // The server checks the bytes against the digest sent with them.
        let torn = store.put("run-1/torn.mp4", &small, &large_sha).await.unwrap_err().to_string();
        assert!(torn.contains("BadDigest"), "{torn}");
    });
}

#[test]
fn an_upload_waits_out_a_store_down_for_ten_seconds_and_fails_clearly_when_it_stays_down() {
    let _machine = crate::common::shared_machine();
    let mut server = S3Server::start();
    let work = TempDir::new("s3-down");
    let (file, _, sha256) = patterned_file(work.path(), "demo.mp4", 300_000);
    rt().block_on(async {
        let store = std::sync::Arc::new(server.store("", ""));
        server.stop();
        let started = Instant::now();
        let upload = {
            let (store, file, sha256) = (store.clone(), file.clone(), sha256.clone());
            tokio::spawn(async move { store.put("run-1/demo.mp4", &file, &sha256).await })
        };
        tokio::time::sleep(Duration::from_secs(10)).await;
        server.start_again();
        upload.await.unwrap().expect("the upload goes through once the store is back");
        assert!(started.elapsed() >= Duration::from_secs(10));
        assert_eq!(demoreel::files::sha256_file(&server.object_file("", "run-1/demo.mp4")).unwrap().0, sha256);

        server.stop();
        let started = Instant::now();
        let error = store.put("run-2/demo.mp4", &file, &sha256).await.unwrap_err().to_string();
        let waited = started.elapsed();
        assert!(waited > Duration::from_secs(25) && waited < Duration::from_secs(60), "gave up after {waited:?}");
        assert!(error.contains("after 8 tries") && error.contains(&server.endpoint()) && error.contains("run-2/demo.mp4"), "{error}");
    });
}

#[test]
fn a_re_render_reads_the_recording_from_the_bucket_and_downloads_redirect_or_stream() {
    use serde_json::json;
    let _machine = crate::common::shared_machine();
    let server = S3Server::start();
    rt().block_on(async {
        let store = std::sync::Arc::new(server.store("prod", ""));
        let service = crate::render_jobs::service_with(Some(Duration::from_secs(30)), store, TempDir::new("s3-service")).await;
        let run = service.finished_run(4).await;
        assert!(server.object_file("prod", &format!("{run}/recording.tar")).exists(), "the run's recording is kept in the bucket");
        let body = json!({"run_ids": [run], "options": {"video": {"size": {"width": 640, "height": 360}}, "artifacts": {"gif": true}}});
        let (status, created, _) = service.call(&service.alice, "POST", "/v1/render-jobs", Some(body)).await;
        assert_eq!(status, 202, "{created}");
        let job_id = created["job_id"].as_str().unwrap();
        let job = service.until(job_id, Duration::from_secs(180), |j| j["progress"]["runs_ended"] == 1).await;
        assert_eq!(job["status"], "succeeded", "{job:#}");
        let (_, listed, _) = service.call(&service.alice, "GET", &format!("/v1/agent/runs/{run}/artifacts?generation=1"), None).await;
        let http = reqwest::Client::new();
        let work = TempDir::new("s3-downloads");
        for artifact in listed["data"].as_array().unwrap() {
            let id = artifact["id"].as_str().unwrap();
            let (status, headers, _) = service.call_with(&service.alice, "GET", &format!("/v1/downloads/{id}"), None, &[]).await;
            assert_eq!(status, 302, "{}", artifact["name"]);
            let location = headers["location"].to_str().unwrap();
            assert!(location.starts_with(&server.endpoint()), "{location}");
            let path = work.path().join(artifact["name"].as_str().unwrap());
            std::fs::write(&path, http.get(location).send().await.unwrap().bytes().await.unwrap()).unwrap();
            assert_eq!(demoreel::files::sha256_file(&path).unwrap().0, artifact["sha256"].as_str().unwrap(), "{}", artifact["name"]);
            if artifact["name"] == "demo.mp4" {
                let facts = demoreel::encode::decode::probe(&path).unwrap();
                assert_eq!((facts.size.width, facts.size.height), (640, 360));
            }
        }
        assert_eq!(listed["data"].as_array().unwrap().len(), 4, "raw.mp4, demo.mp4, demo.gif and events.jsonl: {listed:#}");
    });
    // The same bucket with downloads streamed through the API, ranges included.
    rt().block_on(async {
        let store = std::sync::Arc::new(server.store("prod", "&downloads=stream"));
        let service = crate::render_jobs::service_with(None, store, TempDir::new("s3-stream")).await;
        let run = service.finished_run(4).await;
        let (_, listed, _) = service.call(&service.alice, "GET", &format!("/v1/agent/runs/{run}/artifacts"), None).await;
        let id = listed["data"][0]["id"].as_str().unwrap();
        let (status, headers, bytes) = service.call_with(&service.alice, "GET", &format!("/v1/downloads/{id}"), None, &[("range", "bytes=4-9")]).await;
        assert_eq!((status.as_u16(), headers["content-range"].to_str().unwrap()), (206, "bytes 4-9/22"));
        assert_eq!(bytes, b"run's ".to_vec(), "bytes 4-9 of \"the run's own demo.mp4\"");
        let (status, _, bytes) = service.call_with(&service.alice, "GET", &format!("/v1/downloads/{id}"), None, &[]).await;
        assert_eq!((status.as_u16(), bytes), (200, b"the run's own demo.mp4".to_vec()));
    });
}
