//! Shared helpers: temporary directories, cached synthetic recordings, image comparison.

use demoreel::fixture::{SynthOptions, synth};
use demoreel::geometry::Size;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A fresh directory under the target dir's tmp, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("demoreel-test-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    /// Removed, unless `DEMOREEL_KEEP_TEST_DIRS` is set (to look at a failed test's
    /// server logs, recordings and videos).
    fn drop(&mut self) {
        if std::env::var_os("DEMOREEL_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A synthetic recording of `seconds` at `size`, written once per test process.
pub fn synthetic(seconds: u32, size: Size) -> PathBuf {
    static MADE: OnceLock<Mutex<Vec<((u32, Size), PathBuf)>>> = OnceLock::new();
    static KEEP: OnceLock<Mutex<Vec<TempDir>>> = OnceLock::new();
    let made = MADE.get_or_init(|| Mutex::new(Vec::new()));
    let mut made = made.lock().unwrap();
    if let Some((_, path)) = made.iter().find(|(k, _)| *k == (seconds, size)) {
        return path.clone();
    }
    let dir = TempDir::new(&format!("synth-{seconds}s-{size}"));
    let path = dir.path().join("recording");
    synth(&path, &SynthOptions { seconds: seconds as f64, size }).expect("synthetic recording");
    KEEP.get_or_init(|| Mutex::new(Vec::new())).lock().unwrap().push(dir);
    made.push(((seconds, size), path.clone()));
    path
}

/// Where failing image comparisons leave expected / actual / diff PNGs.
pub fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/output");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn save_png(path: &Path, rgba: &[u8], size: Size) {
    image::save_buffer(path, rgba, size.width, size.height, image::ExtendedColorType::Rgba8).unwrap();
}

/// Compares an RGBA image with a golden PNG in `tests/golden`. `DEMOREEL_BLESS=1` rewrites
/// the golden instead. On mismatch, writes NAME.expected.png, NAME.actual.png and
/// NAME.diff.png to tests/output and panics with the figures.
pub fn assert_golden(name: &str, rgba: &[u8], size: Size) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.png"));
    if std::env::var_os("DEMOREEL_BLESS").is_some() {
        save_png(&golden, rgba, size);
        return;
    }
    let expected = image::open(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (run with DEMOREEL_BLESS=1 to create it)", golden.display()))
        .to_rgba8();
    assert_eq!(expected.dimensions(), (size.width, size.height), "{name}: size differs from the golden");
    let mut diff = vec![0u8; rgba.len()];
    let mut differing = 0usize;
    let mut total = 0u64;
    for (i, (a, e)) in rgba.chunks_exact(4).zip(expected.as_raw().chunks_exact(4)).enumerate() {
        let d = (0..3).map(|c| (a[c] as i32 - e[c] as i32).unsigned_abs()).max().unwrap();
        total += d as u64;
        if d > 8 {
            differing += 1;
        }
        let v = (d * 8).min(255) as u8;
        diff[i * 4..i * 4 + 4].copy_from_slice(&[v, v, v, 255]);
    }
    let pixels = (size.width * size.height) as usize;
    let mean = total as f64 / pixels as f64;
    if differing as f64 > pixels as f64 * 0.002 || mean > 0.5 {
        let out = output_dir();
        save_png(&out.join(format!("{name}.expected.png")), expected.as_raw(), size);
        save_png(&out.join(format!("{name}.actual.png")), rgba, size);
        save_png(&out.join(format!("{name}.diff.png")), &diff, size);
        panic!(
            "{name}: {differing} of {pixels} pixels differ by more than 8, mean difference {mean:.3}; see {}",
            out.display()
        );
    }
}

/// Tests that encode video share the machine; tests that time a live browser need it to
/// themselves (on 2 cores a parallel encode makes the page itself skip frames).
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

pub fn shared_machine() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn whole_machine() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A loopback port for a test's web server, taken before its routes are built (some
/// pages must name their own address): the listener and its port.
pub async fn loopback_port() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Serves `routes` on `listener` until the test's runtime ends.
pub fn serve(listener: tokio::net::TcpListener, routes: axum::Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() })
}

/// Serves `routes` on a fresh loopback port: its base URL (`http://127.0.0.1:PORT`) and
/// the server's task.
pub async fn serve_locally(routes: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let (listener, port) = loopback_port().await;
    (format!("http://127.0.0.1:{port}"), serve(listener, routes))
}
