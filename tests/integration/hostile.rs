//! Pages that fight the recorder (`tests/pages/hostile/`): an alert loop, a window loop,
//! a page that eats memory, one that never yields its main thread, one that starts
//! downloads, one that navigates forever. Each run ends within its time cap, leaves no
//! browser process and no download behind, and the API answers throughout.

use crate::service::{Client, World, browsers_of, terminal};
use serde_json::json;
use std::time::{Duration, Instant};

const PAGES: [&str; 6] = ["alerts", "windows", "memory", "busy", "downloads", "navigation"];
/// The runs' cap (`--max-run-secs`), and the slack a run gets past it to be settled.
const CAP_SECS: u64 = 20;
const SETTLE_SECS: u64 = 15;

/// Serves the hostile pages, and an attachment for the download page to fetch.
async fn serve_pages() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pages/hostile");
    let pages = axum::Router::new()
        .route(
            "/{name}",
            axum::routing::get(move |axum::extract::Path(name): axum::extract::Path<String>| {
                let dir = dir.clone();
                async move {
                    let name = name.trim_end_matches(".html");
                    match PAGES.contains(&name).then(|| std::fs::read_to_string(dir.join(format!("{name}.html")))) {
                        Some(Ok(page)) => axum::response::IntoResponse::into_response(axum::response::Html(page)),
                        _ => axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_FOUND),
                    }
                }
            }),
        )
        .route(
            "/attachment",
            axum::routing::get(|| async { ([("content-disposition", "attachment; filename=\"demoreel-hostile-attachment.bin\"")], "hostile") }),
        );
    crate::common::serve_locally(pages).await.0
}

/// Files named like the downloads the pages start, anywhere a browser would put them.
fn downloads_left() -> Vec<std::path::PathBuf> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    [home.join("Downloads"), home.clone(), std::env::temp_dir()]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("demoreel-hostile-")))
        .collect()
}

#[test]
fn hostile_pages_end_within_the_cap_and_leave_nothing_behind() {
    let _machine = crate::common::whole_machine();
    let cap = CAP_SECS.to_string();
    let world = World::new("hostile", &["--max-run-secs", &cap]);
    world.runtime.block_on(async {
        let pages = serve_pages().await;
        let client = Client::new(&world.server, &world.key);
        let options = json!({"workflow": {"steps": [{"action": "pause", "ms": 3000}]}, "video": {"size": {"width": 960, "height": 540}}});
        let mut runs = Vec::new();
        for page in PAGES {
            runs.push((page, client.create(json!({"target_url": format!("{pages}/{page}.html"), "goal": "Survive", "options": options})).await));
        }
        // One recording at a time: the last run may wait for all the others.
        let limit = Duration::from_secs((CAP_SECS + SETTLE_SECS) * PAGES.len() as u64);
        let started = Instant::now();
        let mut slowest_answer = Duration::ZERO;
        let mut ended = Vec::new();
        while ended.len() < runs.len() {
            assert!(started.elapsed() < limit, "runs still going after {limit:?}: ended {ended:?}");
            let asked = Instant::now();
            let health = reqwest::get(format!("{}/healthz", world.server.url)).await.unwrap();
            assert_eq!(health.status(), 200);
            slowest_answer = slowest_answer.max(asked.elapsed());
            for (page, id) in &runs {
                if ended.iter().any(|(p, _)| p == page) {
                    continue;
                }
                let run = client.run(id).await;
                if terminal(&run) {
                    let took = |field: &str| run[field].as_str().and_then(|t| humantime::parse_rfc3339(t).ok());
                    let worked = match (took("started_at"), took("finished_at")) {
                        (Some(start), Some(end)) => end.duration_since(start).unwrap_or_default(),
                        _ => Duration::ZERO,
                    };
                    eprintln!("{page}: {} {} after {:.1} s", run["status"], run["error"]["code"], worked.as_secs_f64());
                    assert!(worked < Duration::from_secs(CAP_SECS + 5), "{page} worked {worked:?}, past the {CAP_SECS} s cap: {run}");
                    assert_ne!(run["error"]["code"], "internal", "{page}: {run}");
                    ended.push((*page, run["status"].as_str().unwrap_or("").to_string()));
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        eprintln!("slowest /healthz answer while the runs went on: {slowest_answer:?}");
        assert!(slowest_answer < Duration::from_secs(1), "the API stalled for {slowest_answer:?}");
        for _ in 0..50 {
            if browsers_of(world.server.pid()) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(browsers_of(world.server.pid()), 0, "a browser outlived its run");
        assert!(downloads_left().is_empty(), "a page left downloads: {:?}", downloads_left());
        let succeeded = ended.iter().filter(|(_, status)| status == "succeeded").count();
        eprintln!("{succeeded} of {} hostile runs succeeded: {ended:?}", PAGES.len());
    });
}
