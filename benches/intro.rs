//! `cargo bench --bench intro`: what intro cards cost.
//! 1. Preview of one 1080p PNG moment through the API (the router in-process, warm): 50
//!    calls, median and p95 (goal: p95 ≤ 100 ms).
//! 2. demo.mp4 of a synthetic 1080p recording with and without the `simple` card,
//!    interleaved runs: the wall time the card adds, against its own length (goal: at
//!    most a quarter of it).
//! 3. Where the card's time goes, per 1080p slot: drawing its pictures, and converting
//!    what changed to I420 (the rest of the figure in 2 is the encoder).
//! 4. The encoder's share: the card's pictures, drawn beforehand, pushed through a video
//!    sink alone (conversion of what changed, and x264) as `IntroClip::push` pushes them,
//!    beside variants that take its parts apart (see `encoder_share`).

use demoreel::fixture::{SynthOptions, synth};
use demoreel::geometry::Size;
use demoreel::recording::Recording;
use demoreel::render::{self, Outputs};
use std::path::PathBuf;
use std::time::Instant;

const PREVIEW_CALLS: usize = 50;
const RENDER_RUNS: usize = 5;
const SECONDS: f64 = 12.0;

fn work_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench-intro")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let dir = work_dir();
    std::fs::create_dir_all(&dir).unwrap();
    preview_through_the_api(&dir);
    intro_in_a_render(&dir);
    card_costs();
    encoder_share(&dir);
}

/// Pushes the `simple` card's pictures at 1920×1080, made beforehand with the hand-over
/// into a stand-in page, through a `VideoSink` exactly as `IntroClip::push` decides
/// (changed area, whole pictures in the hand-over, repeats once settled), beside three
/// variants that take its parts apart: the first picture alone (starting and finishing an
/// encode), the first picture then repeats for every slot (what x264 costs a slot in which
/// nothing changes), and the card with its hand-over's slots repeated instead of blended.
/// Five interleaved runs, medians.
fn encoder_share(dir: &std::path::Path) {
    use demoreel::geometry::PixelRect;
    use demoreel::render::intro::IntroClip;
    let size = Size { width: 1920, height: 1080 };
    let template = demoreel::templates::find_builtin("simple").unwrap();
    let values = template.check_values(Some(&serde_json::json!({"text": "Meet Orbit\nProjects your whole team can see"})), None, "intro").unwrap();
    let card = template.card(&values, &Default::default(), None, size).unwrap();
    let transition_ms = template.manifest.transition_ms as f64;
    let clip = IntroClip::new(&card, transition_ms, 30);
    let after = demoreel::templates::scene::stand_in_page(size).unwrap();
    let full = PixelRect { x: 0, y: 0, width: size.width, height: size.height };
    // (picture, what changed since the last one pushed; None: a repeat)
    let mut pushes: Vec<(Vec<u8>, Option<PixelRect>)> = Vec::new();
    let (mut before, mut blended_before, mut settled_shown) = (None, true, false);
    for index in 0..clip.slots() {
        let t = index as f64 * 1000.0 / 30.0;
        let blended = t >= card.duration_ms() - transition_ms;
        let cover = card.cover(t);
        let changed = if blended || blended_before { Some(full) } else { [before, cover].into_iter().flatten().reduce(PixelRect::union) };
        if (!blended && t >= card.settled_ms() && settled_shown) || changed.is_none() {
            pushes.push((Vec::new(), None));
            continue;
        }
        let mut picture = vec![0u8; after.len()];
        clip.picture_at(t, &after, &mut picture);
        settled_shown = !blended && t >= card.settled_ms();
        (before, blended_before) = (cover, blended);
        pushes.push((picture, changed));
    }
    let repeat = || (Vec::new(), None);
    let first_alone = vec![pushes[0].clone()];
    let first_then_repeats: Vec<_> = (0..pushes.len()).map(|i| if i == 0 { pushes[0].clone() } else { repeat() }).collect();
    let handover_repeated: Vec<_> = pushes.iter().enumerate().map(|(i, push)| if i > 0 && push.1 == Some(full) { repeat() } else { push.clone() }).collect();
    let variants = [("as pushed", &pushes), ("first picture alone", &first_alone), ("first picture, then repeats", &first_then_repeats), ("hand-over slots repeated", &handover_repeated)];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..5 {
        for (index, (_, slots)) in variants.iter().enumerate() {
            times[index].push(encode_alone(&dir.join("card-alone.mp4"), size, slots));
        }
    }
    let medians: Vec<f64> = times.into_iter().map(|mut t| {
        t.sort_by(f64::total_cmp);
        percentile(&t, 0.5)
    }).collect();
    let whole = pushes.iter().filter(|(_, c)| *c == Some(full)).count();
    let repeats = pushes.iter().filter(|(_, c)| c.is_none()).count();
    println!("the `simple` card's {} slots at 1920x1080 through the encoder alone ({whole} whole, {repeats} repeats, the rest a changed area), 5 interleaved runs, medians:", pushes.len());
    for ((name, slots), median) in variants.iter().zip(&medians) {
        println!("  {name}: {median:.2} s ({} slots)", slots.len());
    }
    let card_ms = card.duration_ms() / 1000.0;
    println!(
        "  a slot where nothing changes costs x264 {:.1} ms; the card's slots alone {:.0}% of its length, the hand-over's blends {:.2} s of that",
        (medians[2] - medians[1]) * 1000.0 / (pushes.len() - 1) as f64,
        medians[0] / card_ms * 100.0,
        medians[0] - medians[3]
    );
}

/// Seconds to encode `pushes` (a picture and its changed area, or a repeat) into `target`.
fn encode_alone(target: &std::path::Path, size: Size, pushes: &[(Vec<u8>, Option<demoreel::geometry::PixelRect>)]) -> f64 {
    let started = Instant::now();
    let mut sink = demoreel::encode::VideoSink::start(target, size, 30).unwrap();
    for (index, (picture, changed)) in pushes.iter().enumerate() {
        let (pts, next) = (index as u64 * 1_000_000_000 / 30, (index as u64 + 1) * 1_000_000_000 / 30);
        match changed {
            Some(area) => sink.picture(picture, *area, pts, next - pts).unwrap(),
            None => sink.repeat(pts, next - pts).unwrap(),
        }
    }
    sink.finish().unwrap();
    started.elapsed().as_secs_f64()
}

/// Draws the `simple` card's 84 slots at 1920×1080 as `IntroClip::push` does, timing
/// the drawing and the conversion of each slot's changed part to I420 apart.
fn card_costs() {
    use demoreel::geometry::PixelRect;
    let size = Size { width: 1920, height: 1080 };
    let template = demoreel::templates::find_builtin("simple").unwrap();
    let values = template.check_values(Some(&serde_json::json!({"text": "Meet Orbit\nProjects your whole team can see"})), None, "intro").unwrap();
    let card = template.card(&values, &Default::default(), None, size).unwrap();
    let full = PixelRect { x: 0, y: 0, width: size.width, height: size.height };
    let mut picture = vec![0u8; size.width as usize * size.height as usize * 4];
    let mut planes = demoreel::encode::I420Frame::new(size);
    let slots = (card.duration_ms() * 30.0 / 1000.0).round() as usize;
    let (mut draw_ms, mut convert_ms, mut converted_px) = (0.0, 0.0, 0u64);
    let mut before: Option<PixelRect> = None;
    for index in 0..slots {
        let t = index as f64 * 1000.0 / 30.0;
        let cover = card.cover(t);
        let changed = if index == 0 { Some(full) } else { [before, cover].into_iter().flatten().reduce(PixelRect::union) };
        before = cover;
        let started = Instant::now();
        match changed {
            Some(area) if area != full => card.redraw(t, &mut picture, area),
            Some(_) => card.draw(t, &mut picture),
            None => {}
        }
        draw_ms += started.elapsed().as_secs_f64() * 1000.0;
        if let Some(changed) = changed {
            let started = Instant::now();
            planes.update(&picture, changed);
            convert_ms += started.elapsed().as_secs_f64() * 1000.0;
            converted_px += changed.width as u64 * changed.height as u64;
        }
    }
    println!(
        "the `simple` card at 1920x1080, {slots} slots without the hand-over blend: drawing {:.1} ms a slot, converting {:.1} ms a slot ({:.0}% of the pixels)",
        draw_ms / slots as f64,
        convert_ms / slots as f64,
        converted_px as f64 / (slots as f64 * size.width as f64 * size.height as f64) * 100.0
    );
}

fn preview_through_the_api(dir: &std::path::Path) {
    use demoreel::api::{self, ApiConfig, AppState, Services};
    use demoreel::db::KeyRepo;
    use tower::ServiceExt;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db_dir = dir.join("api");
        let _ = std::fs::remove_dir_all(&db_dir);
        std::fs::create_dir_all(&db_dir).unwrap();
        let store = std::sync::Arc::new(demoreel::db::SqlDatabase::open_sqlite(&db_dir.join("demoreel.db")).await.unwrap());
        let key = demoreel::secrets::new_api_key();
        store.create_key("bench", &demoreel::secrets::hash_api_key(&key), None).await.unwrap();
        let router = api::router(AppState::new(Services {
            db: store.clone(),
            artifacts: std::sync::Arc::new(demoreel::store::LocalStore::new(&db_dir.join("artifacts"))),
            signer: demoreel::secrets::UrlSigner::load_or_create(&db_dir.join("signing.key")).unwrap(),
            sealer: None,
            signals: std::sync::Arc::new(demoreel::runs::signals::InProcess::default()),
            demonstrations: None,
            config: ApiConfig { rate_per_second: 1e6, rate_burst: 1e6, ..ApiConfig::default() },
        }));
        let body = serde_json::json!({"template": "simple", "content": {"text": "Meet Orbit\nProjects your whole team can see"}, "size": {"width": 1920, "height": 1080}, "at_ms": 700}).to_string();
        let mut times = Vec::new();
        for call in 0..PREVIEW_CALLS + 3 {
            let request = axum::http::Request::post("/v1/templates/preview").header("x-api-key", &key).header("content-type", "application/json").body(axum::body::Body::from(body.clone())).unwrap();
            let started = Instant::now();
            let response = router.clone().oneshot(request).await.unwrap();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
            // The first calls warm the caches (fonts, templates): not counted.
            if call >= 3 {
                times.push(ms);
            }
        }
        times.sort_by(f64::total_cmp);
        println!("preview, 1920x1080 PNG through the API, {PREVIEW_CALLS} warm calls: median {:.1} ms, p95 {:.1} ms, max {:.1} ms", percentile(&times, 0.5), percentile(&times, 0.95), times[times.len() - 1]);
    });
}

fn intro_in_a_render(dir: &std::path::Path) {
    let recording_dir = dir.join(format!("recording-{SECONDS}s-1080p"));
    if !recording_dir.join("meta.json").exists() {
        let _ = std::fs::remove_dir_all(&recording_dir);
        synth(&recording_dir, &SynthOptions { seconds: SECONDS, size: Size { width: 1920, height: 1080 } }).unwrap();
    }
    let recording = Recording::open(&recording_dir).unwrap();
    let options = demoreel::options::RenderOptions::default();
    let template = demoreel::templates::find_builtin("simple").unwrap();
    let values = template.check_values(Some(&serde_json::json!({"text": "Meet Orbit\nProjects your whole team can see"})), None, "intro").unwrap();
    let intro = demoreel::render::intro::IntroRequest { template, values, images: Default::default() };
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    let mut card_seconds = 0.0;
    for _ in 0..RENDER_RUNS {
        for with_intro in [false, true] {
            let out = dir.join("out");
            let started = Instant::now();
            let summary = render::render_with_intro(&recording, &options, with_intro.then_some(&intro), &out, Outputs::DEMO, &mut |_| render::Flow::Continue).unwrap();
            let wall = started.elapsed().as_secs_f64();
            if let Some(render::intro::IntroOutcome::Added { duration_ms, .. }) = summary.intro {
                card_seconds = duration_ms / 1000.0;
            }
            if with_intro { with.push(wall) } else { plain.push(wall) }
        }
    }
    plain.sort_by(f64::total_cmp);
    with.sort_by(f64::total_cmp);
    let (p, w) = (percentile(&plain, 0.5), percentile(&with, 0.5));
    println!(
        "demo.mp4 1920x1080 of a {SECONDS} s recording, {RENDER_RUNS} interleaved runs: without intro {p:.2} s, with the {card_seconds:.1} s `simple` card {w:.2} s: +{:.2} s = {:.0}% of the card's length (goal ≤ 25%)",
        w - p,
        (w - p) / card_seconds * 100.0
    );
}
