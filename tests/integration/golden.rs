//! Golden images of the compositor in framed mode: each background, scale and padding.

use crate::common::{assert_golden, synthetic};
use demoreel::compose::{Compositor, ContentPicture, Layout};
use demoreel::geometry::Size;
use demoreel::options::{self, RenderOptions};
use demoreel::recording::Recording;
use demoreel::timeline::FrameClock;
use demoreel::timeline::overlays::OverlayFrame;
use serde_json::json;

fn compose(video: serde_json::Value) -> (Vec<u8>, Size) {
    let recording = Recording::open(&synthetic(10, Size { width: 640, height: 360 })).unwrap();
    let options: RenderOptions = options::parse(&json!({ "video": video })).unwrap().options;
    let meta = &recording.meta;
    let layout = Layout::for_demo(meta.frame_size, meta.device_scale_factor, &options.video);
    let mut compositor = Compositor::new(layout, &options.video.background, meta.frame_size);
    // The "New project" dialog, mid-typing: text, a form and the table behind an overlay.
    let frame = FrameClock::of(&recording).frame_at(2500.0);
    let content = compositor.prepare_content(&recording.frame_bytes(frame).unwrap()).unwrap();
    let composed = compositor.compose(Some(ContentPicture::Frame(&content)), &OverlayFrame::default()).unwrap();
    (composed.rgba.to_vec(), composed.size)
}

fn check(name: &str, video: serde_json::Value) {
    let (rgba, size) = compose(video);
    assert_golden(name, &rgba, size);
}



fn small(mut video: serde_json::Value) -> serde_json::Value {
    let size = video["size"].take();
    let mut size = if size.is_null() { json!({}) } else { size };
    size["width"] = json!(480);
    size["height"] = json!(270);
    video["size"] = size;
    video
}

#[test]
fn edge_to_edge() {
    let _machine = crate::common::shared_machine();

    check("edge-to-edge", small(json!({})));
}

#[test]
fn solid_background() {
    let _machine = crate::common::shared_machine();
    check("solid", small(json!({"background": {"type": "solid", "color": "#1f2937"}})));
}

#[test]
fn gradient_vertical() {
    let _machine = crate::common::shared_machine();
    check(
        "gradient-vertical",
        small(json!({"background": {"type": "gradient", "from": "#0ea5e9", "to": "#1e3a8a", "direction": "vertical"}})),
    );
}

#[test]
fn gradient_horizontal() {
    let _machine = crate::common::shared_machine();
    check(
        "gradient-horizontal",
        small(json!({"background": {"type": "gradient", "from": "#f97316", "to": "#db2777", "direction": "horizontal"}})),
    );
}

#[test]
fn gradient_diagonal() {
    let _machine = crate::common::shared_machine();
    check("gradient-diagonal", small(json!({"background": {"type": "gradient", "from": "#6366f1", "to": "#ec4899"}})));
}

#[test]
fn content_scale() {
    let _machine = crate::common::shared_machine();
    check(
        "scale-0.6",
        small(json!({"background": {"type": "solid", "color": "#e5e7eb"}, "size": {"content": {"scale": 0.6}}})),
    );
}

#[test]
fn content_padding() {
    let _machine = crate::common::shared_machine();
    check(
        "padding-24",
        small(json!({"background": {"type": "solid", "color": "#e5e7eb"}, "size": {"content": {"padding": 24}}})),
    );
}

#[test]
fn square_output_keeps_the_page_aspect() {
    let _machine = crate::common::shared_machine();
    check(
        "square-framed",
        json!({"size": {"width": 540, "height": 540}, "background": {"type": "gradient", "from": "#10b981", "to": "#064e3b"}}),
    );
}
