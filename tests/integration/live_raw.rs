//! The live `raw.mp4` without a browser: frames published as Chromium delivers them (now
//! and then after a frame drawn later) land in the slots of the time they were drawn, as
//! they do when `raw.mp4` is rendered from the bundle afterwards.

use crate::common::TempDir;
use demoreel::encode::decode;
use demoreel::geometry::{PageSize, Size};
use demoreel::recording::{FrameSource, Recording, RecordingWriter};
use demoreel::render::live::{LiveRawFinish, LiveRawWriter};
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
    let live = LiveRawWriter::start(dir.path(), page, fps, source.subscribe());
    let bundle = dir.path().join("bundle");
    let mut writer = RecordingWriter::create(&bundle, PAGE, 1.0, PAGE, std::time::SystemTime::now()).unwrap();
    for (index, t_ms) in delivered {
        let jpeg = frame_jpeg(index);
        writer.add_frame(t_ms, &jpeg).unwrap();
        source.publish(t_ms, jpeg);
    }
    drop(source); // the capture ends: the stream closes
    writer.finish(duration_ms).unwrap();
    let raw = live.finish(&bundle, duration_ms).unwrap();
    assert!(matches!(raw, LiveRawFinish::Live(_)), "seven frames never overflow the backlog: {raw:?}");
    let raw = raw.path().to_path_buf();

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

#[test]
fn a_live_raw_mp4_that_fell_behind_the_capture_is_rendered_from_the_bundle_with_every_frame() {
    let _machine = crate::common::shared_machine();
    let dir = TempDir::new("live-behind");
    // 300 frames 10 ms apart; a slot every 50 ms shows every fifth.
    let frames = 300;
    let duration_ms = 3000.0;
    let fps = 20;
    let page = PageSize { viewport: PAGE, device_scale_factor: 1.0 };
    let mut source = FrameSource::default();
    // Subscribed now and read only once every frame was published: more frames than the
    // source keeps for a slow consumer, so the live encoder finds it missed some.
    let frames_seen_late = source.subscribe();
    let bundle = dir.path().join("bundle");
    let mut writer = RecordingWriter::create(&bundle, PAGE, 1.0, PAGE, std::time::SystemTime::now()).unwrap();
    for index in 0..frames {
        let jpeg = frame_jpeg(index % 8);
        writer.add_frame(index as f64 * 10.0, &jpeg).unwrap();
        source.publish(index as f64 * 10.0, jpeg);
    }
    let live = LiveRawWriter::start(dir.path(), page, fps, frames_seen_late);
    drop(source);
    writer.finish(duration_ms).unwrap();
    let finish = live.finish(&bundle, duration_ms).unwrap();
    let LiveRawFinish::FromBundle { path, missed } = finish else { panic!("the live encoder missed frames, yet: {finish:?}") };
    assert!(missed > 0 && missed < frames as u64, "missed {missed} of {frames}");
    assert_eq!(path, dir.path().join("raw.mp4"));
    let mut shown = Vec::new();
    decode::decode(&path, |frame| shown.push(frame_shown(&frame.rgba))).unwrap();
    let expected: Vec<usize> = (0..60).map(|slot| (slot * 5) % 8).collect();
    assert_eq!(shown, expected, "every slot shows the frame drawn at its time, the missed ones included");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains("partial")).collect();
    assert!(leftovers.is_empty(), "the live encoder's partial file is gone: {leftovers:?}");
}

/// The name and nice value of every thread of this process.
fn threads_and_nice() -> Vec<(String, i32)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let (Ok(comm), Ok(stat)) = (std::fs::read_to_string(task.path().join("comm")), std::fs::read_to_string(task.path().join("stat"))) else { continue };
        // Field 19 is the nice value; fields are counted after the name's closing ')'.
        let nice = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(16).unwrap().parse().unwrap();
        threads.push((comm.trim().to_string(), nice));
    }
    threads
}

#[test]
fn the_live_raw_mp4_encodes_below_the_browsers_priority() {
    // Alone: it reads the priority of every thread of the process.
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("live-priority");
    let page = PageSize { viewport: PAGE, device_scale_factor: 1.0 };
    let mut source = FrameSource::default();
    let live = LiveRawWriter::start(dir.path(), page, 20, source.subscribe());
    let bundle = dir.path().join("bundle");
    let mut writer = RecordingWriter::create(&bundle, PAGE, 1.0, PAGE, std::time::SystemTime::now()).unwrap();
    let mut seen = Vec::new();
    for index in 0..200 {
        let jpeg = frame_jpeg(index % 8);
        writer.add_frame(index as f64 * 50.0, &jpeg).unwrap();
        source.publish(index as f64 * 50.0, jpeg);
        std::thread::sleep(std::time::Duration::from_millis(5));
        seen = threads_and_nice();
        // The encoder is running once the appsrc's streaming thread exists.
        if index > 20 && seen.iter().any(|(name, _)| name == "src:src") {
            break;
        }
    }
    drop(source);
    writer.finish(200.0 * 50.0).unwrap();
    live.finish(&bundle, 200.0 * 50.0).unwrap();
    let background = demoreel::priority::background();
    let ours = |prefix: &str| seen.iter().filter(|(name, _)| name.starts_with(prefix)).cloned().collect::<Vec<_>>();
    let (writer_threads, feeding, encoding) = (ours("live-raw"), ours("src:src"), ours("queue"));
    assert!(writer_threads.len() >= 2, "the writer and its pool: {seen:?}");
    assert!(writer_threads.iter().all(|(_, nice)| *nice == background), "{writer_threads:?}");
    assert!(feeding.iter().any(|(_, nice)| *nice == background), "the encoder's input thread: {seen:?}");
    assert!(encoding.iter().any(|(_, nice)| *nice == background), "x264's threads: {seen:?}");
    // The test's own thread (standing in for the capture) keeps the normal priority, and
    // so does a video it encodes afterwards, although GStreamer's threads served the live one.
    assert_eq!(demoreel::priority::current(), demoreel::priority::normal());
    let mut sink = demoreel::encode::VideoSink::start(&dir.path().join("after.mp4"), PAGE, 20).unwrap();
    let picture = vec![128u8; (PAGE.width * PAGE.height * 4) as usize];
    let whole = demoreel::geometry::PixelRect { x: 0, y: 0, width: PAGE.width, height: PAGE.height };
    let mut during = Vec::new();
    for slot in 0..40u64 {
        sink.picture(&picture, whole, slot * 50_000_000, 50_000_000).unwrap();
        during.extend(threads_and_nice().into_iter().filter(|(name, _)| name.contains(":src")));
    }
    sink.finish().unwrap().commit().unwrap();
    assert!(!during.is_empty(), "the encoder's streaming threads were seen");
    assert!(during.iter().all(|(_, nice)| *nice == demoreel::priority::normal()), "a render's encoder at the normal priority: {during:?}");
}

/// Collects the name and nice value of every thread whose name starts with one of
/// `prefixes` or is a GStreamer streaming thread's (`element:pad`), sampled every 5 ms
/// until `done` is set.
fn sample_threads(prefixes: &'static [&'static str], done: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<Vec<(String, i32)>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            seen.extend(threads_and_nice().into_iter().filter(|(name, _)| prefixes.iter().any(|p| name.starts_with(p) || name.contains(':'))));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        seen
    })
}

#[test]
fn the_services_renders_run_below_the_browsers_priority() {
    // Alone: it reads the priority of every thread of the process.
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("render-priority");
    let bundle = crate::common::synthetic(8, Size { width: 640, height: 360 });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let options = demoreel::options::parse(&serde_json::json!({"video": {"size": {"width": 640, "height": 360}}})).unwrap().options;
    let (demo_threads, gif_threads) = rt.block_on(async {
        let db = std::sync::Arc::new(demoreel::db::SqlDatabase::open_sqlite(&dir.path().join("demoreel.db")).await.unwrap());
        let artifacts = std::sync::Arc::new(demoreel::store::LocalStore::new(&dir.path().join("artifacts")));
        let producer = demoreel::produce::Producer { db, artifacts };
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = sample_threads(&["demo-render"], done.clone());
        let (demo, _) = producer.render_demo(&bundle, &options, None, dir.path(), std::sync::Arc::new(|| false)).await.unwrap();
        done.store(true, std::sync::atomic::Ordering::Release);
        let demo_threads = sampler.join().unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = sample_threads(&["gif-render"], done.clone());
        producer.gif(&demo, &options.artifacts, dir.path(), std::sync::Arc::new(|| false)).await.unwrap();
        done.store(true, std::sync::atomic::Ordering::Release);
        (demo_threads, sampler.join().unwrap())
    });
    let background = demoreel::priority::background();
    for (what, threads, own) in [("demo.mp4", &demo_threads, "demo-render"), ("demo.gif", &gif_threads, "gif-render")] {
        assert!(threads.iter().any(|(name, _)| name.starts_with(own)), "{what}: its render thread and pool were seen: {threads:?}");
        let (own_threads, streaming): (Vec<_>, Vec<_>) = threads.iter().partition(|(name, _)| name.starts_with(own));
        assert!(own_threads.iter().all(|(_, nice)| *nice == background), "{what}: its thread and pool below the browser: {own_threads:?}");
        // A pooled streaming thread takes the priority while it serves the pipeline (and
        // may keep its name when idle at the normal one afterwards).
        assert!(streaming.iter().any(|(_, nice)| *nice == background), "{what}: GStreamer's streaming threads below the browser: {streaming:?}");
    }
    assert!(dir.path().join("demo.gif").is_file());
    assert_eq!(demoreel::priority::current(), demoreel::priority::normal(), "the caller keeps its priority");
}
