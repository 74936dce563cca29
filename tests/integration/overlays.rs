//! The overlay layers: golden images per layer and size, the cursor tip on every click,
//! and no synthetic pixels where there must be none (raw.mp4, `cursor: none`).

use crate::common::{TempDir, assert_golden, synthetic};
use demoreel::compose::{Compositor, ContentPicture, Layout, OverlayStyle};
use demoreel::encode::decode;
use demoreel::geometry::{Point, Size};
use demoreel::options::{self, RenderOptions};
use demoreel::recording::{CursorShape, Event, Recording};
use demoreel::render::{self, DEMO_MP4, Outputs, RAW_MP4};
use demoreel::timeline::overlays::{ChipDraw, CursorDraw, OverlayFrame, OverlayTimeline, RippleDraw};
use demoreel::timeline::{FrameClock, Schedule};
use serde_json::json;

const CAPTURE: Size = Size { width: 640, height: 360 };

fn options(video: serde_json::Value) -> RenderOptions {
    options::parse(&json!({ "video": video })).unwrap().options
}

struct Scene {
    recording: Recording,
    options: RenderOptions,
    compositor: Compositor,
}

impl Scene {
    fn new(video: serde_json::Value) -> Scene {
        let recording = Recording::open(&synthetic(8, CAPTURE)).unwrap();
        let options = options(video);
        let meta = &recording.meta;
        let layout = Layout::for_demo(meta.frame_size, meta.device_scale_factor, &options.video);
        let compositor = Compositor::with_style(layout, &options.video.background, meta.frame_size, OverlayStyle::of(&options.video));
        Scene { recording, options, compositor }
    }

    /// The composed frame showing the capture at recording time `t_ms` with `overlays`.
    fn compose(&mut self, t_ms: f64, overlays: &OverlayFrame) -> (Vec<u8>, Size) {
        let frame = FrameClock::of(&self.recording).frame_at(t_ms);
        let content = self.compositor.prepare_content(&self.recording.frame_bytes(frame).unwrap()).unwrap();
        let composed = self.compositor.compose(Some(ContentPicture::Frame(&content)), overlays).unwrap();
        (composed.rgba.to_vec(), composed.size)
    }

    /// Output px of a CSS point.
    fn to_output(&self, x: f64, y: f64) -> (f64, f64) {
        let p = self.compositor.layout().mapping.css_to_output(Point::new(x, y));
        (p.x, p.y)
    }
}

fn q8(v: f64) -> i64 {
    (v * 8.0).round() as i64
}

fn cursor_at(scene: &Scene, x: f64, y: f64, shape: CursorShape, scale: f64) -> CursorDraw {
    let (ox, oy) = scene.to_output(x, y);
    CursorDraw { tip_x8: q8(ox), tip_y8: q8(oy), shape, scale_milli: (scale * 1000.0) as u32 }
}

fn chip(label: &str, count: u32, row: f64) -> ChipDraw {
    ChipDraw { label: label.into(), count, opacity_milli: 1000, row_milli: (row * 1000.0) as u32 }
}

fn golden(name: &str, video: serde_json::Value, overlays: impl Fn(&Scene) -> OverlayFrame) {
    for (suffix, width, height) in [("480", 480, 270), ("960", 960, 540)] {
        let mut video = video.clone();
        video["size"] = json!({"width": width, "height": height});
        let mut scene = Scene::new(video);
        let frame = overlays(&scene);
        let (rgba, size) = scene.compose(500.0, &frame);
        assert_golden(&format!("overlay-{name}-{suffix}"), &rgba, size);
    }
}

#[test]
fn cursor_shapes_and_sizes() {
    let _machine = crate::common::shared_machine();
    for size in ["small", "default", "large"] {
        golden(&format!("cursor-{size}"), json!({"cursor": size}), |s| OverlayFrame {
            cursor: Some(cursor_at(s, 330.0, 120.0, CursorShape::Default, 1.0)),
            ..Default::default()
        });
    }
    for (name, shape) in [("hand", CursorShape::Pointer), ("ibeam", CursorShape::Text)] {
        golden(&format!("cursor-{name}"), json!({"background": {"type": "solid", "color": "#334155"}}), |s| OverlayFrame {
            cursor: Some(cursor_at(s, 330.0, 120.0, shape, 1.0)),
            ..Default::default()
        });
    }
}

#[test]
fn click_mid_effect() {
    let _machine = crate::common::shared_machine();
    golden("click", json!({}), |s| {
        let (x, y) = s.to_output(330.0, 120.0);
        OverlayFrame {
            cursor: Some(cursor_at(s, 330.0, 120.0, CursorShape::Pointer, 0.85)),
            ripples: vec![RippleDraw { center_x8: q8(x), center_y8: q8(y), phase_milli: 400 }],
            ..Default::default()
        }
    });
}

#[test]
fn key_chips() {
    let _machine = crate::common::shared_machine();
    golden("chip", json!({"shortcuts": true}), |_| OverlayFrame { chips: vec![chip("⌘K", 1, 0.0)], ..Default::default() });
    golden("chips-stacked", json!({"shortcuts": true, "background": {"type": "gradient", "from": "#0ea5e9", "to": "#1e3a8a"}}), |_| OverlayFrame {
        chips: vec![chip("⇧⌘P", 1, 1.0), chip("esc", 1, 0.0)],
        ..Default::default()
    });
    golden("chip-repeat", json!({"shortcuts": true}), |_| OverlayFrame { chips: vec![chip("↓", 4, 0.0)], ..Default::default() });
}

#[test]
fn redacted_rectangle() {
    let _machine = crate::common::shared_machine();
    for mode in ["blur", "pixelate"] {
        golden(&format!("redact-{mode}"), json!({"redaction": mode}), |s| {
            let (x0, y0) = s.to_output(300.0, 120.0);
            let (x1, y1) = s.to_output(520.0, 200.0);
            OverlayFrame {
                redactions: vec![demoreel::geometry::PixelRect { x: x0 as u32, y: y0 as u32, width: (x1 - x0) as u32, height: (y1 - y0) as u32 }],
                ..Default::default()
            }
        });
    }
}

/// Where the cursor's tip is drawn: found from the pixels the cursor layer changed.
fn drawn_tip(with: &[u8], without: &[u8], size: Size, shape: CursorShape) -> (f64, f64) {
    let mut strong = Vec::new();
    for (i, (a, b)) in with.chunks_exact(4).zip(without.chunks_exact(4)).enumerate() {
        let d = (0..3).map(|c| (a[c] as i32 - b[c] as i32).abs()).max().unwrap();
        if d > 96 {
            strong.push(((i as u32 % size.width) as f64, (i as u32 / size.width) as f64));
        }
    }
    assert!(!strong.is_empty(), "no cursor drawn");
    let top = strong.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let top_row: Vec<f64> = strong.iter().filter(|p| p.1 == top).map(|p| p.0).collect();
    match shape {
        // The arrow's tip is its top-left vertex; the hand's, the top of its finger.
        CursorShape::Default | CursorShape::Other => (top_row.iter().copied().fold(f64::MAX, f64::min) + 0.5, top + 0.5),
        CursorShape::Pointer => (top_row.iter().sum::<f64>() / top_row.len() as f64 + 0.5, top + 0.5),
        // The I-beam's hotspot is its centre.
        CursorShape::Text => {
            let (x0, x1) = strong.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
            let (y0, y1) = strong.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
            ((x0 + x1 + 1.0) / 2.0, (y0 + y1 + 1.0) / 2.0)
        }
    }
}

#[test]
fn the_drawn_tip_is_on_every_click() {
    let _machine = crate::common::shared_machine();
    let sizes = [(640, 360), (1280, 720)];
    let modes = [json!({"type": "none"}), json!({"type": "gradient", "from": "#6366f1", "to": "#ec4899"})];
    let mut checked = 0;
    for (width, height) in sizes {
        for background in &modes {
            let mut scene = Scene::new(json!({"size": {"width": width, "height": height}, "background": background}));
            let schedule = Schedule::demo(&scene.recording, 30);
            let timeline = OverlayTimeline::build(&scene.recording, schedule.cuts(), &scene.options.video);
            let mapping = scene.compositor.layout().mapping;
            let clicks: Vec<(f64, f64, f64)> = scene
                .recording
                .events
                .iter()
                .filter_map(|e| match e.event {
                    Event::Click { x, y, .. } | Event::PointerDown { x, y, .. } => Some((e.t_ms, x, y)),
                    _ => None,
                })
                .collect();
            assert!(clicks.len() >= 6, "the fixture clicks a person's way and a driver's way");
            for (t_ms, x, y) in clicks {
                let output_ms = schedule.cuts().to_output(t_ms);
                let mut overlays = timeline.at(output_ms, &mapping);
                // The cursor layer alone: the ripple under it is not the cursor.
                overlays.ripples.clear();
                overlays.redactions.clear();
                let shape = overlays.cursor.as_ref().unwrap().shape;
                let (with, size) = scene.compose(t_ms, &overlays);
                let (without, _) = scene.compose(t_ms, &OverlayFrame { redactions: vec![], ..Default::default() });
                let tip = drawn_tip(&with, &without, size, shape);
                let (ex, ey) = scene.to_output(x, y);
                let off = (tip.0 - ex).hypot(tip.1 - ey);
                assert!(off <= 2.0, "{width}x{height} {background}: click at {t_ms} ms drawn {off:.2} px away ({tip:?} vs ({ex:.1}, {ey:.1}), {shape:?})");
                checked += 1;
            }
        }
    }
    assert!(checked >= 24);
}

/// Pixels that differ strongly between a decoded video frame and the capture it shows.
fn strong_differences(path: &std::path::Path, recording: &Recording, schedule: &Schedule) -> Vec<usize> {
    let clock = FrameClock::of(recording);
    let mut counts = Vec::new();
    decode::decode(path, |frame| {
        let slot = schedule.slot(frame.index);
        let captured = image::load_from_memory(&recording.frame_bytes(clock.frame_at(slot.recording_ms)).unwrap()).unwrap().to_rgba8();
        let strong = frame
            .rgba
            .chunks_exact(4)
            .zip(captured.as_raw().chunks_exact(4))
            .filter(|(a, b)| (0..3).any(|c| (a[c] as i32 - b[c] as i32).abs() > 100))
            .count();
        counts.push(strong);
    })
    .unwrap();
    counts
}

#[test]
fn raw_and_cursor_none_hold_no_cursor_pixels() {
    let _machine = crate::common::shared_machine();
    let recording = Recording::open(&synthetic(8, CAPTURE)).unwrap();
    let dir = TempDir::new("no-cursor");
    // Edge to edge at the capture size, no redaction: demo pixels are the capture's.
    let mut bare = recording.clone();
    bare.events.retain(|e| !matches!(e.event, Event::Redact { .. }));
    let none = options(json!({"cursor": "none", "size": {"width": 640, "height": 360}}));
    render::render(&bare, &none, dir.path(), Outputs::BOTH, &mut |_| render::Flow::Continue).unwrap();
    let raw = strong_differences(&dir.path().join(RAW_MP4), &bare, &Schedule::raw(&bare, 30));
    let demo = strong_differences(&dir.path().join(DEMO_MP4), &bare, &Schedule::demo(&bare, 30));
    // Cross-fade slots blend two captures: leave them out of the demo check.
    let schedule = Schedule::demo(&bare, 30);
    let demo_plain: Vec<usize> = demo.iter().enumerate().filter(|(i, _)| matches!(schedule.slot(*i as u64).picture, demoreel::timeline::SlotPicture::Frame(_))).map(|(_, c)| *c).collect();
    assert!(raw.iter().max().unwrap() < &12, "raw.mp4 strays from the capture: {:?}", raw.iter().max());
    assert!(demo_plain.iter().max().unwrap() < &12, "demo.mp4 with cursor none strays: {:?}", demo_plain.iter().max());

    // The same check sees a cursor when there is one, so it can fail.
    let with_cursor = options(json!({"size": {"width": 640, "height": 360}}));
    let dir2 = TempDir::new("with-cursor");
    render::render(&bare, &with_cursor, dir2.path(), Outputs::DEMO, &mut |_| render::Flow::Continue).unwrap();
    let demo = strong_differences(&dir2.path().join(DEMO_MP4), &bare, &Schedule::demo(&bare, 30));
    let showing = demo.iter().filter(|&&c| c >= 12).count();
    assert!(showing > 100, "a drawn cursor shows up as strong differences in most frames, found {showing}");
}
