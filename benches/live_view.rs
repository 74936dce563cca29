//! `cargo bench --bench live_view`: a demonstration's live channel on loopback, as the
//! share page sees it. A real `demoreel serve` records a real Chromium on a test page
//! served here; this program is the viewer, on the same WebSocket the share page uses.
//! 1. Input to screen: a key press sent on the channel, to the first JPEG frame that
//!    shows it (the page turns its whole body black or white on each key), 60 presses
//!    300 ms apart: median and p95 (goal: p95 ≤ 150 ms). The share page adds its own
//!    JPEG decode and draw (a few ms) on top.
//! 2. Frames per second delivered while the page animates a full-width stripe every
//!    animation frame, over 10 s.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const PRESSES: usize = 60;

/// Each key press flips the body between black and white; `#animate` runs a stripe.
const PAGE: &str = "<!doctype html><meta charset=utf-8><title>latency</title>\
<style>html,body{margin:0;height:100%;background:#fff}#bar{position:fixed;top:0;bottom:0;width:80px;background:#e03131;display:none}</style>\
<div id=bar></div><script>let dark=false;addEventListener('keydown',()=>{dark=!dark;document.body.style.background=dark?'#000':'#fff';});\
if(location.hash==='#animate'){const b=document.getElementById('bar');b.style.display='block';\
const step=(t)=>{b.style.left=((t/4)%1280)+'px';requestAnimationFrame(step);};requestAnimationFrame(step);}</script>";

async fn serve_page() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PAGE}", PAGE.len());
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The mean brightness of a JPEG frame's centre row (0 black … 255 white).
fn brightness(jpeg: &[u8]) -> f64 {
    let image = image::load_from_memory(jpeg).unwrap().to_luma8();
    let y = image.height() / 2;
    (0..image.width()).step_by(8).map(|x| image.get_pixel(x, y).0[0] as f64).sum::<f64>() / (image.width() / 8) as f64
}

struct Server {
    child: std::process::Child,
    url: String,
    key: String,
}

fn start_server(dir: &std::path::Path) -> Server {
    let binary = env!("CARGO_BIN_EXE_demoreel");
    let out = Command::new(binary).args(["keys", "create", "--label", "bench", "--data-dir"]).arg(dir).output().unwrap();
    let key = serde_json::from_slice::<Value>(&out.stdout).unwrap()["key"].as_str().unwrap().to_string();
    let mut child = Command::new(binary)
        .args(["serve", "--addr", "127.0.0.1:0", "--allow-targets", "127.0.0.1/32", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("demoreel serving on ").expect("the server started").to_string();
    Server { child, url, key }
}

/// A demonstration of `start_url`, and its live channel once the browser records.
async fn open_channel(server: &Server, start_url: &str) -> (String, tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>) {
    let created: Value = reqwest::Client::new()
        .post(format!("{}/v1/demonstrations", server.url))
        .header("x-api-key", &server.key)
        .json(&json!({"task_name": "bench", "task_description": "latency", "session_config": {"browser": {"start_url": start_url}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["session_id"].as_str().expect("created").to_string();
    let token = created["share_token"].as_str().unwrap();
    let live = format!("{}/demonstrate/live?token={token}", server.url.replacen("http://", "ws://", 1));
    let started = Instant::now();
    loop {
        let (mut socket, _) = tokio_tungstenite::connect_async(live.as_str()).await.unwrap();
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = &message {
                let value: Value = serde_json::from_str(text).unwrap();
                if value["type"] == json!("state") && value["state"]["state"] == json!("recording") {
                    return (id, socket);
                }
            }
            if matches!(message, Message::Binary(_)) {
                return (id, socket);
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the browser did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn key_press(action: &str) -> Message {
    Message::Text(json!({"type": "key", "action": action, "key": "a", "code": "KeyA", "key_code": 65, "text": "a"}).to_string().into())
}

async fn latency(server: &Server, page: &str) -> Vec<f64> {
    let (id, mut socket) = open_channel(server, page).await;
    let mut dark = false;
    let mut samples = Vec::new();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..PRESSES {
        // Drop what arrived before the press.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(1), socket.next()).await {}
        let sent = Instant::now();
        socket.send(key_press("down")).await.unwrap();
        socket.send(key_press("up")).await.unwrap();
        dark = !dark;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame within 5 s").unwrap().unwrap();
            if let Message::Binary(jpeg) = message {
                let shows_press = if dark { brightness(&jpeg) < 64.0 } else { brightness(&jpeg) > 192.0 };
                if shows_press {
                    samples.push(sent.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop(server, &id).await;
    samples
}

async fn frames_per_second(server: &Server, page: &str) -> f64 {
    let (id, mut socket) = open_channel(server, page).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut frames = 0;
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(Ok(Message::Binary(_)))) = tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
            frames += 1;
        }
    }
    stop(server, &id).await;
    frames as f64 / started.elapsed().as_secs_f64()
}

async fn stop(server: &Server, id: &str) {
    reqwest::Client::new().post(format!("{}/v1/demonstrations/{id}/stop", server.url)).header("x-api-key", &server.key).send().await.unwrap();
    // The slot comes back once the browser closed.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

fn main() {
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| "target".into());
    let dir = target.join("bench-live-view");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let page = serve_page().await;
        let mut server = start_server(&dir);
        let mut samples = latency(&server, &format!("http://{page}/")).await;
        samples.sort_by(f64::total_cmp);
        println!(
            "input to screen ({} key presses): median {:.0} ms, p95 {:.0} ms, max {:.0} ms (goal: p95 <= 150 ms)",
            samples.len(),
            percentile(&samples, 0.5),
            percentile(&samples, 0.95),
            samples.last().unwrap()
        );
        let fps = frames_per_second(&server, &format!("http://{page}/#animate")).await;
        println!("frames delivered to the viewer while the page animates: {fps:.1} per second");
        let _ = server.child.kill();
        let _ = server.child.wait();
    });
}
