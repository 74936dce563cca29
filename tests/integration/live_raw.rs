//! The live `raw.mp4` without a browser: frames published as Chromium delivers them (now
//! and then after a frame drawn later) land in the slots of the time they were drawn, as
//! they do when `raw.mp4` is rendered from the bundle afterwards.

use crate::common::TempDir;
use demoreel::encode::decode;
use demoreel::geometry::{PageSize, Size};
use demoreel::recording::{FrameSource, Recording, RecordingWriter};
use demoreel::render::live::LiveRawWriter;
use demoreel::timeline::{Schedule, SlotPicture};

const PAGE: Size = Size { width: 320, height: 180 };

/// A page painted in one grey level that names frame `index`.
fn frame_jpeg(index: usize) -> Vec<u8> {
    let level = 20 + 30 * index as u8;
    let picture = image::RgbImage::from_pixel(PAGE.width, PAGE.height, image::Rgb([level, level, level]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(&picture).unwrap();
    jpeg
}

/// Which frame a decoded picture shows, from its grey level.
fn frame_shown(rgba: &[u8]) -> usize {
    let centre = ((PAGE.height / 2 * PAGE.width + PAGE.width / 2) * 4) as usize;
    ((rgba[centre] as f64 - 20.0) / 30.0).round() as usize
}

#[test]
fn a_frame_delivered_after_a_later_one_is_shown_at_its_own_time_live_and_from_the_bundle() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("live-order");
    // Drawing times in delivery order: frame 4 (drawn at 240 ms) arrives after frame 3
    // (drawn at 290 ms), as Chromium's screencast sometimes delivers.
    let delivered = [(0, 0.0), (1, 95.0), (2, 180.0), (3, 290.0), (4, 240.0), (5, 410.0), (6, 520.0)];
    let duration_ms = 600.0;
    let fps = 20; // a slot every 50 ms
    let page = PageSize { viewport: PAGE, device_scale_factor: 1.0 };

    let mut source = FrameSource::default();
    let live = LiveRawWriter::start(&dir.path().join("raw.mp4"), page, fps, source.subscribe());
    let bundle = dir.path().join("bundle");
    let mut writer = RecordingWriter::create(&bundle, PAGE, 1.0, PAGE, std::time::SystemTime::now()).unwrap();
    for (index, t_ms) in delivered {
        let jpeg = frame_jpeg(index);
        writer.add_frame(t_ms, &jpeg).unwrap();
        source.publish(t_ms, jpeg);
    }
    drop(source); // the capture ends: the stream closes
    writer.finish(duration_ms).unwrap();
    let raw = live.finish(duration_ms).unwrap();

    let mut shown = Vec::new();
    decode::decode(&raw, |frame| shown.push(frame_shown(&frame.rgba))).unwrap();
    // Slot i shows the newest frame drawn by i × 50 ms: frame 4 at 250 ms, frame 3 from 300 ms.
    let expected = [0, 0, 1, 1, 2, 4, 3, 3, 3, 5, 5, 6];
    assert_eq!(shown, expected, "live raw.mp4, a frame per slot");

    let recording = Recording::open(&bundle).unwrap();
    let schedule = Schedule::raw(&recording, fps);
    // The bundle's files are numbered in delivery order.
    let from_bundle: Vec<usize> = schedule
        .slots()
        .map(|slot| {
            let SlotPicture::Frame(frame) = slot.picture else { panic!("raw.mp4 has no cross-fades") };
            let name = recording.frames[frame].path.file_stem().unwrap().to_string_lossy().to_string();
            delivered[name.parse::<usize>().unwrap()].0
        })
        .collect();
    assert_eq!(from_bundle, expected, "raw.mp4 rendered from the bundle");
}
