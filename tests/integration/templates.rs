//! Intro templates: every built-in card against its goldens, each template's motion read
//! back from its pixels, the card inside a real demo.mp4 (length, hand-over, OCR of its
//! text), image fetching under its limits and the target policy, and the templates API.

use crate::common::{TempDir, assert_golden, save_png, synthetic};
use demoreel::egress::TargetPolicy;
use demoreel::geometry::Size;
use demoreel::render::intro::{IntroClip, IntroOutcome, IntroRequest};
use demoreel::templates::{self, Image, ImageFormat, Template};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn template(name: &str) -> Arc<Template> {
    templates::find_builtin(name).unwrap_or_else(|| panic!("built-in template {name}"))
}

fn stand_in_logo() -> Image {
    Image { bytes: Arc::new(templates::STAND_IN_LOGO.as_bytes().to_vec()), kind: ImageFormat::Svg }
}

/// The template with `content` (its example when Null) and `style`, the stand-in logo.
fn request(name: &str, content: Value, style: Value) -> IntroRequest {
    let t = template(name);
    let content = if content.is_null() { Value::Object(t.example().content) } else { content };
    let values = t.check_values(Some(&content), Some(&style), "intro").unwrap_or_else(|e| panic!("{e:?}"));
    let images = t.image_fields.iter().map(|f| (f.clone(), stand_in_logo())).collect();
    IntroRequest { template: t, values, images }
}

/// The card's pictures at `moments` over `after` (the picture it hands over to).
fn pictures(request: &IntroRequest, size: Size, after: &[u8], moments: &[f64]) -> Vec<Vec<u8>> {
    let card = request.make_card(Some(after), size).unwrap();
    let clip = IntroClip::new(&card, request.template.manifest.transition_ms as f64, 30);
    moments
        .iter()
        .map(|&t| {
            let mut out = vec![0u8; after.len()];
            clip.picture_at(t, after, &mut out);
            out
        })
        .collect()
}

fn page(size: Size) -> Vec<u8> {
    templates::scene::stand_in_page(size).unwrap()
}

const BUILTIN: [&str; 6] = [
    "simple",
    "simple-spring-scale-in",
    "simple-line-by-line-slide",
    "simple-line-by-line-slide-with-logo",
    "simple-line-by-line-slide-with-logo-and-backdrop",
    "simple-logo",
];

#[test]
fn the_six_templates_of_the_spec_are_built_in_and_each_matches_its_goldens() {
    let names: Vec<String> = templates::builtin().iter().map(|t| t.manifest.name.clone()).collect();
    for name in BUILTIN {
        assert!(names.contains(&name.to_string()), "{name} missing from {names:?}");
    }
    for name in BUILTIN {
        for size in [Size { width: 384, height: 216 }, Size { width: 216, height: 384 }] {
            let r = request(name, Value::Null, json!({}));
            let moments = [400.0, 900.0, r.template.manifest.duration_ms as f64 - 700.0];
            for (picture, t) in pictures(&r, size, &page(size), &moments).iter().zip(moments) {
                assert_golden(&format!("intro-{name}-{}x{}-{}ms", size.width, size.height, t as u32), picture, size);
            }
        }
    }
}

/// Whether a pixel is the (near-white) text or logo ring: the built-ins' default text colour.
fn ink(px: &[u8]) -> bool {
    px[0] > 170 && px[1] > 170 && px[2] > 170
}

/// Rows of `rgba` that hold ink, as (first, last) runs separated by blank rows.
fn ink_bands(rgba: &[u8], size: Size) -> Vec<(u32, u32)> {
    let row_has_ink = |y: u32| rgba[(y * size.width * 4) as usize..((y + 1) * size.width * 4) as usize].chunks_exact(4).any(ink);
    let mut bands: Vec<(u32, u32)> = Vec::new();
    for y in 0..size.height {
        if row_has_ink(y) {
            match bands.last_mut() {
                Some((_, last)) if *last + 1 == y => *last = y,
                _ => bands.push((y, y)),
            }
        }
    }
    bands
}

fn ink_count(rgba: &[u8], size: Size, band: (u32, u32)) -> usize {
    (band.0..=band.1).map(|y| rgba[(y * size.width * 4) as usize..((y + 1) * size.width * 4) as usize].chunks_exact(4).filter(|p| ink(p)).count()).sum()
}

/// (left, top, right, bottom) of the ink.
fn ink_box(rgba: &[u8], size: Size) -> Option<(u32, u32, u32, u32)> {
    ink_box_where(rgba, size, ink)
}

/// Light enough to be the text at a quarter of its opacity over the dark backgrounds.
fn faint_ink(px: &[u8]) -> bool {
    0.3 * px[0] as f64 + 0.59 * px[1] as f64 + 0.11 * px[2] as f64 > 80.0
}

fn ink_box_where(rgba: &[u8], size: Size, is_ink: fn(&[u8]) -> bool) -> Option<(u32, u32, u32, u32)> {
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for (i, px) in rgba.chunks_exact(4).enumerate() {
        if is_ink(px) {
            let (x, y) = (i as u32 % size.width, i as u32 / size.width);
            found = Some(match found {
                None => (x, y, x, y),
                Some((l, t, r, b)) => (l.min(x), t.min(y), r.max(x), b.max(y)),
            });
        }
    }
    found
}

const SIZE: Size = Size { width: 960, height: 540 };

fn every_33ms(from: f64, to: f64) -> Vec<f64> {
    (0..).map(|i| from + i as f64 * 1000.0 / 30.0).take_while(|t| *t <= to).collect()
}

#[test]
fn simple_reveals_each_line_upward_through_a_mask() {
    let r = request("simple", json!({"text": "Orbit\nfor teams"}), json!({}));
    let moments = every_33ms(0.0, 2000.0);
    let frames = pictures(&r, SIZE, &page(SIZE), &moments);
    let settled = frames.last().unwrap();
    let bands = ink_bands(settled, SIZE);
    assert_eq!(bands.len(), 2, "two lines when settled: {bands:?}");
    let first_line = bands[0];
    // The topmost ink row of the first line, over time: the text rises into a fixed
    // window, so ink appears at the window's bottom first and grows upward.
    let tops: Vec<(f64, u32)> = moments
        .iter()
        .zip(&frames)
        .filter_map(|(t, f)| ink_bands(f, SIZE).first().filter(|b| b.0 <= first_line.1).map(|b| (*t, b.0)))
        .collect();
    assert!(tops.len() > 10, "the first line shows for a while: {tops:?}");
    let (first_seen, first_top) = tops[0];
    assert!(first_top > (first_line.0 + first_line.1) / 2, "at {first_seen} ms the first ink is in the lower half: {first_top} of {first_line:?}");
    for pair in tops.windows(2) {
        assert!(pair[1].1 <= pair[0].1 + 1, "rows appear bottom-up: {pair:?}");
    }
    assert!(tops.last().unwrap().1 <= first_line.0 + 1);
    // Nothing is drawn below the window while the text is still below it.
    for (frame, t) in frames.iter().zip(&moments) {
        if let Some(band) = ink_bands(frame, SIZE).first() {
            assert!(band.0 + 2 >= first_line.0.saturating_sub(4), "{t} ms: ink above the first line's window: {band:?}");
        }
    }
}

#[test]
fn spring_scale_in_overshoots_its_size_and_settles() {
    let r = request("simple-spring-scale-in", json!({"text": "Orbit"}), json!({}));
    let moments = every_33ms(150.0, 2200.0);
    let frames = pictures(&r, SIZE, &page(SIZE), &moments);
    // Faint ink: the text is measured from when it is a quarter visible.
    let widths: Vec<u32> = frames.iter().filter_map(|f| ink_box_where(f, SIZE, faint_ink).map(|(l, _, r, _)| r - l)).collect();
    let settled = *widths.last().unwrap();
    let peak = *widths.iter().max().unwrap();
    assert!(widths[0] < settled * 8 / 10, "starts small: {widths:?}");
    assert!(peak as f64 > settled as f64 * 1.03, "passes its size: peak {peak}, settled {settled}");
    let last_quarter = &widths[widths.len() * 3 / 4..];
    assert!(last_quarter.iter().all(|w| w.abs_diff(settled) <= 2), "settles: {last_quarter:?}");
}

#[test]
fn line_by_line_slide_shows_each_line_after_the_one_before() {
    for name in ["simple-line-by-line-slide", "simple-line-by-line-slide-with-logo"] {
        let mut content = json!({"text": "One\nTwo\nThree"});
        if name.ends_with("with-logo") {
            content["logoUrl"] = json!("https://example.com/logo.svg");
        }
        let r = request(name, content, json!({}));
        let moments = every_33ms(0.0, 2400.0);
        let frames = pictures(&r, SIZE, &page(SIZE), &moments);
        // The text only: the accent rule left of it would join the lines into one band.
        let frames: Vec<Vec<u8>> = frames
            .into_iter()
            .map(|mut f| {
                for (i, px) in f.chunks_exact_mut(4).enumerate() {
                    if (i as u32 % SIZE.width) < SIZE.width * 12 / 100 {
                        px.copy_from_slice(&[0, 0, 0, 255]);
                    }
                }
                f
            })
            .collect();
        let settled = frames.last().unwrap();
        let bands = ink_bands(settled, SIZE);
        assert!(bands.len() >= 3, "{name}: three lines when settled: {bands:?}");
        let lines = &bands[bands.len() - 3..];
        let shown_at: Vec<f64> = lines
            .iter()
            .map(|&band| {
                let full = ink_count(settled, SIZE, band);
                let i = frames.iter().position(|f| ink_count(f, SIZE, band) * 2 >= full).unwrap();
                moments[i]
            })
            .collect();
        assert!(shown_at[0] < shown_at[1] && shown_at[1] < shown_at[2], "{name}: lines show at {shown_at:?}");
        // Left-aligned: every line starts at the same x when settled.
        let lefts: Vec<u32> = lines
            .iter()
            .map(|&(a, b)| {
                let mut band = settled.clone();
                for (i, px) in band.chunks_exact_mut(4).enumerate() {
                    let y = i as u32 / SIZE.width;
                    if y < a || y > b {
                        px.copy_from_slice(&[0, 0, 0, 255]);
                    }
                }
                ink_box(&band, SIZE).unwrap().0
            })
            .collect();
        assert!(lefts.iter().all(|l| l.abs_diff(lefts[0]) <= 6), "{name}: lines start at {lefts:?}");
    }
}

/// Edge steepness of the logo: the largest step between neighbours over the contrast.
fn sharpness(rgba: &[u8], size: Size, area: (u32, u32, u32, u32)) -> f64 {
    let luma = |x: u32, y: u32| {
        let p = &rgba[((y * size.width + x) * 4) as usize..];
        0.3 * p[0] as f64 + 0.59 * p[1] as f64 + 0.11 * p[2] as f64
    };
    let (mut step, mut lo, mut hi) = (0.0f64, f64::MAX, 0.0f64);
    for y in area.1..area.3 {
        for x in area.0..area.2 {
            let v = luma(x, y);
            lo = lo.min(v);
            hi = hi.max(v);
            step = step.max((luma(x + 1, y) - v).abs());
        }
    }
    step / (hi - lo).max(1.0)
}

#[test]
fn simple_logo_fades_rises_and_comes_into_focus() {
    let r = request("simple-logo", Value::Null, json!({}));
    let moments = [250.0, 500.0, 800.0, 1200.0];
    let frames = pictures(&r, SIZE, &page(SIZE), &moments);
    let logo = ink_box(frames.last().unwrap(), SIZE).expect("the logo's ring is drawn");
    let area = (logo.0.saturating_sub(40), logo.1.saturating_sub(60), (logo.2 + 40).min(SIZE.width - 2), (logo.3 + 60).min(SIZE.height - 1));
    let sharp: Vec<f64> = frames.iter().map(|f| sharpness(f, SIZE, area)).collect();
    for pair in sharp.windows(2) {
        assert!(pair[1] > pair[0], "sharpness rises: {sharp:?}");
    }
    assert!(sharp[3] > sharp[0] * 2.0, "blurred at first, sharp at the end: {sharp:?}");
    // It rises: the ring's top is lower early on.
    let early = ink_box(&frames[1], SIZE).map(|b| b.1).unwrap_or(SIZE.height);
    assert!(early > logo.1, "rises into place: top {early} then {}", logo.1);
}

#[test]
fn backdrop_shows_the_first_frame_top_right_under_an_opaque_colour_bottom_left() {
    // A first frame of pure red makes both ends easy to read.
    let red: Vec<u8> = [230u8, 20, 20, 255].repeat((SIZE.width * SIZE.height) as usize);
    let r = request("simple-line-by-line-slide-with-logo-and-backdrop", Value::Null, json!({"backdropColor": "#103050"}));
    let frames = pictures(&r, SIZE, &red, &[0.0, 2500.0]);
    let at = |f: &[u8], x: u32, y: u32| f[((y * SIZE.width + x) * 4) as usize..][..3].to_vec();
    // Before the veil fades in, the card is the first frame.
    assert_eq!(at(&frames[0], SIZE.width / 2, SIZE.height / 2), vec![230, 20, 20]);
    let (top_right, bottom_left) = (at(&frames[1], SIZE.width - 2, 1), at(&frames[1], 1, SIZE.height - 2));
    assert!(top_right[0] > 215 && top_right[2] < 40, "top-right shows the frame: {top_right:?}");
    for (got, want) in bottom_left.iter().zip([0x10, 0x30, 0x50]) {
        assert!(got.abs_diff(want) <= 3, "bottom-left is the backdrop colour: {bottom_left:?}");
    }
    // The hand-over ends on the first frame itself.
    let end = pictures(&r, SIZE, &red, &[r.template.manifest.duration_ms as f64])[0].clone();
    assert_eq!(at(&end, 5, SIZE.height - 5), vec![230, 20, 20]);
}

#[test]
fn long_text_wraps_and_shrinks_inside_the_card_at_every_built_in_size() {
    let text = "Every release, recorded from the real product\nin every language you sell in, with your own data and your own brand";
    for size in [Size { width: 1920, height: 1080 }, Size { width: 1080, height: 1920 }, Size { width: 1080, height: 1080 }] {
        let r = request("simple", json!({"text": text}), json!({}));
        let settled = pictures(&r, size, &page(size), &[2000.0]).remove(0);
        let (l, t, rr, b) = ink_box(&settled, size).unwrap();
        let margin = size.width.min(size.height) / 20;
        assert!(l >= margin && rr <= size.width - margin && t >= margin && b <= size.height - margin, "{size}: ink at {:?} within margins {margin}", (l, t, rr, b));
        assert!(ink_bands(&settled, size).len() >= 3, "{size}: wraps");
    }
}

#[test]
fn a_demo_with_an_intro_is_longer_by_the_card_and_starts_on_its_text() {
    let _machine = crate::common::shared_machine();
    let recording = demoreel::recording::Recording::open(&synthetic(8, Size { width: 640, height: 360 })).unwrap();
    let options = demoreel::options::parse(&json!({"video": {"size": {"width": 640, "height": 360}}})).unwrap().options;
    let dir = TempDir::new("intro-render");
    let plain_dir = dir.path().join("plain");
    let plain = demoreel::render::render(&recording, &options, &plain_dir, demoreel::render::Outputs::DEMO, &mut |_| demoreel::render::Flow::Continue).unwrap();
    let r = request("simple", json!({"text": "Welcome to Orbit"}), json!({}));
    let intro_dir = dir.path().join("intro");
    let with = demoreel::render::render_with_intro(&recording, &options, Some(&r), &intro_dir, demoreel::render::Outputs::DEMO, &mut |_| demoreel::render::Flow::Continue).unwrap();
    let Some(IntroOutcome::Added { template, slots, duration_ms }) = with.intro.clone() else { panic!("{:?}", with.intro) };
    assert_eq!(template, "simple@1");
    assert_eq!(duration_ms, 2800.0);
    let (plain_facts, with_facts) = (
        demoreel::encode::decode::probe(&plain_dir.join("demo.mp4")).unwrap(),
        demoreel::encode::decode::probe(&intro_dir.join("demo.mp4")).unwrap(),
    );
    let added_ns = with_facts.duration_ns as i64 - plain_facts.duration_ns as i64;
    let frame_ns = 1_000_000_000 / 30;
    assert!((added_ns - 2_800_000_000).abs() <= frame_ns, "longer by {added_ns} ns, the card is 2.8 s");
    let frames = crate::privacy::mp4_pictures(&intro_dir.join("demo.mp4"));
    let plain_frames = crate::privacy::mp4_pictures(&plain_dir.join("demo.mp4"));
    assert_eq!(frames.len() as u64, plain_frames.len() as u64 + slots);
    // Every picture of the card is in the video whole: the encoder was given only what
    // changed from one to the next, so anything left over would show as a block far
    // from the card drawn afresh.
    let size = Size { width: 640, height: 360 };
    let moments: Vec<f64> = (0..slots).map(|i| i as f64 * 1000.0 / 30.0).collect();
    let expected = pictures(&r, size, &plain_frames[0].rgba, &moments);
    for (i, (shown, drawn)) in frames.iter().zip(&expected).enumerate() {
        let worst = worst_block_difference(&shown.rgba, drawn, size);
        assert!(worst < 24.0, "card frame {i}: a 16×16 block differs from the card drawn afresh by {worst:.1} on average");
    }
    // After the card, the video is the plain demo, frame for frame.
    for (i, (a, b)) in frames[slots as usize..].iter().zip(&plain_frames).enumerate().step_by(10) {
        let mean = a.rgba.iter().zip(&b.rgba).map(|(x, y)| x.abs_diff(*y) as u64).sum::<u64>() as f64 / a.rgba.len() as f64;
        assert!(mean < 2.5, "frame {i} after the card differs from the plain demo by {mean:.2}");
    }
    // The card's text, read back from the settled card (OCR).
    let shot = dir.path().join("card.png");
    let card = &frames[60];
    save_png(&shot, &card.rgba, Size { width: card.width, height: card.height });
    let out = std::process::Command::new("tesseract").arg(&shot).arg("stdout").output().expect("tesseract (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("Welcome to Orbit"), "OCR of the card read {text:?}");
    let _ = plain;
}

#[test]
fn a_card_redrawn_only_where_it_changed_is_the_card_drawn_whole() {
    use demoreel::geometry::PixelRect;
    let size = Size { width: 640, height: 360 };
    let after = page(size);
    for name in BUILTIN {
        let r = request(name, Value::Null, json!({}));
        let card = r.make_card(Some(&after), size).unwrap();
        let (mut kept, mut whole) = (vec![0u8; after.len()], vec![0u8; after.len()]);
        card.draw(0.0, &mut kept);
        let (mut redrawn, mut previous) = (0, 0.0);
        for t in every_33ms(1000.0 / 30.0, card.duration_ms()) {
            let area = [card.cover(previous), card.cover(t)].into_iter().flatten().reduce(PixelRect::union);
            previous = t;
            if let Some(area) = area {
                card.redraw(t, &mut kept, area);
                redrawn += 1;
            }
            card.draw(t, &mut whole);
            assert!(kept == whole, "{name} at {t} ms: redrawn inside {area:?}, the picture differs from the card drawn whole");
        }
        assert!(redrawn > 10, "{name}: only {redrawn} moments moved");
    }
}

/// The largest mean difference per channel over the 16×16 blocks of two RGBA pictures.
fn worst_block_difference(a: &[u8], b: &[u8], size: Size) -> f64 {
    let mut worst: f64 = 0.0;
    for by in 0..size.height / 16 {
        for bx in 0..size.width / 16 {
            let mut sum = 0u64;
            for y in by * 16..by * 16 + 16 {
                let row = (y * size.width + bx * 16) as usize * 4;
                sum += a[row..row + 64].iter().zip(&b[row..row + 64]).map(|(x, y)| x.abs_diff(*y) as u64).sum::<u64>();
            }
            worst = worst.max(sum as f64 / (16.0 * 16.0 * 4.0));
        }
    }
    worst
}

/// A tiny web server for image fetching: fixed answers by path.
async fn image_server() -> (String, tokio::task::JoinHandle<()>) {
    use axum::response::IntoResponse;
    use axum::routing::get;
    let big = vec![0u8; 3 * 1024 * 1024];
    let router = axum::Router::new()
        .route("/logo.svg", get(|| async { ([("content-type", "text/plain")], templates::STAND_IN_LOGO) }))
        .route("/page.html", get(|| async { ([("content-type", "image/png")], "<html><body>not an image</body></html>") }))
        .route("/big.png", get(move || async move { let mut b = b"\x89PNG\r\n\x1a\n".to_vec(); b.extend_from_slice(&big); ([("content-type", "image/png")], b) }))
        .route("/slow.svg", get(|| async { tokio::time::sleep(std::time::Duration::from_secs(8)).await; templates::STAND_IN_LOGO }))
        .route("/hop/{n}", get(|axum::extract::Path(n): axum::extract::Path<u32>| async move {
            if n == 0 { templates::STAND_IN_LOGO.into_response() } else { axum::response::Redirect::temporary(&format!("/hop/{}", n - 1)).into_response() }
        }));
    crate::common::serve_locally(router).await
}

#[test]
fn images_are_fetched_within_their_limits_and_the_target_policy() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (url, _server) = image_server().await;
        let loopback = TargetPolicy::parse("127.0.0.1/32", "test").unwrap();
        let logo = templates::fetch::image(&format!("{url}/logo.svg"), &loopback).await.unwrap();
        assert_eq!(logo.kind, ImageFormat::Svg, "recognised by its bytes, not its content-type");
        assert!(templates::fetch::image(&format!("{url}/hop/3"), &loopback).await.is_ok(), "three redirects are followed");
        let cases = [
            (format!("{url}/logo.svg?again"), TargetPolicy::public_only(), "loopback"),
            (format!("{url}/page.html"), loopback.clone(), "not a PNG, JPEG or SVG"),
            (format!("{url}/big.png"), loopback.clone(), "at most 2097152"),
            (format!("{url}/slow.svg"), loopback.clone(), "within 5 s"),
            (format!("{url}/hop/4"), loopback.clone(), "redirects"),
            ("file:///etc/passwd".to_string(), loopback.clone(), "http"),
        ];
        for (target, policy, expected) in cases {
            let started = std::time::Instant::now();
            let error = templates::fetch::image(&target, &policy).await.err().unwrap_or_else(|| panic!("{target} was fetched"));
            assert!(error.contains(expected), "{target}: {error:?} should say {expected:?}");
            assert!(started.elapsed() < std::time::Duration::from_secs(7), "{target} took {:?}", started.elapsed());
        }
    });
}

#[test]
fn bad_templates_are_refused_naming_the_file_and_the_field() {
    let dir = TempDir::new("bad-template");
    let good = demoreel::project_dir().join("templates/simple");
    let files = |manifest: Option<Value>, scene: Option<&str>| -> HashMap<String, Vec<u8>> {
        let mut files = HashMap::new();
        let mut m: Value = serde_json::from_slice(&std::fs::read(good.join("manifest.json")).unwrap()).unwrap();
        if let Some(Value::Object(patch)) = manifest {
            for (k, v) in patch {
                m[k] = v;
            }
        }
        files.insert("manifest.json".to_string(), serde_json::to_vec(&m).unwrap());
        let scene = scene.map(str::to_string).unwrap_or_else(|| std::fs::read_to_string(good.join("scene.svg")).unwrap());
        files.insert("scene.svg".to_string(), scene.into_bytes());
        files
    };
    let cases: Vec<(HashMap<String, Vec<u8>>, &str)> = vec![
        (files(Some(json!({"duration_ms": 20})), None), "manifest.json: duration_ms"),
        (files(Some(json!({"layers": {"title": {"keyframes": {"y": [{"at": 0, "value": 0, "ease": "wobbly"}]}}}})), None), "manifest.json: layers.title.keyframes.y[0]: ease"),
        (files(Some(json!({"layers": {"subtitle": {}}})), None), "manifest.json: layers.subtitle"),
        (files(None, Some("<svg><g id=\"title\">")), "scene.svg: not well-formed"),
        (files(None, Some(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{{width}}" height="{{height}}"><rect width="5" height="5"/><g id="title"/></svg>"#)), "scene.svg: line 1: top-level <rect>"),
        (files(None, Some(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{{width}}" height="{{height}}"><g id="title"><text data-slot="text" data-box="1 2 3"/></g></svg>"#)), "data-box"),
        (files(None, Some(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{{width}}" height="{{height}}"><g id="title">{{style.nope.deeper}}</g></svg>"#)), "scene.svg"),
    ];
    for (files, expected) in cases {
        let error = Template::from_files(&files).unwrap_err().to_string();
        assert!(error.starts_with(expected) || error.contains(expected), "{error:?} should name {expected:?}");
    }
    // A folder missing its scene names the file.
    std::fs::create_dir_all(dir.path().join("t")).unwrap();
    std::fs::copy(good.join("manifest.json"), dir.path().join("t/manifest.json")).unwrap();
    let error = Template::from_dir(&dir.path().join("t")).unwrap_err().to_string();
    assert!(error.contains("scene.svg"), "{error}");
}

#[test]
fn content_and_style_are_checked_against_the_template_naming_each_field() {
    let t = template("simple-line-by-line-slide-with-logo");
    let errors = t
        .check_values(Some(&json!({"text": "", "logoUrl": "ftp://x/logo.png", "extra": 1})), Some(&json!({"textColor": "red", "background": {"type": "solid"}})), "options.intro")
        .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for expected in ["options.intro.content.text", "options.intro.content.logoUrl", "options.intro.content.extra", "options.intro.style.textColor", "options.intro.style.background"] {
        assert!(fields.contains(&expected), "{expected} not in {fields:?}");
    }
    let colour = errors.iter().find(|e| e.field == "options.intro.style.textColor").unwrap();
    assert!(colour.message.contains("#RRGGBB"), "{colour:?}");
    assert!(t.check_values(Some(&json!({"text": "x".repeat(121), "logoUrl": "https://a.test/l.png"})), None, "i").is_err());
    assert!(t.check_values(Some(&json!({"text": "Line one\nLine two", "logoUrl": "https://a.test/l.png"})), None, "i").is_ok());
}

/// An artifact of a run, downloaded.
async fn artifact(client: &crate::service::Client, run: &str, name: &str) -> Vec<u8> {
    let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{run}/artifacts"), None).await;
    let id = listed["data"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap_or_else(|| panic!("{name} not listed: {listed}"))["id"].as_str().unwrap().to_string();
    let (status, bytes) = client.download(&id).await;
    assert_eq!(status, 200);
    bytes
}

/// Downloads a run's raw.mp4 and demo.mp4 into `dir`; answers their lengths in seconds.
async fn raw_and_demo_seconds(client: &crate::service::Client, run: &str, dir: &std::path::Path) -> (f64, f64) {
    let mut seconds = [0.0; 2];
    for (i, name) in ["raw.mp4", "demo.mp4"].into_iter().enumerate() {
        let path = dir.join(name);
        std::fs::write(&path, artifact(client, run, name).await).unwrap();
        seconds[i] = demoreel::encode::decode::probe(&path).unwrap().duration_ns as f64 / 1e9;
    }
    (seconds[0], seconds[1])
}

#[test]
fn a_run_starts_its_demo_on_the_card_and_ships_without_it_when_the_logo_is_not_an_image() {
    let _machine = crate::common::whole_machine();
    let world = crate::service::World::new("service-intro", &[]);
    world.runtime.block_on(async {
        let (images, _server) = image_server().await;
        let client = crate::service::Client::new(&world.server, &world.key);
        let run = |logo: &str| {
            json!({"target_url": world.app.url("/login"), "goal": "Show the sign-in page", "options": {
                "workflow": {"steps": [{"action": "pause", "ms": 1500}]},
                "video": {"size": {"width": 640, "height": 360}},
                "intro": {"template": "simple-line-by-line-slide-with-logo", "content": {"text": "Welcome to Orbit", "logoUrl": format!("{images}{logo}")}}}})
        };
        let good = client.create(run("/logo.svg")).await;
        let done = client.wait_for(&good, Duration::from_secs(120), crate::service::terminal).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let events = String::from_utf8(artifact(&client, &good, "events.jsonl").await).unwrap();
        let intro: Value = events.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["type"] == "intro" || e["event"] == "intro" || e["kind"] == "intro").unwrap_or_else(|| panic!("no intro event: {events}"));
        assert_eq!(intro["template"], "simple-line-by-line-slide-with-logo@1", "{intro}");
        let plan: Value = serde_json::from_slice(&artifact(&client, &good, "plan.json").await).unwrap();
        assert_eq!(plan["intro"]["template"], "simple-line-by-line-slide-with-logo@1");
        let dir = TempDir::new("service-intro-videos");
        let (raw_s, demo_s) = raw_and_demo_seconds(&client, &good, dir.path()).await;
        assert!((demo_s - raw_s - 3.2).abs() < 0.25, "demo {demo_s:.2} s is the 3.2 s card longer than raw {raw_s:.2} s");

        let bad = client.create(run("/page.html")).await;
        let done = client.wait_for(&bad, Duration::from_secs(120), crate::service::terminal).await;
        assert_eq!(done["status"], "succeeded", "the demo ships without its card: {done}");
        let events = String::from_utf8(artifact(&client, &bad, "events.jsonl").await).unwrap();
        let failed = events.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e.to_string().contains("intro_failed")).unwrap_or_else(|| panic!("no intro_failed: {events}"));
        assert!(failed.to_string().contains("not a PNG, JPEG or SVG"), "{failed}");
        let (raw_s, demo_s) = raw_and_demo_seconds(&client, &bad, dir.path()).await;
        assert!((demo_s - raw_s).abs() < 0.25, "no card: demo {demo_s:.2} s, raw {raw_s:.2} s");
    });
}

/// The upload body of a template made from built-in `simple`: named `name`, lasting
/// `duration_ms`, with `scene_extra` added at the end of its scene.
pub(crate) fn upload_of_simple(name: &str, duration_ms: u64, scene_extra: &str) -> Value {
    let folder = demoreel::project_dir().join("templates/simple");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    manifest["name"] = json!(name);
    manifest["duration_ms"] = json!(duration_ms);
    // An upload is numbered by the service; an author need not give a version.
    manifest.as_object_mut().unwrap().remove("version");
    let scene = std::fs::read_to_string(folder.join("scene.svg")).unwrap().replace("</svg>", &format!("{scene_extra}</svg>"));
    json!({"files": {"manifest.json": manifest.to_string(), "scene.svg": scene}})
}

#[test]
fn an_uploaded_template_is_used_by_a_real_run_and_recorded_with_its_version() {
    let _machine = crate::common::whole_machine();
    let world = crate::service::World::new("service-uploaded-intro", &[]);
    world.runtime.block_on(async {
        let client = crate::service::Client::new(&world.server, &world.key);
        let (status, stored) = client.call(reqwest::Method::POST, "/v1/templates", Some(upload_of_simple("orbit-launch", 2000, ""))).await;
        assert_eq!(status, 201, "{stored}");
        assert_eq!(stored["reference"], "orbit-launch@1");
        let (status, listed) = client.call(reqwest::Method::GET, "/v1/templates", None).await;
        assert_eq!(status, 200);
        assert!(listed["data"].as_array().unwrap().iter().any(|t| t["reference"] == "orbit-launch@1" && t["origin"] == "own"), "{listed}");

        let run = client
            .create(json!({"target_url": world.app.url("/login"), "goal": "Show the sign-in page", "options": {
                "workflow": {"steps": [{"action": "pause", "ms": 1500}]},
                "video": {"size": {"width": 640, "height": 360}},
                "intro": {"template": "orbit-launch", "content": {"text": "Launch day"}}}}))
            .await;
        let done = client.wait_for(&run, Duration::from_secs(120), crate::service::terminal).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        let plan: Value = serde_json::from_slice(&artifact(&client, &run, "plan.json").await).unwrap();
        assert_eq!(plan["intro"]["template"], "orbit-launch@1");
        let events = String::from_utf8(artifact(&client, &run, "events.jsonl").await).unwrap();
        assert!(!events.contains("intro_failed"), "{events}");
        let dir = TempDir::new("service-uploaded-intro-videos");
        let (raw_s, demo_s) = raw_and_demo_seconds(&client, &run, dir.path()).await;
        let demo = dir.path().join("demo.mp4");
        assert!((demo_s - raw_s - 2.0).abs() < 0.25, "demo {demo_s:.2} s is the uploaded 2 s card longer than raw {raw_s:.2} s");
        // The uploaded card's text, read back from the demo's frame at 1.3 s (settled, before the hand-over).
        let frames = crate::privacy::mp4_pictures(&demo);
        let card = &frames[39];
        let shot = dir.path().join("card.png");
        save_png(&shot, &card.rgba, Size { width: card.width, height: card.height });
        let out = std::process::Command::new("tesseract").arg(&shot).arg("stdout").output().expect("tesseract (scripts/setup.sh installs it)");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains("Launch day"), "OCR of the uploaded card read {text:?}");

        // The run has ended: nothing pins the version any more.
        let (status, deleted) = client.call(reqwest::Method::DELETE, "/v1/templates/orbit-launch", None).await;
        assert_eq!((status, &deleted["deleted"]), (200, &json!([1])), "{deleted}");
    });
}
