//! Recording real Chromium: the clock stays true from start to end, a click lands on the
//! timeline within a frame of the page's reaction, failures name their step, and no
//! browser process outlives a recording.

use crate::common::TempDir;
use demoreel::capture::{self, RecordOptions, browser};
use demoreel::render::live::{self, Recorded, RecordError};
use demoreel::steps;
use demoreel::encode::decode;
use demoreel::geometry::Size;
use demoreel::recording::{Event, Recording};
use serde_json::json;
use std::path::Path;

fn clock_page() -> String {
    format!("file://{}/tests/pages/clock.html", env!("CARGO_MANIFEST_DIR"))
}

fn options(viewport: Size) -> RecordOptions {
    RecordOptions { viewport, ..RecordOptions::new(demoreel::geometry::PageSize { viewport, device_scale_factor: 1.0 }) }
}

fn record(url: &str, step_list: serde_json::Value, out: &Path) -> Result<Recorded, RecordError> {
    record_at(url, step_list, out, Size { width: 960, height: 540 })
}

fn record_at(url: &str, step_list: serde_json::Value, out: &Path, viewport: Size) -> Result<Recorded, RecordError> {
    let parsed = steps::parse(&step_list).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(live::record(url, &parsed, out, &options(viewport), 30, &capture::NoInput))
}

/// The page's own clock (ms) painted as 24 blocks across the top, read from RGBA pixels.
fn read_clock(rgba: &[u8], width: u32) -> Option<u32> {
    read_marks(rgba, width, |bit| (bit * 40 + 20, 20))
}

/// A clock painted as 24 black/white marks (bit 23 first), each read at the pixel
/// `place(bit)`; `None` when a mark is neither (caught mid-change).
fn read_marks(rgba: &[u8], width: u32, place: impl Fn(usize) -> (usize, usize)) -> Option<u32> {
    let mut t = 0u32;
    for bit in 0..24 {
        let (x, y) = place(bit);
        let at = (y * width as usize + x) * 4;
        let luma = rgba[at] as u32 + rgba[at + 1] as u32 + rgba[at + 2] as u32;
        let on = match luma {
            0..=180 => false,
            585.. => true,
            _ => return None,
        };
        t = t << 1 | on as u32;
    }
    Some(t)
}

fn assert_no_browser_left() {
    for _ in 0..40 {
        if browser::leftover_processes().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("Chromium processes left behind: {:?}", browser::leftover_processes());
}

#[test]
fn raw_mp4_keeps_the_page_clock_for_twenty_seconds() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("capture-clock");
    let out = dir.path().join("rec");
    let summary = record(&clock_page(), json!([{"action": "pause", "ms": 20_000}]), &out).unwrap();
    assert_no_browser_left();
    let recording = Recording::open(&out).unwrap();
    assert!(recording.frames.len() > 300, "an animating page streams frames: {}", recording.frames.len());

    let frame_ms = 1000.0 / 30.0;
    let mut offsets = Vec::new();
    let facts = decode::decode(&summary.raw_mp4, |frame| {
        let shown = read_clock(&frame.rgba, frame.size.width).expect("clock readable");
        offsets.push(shown as f64 - frame.pts_ns as f64 / 1e6);
    })
    .unwrap();
    let recorded_ns = recording.duration_ms() * 1e6;
    assert!((facts.duration_ns as f64 - recorded_ns).abs() <= frame_ms * 1e6, "raw.mp4 {} ns vs recorded {recorded_ns} ns", facts.duration_ns);
    // The page's clock and the video's start at different moments: one constant offset
    // (the median) must put the frames within a frame interval of their presentation time.
    let mut sorted = offsets.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let off: Vec<f64> = offsets.iter().map(|o| (o - median).abs()).collect();
    let within = off.iter().filter(|&&d| d <= frame_ms).count() as f64 / off.len() as f64;
    let worst = off.iter().copied().fold(0.0, f64::max);
    // Start and end agree: no drift, no slow motion.
    let head: f64 = offsets[..30].iter().sum::<f64>() / 30.0;
    let tail: f64 = offsets[offsets.len() - 30..].iter().sum::<f64>() / 30.0;
    eprintln!(
        "clock: {:.1}% of {} frames within a frame interval, worst {worst:.1} ms; head {head:.1} ms, tail {tail:.1} ms",
        within * 100.0,
        offsets.len()
    );
    assert!((tail - head).abs() <= frame_ms, "drift of {:.1} ms over the recording", tail - head);
    // A page on 2 busy cores sometimes misses an animation frame itself; those frames may
    // sit a little further off (measured worst 35-78 ms), but they must stay rare.
    assert!(within >= 0.97, "only {:.1}% of frames within a frame interval of the page clock", within * 100.0);
}

#[test]
fn a_click_is_on_the_timeline_within_a_frame_of_the_reaction() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("capture-click");
    let out = dir.path().join("rec");
    record(&clock_page(), json!([{"action": "pause", "ms": 800}, {"action": "click", "text": "Click me"}, {"action": "pause", "ms": 800}]), &out).unwrap();
    assert_no_browser_left();
    let recording = Recording::open(&out).unwrap();
    let click = recording
        .events
        .iter()
        .find_map(|e| matches!(e.event, Event::Click { .. }).then_some(e.t_ms))
        .expect("the click is on the timeline");
    let reacted = recording
        .frames
        .iter()
        .enumerate()
        .find_map(|(i, f)| {
            let image = image::load_from_memory(&recording.frame_bytes(i).unwrap()).unwrap().to_rgb8();
            let p = image.get_pixel(600, 400);
            (p[0] > 200 && p[1] < 100).then_some(f.t_ms)
        })
        .expect("the page turned red");
    eprintln!("click at {click:.1} ms, first red frame at {reacted:.1} ms");
    assert!((reacted - click).abs() <= 1000.0 / 30.0, "click at {click:.1} ms, first red frame at {reacted:.1} ms");
}

#[test]
fn a_step_that_cannot_be_done_names_itself_and_keeps_the_recording() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("capture-fail");
    let out = dir.path().join("rec");
    let error = record(&clock_page(), json!([{"action": "click", "text": "No such button", "timeout_ms": 700}]), &out).unwrap_err();
    assert_no_browser_left();
    let message = error.to_string();
    assert!(message.contains("step 1") && message.contains("No such button") && message.contains("not found"), "{message}");
    let recording = Recording::open(&out).unwrap();
    assert!(recording.events.iter().any(|e| matches!(&e.event, Event::Error { message } if message.contains("No such button"))));
    assert!(out.join("raw.mp4").is_file());

    let error = record("notaurl", json!([]), &dir.path().join("rec2")).unwrap_err();
    assert!(error.to_string().contains("notaurl"), "{error}");
}

/// Every frame of raw.mp4 read for anything with an `@`, and for the addresses the
/// workflow types as they are typed, before their `@` (`new.hi`): into an address field,
/// into a plain one, and echoed as text by the page.
#[test]
fn blur_emails_leaves_no_readable_address_and_the_check_can_fail() {
    let _machine = crate::common::whole_machine();
    let page = format!("file://{}/tests/pages/emails.html", env!("CARGO_MANIFEST_DIR"));
    let typed = ["new.hire@acme.io", "kim.lee@acme.io"];
    let steps = json!([
        {"action": "type", "selector": "#invite", "text": typed[0]},
        {"action": "type", "selector": "#note", "text": typed[1]},
        {"action": "pause", "ms": 1200}
    ]);
    let parsed = steps::parse(&steps).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = TempDir::new("capture-emails");
    let mut found = Vec::new();
    let mut known = None;
    for blur in [false, true] {
        let out = dir.path().join(format!("rec-{blur}"));
        let options = RecordOptions { viewport: Size { width: 1280, height: 720 }, blur_emails: blur, ..options(Size { width: 960, height: 540 }) };
        let summary = runtime.block_on(live::record(&page, &parsed, &out, &options, 30, &capture::NoInput)).unwrap();
        assert_no_browser_left();
        let text = crate::privacy::read_every_frame(crate::privacy::mp4_pictures(&summary.raw_mp4), dir.path(), &format!("raw-{blur}"));
        let known = known.get_or_insert_with(|| crate::privacy::Known::from(&text, &typed));
        found.push(crate::privacy::leaks(&text, Some(known), None));
        if blur {
            let recording = Recording::open(&out).unwrap();
            assert!(recording.events.iter().any(|e| matches!(e.event, Event::Redact { .. })), "masked rectangles are reported");
        }
    }
    eprintln!("OCR without masking: {:?}; with masking: {:?}", found[0], found[1]);
    assert!(found[0].len() >= 5, "without masking OCR reads the addresses: {:?}", found[0]);
    let typing = |local: &str| found[0].iter().any(|word| !word.contains('@') && word.contains(local));
    assert!(typing("new.h") && typing("kim.l"), "without masking OCR reads the addresses as they are typed: {:?}", found[0]);
    assert!(found[1].is_empty(), "with masking OCR still reads {:?}", found[1]);
}

/// `tests/pages/widget.html` and the widget it embeds, served from two sites: the page
/// at `localhost`, the widget at `127.0.0.1` (an address and a code field). Answers the
/// page's address.
async fn serve_widget_page() -> String {
    const WIDGET: &str = "<!doctype html><html><body style='margin:12px;font:26px DejaVu Sans,sans-serif'>\
        <p>Signed in as widget.owner@partner.io</p>\
        <input id='code' autocomplete='off' aria-label='Code' style='position:absolute;left:12px;right:12px;top:40%;height:45%;font:40px DejaVu Sans,sans-serif'>\
        </body></html>";
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pages/widget.html")).unwrap();
    let routes = axum::Router::new()
        .route("/page", axum::routing::get(move || async move { axum::response::Html(page) }))
        .route("/widget", axum::routing::get(|| async { axum::response::Html(WIDGET) }));
    let (listener, port) = crate::common::loopback_port().await;
    crate::common::serve(listener, routes);
    format!("http://localhost:{port}/page?widget=http://127.0.0.1:{port}/widget")
}

/// A frame from another site (an embedded payment or sign-in widget) is masked like the
/// page: with blur_emails the address it shows never paints, and a secret typed into its
/// field shows discs from the first key. Every frame of raw.mp4 read; the same recording
/// without masking and with the code typed as plain text shows both (the check can fail).
#[test]
fn a_frame_from_another_site_is_masked_like_the_page() {
    let _machine = crate::common::whole_machine();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let page = runtime.block_on(serve_widget_page());
    let code = "48172093";
    let dir = TempDir::new("capture-widget");
    let mut found = Vec::new();
    for masked in [false, true] {
        let steps = steps::parse(&json!([
            {"action": "wait", "selector": "#widget"},
            {"action": "pause", "ms": 600},
            {"action": "type", "selector": "#widget", "text": code, "secret": masked},
            {"action": "pause", "ms": 800}
        ]))
        .unwrap();
        let out = dir.path().join(format!("rec-{masked}"));
        let options = RecordOptions { viewport: Size { width: 1280, height: 720 }, blur_emails: masked, ..options(Size { width: 960, height: 540 }) };
        let summary = runtime.block_on(live::record(&page, &steps, &out, &options, 30, &capture::NoInput)).unwrap();
        assert_no_browser_left();
        let text = crate::privacy::read_every_frame(crate::privacy::mp4_pictures(&summary.raw_mp4), dir.path(), &format!("raw-{masked}"));
        found.push(crate::privacy::leaks(&text, None, Some(code)));
    }
    eprintln!("OCR without masking: {:?}; with masking: {:?}", found[0], found[1]);
    assert!(found[0].iter().any(|w| w.contains("@partner")), "without masking OCR reads the widget's address: {:?}", found[0]);
    assert!(found[0].iter().any(|w| w.starts_with("code digits")), "without masking OCR reads the code typed into the widget: {:?}", found[0]);
    assert!(found[1].is_empty(), "with masking OCR still reads {:?}", found[1]);
}

/// Kills the renderer processes of this test process's browsers (as an out-of-memory
/// kill would), so the page's renderer crashes mid-recording.
fn crash_renderers() -> usize {
    let mut killed = 0;
    for pid in browser::leftover_processes() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("--type=renderer") {
            // SAFETY: kill(2) on a pid of our own browser's renderer.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            killed += 1;
        }
    }
    killed
}

#[test]
fn alerts_new_tabs_navigation_and_a_crash_end_cleanly() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("capture-trouble");
    let out = dir.path().join("rec");
    let page = format!("file://{}/tests/pages/trouble.html", env!("CARGO_MANIFEST_DIR"));
    let killer = std::thread::spawn(|| {
        // The steps below take about 3 s before the long pause.
        std::thread::sleep(std::time::Duration::from_millis(5000));
        crash_renderers()
    });
    let result = record(
        &page,
        json!([
            {"action": "click", "text": "Alert"},
            {"action": "pause", "ms": 300},
            {"action": "click", "text": "Open tab"},
            {"action": "pause", "ms": 300},
            {"action": "click", "text": "Go to the clock"},
            {"action": "wait", "text": "Click me"},
            {"action": "pause", "ms": 4000},
            {"action": "click", "text": "Click me", "timeout_ms": 3000}
        ]),
        &out,
    );
    assert!(killer.join().unwrap() > 0, "a renderer was running to crash");
    let error = result.unwrap_err().to_string();
    assert!(error.contains("crashed"), "{error}");
    assert_no_browser_left();
    let recording = Recording::open(&out).expect("the recording ended cleanly");
    assert!(out.join("raw.mp4").is_file());
    let messages: Vec<String> = recording.events.iter().filter_map(|e| match &e.event {
        Event::Error { message } => Some(message.clone()),
        _ => None,
    }).collect();
    assert!(messages.iter().any(|m| m.contains("dialog")), "the alert is on the timeline: {messages:?}");
    assert!(messages.iter().any(|m| m.contains("crashed")), "the crash is on the timeline: {messages:?}");
    assert!(
        recording.events.iter().any(|e| matches!(&e.event, Event::Navigation { url } if url.ends_with("clock.html"))),
        "the page's own navigation is on the timeline"
    );
}

#[test]
fn unasked_windows_are_refused_and_asked_ones_never_stop_the_recording() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("capture-popups");
    let out = dir.path().join("rec");
    let page = format!("file://{}/tests/pages/popups.html", env!("CARGO_MANIFEST_DIR"));
    // The page tries a window before the first frame and one during the pauses; the
    // click opens one the blocker lets through (a click asked for it).
    let steps = json!([{"action": "pause", "ms": 1000}, {"action": "click", "selector": "#open"}, {"action": "pause", "ms": 3000}]);
    record(&page, steps, &out).expect("the recording starts and ends");
    assert_no_browser_left();
    let recording = Recording::open(&out).unwrap();
    let times: Vec<f64> = recording.frames.iter().map(|f| f.t_ms).collect();
    let widest_gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    let last = times.last().copied().unwrap_or(0.0);
    // The page paints every animation frame: a page sent to the background paints none
    // for the rest of the recording (4 s without the fix). A loaded machine may delay
    // frames by a few hundred ms; it does not stop them.
    assert!(last > recording.meta.duration_ms - 1500.0, "frames stop at {last} ms of {} ms", recording.meta.duration_ms);
    assert!(widest_gap < 1500.0, "no frame for {widest_gap} ms: the page lost the front to a window it opened");
    // The page paints its own count of unasked windows that opened: green for none.
    let last_frame = image::open(&recording.frames.last().unwrap().path).unwrap().to_rgb8();
    let block = last_frame.get_pixel(60, 90).0;
    assert!(block[1] > 120 && block[0] < 80, "an unasked window opened (block {block:?}, red means opened)");
}

fn stripes_page() -> String {
    format!("file://{}/tests/pages/stripes.html", env!("CARGO_MANIFEST_DIR"))
}

/// The page's clock (ms) painted as 24 full-height stripes, 80 px wide, read mid-height.
fn read_stripes(rgba: &[u8], width: u32, height: u32) -> Option<u32> {
    read_marks(rgba, width, |bit| (bit * 80 + 40, height as usize / 2))
}

/// How far a video's frames are from the page clock they show, once one constant offset
/// (the median: the page and the video start at different moments) is taken out.
#[derive(Debug)]
struct ClockFit {
    frames: usize,
    /// Share of frames within a frame interval (33 ms at 30 fps).
    within: f64,
    p95_ms: f64,
    p99_ms: f64,
    worst_ms: f64,
    /// How fast the clock shown runs against the video's (least squares over every
    /// frame): 1.0 when the video neither runs ahead nor falls behind.
    clock_rate: f64,
}

fn clock_fit(video: &Path) -> ClockFit {
    let mut offsets = Vec::new();
    let mut times = Vec::new();
    decode::decode(video, |frame| {
        let shown = read_stripes(&frame.rgba, frame.size.width, frame.size.height).expect("clock readable");
        times.push(frame.pts_ns as f64 / 1e6);
        offsets.push(shown as f64 - frame.pts_ns as f64 / 1e6);
    })
    .unwrap();
    let n = times.len() as f64;
    let (mean_t, mean_o) = (times.iter().sum::<f64>() / n, offsets.iter().sum::<f64>() / n);
    let covariance: f64 = times.iter().zip(&offsets).map(|(t, o)| (t - mean_t) * (o - mean_o)).sum();
    let variance: f64 = times.iter().map(|t| (t - mean_t).powi(2)).sum();
    let mut sorted = offsets.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut errors: Vec<f64> = offsets.iter().map(|o| (o - median).abs()).collect();
    errors.sort_by(f64::total_cmp);
    ClockFit {
        frames: offsets.len(),
        within: errors.iter().filter(|&&e| e <= 1000.0 / 30.0).count() as f64 / errors.len() as f64,
        p95_ms: errors[errors.len() * 95 / 100],
        p99_ms: errors[errors.len() * 99 / 100],
        worst_ms: *errors.last().unwrap(),
        // The offset's slope against time is how much faster the shown clock runs.
        clock_rate: 1.0 + covariance / variance,
    }
}

#[test]
fn raw_mp4_keeps_the_page_clock_on_a_busy_1080p_page_live_as_from_the_bundle() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("capture-stripes");
    let out = dir.path().join("rec");
    let summary = record_at(&stripes_page(), json!([{"action": "pause", "ms": 20_000}]), &out, Size { width: 1920, height: 1080 }).unwrap();
    assert_no_browser_left();
    let recording = Recording::open(&out).unwrap();
    let live = clock_fit(&summary.raw_mp4);
    let rendered = dir.path().join("from-bundle");
    let mut options = demoreel::options::RenderOptions::default();
    options.video.fps = 30;
    demoreel::render::render(&recording, &options, &rendered, demoreel::render::Outputs::RAW, &mut |_| demoreel::render::Flow::Continue).unwrap();
    let from_bundle = clock_fit(&rendered.join("raw.mp4"));
    eprintln!("busy 1080p page, {} frames captured (live encoder missed {:?}): raw.mp4 {live:?}; rendered from the bundle {from_bundle:?}", recording.frames.len(), summary.raw_missed_live);
    // The live video is as true as the one rendered from the same frames afterwards.
    assert_eq!(live.frames, from_bundle.frames, "one picture per slot in both");
    assert!(live.worst_ms <= from_bundle.worst_ms + 1000.0 / 30.0, "worst live {:.1} ms, from the bundle {:.1} ms", live.worst_ms, from_bundle.worst_ms);
    assert!(live.within >= from_bundle.within - 0.01, "live {:.1}% within a frame interval, from the bundle {:.1}%", live.within * 100.0, from_bundle.within * 100.0);
    assert!(live.p95_ms <= from_bundle.p95_ms + 1000.0 / 60.0, "p95 live {:.1} ms, from the bundle {:.1} ms", live.p95_ms, from_bundle.p95_ms);
    assert!((live.clock_rate - 1.0).abs() <= 0.002, "the video's clock runs at {:.4} of the page's", live.clock_rate);
    // Absolute bounds, with a margin for this shared machine. Alone: 98.5–100% within a
    // frame interval, p99 17–43 ms, worst 25–82 ms (this test and `demoreel record` of
    // the page, 28 recordings in one evening; 97.6% on a busier day); the worst frames
    // follow gaps of 50–85 ms in Chromium's own frames, which recordings without any
    // live encoder show as well (docs/recording-format.md). 91.8% with another process busy meanwhile, and once a
    // single frame 177 ms off (a stall of the virtual machine): the worst frame only has
    // to stay short of what losing frames gave (700 ms and more).
    assert!(live.within >= 0.97, "only {:.1}% of frames within a frame interval of the page clock", live.within * 100.0);
    assert!(live.p99_ms <= 50.0, "1% of frames more than {:.1} ms off the page clock", live.p99_ms);
    assert!(live.worst_ms <= 300.0, "a frame {:.1} ms off the page clock", live.worst_ms);
}

fn checker_page() -> String {
    format!("file://{}/tests/pages/checker.html", env!("CARGO_MANIFEST_DIR"))
}

/// How closely a region of a picture follows a checkerboard of single pixels: the
/// correlation of its luma with ±1 by the parity of x + y (1: the board itself; 0: grey,
/// or a board resampled into moiré). The sign says which colour starts, so it is dropped.
fn checkerboard_score(rgba: &[u8], width: u32, region: (usize, usize, usize, usize)) -> f64 {
    let (x0, y0, w, h) = region;
    let mut luma = Vec::with_capacity(w * h);
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let at = (y * width as usize + x) * 4;
            luma.push((rgba[at] as f64 * 0.299 + rgba[at + 1] as f64 * 0.587 + rgba[at + 2] as f64 * 0.114, (x + y) % 2));
        }
    }
    let n = luma.len() as f64;
    let mean = luma.iter().map(|(l, _)| l).sum::<f64>() / n;
    let deviation = (luma.iter().map(|(l, _)| (l - mean).powi(2)).sum::<f64>() / n).sqrt();
    let signed = luma.iter().map(|(l, parity)| (l - mean) * if *parity == 1 { 1.0 } else { -1.0 }).sum::<f64>() / n;
    (signed / deviation.max(1e-9)).abs()
}

/// A 1920×1080 video is a 1280×720 page at device scale 1.5: the browser must paint and
/// deliver 1920×1080 device pixels, so a checkerboard of single device pixels reaches the
/// bundle and raw.mp4 one to one (delivered at 1280×720 and scaled up, it became moiré).
#[test]
fn a_page_recorded_at_device_scale_keeps_single_pixel_detail_in_the_bundle_and_raw_mp4() {
    // Alone: it checks that no browser of this process is left, so another test's must
    // not be running.
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("capture-checker");
    let out = dir.path().join("rec");
    let page = demoreel::geometry::PageSize { viewport: Size { width: 1280, height: 720 }, device_scale_factor: 1.5 };
    let step_list = steps::parse(&json!([{"action": "pause", "ms": 1000}])).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let summary = runtime.block_on(live::record(&checker_page(), &step_list, &out, &RecordOptions::new(page), 30, &capture::NoInput)).unwrap();
    assert_no_browser_left();
    let recording = Recording::open(&out).unwrap();
    let full_hd = Size { width: 1920, height: 1080 };
    assert_eq!(recording.meta.frame_size, full_hd, "meta.json states device pixels");
    assert_eq!(summary.frame_size, full_hd);
    assert!(!recording.frames.is_empty());
    for frame in &recording.frames {
        let (width, height) = image::image_dimensions(&frame.path).unwrap();
        assert_eq!(Size { width, height }, recording.meta.frame_size, "{} has the size meta.json states", frame.path.display());
    }
    let first = image::open(&recording.frames[0].path).unwrap().into_rgba8();
    let in_bundle = checkerboard_score(first.as_raw(), first.width(), (760, 440, 400, 200));
    let mut in_video = Vec::new();
    decode::decode(&summary.raw_mp4, |frame| {
        assert_eq!(frame.size, full_hd, "raw.mp4 at the frames' size");
        // The middle and a corner: a resampling shows everywhere, a crop at the edges.
        in_video.push(checkerboard_score(&frame.rgba, frame.size.width, (760, 440, 400, 200)));
        in_video.push(checkerboard_score(&frame.rgba, frame.size.width, (1700, 900, 200, 160)));
    })
    .unwrap();
    let worst = in_video.iter().copied().fold(f64::INFINITY, f64::min);
    let kept = in_video.iter().filter(|s| **s >= 0.8).count() as f64 / in_video.len() as f64;
    eprintln!("checkerboard score: bundle's first frame {in_bundle:.3}; raw.mp4's worst region of {} frames {worst:.3}, {:.0}% of regions >= 0.8", in_video.len() / 2, kept * 100.0);
    assert!(in_bundle >= 0.9, "the bundle's frame keeps the board: score {in_bundle:.3}");
    // A capture scaled up scores 0.07–0.12 in every frame. Every region of every frame
    // must keep the board: x264's rate cap once turned a repeat of it grey.
    assert!(worst >= 0.8, "raw.mp4 keeps the board one to one: worst region {worst:.3}, {:.0}% of regions >= 0.8", kept * 100.0);
}

/// A browser that cannot paint device pixels (here Chromium behind a wrapper that drops
/// the device-scale flag, as a build or a machine that ignores it would) delivers frames
/// at CSS size: the bundle says the size its frames really have, the run still ships a
/// video of the asked size, and its events say why that video is soft (`capture_smaller`).
#[test]
fn a_browser_that_delivers_smaller_frames_is_reported_in_the_runs_events() {
    use crate::service::{Client, Server, api_key, terminal};
    use std::time::Duration;
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("capture-smaller");
    let wrapper = dir.path().join("chromium-without-device-scale");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nfor arg do\n  shift\n  case \"$arg\" in --force-device-scale-factor=*) ;; *) set -- \"$@\" \"$arg\" ;; esac\ndone\nexec /usr/bin/chromium \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(demoreel::sample_app::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let server = Server::start_with_env(&data, &[], &[("DEMOREEL_CHROMIUM", wrapper.to_str().unwrap())]);
    let key = api_key(&data);
    runtime.block_on(async {
        let client = Client::new(&server, &key);
        let options = json!({"workflow": {"steps": [{"action": "pause", "ms": 1000}]}, "video": {"size": {"width": 1920, "height": 1080}}});
        let id = client.create(json!({"target_url": app.url("/login"), "goal": "Show the sign-in page", "options": options})).await;
        let done = client.wait_for(&id, Duration::from_secs(120), terminal).await;
        assert_eq!(done["status"], "succeeded", "{done}");

        // The run keeps its recording in the store, as a tar of the bundle.
        let bundle = demoreel::recording::archive::unpack(&data.join("artifacts").join(&id).join("recording.tar"), &dir.path().join("kept")).unwrap();
        let css = Size { width: 1280, height: 720 };
        assert_eq!(bundle.meta.frame_size, css, "meta.json states the size the frames came at");
        for frame in &bundle.frames {
            let (width, height) = image::image_dimensions(&frame.path).unwrap();
            assert_eq!(Size { width, height }, css, "{}", frame.path.display());
        }

        let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{id}/artifacts"), None).await;
        let artifact = |name: &str| listed["data"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap_or_else(|| panic!("no {name}: {listed}"))["id"].as_str().unwrap().to_string();
        let events = String::from_utf8(client.download(&artifact("events.jsonl")).await.1).unwrap();
        let smaller: serde_json::Value = events
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|e| e["type"] == "capture_smaller")
            .unwrap_or_else(|| panic!("no capture_smaller event: {events}"));
        eprintln!("{smaller}");
        assert_eq!(smaller["delivered"], json!({"width": 1280, "height": 720}), "{smaller}");
        let asked = (smaller["asked"]["width"].as_u64().unwrap(), smaller["asked"]["height"].as_u64().unwrap());
        assert!(asked.0 > 1280 && asked.1 > 720, "{smaller}");

        let demo = dir.path().join("demo.mp4");
        std::fs::write(&demo, client.download(&artifact("demo.mp4")).await.1).unwrap();
        let facts = decode::probe(&demo).unwrap();
        assert_eq!(facts.size, Size { width: 1920, height: 1080 }, "the video keeps the asked size");
    });
}

/// A `select` step chooses by value or by visible text, firing the change a person's
/// choice fires (the page shows the choice only from it); an option the drop-down does
/// not offer fails the step naming what it does offer.
#[test]
fn a_select_step_chooses_an_option_as_a_person_would_and_names_the_options_when_it_cannot() {
    let _machine = crate::common::whole_machine();
    let dir = TempDir::new("capture-select");
    let page = format!("file://{}/tests/pages/choices.html", env!("CARGO_MANIFEST_DIR"));
    let chose = json!([
        {"action": "select", "role": "combobox", "name": "Plan", "option": "Enterprise"},
        {"action": "wait", "text": "You chose Enterprise (enterprise)", "timeout_ms": 3000},
        {"action": "select", "selector": "#plan", "option": "team"},
        {"action": "wait", "text": "You chose Team (team)", "timeout_ms": 3000}
    ]);
    record(&page, chose, &dir.path().join("chose")).expect("both choices were made and shown");
    assert_no_browser_left();
    let error = record(&page, json!([{"action": "select", "selector": "#plan", "option": "Platinum"}]), &dir.path().join("missing")).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("Platinum") && message.contains(r#""Free", "Team", "Enterprise""#), "{message}");
    let error = record(&page, json!([{"action": "select", "selector": "#chosen", "option": "team"}]), &dir.path().join("not-a-select")).unwrap_err();
    assert!(error.to_string().contains("not a drop-down"), "{error}");
}

/// A session dropped without `close` (an error path, a cancelled task) on an async worker
/// still ends every browser process and removes its profile, from a blocking thread.
#[test]
fn a_browser_session_dropped_without_closing_leaves_nothing_behind() {
    // Alone: it checks that no browser of this process is left.
    let _machine = crate::common::whole_machine();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let profile = runtime.block_on(async {
        let session = browser::Session::launch(None, &Default::default(), 1.0).await.unwrap();
        let profile = session.profile_dir().to_path_buf();
        assert!(profile.is_dir() && !browser::leftover_processes().is_empty(), "the browser runs with its profile");
        drop(session);
        profile
    });
    assert_no_browser_left();
    for _ in 0..100 {
        if !profile.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{} is still there", profile.display());
}
