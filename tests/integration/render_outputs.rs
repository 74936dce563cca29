//! Renders synthetic recordings through the real encoder and checks the files by decoding
//! them with GStreamer: stream facts, frame count, duration, box order, and which captured
//! frame each output frame shows (every synthetic frame carries its number as a code).

use crate::common::{TempDir, synthetic};
use demoreel::encode::decode::{self, VideoFacts};
use demoreel::fixture::read_frame_code;
use demoreel::geometry::Size;
use demoreel::options::{self, RenderOptions};
use demoreel::recording::Recording;
use demoreel::render::{self, DEMO_MP4, Outputs, RAW_MP4};
use demoreel::timeline::{Schedule, SlotPicture};
use serde_json::json;
use std::path::Path;

const SIZE: Size = Size { width: 640, height: 360 };
const SECONDS: u32 = 8;

fn options(video: serde_json::Value) -> RenderOptions {
    options::parse(&json!({ "video": video })).unwrap().options
}

fn frame_ns(fps: u32) -> f64 {
    1e9 / fps as f64
}

fn assert_playable_h264(facts: &VideoFacts, path: &Path, size: Size, fps: u32) {
    assert_eq!(facts.codec, "video/x-h264", "{}", path.display());
    assert_eq!(facts.profile.as_deref(), Some("high"), "{}", path.display());
    assert_eq!(facts.pixel_format, "I420", "{}", path.display());
    assert_eq!(facts.size, size, "{}", path.display());
    assert_eq!(facts.framerate, (fps as i32, 1), "{}", path.display());
    assert_eq!(facts.keyframes_ns.first(), Some(&0), "{} starts on a keyframe", path.display());
    assert!(facts.max_keyframe_gap_ns() <= 2_000_000_000, "{}: keyframes {:?}", path.display(), facts.keyframes_ns);
    let boxes = decode::mp4_top_level_boxes(path).unwrap();
    let moov = boxes.iter().position(|b| b == "moov").expect("moov box");
    let mdat = boxes.iter().position(|b| b == "mdat").expect("mdat box");
    assert_eq!(boxes[0], "ftyp");
    assert!(moov < mdat, "moov must come before mdat (faststart): {boxes:?}");
}

/// Decodes `path` and checks that each output frame shows the captured frame the
/// schedule says it should (cross-fade slots aside). Answers the number of frames checked.
fn assert_frames_follow_schedule(path: &Path, recording: &Recording, schedule: &Schedule) -> usize {
    let viewport_height = recording.meta.viewport.height as f64;
    // A synthetic frame carries the number it was delivered as (its file's name); the
    // recording holds the frames in drawing order, which the jitter sometimes swaps.
    let code_of = |index: usize| recording.frames[index].path.file_stem().unwrap().to_string_lossy().parse::<u32>().unwrap() % 4096;
    let mut checked = 0;
    let mut mismatches = Vec::new();
    decode::decode(path, |frame| {
        let slot = schedule.slot(frame.index);
        if let SlotPicture::Frame(expected) = slot.picture {
            let code = read_frame_code(&frame.rgba, frame.size.width, viewport_height, |x, y| (x, y));
            if code != Some(code_of(expected)) {
                mismatches.push((frame.index, expected, code));
            }
            checked += 1;
        }
    })
    .unwrap();
    assert!(mismatches.is_empty(), "{}: frames showing the wrong capture (slot, expected, read): {mismatches:?}", path.display());
    checked
}

#[test]
fn raw_and_demo_are_h264_high_cfr_with_the_right_lengths() {
    let _machine = crate::common::shared_machine();
    let recording = Recording::open(&synthetic(SECONDS, SIZE)).unwrap();
    let out = TempDir::new("render");
    let opts = options(json!({"size": {"width": 640, "height": 360}}));
    let summary = render::render(&recording, &opts, out.path(), Outputs::BOTH, &mut |_| render::Flow::Continue).unwrap();
    assert_eq!(summary.videos.len(), 2);

    let raw_path = out.path().join(RAW_MP4);
    let demo_path = out.path().join(DEMO_MP4);
    let raw = decode::probe(&raw_path).unwrap();
    let demo = decode::probe(&demo_path).unwrap();
    assert_playable_h264(&raw, &raw_path, SIZE, 30);
    assert_playable_h264(&demo, &demo_path, SIZE, 30);

    let recorded_ns = recording.duration_ms() * 1e6;
    assert!((raw.duration_ns as f64 - recorded_ns).abs() <= frame_ns(30), "raw lasts {} ns, recording {recorded_ns} ns", raw.duration_ns);
    assert_eq!(raw.frames as f64, (recorded_ns / frame_ns(30)).round());

    let cut_ns = Schedule::demo(&recording, 30).cuts().removed_ms() * 1e6;
    assert!(cut_ns > 1e9, "the synthetic recording has an awaiting-input window");
    let expected_demo_ns = raw.duration_ns as f64 - cut_ns;
    assert!(
        (demo.duration_ns as f64 - expected_demo_ns).abs() <= frame_ns(30),
        "demo lasts {} ns, expected raw − cut = {expected_demo_ns} ns",
        demo.duration_ns
    );
    // Nothing but the two videos is left in the output directory.
    let mut names: Vec<String> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, [DEMO_MP4, RAW_MP4]);
}

#[test]
fn every_output_frame_shows_the_newest_capture_at_its_time() {
    let _machine = crate::common::shared_machine();
    let recording = Recording::open(&synthetic(SECONDS, SIZE)).unwrap();
    let out = TempDir::new("schedule");
    let opts = options(json!({"size": {"width": 640, "height": 360}}));
    render::render(&recording, &opts, out.path(), Outputs::BOTH, &mut |_| render::Flow::Continue).unwrap();

    let raw_checked = assert_frames_follow_schedule(&out.path().join(RAW_MP4), &recording, &Schedule::raw(&recording, 30));
    assert_eq!(raw_checked as u64, Schedule::raw(&recording, 30).len());

    let demo_schedule = Schedule::demo(&recording, 30);
    let demo_checked = assert_frames_follow_schedule(&out.path().join(DEMO_MP4), &recording, &demo_schedule);
    assert!(demo_checked as u64 >= demo_schedule.len() - 10);

    // No frame captured strictly inside the awaiting-input window reaches demo.mp4
    // (the one on screen when it began may).
    let (start, end) = demo_schedule.cuts().windows()[0];
    let hidden: Vec<usize> = (0..recording.frames.len())
        .filter(|&i| recording.frames[i].t_ms > start && recording.frames.get(i + 1).is_some_and(|next| next.t_ms <= end))
        .collect();
    assert!(!hidden.is_empty(), "the window holds frames (caret blinks)");
    for slot in demo_schedule.slots() {
        if let SlotPicture::Frame(i) = slot.picture {
            assert!(!hidden.contains(&i), "slot {} shows frame {i} captured during the wait", slot.index);
        }
    }
}

#[test]
fn a_video_whose_width_is_not_a_multiple_of_eight_encodes_whole() {
    // GStreamer pads each I420 row to 4 bytes: at 898 px the chroma rows hold 449 samples
    // in 452 bytes. A frame laid out without the padding is refused by the encoder.
    let _machine = crate::common::shared_machine();
    let size = Size { width: 898, height: 506 };
    let recording = Recording::open(&synthetic(SECONDS, size)).unwrap();
    let out = TempDir::new("odd-width");
    let opts = options(json!({"size": {"width": 1366, "height": 768}}));
    render::render(&recording, &opts, out.path(), Outputs::BOTH, &mut |_| render::Flow::Continue).unwrap();
    let raw_path = out.path().join(RAW_MP4);
    assert_playable_h264(&decode::probe(&raw_path).unwrap(), &raw_path, size, 30);
    // Every frame shows its capture's code where it was drawn: no row slid sideways.
    let checked = assert_frames_follow_schedule(&raw_path, &recording, &Schedule::raw(&recording, 30));
    assert_eq!(checked as u64, Schedule::raw(&recording, 30).len());
    let demo_path = out.path().join(DEMO_MP4);
    assert_playable_h264(&decode::probe(&demo_path).unwrap(), &demo_path, Size { width: 1366, height: 768 }, 30);
}

#[test]
fn other_frame_rates_keep_the_duration() {
    let _machine = crate::common::shared_machine();
    let recording = Recording::open(&synthetic(SECONDS, SIZE)).unwrap();
    for fps in [24, 60] {
        let out = TempDir::new("fps");
        let opts = options(json!({"fps": fps, "size": {"width": 320, "height": 240}, "background": {"type": "solid", "color": "#000000"}}));
        render::render(&recording, &opts, out.path(), Outputs::DEMO, &mut |_| render::Flow::Continue).unwrap();
        let demo = decode::probe(&out.path().join(DEMO_MP4)).unwrap();
        assert_eq!(demo.framerate, (fps as i32, 1));
        let expected = Schedule::demo(&recording, fps).cuts().output_duration_ms() * 1e6;
        assert!((demo.duration_ns as f64 - expected).abs() <= frame_ns(fps), "{fps} fps: {} vs {expected}", demo.duration_ns);
        assert!(!out.path().join(RAW_MP4).exists());
    }
}

#[test]
fn a_corrupt_frame_fails_the_render_and_leaves_no_video() {
    let _machine = crate::common::shared_machine();
    let source = synthetic(SECONDS, SIZE);
    let copy = TempDir::new("corrupt");
    let bundle = copy.path().join("recording");
    std::fs::create_dir_all(bundle.join("frames")).unwrap();
    for entry in ["meta.json", "frames.jsonl", "timeline.jsonl"] {
        std::fs::copy(source.join(entry), bundle.join(entry)).unwrap();
    }
    for entry in std::fs::read_dir(source.join("frames")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), bundle.join("frames").join(entry.file_name())).unwrap();
    }
    std::fs::write(bundle.join("frames/000000.jpg"), b"not a jpeg").unwrap();
    let recording = Recording::open(&bundle).unwrap();
    let out = copy.path().join("out");
    let error = render::render(&recording, &RenderOptions::default(), &out, Outputs::BOTH, &mut |_| render::Flow::Continue).unwrap_err();
    assert!(error.to_string().contains("000000.jpg"), "error names the frame file: {error}");
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "nothing is left behind: {left:?}");
}

#[test]
fn a_cancelled_render_stops_within_a_second_and_leaves_nothing() {
    let _machine = crate::common::shared_machine();
    let recording = Recording::open(&synthetic(20, Size { width: 1280, height: 720 })).unwrap();
    let dir = TempDir::new("render-cancel");
    let out = dir.path().join("out");
    let options = options::parse(&json!({"video": {"size": {"width": 1280, "height": 720}}})).unwrap().options;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut asked: Option<std::time::Instant> = None;
    let result = render::render(
        &recording,
        &options,
        &out,
        Outputs::BOTH,
        &mut |progress| {
            // Cancel once raw.mp4 is well under way.
            if let render::Progress::Advanced { done, .. } = progress
                && done >= 60
                && asked.is_none()
            {
                asked = Some(std::time::Instant::now());
                cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            if cancel.load(std::sync::atomic::Ordering::SeqCst) { render::Flow::Stop } else { render::Flow::Continue }
        },
    );
    let stopped_after = asked.expect("the render got going").elapsed();
    assert!(matches!(result, Err(render::RenderError::Cancelled)), "{result:?}");
    assert!(stopped_after.as_millis() < 1000, "stopped {stopped_after:?} after the request");
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "a cancelled render leaves nothing behind: {left:?}");
}

/// A temporary folder holding demo.mp4 (1280×720) rendered from a synthetic recording
/// of `seconds`.
fn demo_of_synthetic(seconds: u32, name: &str) -> TempDir {
    let recording = Recording::open(&synthetic(seconds, Size { width: 1280, height: 720 })).unwrap();
    let dir = TempDir::new(name);
    let options = options::parse(&json!({"video": {"size": {"width": 1280, "height": 720}}})).unwrap().options;
    render::render(&recording, &options, dir.path(), Outputs::DEMO, &mut |_| render::Flow::Continue).unwrap();
    dir
}

#[test]
fn the_gif_lasts_as_long_as_demo_mp4_and_stores_only_what_changed() {
    let _machine = crate::common::shared_machine();
    let dir = demo_of_synthetic(10, "gif");
    let demo = decode::probe(&dir.path().join(DEMO_MP4)).unwrap();
    let gif_path = dir.path().join("demo.gif");
    let made = demoreel::gif::from_mp4(&dir.path().join(DEMO_MP4), &gif_path, 480, 12, None).unwrap();
    assert_eq!((made.width, made.height), (480, 270));

    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(std::fs::File::open(&gif_path).unwrap()).unwrap();
    let (mut frames, mut total_cs, mut full_frames) = (0u32, 0u64, 0u32);
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        frames += 1;
        total_cs += frame.delay as u64;
        if frame.width == 480 && frame.height == 270 {
            full_frames += 1;
        }
    }
    let demo_s = demo.duration_ns as f64 / 1e9;
    let gif_s = total_cs as f64 / 100.0;
    eprintln!("demo.mp4 {demo_s:.2} s, demo.gif {gif_s:.2} s in {frames} frames ({full_frames} whole), {} bytes", made.bytes);
    assert_eq!(frames, made.frames);
    assert!(frames > 10 && (frames as f64) < demo_s * 12.0 + 1.0, "at most 12 frames a second, unchanged ones merged: {frames}");
    assert!((gif_s - demo_s).abs() <= 0.1, "the GIF plays as long as the video: {gif_s} vs {demo_s}");
    assert!(full_frames < frames / 2, "most frames store only the rectangle that changed ({full_frames} of {frames} are whole)");
}

/// A GIF cancelled part-way stops the video's decoder too (it used to decode on to the
/// end) and leaves no file, whole or partial.
#[test]
fn a_cancelled_gif_stops_decoding_and_leaves_nothing() {
    let _machine = crate::common::shared_machine();
    let dir = demo_of_synthetic(4, "gif-cancel");
    let mp4 = dir.path().join(DEMO_MP4);
    let all = decode::probe(&mp4).unwrap().frames;
    let mut seen = Vec::new();
    let stopped = decode::decode_while(&mp4, |frame| {
        seen.push(frame.index);
        if seen.len() == 5 { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) }
    });
    assert!(matches!(stopped, Err(demoreel::encode::EncodeError::Stopped)), "{stopped:?}");
    assert_eq!(seen, [0, 1, 2, 3, 4], "no frame is decoded after the stop ({all} in the video)");

    let gif = dir.path().join("demo.gif");
    let checks = std::cell::Cell::new(0);
    let cancelled = || {
        checks.set(checks.get() + 1);
        checks.get() > 6
    };
    let made = demoreel::gif::from_mp4_until(&mp4, &gif, 480, 12, None, &cancelled);
    assert!(matches!(made, Err(demoreel::gif::GifError::Cancelled)), "{:?}", made.map(|m| m.frames));
    assert_eq!(checks.get(), 7, "the cancel is seen at once, and nothing more is asked");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().contains("gif")).collect();
    assert!(left.is_empty(), "a cancelled GIF leaves nothing: {left:?}");
}

/// Each GIF frame as shown (composed over what it keeps) and the time it appears, in s.
fn gif_pictures(path: &Path) -> Vec<(f64, image::RgbImage)> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(std::fs::File::open(path).unwrap()).unwrap();
    let mut screen = image::RgbImage::new(decoder.width() as u32, decoder.height() as u32);
    let (mut shown, mut t) = (Vec::new(), 0.0);
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        for (i, rgba) in frame.buffer.chunks_exact(4).enumerate() {
            if rgba[3] != 0 {
                let (x, y) = (frame.left as u32 + i as u32 % frame.width as u32, frame.top as u32 + i as u32 / frame.width as u32);
                screen.put_pixel(x, y, image::Rgb([rgba[0], rgba[1], rgba[2]]));
            }
        }
        shown.push((t, screen.clone()));
        t += frame.delay as f64 / 100.0;
    }
    shown.push((t, screen));
    shown
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let squared: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
    let mse = squared / a.as_raw().len() as f64;
    if mse == 0.0 { 99.0 } else { 10.0 * (255.0f64.powi(2) / mse).log10() }
}

#[test]
fn every_gif_frame_matches_demo_mp4_at_the_moment_it_is_shown() {
    let _machine = crate::common::shared_machine();
    let dir = demo_of_synthetic(8, "gif-fidelity");
    let gif_path = dir.path().join("demo.gif");
    let made = demoreel::gif::from_mp4(&dir.path().join(DEMO_MP4), &gif_path, 480, 12, None).unwrap();
    // The video's frames at the GIF's size, with the time each appears.
    let mut video: Vec<(f64, image::RgbImage)> = Vec::new();
    let facts = decode::decode(&dir.path().join(DEMO_MP4), |frame| {
        let rgba = image::RgbaImage::from_raw(frame.size.width, frame.size.height, frame.rgba).unwrap();
        let small = image::imageops::resize(&rgba, made.width, made.height, image::imageops::FilterType::Triangle);
        video.push((frame.pts_ns as f64 / 1e9, image::DynamicImage::ImageRgba8(small).to_rgb8()));
    })
    .unwrap();
    let shown = gif_pictures(&gif_path);
    let (gif_s, demo_s) = (shown.last().unwrap().0, facts.duration_ns as f64 / 1e9);
    assert!((gif_s - demo_s).abs() <= 1.0 / 12.0, "the GIF lasts as long as demo.mp4 within one GIF frame: {gif_s:.3} s vs {demo_s:.3} s");
    let mut scores: Vec<(f64, f64)> = shown[..shown.len() - 1]
        .iter()
        .map(|(t, picture)| {
            // The video frame on screen at t (a hair of slack for centisecond delays).
            let on_screen = video.iter().rev().find(|(at, _)| *at <= t + 0.005).unwrap_or(&video[0]);
            (psnr(picture, &on_screen.1), *t)
        })
        .collect();
    scores.sort_by(|a, b| a.0.total_cmp(&b.0));
    let median = scores[scores.len() / 2].0;
    eprintln!("{} GIF frames, {} bytes: PSNR median {median:.1} dB, lowest {:.1} dB at {:.2} s", scores.len(), made.bytes, scores[0].0, scores[0].1);
    assert!(scores[0].0 >= 30.0, "every GIF frame matches the video at its time: {:.1} dB at {:.2} s", scores[0].0, scores[0].1);
}

#[test]
fn a_gif_over_its_byte_budget_lowers_frame_rate_then_width_then_colours_then_lossiness() {
    use demoreel::gif::Knob;
    let _machine = crate::common::shared_machine();
    let dir = demo_of_synthetic(6, "gif-budget");
    let (mp4, gif_path) = (dir.path().join(DEMO_MP4), dir.path().join("demo.gif"));
    let free = demoreel::gif::from_mp4(&mp4, &gif_path, 640, 12, None).unwrap();
    assert!(free.budget_steps.is_empty() && !free.over_budget);

    // A budget a little under the free GIF: the frame rate goes first, and the GIF fits.
    let near = free.bytes * 9 / 10;
    let fitted = demoreel::gif::from_mp4(&mp4, &gif_path, 640, 12, Some(near)).unwrap();
    eprintln!("free {} bytes; budget {near}: {:?} → {} bytes", free.bytes, fitted.budget_steps, fitted.bytes);
    assert_eq!(fitted.budget_steps[0].lowered, Knob::FrameRate, "{:?}", fitted.budget_steps);
    assert_eq!(fitted.budget_steps[0].bytes_before, free.bytes);
    assert!(!fitted.over_budget && fitted.bytes <= near, "{} bytes over {near}", fitted.bytes);
    assert_eq!(std::fs::metadata(&gif_path).unwrap().len(), fitted.bytes, "the file kept is the one that fits");

    // A budget nothing reaches: every knob, in order, down to its floor; the smallest kept.
    let tiny = 10_000;
    let smallest = demoreel::gif::from_mp4(&mp4, &gif_path, 640, 12, Some(tiny)).unwrap();
    let knobs: Vec<Knob> = smallest.budget_steps.iter().map(|s| s.lowered).collect();
    eprintln!("budget {tiny}: {:?} → {} bytes, {:?}", smallest.budget_steps, smallest.bytes, smallest.settings);
    let knob_order = [Knob::FrameRate, Knob::Width, Knob::Colours, Knob::Lossiness];
    let mut order = knobs.clone();
    order.dedup();
    assert_eq!(order, knob_order, "knobs lowered in order: {knobs:?}");
    assert!(smallest.budget_steps.iter().all(|s| s.bytes_before > tiny));
    // Each knob saves bytes: the try before its first lowering is larger than the try
    // after its last; and what is kept is the smallest try.
    let before = |knob| smallest.budget_steps.iter().find(|s| s.lowered == knob).unwrap().bytes_before;
    for pair in knob_order.windows(2) {
        assert!(before(pair[1]) < before(pair[0]), "lowering {:?} saved bytes: {:?}", pair[0], smallest.budget_steps);
    }
    assert!(smallest.budget_steps.iter().all(|s| s.bytes_before > smallest.bytes), "the smallest try is kept: {} bytes", smallest.bytes);
    assert!(smallest.bytes < before(Knob::Lossiness), "lossiness saved bytes");
    assert!(smallest.over_budget);
    assert_eq!(std::fs::metadata(&gif_path).unwrap().len(), smallest.bytes);
    let settings = smallest.settings;
    assert_eq!((settings.fps, settings.width, settings.colours), (6, 240, 32), "{settings:?}");
    assert!(settings.lossiness >= 1, "{settings:?}");
    assert!(smallest.bytes < free.bytes / 4, "the smallest settings make a much smaller GIF: {} of {}", smallest.bytes, free.bytes);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().starts_with(".demo.gif")).collect();
    assert!(leftovers.is_empty(), "no try is left beside the GIF: {leftovers:?}");

    // What was written is what the summary says: that width, no more colours than the
    // palette's, no faster than the frame rate.
    let mut decoding = gif::DecodeOptions::new();
    decoding.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = decoding.read_info(std::fs::File::open(&gif_path).unwrap()).unwrap();
    assert_eq!((decoder.width() as u32, decoder.height() as u32), (smallest.width, smallest.height));
    assert_eq!(smallest.width, 240);
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert!(frame.delay >= 100 / 6 - 1, "at most 6 frames a second: a delay of {} cs", frame.delay);
        // Colour tables are padded to a power of two: count the entries the pixels use.
        let used: std::collections::HashSet<u8> = frame.buffer.iter().copied().filter(|&i| Some(i) != frame.transparent).collect();
        assert!(used.len() <= 32, "a frame's colours come from a 32-entry palette: {} used", used.len());
    }
}
