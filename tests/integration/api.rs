//! The HTTP API through the router in-process (no socket, no runner): every endpoint,
//! every error code of spec/api.md, ownership as 404, validation naming fields, body
//! limits, rate limits per key, downloads with ranges, ETags and signed URLs.

use crate::common::TempDir;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use demoreel::api::{self, ApiConfig, AppState, Services};
use demoreel::db::SqlDatabase;
use demoreel::db::{self, ArtifactRepo, AwaitingInput, CredentialRepo, KeyRepo, RunRepo, RunSignalRepo, RunStatus};
use demoreel::runs::signals::{InProcess, Signals};
use demoreel::secrets::{self, Sealer, UrlSigner};
use demoreel::store::LocalStore;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    store: Arc<SqlDatabase>,
    hub: Arc<InProcess>,
    dir: TempDir,
    alice: String,
    bob: String,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn api_with(config: ApiConfig, with_sealer: bool) -> Api {
    let dir = TempDir::new("api");
    let store = Arc::new(SqlDatabase::open_sqlite(&dir.path().join("demoreel.db")).await.unwrap());
    let hub = Arc::new(InProcess::default());
    let alice = secrets::new_api_key();
    let bob = secrets::new_api_key();
    store.create_key("alice", &secrets::hash_api_key(&alice), None).await.unwrap();
    store.create_key("bob", &secrets::hash_api_key(&bob), None).await.unwrap();
    let state = AppState::new(Services {
        db: store.clone(),
        artifacts: Arc::new(LocalStore::new(&dir.path().join("artifacts"))),
        signer: UrlSigner::load_or_create(&dir.path().join("signing.key")).unwrap(),
        sealer: with_sealer.then(|| Arc::new(Sealer::new(&[9u8; 32]))),
        signals: hub.clone(),
        demonstrations: None,
        config,
    });
    Api { router: api::router(state), store, hub, dir, alice, bob }
}

async fn api() -> Api {
    api_with(ApiConfig::default(), true).await
}

/// An answer: status, headers, body bytes and the body as JSON (Null if not JSON).
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
    json: Value,
}

impl Api {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, headers, bytes, json }
    }

    async fn call(&self, key: Option<&str>, method: &str, path: impl Into<String>, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(path.into()).header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        self.send(request.body(body).unwrap()).await
    }

    async fn raw(&self, key: &str, method: &str, path: &str, body: impl Into<Body>) -> Answer {
        let request = Request::builder().method(method).uri(path).header("x-api-key", key).body(body.into()).unwrap();
        self.send(request).await
    }

    async fn create_run(&self, key: &str) -> String {
        let answer = self.call(Some(key), "POST", "/v1/agent/runs", Some(json!({"target_url": "https://app.example.com/", "goal": "Open the dashboard"}))).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
        answer.json["run_id"].as_str().unwrap().to_string()
    }
}

fn error_fields(answer: &Answer) -> Vec<String> {
    answer.json["details"].as_array().map(|d| d.iter().map(|d| d["field"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.json);
    assert_eq!(answer.json["code"], code, "{:?}", answer.json);
    assert!(answer.json["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(answer.json["details"].is_array());
}

#[test]
fn keys_are_required_and_checked() {
    rt().block_on(async {
        let api = api().await;
        assert_error(&api.call(None, "GET", "/v1/agent/runs", None).await, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_error(&api.call(Some("drk_nope"), "GET", "/v1/agent/runs", None).await, StatusCode::UNAUTHORIZED, "unauthorized");
        let bearer = Request::builder().uri("/v1/agent/runs").header("authorization", format!("Bearer {}", api.alice)).body(Body::empty()).unwrap();
        assert_eq!(api.send(bearer).await.status, StatusCode::OK);
        assert_error(&api.call(Some(&api.alice), "GET", "/v1/nothing-here", None).await, StatusCode::NOT_FOUND, "not_found");
    });
}

#[test]
fn run_creation_validates_every_field() {
    rt().block_on(async {
        let api = api().await;
        let key = Some(api.alice.as_str());
        let created = api.call(key, "POST", "/v1/agent/runs", Some(json!({"target_url": "https://app.example.com/", "goal": "Open the dashboard", "options": {"colour": "red"}}))).await;
        assert_eq!(created.status, StatusCode::CREATED);
        assert!(db_uuid(&created.json["run_id"]));
        assert_eq!(created.json["warnings"][0], "options.colour is not a known option and was ignored");

        for (body, fields) in [
            (json!({"goal": "x"}), vec!["target_url"]),
            (json!({"target_url": "javascript:alert(1)", "goal": "x"}), vec!["target_url"]),
            (json!({"target_url": "https://a.example/", "goal": 7}), vec!["goal"]),
            (json!({"target_url": "https://a.example/", "goal": "g".repeat(2001)}), vec!["goal"]),
            (json!({"target_url": "h".repeat(100_000), "goal": "x"}), vec!["target_url"]),
            (json!({"target_url": "https://a.example/", "goal": "x", "options": {"video": {"cursor": "huge", "background": {"type": "solid", "color": "red"}}}}), vec!["options.video.cursor", "options.video.background.color"]),
            (json!({"target_url": "https://a.example/", "goal": "x", "options": {"video": {"size": {"width": 321}}}}), vec!["options.video.size.width"]),
            (json!({"target_url": "https://a.example/", "goal": "x", "options": {"auth": {"source": "saved", "id": db::new_id()}}}), vec!["options.auth.id"]),
            (json!({"target_url": "https://a.example/", "goal": "x", "options": "fast"}), vec!["options"]),
        ] {
            let answer = api.call(key, "POST", "/v1/agent/runs", Some(body.clone())).await;
            assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
            assert_eq!(error_fields(&answer), fields, "for {body}");
        }
        let malformed = api.raw(&api.alice, "POST", "/v1/agent/runs", "{\"goal\": ").await;
        assert_error(&malformed, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(error_fields(&malformed), ["body"]);
        let huge = api.raw(&api.alice, "POST", "/v1/agent/runs", vec![b' '; (1 << 20) + 10]).await;
        assert_error(&huge, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    });
}

fn db_uuid(value: &Value) -> bool {
    value.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

#[test]
fn runs_are_listed_newest_first_paged_filtered_and_private() {
    rt().block_on(async {
        let api = api().await;
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(api.create_run(&api.alice).await);
        }
        let other = api.create_run(&api.bob).await;

        let run = api.call(Some(&api.alice), "GET", &format!("/v1/agent/runs/{}", ids[0]), None).await;
        assert_eq!(run.status, StatusCode::OK);
        for field in ["id", "status", "progress_stage", "awaiting_input", "error", "target_url", "goal", "options", "created_at", "updated_at", "started_at", "finished_at"] {
            assert!(run.json.get(field).is_some(), "run has {field}");
        }
        assert_eq!(run.json["status"], "queued");
        assert_error(&api.call(Some(&api.alice), "GET", &format!("/v1/agent/runs/{other}"), None).await, StatusCode::NOT_FOUND, "not_found");
        assert_error(&api.call(Some(&api.alice), "GET", "/v1/agent/runs/not-a-uuid", None).await, StatusCode::NOT_FOUND, "not_found");
        assert_error(&api.call(Some(&api.alice), "GET", &format!("/v1/agent/runs/{}", db::new_id()), None).await, StatusCode::NOT_FOUND, "not_found");

        let first = api.call(Some(&api.alice), "GET", "/v1/agent/runs?limit=2", None).await;
        let page: Vec<&str> = first.json["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(page, [ids[4].as_str(), ids[3].as_str()], "newest first");
        let cursor = first.json["next_cursor"].as_str().unwrap();
        let second = api.call(Some(&api.alice), "GET", &format!("/v1/agent/runs?limit=2&cursor={cursor}"), None).await;
        let page: Vec<&str> = second.json["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(page, [ids[2].as_str(), ids[1].as_str()]);
        let all = api.call(Some(&api.alice), "GET", "/v1/agent/runs?limit=100", None).await;
        assert_eq!(all.json["data"].as_array().unwrap().len(), 5, "bob's run is not listed");
        assert!(all.json["next_cursor"].is_null());

        api.call(Some(&api.alice), "POST", &format!("/v1/agent/runs/{}/cancel", ids[1]), None).await;
        let cancelled = api.call(Some(&api.alice), "GET", "/v1/agent/runs?status=cancelled", None).await;
        assert_eq!(cancelled.json["data"][0]["id"], ids[1].as_str());
        assert_eq!(cancelled.json["data"].as_array().unwrap().len(), 1);

        for (query, field) in [("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"), ("status=sleeping", "status"), ("cursor=%21%21", "cursor")] {
            let answer = api.call(Some(&api.alice), "GET", &format!("/v1/agent/runs?{query}"), None).await;
            assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
            assert_eq!(error_fields(&answer), [field]);
        }
    });
}

#[test]
fn input_and_cancel_follow_the_lifecycle() {
    rt().block_on(async {
        let api = api().await;
        let id = api.create_run(&api.alice).await;
        let input = |value: Value| api.call(Some(&api.alice), "POST", format!("/v1/agent/runs/{id}/input"), Some(json!({"value": value})));
        assert_error(&input(json!("123456")).await, StatusCode::CONFLICT, "conflict");
        assert_eq!(error_fields(&input(json!("")).await), ["value"]);
        assert_eq!(error_fields(&input(json!("x".repeat(257))).await), ["value"]);
        assert_eq!(error_fields(&input(json!(123456)).await), ["value"]);

        // The runner's side: it takes the run, which then waits for input.
        let mut run = api.store.claim_next_run(&db::now(), 5, "runner", &db::later(300)).await.unwrap().unwrap();
        assert_eq!(run.id, id);
        run.status = RunStatus::AwaitingInput;
        run.awaiting_input = Some(AwaitingInput { prompt: "Verification code".into(), requested_at: db::now(), expires_at: db::later(300) });
        assert!(api.store.save_run_progress(&run, "runner").await.unwrap());
        let receiver = api.hub.expect_input(&id);
        let shown = api.call(Some(&api.alice), "GET", &format!("/v1/agent/runs/{id}"), None).await;
        assert_eq!(shown.json["awaiting_input"]["prompt"], "Verification code");
        assert!(shown.json["awaiting_input"]["expires_at"].is_string());
        assert_error(&api.call(Some(&api.bob), "POST", &format!("/v1/agent/runs/{id}/input"), Some(json!({"value": "1"}))).await, StatusCode::NOT_FOUND, "not_found");
        let given = input(json!("246810")).await;
        assert_eq!(given.status, StatusCode::NO_CONTENT);
        assert!(given.bytes.is_empty());
        assert_eq!(receiver.await.unwrap(), "246810", "the value reaches the runner");
        // No runner here waits (the run records in another process sharing the database):
        // the value is left there sealed, for that process to take once.
        assert_eq!(input(json!("135790")).await.status, StatusCode::NO_CONTENT);
        let answered = api.call(Some(&api.alice), "GET", &format!("/v1/agent/runs/{id}"), None).await;
        assert_eq!((answered.json["status"].as_str(), answered.json["awaiting_input"].is_null()), (Some("running"), true), "the answered run moves on at once");
        assert_error(&input(json!("000000")).await, StatusCode::CONFLICT, "conflict");
        let sealed = api.store.take_run_input(&id, &db::now()).await.unwrap().expect("a sealed value in the database");
        assert!(!String::from_utf8_lossy(&sealed).contains("135790"), "the value is not stored in the clear");
        assert_eq!(Sealer::new(&[9u8; 32]).open(&sealed).unwrap(), "135790");
        assert!(api.store.take_run_input(&id, &db::now()).await.unwrap().is_none(), "a value is taken once");

        let queued = api.create_run(&api.alice).await;
        let cancel = |id: String| api.call(Some(&api.alice), "POST", format!("/v1/agent/runs/{id}/cancel"), None);
        assert_eq!(cancel(queued.clone()).await.status, StatusCode::NO_CONTENT);
        let after = api.call(Some(&api.alice), "GET", &format!("/v1/agent/runs/{queued}"), None).await;
        assert_eq!(after.json["status"], "cancelled");
        assert!(after.json["finished_at"].is_string());
        assert_error(&cancel(queued.clone()).await, StatusCode::CONFLICT, "conflict");
        assert_error(&api.call(Some(&api.bob), "POST", &format!("/v1/agent/runs/{id}/cancel"), None).await, StatusCode::NOT_FOUND, "not_found");
        // A running run is flagged for its runner.
        let flag = api.hub.cancel_flag(&id);
        assert_eq!(cancel(id.clone()).await.status, StatusCode::NO_CONTENT);
        assert!(flag.is_set());
    });
}

#[test]
fn artifacts_download_with_ranges_etags_and_signed_urls() {
    rt().block_on(async {
        let api = api().await;
        let id = api.create_run(&api.alice).await;
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let source = api.dir.path().join("demo.mp4");
        std::fs::write(&source, &bytes).unwrap();
        let store = LocalStore::new(&api.dir.path().join("artifacts"));
        use demoreel::store::ArtifactStore;
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        store.put(&format!("{id}/demo.mp4"), &source, &sha).await.unwrap();
        let artifact_id = db::new_id();
        api.store
            .insert_artifact(&db::Artifact {
                id: artifact_id.clone(),
                run_id: id.clone(),
                name: "demo.mp4".into(),
                content_type: "video/mp4".into(),
                size_bytes: bytes.len() as i64,
                sha256: sha.clone(),
                storage_key: format!("{id}/demo.mp4"),
                created_at: db::now(),
                generation: 0,
                render_job_id: None,
            })
            .await
            .unwrap();

        let list = api.call(Some(&api.alice), "GET", &format!("/v1/agent/runs/{id}/artifacts"), None).await;
        assert_eq!(list.status, StatusCode::OK);
        let listed = &list.json["data"][0];
        for field in ["id", "name", "content_type", "size_bytes", "sha256", "download_url", "created_at"] {
            assert!(listed.get(field).is_some(), "artifact has {field}");
        }
        assert_eq!(listed["sha256"], sha.as_str());
        assert_error(&api.call(Some(&api.bob), "GET", &format!("/v1/agent/runs/{id}/artifacts"), None).await, StatusCode::NOT_FOUND, "not_found");

        let path = format!("/v1/downloads/{artifact_id}");
        let whole = api.call(Some(&api.alice), "GET", &path, None).await;
        assert_eq!(whole.status, StatusCode::OK);
        assert_eq!(whole.bytes, bytes);
        assert_eq!(whole.headers["content-type"], "video/mp4");
        assert_eq!(whole.headers["accept-ranges"], "bytes");
        assert_eq!(whole.headers["content-length"], bytes.len().to_string().as_str());
        assert!(whole.headers["content-disposition"].to_str().unwrap().contains("demo.mp4"));
        let etag = whole.headers["etag"].to_str().unwrap().to_string();

        let ranged = |range: &str| {
            let request = Request::builder().uri(&path).header("x-api-key", &api.alice).header("range", range).body(Body::empty()).unwrap();
            api.send(request)
        };
        let part = ranged("bytes=1000-1999").await;
        assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.headers["content-range"], format!("bytes 1000-1999/{}", bytes.len()).as_str());
        assert_eq!(part.bytes, bytes[1000..2000]);
        let tail = ranged("bytes=-500").await;
        assert_eq!(tail.bytes, bytes[bytes.len() - 500..]);
        assert_eq!(ranged("bytes=200000-").await.status, StatusCode::RANGE_NOT_SATISFIABLE);
        let cached = Request::builder().uri(&path).header("x-api-key", &api.alice).header("if-none-match", &etag).body(Body::empty()).unwrap();
        assert_eq!(api.send(cached).await.status, StatusCode::NOT_MODIFIED);

        assert_error(&api.call(Some(&api.bob), "GET", &path, None).await, StatusCode::NOT_FOUND, "not_found");
        assert_error(&api.call(None, "GET", &path, None).await, StatusCode::UNAUTHORIZED, "unauthorized");
        // The signed URL opens without a key, and only for this artifact.
        let url = listed["download_url"].as_str().unwrap();
        let signed_path = &url[url.find("/v1/").unwrap()..];
        let signed = api.call(None, "GET", signed_path, None).await;
        assert_eq!(signed.status, StatusCode::OK);
        assert_eq!(signed.bytes, bytes);
        let tampered = signed_path.replace("signature=", "signature=00");
        assert_eq!(api.call(None, "GET", &tampered, None).await.status, StatusCode::UNAUTHORIZED);
        let other = signed_path.replace(&artifact_id, &db::new_id());
        assert_eq!(api.call(None, "GET", &other, None).await.status, StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn credentials_never_show_their_password() {
    rt().block_on(async {
        let api = api().await;
        let key = Some(api.alice.as_str());
        let password = "correct horse battery staple";
        let created = api.call(key, "POST", "/v1/agent/credentials", Some(json!({"label": "Orbit", "domain": "App.Example.com", "email": "ada@example.com", "password": password, "is_default": true}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
        assert_eq!(created.json["domain"], "app.example.com");
        let id = created.json["id"].as_str().unwrap().to_string();
        let second = api.call(key, "POST", "/v1/agent/credentials", Some(json!({"label": "OTP only", "domain": "app.example.com", "email": "bo@example.com"}))).await;
        let second_id = second.json["id"].as_str().unwrap().to_string();

        let mut answers = vec![created.bytes.clone(), second.bytes.clone()];
        let list = api.call(key, "GET", "/v1/agent/credentials", None).await;
        assert_eq!(list.json["data"].as_array().unwrap().len(), 2);
        answers.push(list.bytes.clone());
        let default = api.call(key, "POST", &format!("/v1/agent/credentials/{second_id}/set-default"), None).await;
        assert_eq!(default.json["is_default"], true);
        answers.push(default.bytes.clone());
        let list = api.call(key, "GET", "/v1/agent/credentials", None).await;
        let defaults: Vec<&Value> = list.json["data"].as_array().unwrap().iter().filter(|c| c["is_default"] == true).collect();
        assert_eq!(defaults.len(), 1, "one default per domain");
        let patched = api.call(key, "PATCH", &format!("/v1/agent/credentials/{id}"), Some(json!({"label": "Orbit admin", "password": "new secret value"}))).await;
        assert_eq!(patched.status, StatusCode::OK);
        assert_eq!(patched.json["label"], "Orbit admin");
        answers.push(patched.bytes.clone());
        for answer in &answers {
            let text = String::from_utf8_lossy(answer);
            assert!(!text.contains(password) && !text.contains("new secret value") && !text.contains("password"), "an answer shows the password: {text}");
        }
        // At rest the password is sealed, not stored as text.
        let stored = api.store.credential(&api.store.key_by_hash(&secrets::hash_api_key(&api.alice)).await.unwrap().unwrap().id, &id).await.unwrap().unwrap();
        let sealed = stored.password_sealed.unwrap();
        assert!(!sealed.windows(10).any(|w| w == &b"new secret value"[..10]));
        assert_eq!(Sealer::new(&[9u8; 32]).open(&sealed).unwrap(), "new secret value");

        let bad = api.call(key, "POST", "/v1/agent/credentials", Some(json!({"label": "", "domain": "not a host", "email": "nobody"}))).await;
        assert_eq!(error_fields(&bad), ["label", "domain", "email"]);
        // A login may not cover a whole public suffix, nor walk its password to a new domain.
        for suffix in ["com", "co.uk", "github.io"] {
            let refused = api.call(key, "POST", "/v1/agent/credentials", Some(json!({"label": "x", "domain": suffix, "email": "a@b.example", "password": "pw"}))).await;
            assert_eq!(error_fields(&refused), ["domain"], "{suffix}");
        }
        let moved = api.call(key, "PATCH", &format!("/v1/agent/credentials/{id}"), Some(json!({"domain": "attacker.example.net"}))).await;
        assert_eq!(error_fields(&moved), ["password"], "a new domain needs the password again");
        let kept = api.store.credential(&stored.owner, &id).await.unwrap().unwrap();
        assert_eq!(kept.domain, "app.example.com", "a refused change changes nothing");
        let moved = api.call(key, "PATCH", &format!("/v1/agent/credentials/{id}"), Some(json!({"domain": "other.example.net", "password": "for the other site"}))).await;
        assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.json);
        assert_eq!(moved.json["domain"], "other.example.net");
        assert_error(&api.call(Some(&api.bob), "PATCH", &format!("/v1/agent/credentials/{id}"), Some(json!({"label": "x"}))).await, StatusCode::NOT_FOUND, "not_found");
        assert_error(&api.call(Some(&api.bob), "DELETE", &format!("/v1/agent/credentials/{id}"), None).await, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(api.call(key, "DELETE", &format!("/v1/agent/credentials/{id}"), None).await.status, StatusCode::NO_CONTENT);
        assert_error(&api.call(key, "DELETE", &format!("/v1/agent/credentials/{id}"), None).await, StatusCode::NOT_FOUND, "not_found");

        // A saved credential must match the run's host.
        let run = api.call(key, "POST", "/v1/agent/runs", Some(json!({"target_url": "https://other.example.org/", "goal": "x", "options": {"auth": {"source": "saved", "id": second_id}}}))).await;
        assert_eq!(error_fields(&run), ["options.auth.id"]);
        let run = api.call(key, "POST", "/v1/agent/runs", Some(json!({"target_url": "https://app.example.com/", "goal": "x", "options": {"auth": {"source": "saved", "id": second_id}}}))).await;
        assert_eq!(run.status, StatusCode::CREATED);
    });
    rt().block_on(async {
        let api = api_with(ApiConfig::default(), false).await;
        let refused = api.call(Some(&api.alice), "POST", "/v1/agent/credentials", Some(json!({"label": "x", "domain": "a.example", "email": "a@a.example", "password": "pw"}))).await;
        assert_eq!(error_fields(&refused), ["password"], "no secret key, no stored passwords");
    });
}

#[test]
fn feedback_names_only_own_runs() {
    rt().block_on(async {
        let api = api().await;
        let mine = api.create_run(&api.alice).await;
        let theirs = api.create_run(&api.bob).await;
        let ok = api.call(Some(&api.alice), "POST", "/v1/agent/feedback", Some(json!({"feedback": "The cursor is lovely.", "run_ids": [mine]}))).await;
        assert_eq!(ok.status, StatusCode::CREATED);
        assert!(ok.json["created_at"].is_string());
        assert_error(&api.call(Some(&api.alice), "POST", "/v1/agent/feedback", Some(json!({"feedback": "x", "run_ids": [theirs]}))).await, StatusCode::NOT_FOUND, "not_found");
        let bad = api.call(Some(&api.alice), "POST", "/v1/agent/feedback", Some(json!({"feedback": "x".repeat(10_001), "run_ids": ["nope"]}))).await;
        assert_eq!(error_fields(&bad), ["feedback", "run_ids[0]"]);
        let too_many: Vec<String> = (0..21).map(|_| db::new_id()).collect();
        assert_eq!(error_fields(&api.call(Some(&api.alice), "POST", "/v1/agent/feedback", Some(json!({"feedback": "x", "run_ids": too_many}))).await), ["run_ids"]);
    });
}

#[test]
fn one_keys_flood_is_limited_without_slowing_another() {
    rt().block_on(async {
        let config = ApiConfig { rate_per_second: 2.0, rate_burst: 5.0, ..ApiConfig::default() };
        let api = api_with(config, true).await;
        let mut statuses = Vec::new();
        for _ in 0..12 {
            statuses.push(api.call(Some(&api.alice), "GET", "/v1/agent/runs", None).await);
        }
        let limited: Vec<&Answer> = statuses.iter().filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS).collect();
        assert!(limited.len() >= 5, "a flood is refused: {} of 12", limited.len());
        assert_error(limited[0], StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert!(limited[0].headers.contains_key("retry-after"));
        assert_eq!(api.call(Some(&api.bob), "GET", "/v1/agent/runs", None).await.status, StatusCode::OK, "another key is served");
    });
}

#[test]
fn unknown_paths_and_methods_check_the_key_first_and_answer_in_the_error_shape() {
    rt().block_on(async {
        let api = api().await;
        // Without a key nothing is said about the path or the method.
        assert_error(&api.call(None, "GET", "/v1/no/such/thing", None).await, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_error(&api.call(None, "DELETE", "/v1/agent/runs", None).await, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_error(&api.call(Some(&api.alice), "GET", "/v1/no/such/thing", None).await, StatusCode::NOT_FOUND, "not_found");
        assert_error(&api.call(Some(&api.alice), "DELETE", "/v1/agent/runs", None).await, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        // The demonstrations surface's header is a key header too.
        let anchor = Request::builder().uri("/v1/agent/runs").header("anchor-api-key", &api.alice).body(Body::empty()).unwrap();
        assert_eq!(api.send(anchor).await.status, StatusCode::OK);
    });
}

#[test]
fn a_default_credential_serves_its_subdomains_by_the_same_rule_as_a_saved_one() {
    rt().block_on(async {
        let api = api().await;
        let alice = api.store.key_by_hash(&secrets::hash_api_key(&api.alice)).await.unwrap().unwrap().id;
        for (domain, default) in [("example.com", true), ("app.example.com", true), ("other.test", true), ("app2.example.com", false)] {
            let answer = api
                .call(Some(&api.alice), "POST", "/v1/agent/credentials", Some(json!({"label": domain, "domain": domain, "email": "ada@example.com", "is_default": default})))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
        }
        let serving = |host: &'static str| {
            let store = api.store.clone();
            let alice = alice.clone();
            async move { store.default_credential_for_host(&alice, host).await.unwrap().map(|c| c.domain) }
        };
        assert_eq!(serving("example.com").await.as_deref(), Some("example.com"));
        assert_eq!(serving("eu.example.com").await.as_deref(), Some("example.com"), "a subdomain is served by its domain's default");
        assert_eq!(serving("app.example.com").await.as_deref(), Some("app.example.com"), "the most specific domain wins");
        assert_eq!(serving("badexample.com").await, None, "a look-alike host is not a subdomain");
        // A saved credential follows the same rule at creation.
        let saved = api.call(Some(&api.alice), "GET", "/v1/agent/credentials", None).await.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["domain"] == "example.com")
            .unwrap()["id"]
            .clone();
        let run = |url: &str| json!({"target_url": url, "goal": "Open it", "options": {"auth": {"source": "saved", "id": saved}}});
        assert_eq!(api.call(Some(&api.alice), "POST", "/v1/agent/runs", Some(run("https://eu.example.com/"))).await.status, StatusCode::CREATED);
        let refused = api.call(Some(&api.alice), "POST", "/v1/agent/runs", Some(run("https://badexample.com/"))).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(error_fields(&refused), ["options.auth.id"]);
    });
}

#[test]
fn a_secret_steps_text_is_stored_sealed_and_never_answered() {
    rt().block_on(async {
        let secret = "482913-unguessable";
        let body = json!({"target_url": "https://app.example.com/", "goal": "Sign in", "options": {"workflow": {"steps": [
            {"action": "type", "selector": "#user", "text": "ada"},
            {"action": "type", "selector": "#code", "text": secret, "secret": true}
        ]}}});
        let api = api().await;
        let key = Some(api.alice.as_str());
        let created = api.call(key, "POST", "/v1/agent/runs", Some(body.clone())).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
        let id = created.json["run_id"].as_str().unwrap().to_string();
        let one = api.call(key, "GET", format!("/v1/agent/runs/{id}"), None).await;
        let list = api.call(key, "GET", "/v1/agent/runs", None).await;
        assert_eq!(one.json["options"]["workflow"]["steps"][1], json!({"action": "type", "selector": "#code", "secret": true}));
        assert_eq!(one.json["options"]["workflow"]["steps"][0]["text"], "ada", "a plain step shows its text");
        for answer in [&created, &one, &list] {
            let text = String::from_utf8_lossy(&answer.bytes);
            assert!(!text.contains(secret) && !text.contains("sealed"), "an answer shows the secret: {text}");
        }
        // The database file holds no trace of it (the WAL included).
        for entry in std::fs::read_dir(api.dir.path()).unwrap().flatten() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{} holds the secret", entry.path().display());
        }
        // The runner's copy opens back to the text with the server's key.
        let hash = secrets::hash_api_key(&api.alice);
        let owner = api.store.key_by_hash(&hash).await.unwrap().unwrap().id;
        let mut stored = api.store.run(&owner, &id).await.unwrap().unwrap().options;
        demoreel::steps::sealed::open(&mut stored, Some(&Sealer::new(&[9u8; 32]))).unwrap();
        assert_eq!(stored["workflow"]["steps"][1]["text"], secret);

        // Without a key it is refused, naming the step, and nothing is stored.
        let keyless = api_with(ApiConfig::default(), false).await;
        let refused = keyless.call(Some(keyless.alice.as_str()), "POST", "/v1/agent/runs", Some(body)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(error_fields(&refused), ["options.workflow.steps[1].text"]);
        let listed = keyless.call(Some(keyless.alice.as_str()), "GET", "/v1/agent/runs", None).await;
        assert_eq!(listed.json["data"].as_array().unwrap().len(), 0);
    });
}

#[test]
fn keys_take_turns_for_the_browser_and_a_flood_is_capped() {
    rt().block_on(async {
        let api = api_with(ApiConfig { max_queued_per_key: 5, ..ApiConfig::default() }, true).await;
        let alice: Vec<String> = futures::future::join_all((0..5).map(|_| api.create_run(&api.alice))).await;
        let flood = api.call(Some(api.alice.as_str()), "POST", "/v1/agent/runs", Some(json!({"target_url": "https://app.example.com/", "goal": "One more"}))).await;
        assert_error(&flood, StatusCode::TOO_MANY_REQUESTS, "queue_full");
        assert!(flood.headers.contains_key("retry-after"));
        let bob = [api.create_run(&api.bob).await, api.create_run(&api.bob).await];

        // Alice queued five before Bob's two; claims alternate between the keys while both
        // have runs waiting, then Alice's go.
        let mut order = Vec::new();
        for second in 1..=7 {
            let now = format!("2026-01-01T00:00:{second:02}.000Z");
            let run = api.store.claim_next_run(&now, 10, "test", "2099-01-01T00:00:00.000Z").await.unwrap().expect("a run to claim");
            order.push(if alice.contains(&run.id) { "alice" } else { "bob" });
        }
        assert_eq!(order, ["alice", "bob", "alice", "bob", "alice", "alice", "alice"]);
        assert!(api.store.claim_next_run("2026-01-01T00:00:09.000Z", 10, "test", "2099-01-01T00:00:00.000Z").await.unwrap().is_none());
        assert!(bob.iter().all(|id| !alice.contains(id)));
    });
}

#[test]
fn a_key_at_its_active_cap_waits_while_another_key_starts() {
    rt().block_on(async {
        let api = api().await;
        let first = api.create_run(&api.alice).await;
        let _second = api.create_run(&api.alice).await;
        let bobs = api.create_run(&api.bob).await;
        assert_eq!(api.store.claim_next_run("2026-01-01T00:00:01.000Z", 1, "test", "2099-01-01T00:00:00.000Z").await.unwrap().unwrap().id, first);
        assert_eq!(api.store.claim_next_run("2026-01-01T00:00:02.000Z", 1, "test", "2099-01-01T00:00:00.000Z").await.unwrap().unwrap().id, bobs);
        assert!(api.store.claim_next_run("2026-01-01T00:00:03.000Z", 1, "test", "2099-01-01T00:00:00.000Z").await.unwrap().is_none(), "alice has one at work: her second waits");
    });
}

#[test]
fn templates_are_listed_with_their_schemas_and_previewed_with_fields_named() {
    rt().block_on(async {
        let api = api().await;
        assert_error(&api.call(None, "GET", "/v1/templates", None).await, StatusCode::UNAUTHORIZED, "unauthorized");
        let listed = api.call(Some(&api.alice), "GET", "/v1/templates", None).await;
        assert_eq!(listed.status, StatusCode::OK);
        let data = listed.json["data"].as_array().unwrap();
        assert_eq!(data.len(), 6, "{:?}", listed.json);
        let simple = data.iter().find(|t| t["name"] == "simple").unwrap();
        assert_eq!(simple["reference"], "simple@1");
        assert_eq!(simple["content"]["required"], json!(["text"]));
        assert!(simple["style"]["properties"]["textColor"].is_object());

        let png = api
            .call(Some(&api.alice), "POST", "/v1/templates/preview", Some(json!({"template": "simple", "content": {"text": "Hello"}, "size": {"width": 640, "height": 360}, "at_ms": 900})))
            .await;
        assert_eq!(png.status, StatusCode::OK, "{:?}", png.json);
        assert_eq!(png.headers["content-type"], "image/png");
        let picture = image::load_from_memory(&png.bytes).unwrap();
        assert_eq!((picture.width(), picture.height()), (640, 360));

        let bad = api
            .call(Some(&api.alice), "POST", "/v1/templates/preview", Some(json!({"template": "simple", "content": {"text": ""}, "style": {"textColor": "white"}, "size": {"width": 641, "height": 360}, "format": "webm"})))
            .await;
        assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_request");
        let mut fields = error_fields(&bad);
        fields.sort();
        assert_eq!(fields, ["content.text", "format", "size", "style.textColor"]);
        let unknown = api.call(Some(&api.alice), "POST", "/v1/templates/preview", Some(json!({"template": "wobble"}))).await;
        assert_eq!(error_fields(&unknown), ["template"]);
        // A logo on a closed target is refused before anything is fetched.
        let inward = api
            .call(Some(&api.alice), "POST", "/v1/templates/preview", Some(json!({"template": "simple-logo", "content": {"logoUrl": "http://169.254.169.254/logo.png"}})))
            .await;
        assert_eq!(error_fields(&inward), ["content.logoUrl"]);

        // A run's intro is checked against the same schema.
        let run = api
            .call(Some(&api.alice), "POST", "/v1/agent/runs", Some(json!({"target_url": "https://app.example.com/", "goal": "Open it",
                "options": {"intro": {"template": "simple-line-by-line-slide-with-logo", "content": {"text": "Hi", "logoUrl": "http://127.0.0.1/logo.png"}, "style": {"textColor": "#12345"}}}})))
            .await;
        let mut fields = error_fields(&run);
        fields.sort();
        assert_eq!(fields, ["options.intro.content.logoUrl", "options.intro.style.textColor"], "{:?}", run.json);
    });
}

#[test]
fn uploaded_templates_are_versioned_owned_previewed_and_deleted_unless_a_run_needs_them() {
    use crate::templates::upload_of_simple;
    rt().block_on(async {
        let api = api().await;
        let upload = |body: Value| api.call(Some(&api.alice), "POST", "/v1/templates", Some(body));
        let first = upload(upload_of_simple("launch-card", 2000, "")).await;
        assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json);
        assert_eq!((&first.json["reference"], &first.json["origin"], &first.json["versions"]), (&json!("launch-card@1"), &json!("own"), &json!([1])));
        let second = upload(upload_of_simple("launch-card", 2400, "<!-- second -->")).await;
        assert_eq!((&second.json["reference"], &second.json["versions"], &second.json["duration_ms"]), (&json!("launch-card@2"), &json!([1, 2]), &json!(2400)));

        // Listed for its owner only; previewed by name (the latest) and by version.
        let listed = api.call(Some(&api.alice), "GET", "/v1/templates", None).await;
        let own: Vec<&Value> = listed.json["data"].as_array().unwrap().iter().filter(|t| t["origin"] == "own").collect();
        assert_eq!(own.len(), 1, "{:?}", listed.json);
        assert_eq!((&own[0]["reference"], &own[0]["versions"]), (&json!("launch-card@2"), &json!([1, 2])));
        let bobs = api.call(Some(&api.bob), "GET", "/v1/templates", None).await;
        assert_eq!(bobs.json["data"].as_array().unwrap().len(), 6, "{:?}", bobs.json);
        let size = json!({"width": 320, "height": 180});
        let preview = api.call(Some(&api.alice), "POST", "/v1/templates/preview", Some(json!({"template": "launch-card", "version": 1, "size": size, "at_ms": 1200}))).await;
        assert_eq!(preview.status, StatusCode::OK, "{:?}", preview.json);
        assert_eq!(preview.headers["content-type"], "image/png");
        let not_bobs = api.call(Some(&api.bob), "POST", "/v1/templates/preview", Some(json!({"template": "launch-card", "size": size}))).await;
        assert_eq!(error_fields(&not_bobs), ["template"]);
        let gone_version = api.call(Some(&api.alice), "POST", "/v1/templates/preview", Some(json!({"template": "launch-card", "version": 9}))).await;
        assert_eq!(error_fields(&gone_version), ["template"]);

        // Bad uploads name the file, and the field inside it.
        let mut bad_manifest = upload_of_simple("launch-card", 2000, "");
        let manifest = bad_manifest["files"]["manifest.json"].as_str().unwrap().replace("\"transition_ms\":500", "\"transition_ms\":\"soon\"");
        bad_manifest["files"]["manifest.json"] = json!(manifest);
        let refused = upload(bad_manifest).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(error_fields(&refused), ["files.manifest.json"]);
        assert!(refused.json["details"][0]["message"].as_str().unwrap().starts_with("transition_ms"), "{:?}", refused.json);
        let refused = upload(upload_of_simple("launch-card", 2000, "<text>{{content.subtitle}}</text>")).await;
        assert_eq!(error_fields(&refused), ["files.scene.svg"], "{:?}", refused.json);
        let refused = upload(upload_of_simple("simple", 2000, "")).await;
        assert_eq!(error_fields(&refused), ["files.manifest.json"]);
        assert!(refused.json["details"][0]["message"].as_str().unwrap().contains("built-in"), "{:?}", refused.json);
        let mut stray = upload_of_simple("launch-card", 2000, "");
        stray["files"]["notes.txt"] = json!("hello");
        stray["files"]["assets/logo.png"] = json!({"base64": "aGVsbG8="});
        let refused = upload(stray).await;
        assert!(["files.notes.txt", "files.assets/logo.png"].contains(&error_fields(&refused)[0].as_str()), "{:?}", refused.json);
        let mut undecodable = upload_of_simple("launch-card", 2000, "");
        undecodable["files"]["assets/logo.png"] = json!({"base64": "not base64!"});
        assert_eq!(error_fields(&upload(undecodable).await), ["files.assets/logo.png"]);
        assert_eq!(error_fields(&upload(json!({"files": {"manifest.json": "{}"}})).await), ["files.manifest.json"]);
        assert_eq!(error_fields(&upload(json!({"template": "x"})).await), ["template"]);

        // A run that has not ended pins the version it will draw (the latest, when it
        // names none); the rest can go, and numbers are never given twice.
        let run = api
            .call(Some(&api.alice), "POST", "/v1/agent/runs", Some(json!({"target_url": "https://app.example.com/", "goal": "Open it", "options": {"intro": {"template": "launch-card", "content": {"text": "Hi"}}}})))
            .await;
        assert_eq!(run.status, StatusCode::CREATED, "{:?}", run.json);
        let run_id = run.json["run_id"].as_str().unwrap().to_string();
        let unknown_for_bob = api
            .call(Some(&api.bob), "POST", "/v1/agent/runs", Some(json!({"target_url": "https://app.example.com/", "goal": "Open it", "options": {"intro": {"template": "launch-card"}}})))
            .await;
        assert_eq!(error_fields(&unknown_for_bob), ["options.intro.template"]);
        assert_error(&api.call(Some(&api.alice), "DELETE", "/v1/templates/launch-card?version=2", None).await, StatusCode::CONFLICT, "conflict");
        let deleted = api.call(Some(&api.alice), "DELETE", "/v1/templates/launch-card", None).await;
        assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.json);
        assert_eq!((&deleted.json["deleted"], &deleted.json["kept"]), (&json!([1]), &json!([{"version": 2, "pinned_by": [run_id]}])));
        api.call(Some(&api.alice), "POST", &format!("/v1/agent/runs/{run_id}/cancel"), None).await;
        let deleted = api.call(Some(&api.alice), "DELETE", "/v1/templates/launch-card", None).await;
        assert_eq!(deleted.json["deleted"], json!([2]), "{:?}", deleted.json);
        assert_error(&api.call(Some(&api.alice), "DELETE", "/v1/templates/launch-card", None).await, StatusCode::NOT_FOUND, "not_found");
        assert_error(&api.call(Some(&api.alice), "DELETE", "/v1/templates/simple", None).await, StatusCode::CONFLICT, "conflict");
        let third = upload(upload_of_simple("launch-card", 2000, "")).await;
        assert_eq!((&third.json["reference"], &third.json["versions"]), (&json!("launch-card@3"), &json!([3])));
    });
}
