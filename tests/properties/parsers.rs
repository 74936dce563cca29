//! Run requests, options, steps, URLs, `Range`, list cursors, signed URLs and the cursor
//! path: no input panics, and what is accepted holds the parser's promises.

use crate::generate::{json, mutate, valid_run_request, word};
use demoreel::api::error::ApiError;
use demoreel::api::validate::new_run;
use demoreel::egress::TargetPolicy;
use demoreel::recording::{Button, Event, TimedEvent};
use demoreel::steps::{self, Schemes, Step};
use demoreel::timeline::cursor::{CursorPath, to_output_events};
use proptest::prelude::*;
use serde_json::Value;
use std::net::IpAddr;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// A run request with any part replaced: accepted with a public http(s) target and
    /// bounded steps, or refused with details that each name a field of the request.
    #[test]
    fn run_requests_are_accepted_whole_or_refused_by_field(at in any::<prop::sample::Index>(), replacement in json()) {
        let body = mutate(&valid_run_request(), at, replacement);
        check_run_request(&body)?;
    }

    /// Any JSON at all as a run request.
    #[test]
    fn any_json_as_a_run_request(body in json()) {
        check_run_request(&body)?;
    }

    /// Options alone: no panic; errors name fields under the options.
    #[test]
    fn options_parse_or_name_the_field(at in any::<prop::sample::Index>(), replacement in json()) {
        let options = mutate(&valid_run_request()["options"], at, replacement);
        if let Err(e) = demoreel::options::parse(&options) {
            prop_assert!(!e.details.is_empty());
            for detail in &e.details {
                prop_assert!(!detail.field.is_empty() && !detail.message.is_empty(), "{detail:?}");
            }
        }
    }

    /// A step list from anywhere: what parses for the service holds only web URLs and
    /// values within the published bounds.
    #[test]
    fn parsed_steps_stay_within_bounds(at in any::<prop::sample::Index>(), replacement in json()) {
        let list = mutate(&valid_run_request()["options"]["workflow"], at, replacement);
        match steps::parse_with(&list, Schemes::Web) {
            Ok(parsed) => check_steps(&parsed)?,
            Err(e) => prop_assert!(e.field.starts_with("steps"), "{e}"),
        }
    }

    /// The one URL rule: an accepted URL is http(s) with a host, short and without
    /// whitespace; file URLs pass only where asked for.
    #[test]
    fn the_url_rule_holds(text in prop_oneof![word(), "[a-z]{1,6}:[/]{0,3}[ -~]{0,40}", ".{0,60}"]) {
        if let Ok(checked) = steps::url::check(&text, Schemes::Web) {
            prop_assert!(matches!(checked.url.scheme(), "http" | "https"), "{text:?}");
            prop_assert!(checked.host.is_some_and(|h| !h.is_empty()));
            prop_assert!(!text.chars().any(char::is_whitespace) && text.chars().count() <= steps::url::MAX_URL_CHARS);
        }
        if let Ok(checked) = steps::url::check(&text, Schemes::WebAndFile) {
            prop_assert!(matches!(checked.url.scheme(), "http" | "https" | "file"), "{text:?}");
        }
    }

    /// The default target policy refuses every loopback, private, link-local and
    /// unspecified address, however the URL spells it.
    #[test]
    fn inward_addresses_are_refused_in_every_spelling(a in any::<u8>(), b in any::<u8>(), c in any::<u8>(), kind in 0usize..5, spelling in 0usize..4) {
        let v4 = match kind {
            0 => [127, a, b, c],
            1 => [10, a, b, c],
            2 => [192, 168, b, c],
            3 => [169, 254, b, c],
            _ => [172, 16 + (a % 16), b, c],
        };
        let ip = std::net::Ipv4Addr::from(v4);
        let host = match spelling {
            0 => ip.to_string(),
            1 => u32::from(ip).to_string(),
            2 => format!("[::ffff:{ip}]"),
            _ => format!("0x{:x}", u32::from(ip)),
        };
        let url = url::Url::parse(&format!("http://{host}/x")).unwrap();
        prop_assert!(TargetPolicy::public_only().check_url(&url).is_err(), "{url} was allowed");
        prop_assert!(TargetPolicy::public_only().check_ip(IpAddr::V4(ip)).is_err());
    }

    /// `Range`: an answered range lies inside the file, first ≤ last.
    #[test]
    fn ranges_lie_inside_the_file(text in prop_oneof![
        "bytes=[0-9]{0,21}-[0-9]{0,21}",
        "bytes=-?[0-9]{0,21}",
        "[ -~]{0,30}",
    ], size in prop_oneof![Just(0u64), 1u64..10, any::<u64>()]) {
        if let Ok(Some((first, last))) = demoreel::api::parse_range(&text, size) {
            prop_assert!(first <= last && last < size, "{text:?} of {size} → {first}-{last}");
        }
    }

    /// List cursors: every place round-trips; any text decodes to a place or to nothing.
    #[test]
    fn cursors_round_trip(seq in any::<i64>(), garbage in "[ -~]{0,40}") {
        prop_assert_eq!(demoreel::db::decode_cursor(&demoreel::db::encode_cursor(seq)), Some(seq));
        let _ = demoreel::db::decode_cursor(&garbage);
    }

    /// Signed download URLs: a signature verifies for its own artifact and expiry until
    /// then, and for nothing else.
    #[test]
    fn signed_urls_verify_only_as_signed(id in "[a-f0-9-]{1,36}", other in "[a-f0-9-]{1,36}", expires in 0u64..u64::MAX / 2, now in 0u64..u64::MAX / 2, flip in 0usize..64, garbage in "[ -~]{0,80}") {
        let signer = signer();
        let signature = signer.sign(&id, expires);
        prop_assert_eq!(signer.verify(&id, expires, &signature, now), now <= expires);
        if other != id {
            prop_assert!(!signer.verify(&other, expires, &signature, 0));
        }
        prop_assert!(!signer.verify(&id, expires + 1, &signature, 0));
        let mut tampered = signature.clone().into_bytes();
        tampered[flip] = if tampered[flip] == b'0' { b'1' } else { b'0' };
        prop_assert!(!signer.verify(&id, expires, &String::from_utf8(tampered).unwrap(), 0));
        prop_assert!(!signer.verify(&id, expires, &garbage, 0) || garbage == signature);
    }

    /// The cursor path passes through every press, release and click at its time, is
    /// finite everywhere, and its press dip stays between 0.8 and 1.
    #[test]
    fn the_cursor_path_hits_every_click(events in prop::collection::vec((1.0f64..400.0, 0usize..4, -50.0f64..2000.0, -50.0f64..1200.0), 0..40), probes in prop::collection::vec(-100.0f64..20_000.0, 8)) {
        let mut t = 0.0;
        let timed: Vec<TimedEvent> = events.iter().map(|&(gap, kind, x, y)| {
            t += gap;
            let event = match kind {
                0 => Event::PointerMove { x, y },
                1 => Event::PointerDown { x, y, button: Button::Left },
                2 => Event::PointerUp { x, y, button: Button::Left },
                _ => Event::Click { x, y, button: Button::Left },
            };
            TimedEvent { t_ms: t, event }
        }).collect();
        let path = CursorPath::build(&to_output_events(&timed, |t| t));
        for event in &timed {
            if let Event::PointerDown { x, y, .. } | Event::PointerUp { x, y, .. } | Event::Click { x, y, .. } = event.event {
                let at = path.position(event.t_ms).expect("a path with points has a position");
                prop_assert!((at.x - x).abs() < 1e-6 && (at.y - y).abs() < 1e-6, "at {} ms: {:?}, pressed at ({x}, {y})", event.t_ms, at);
            }
        }
        for probe in probes {
            if let Some(at) = path.position(probe) {
                prop_assert!(at.x.is_finite() && at.y.is_finite());
            }
            let scale = path.press_scale(probe);
            prop_assert!((0.8..=1.0).contains(&scale), "{scale}");
        }
    }
}

fn signer() -> demoreel::secrets::UrlSigner {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("demoreel-properties-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    });
    demoreel::secrets::UrlSigner::load_or_create(&dir.join("url.key")).unwrap()
}

fn check_run_request(body: &Value) -> Result<(), TestCaseError> {
    match new_run(body, &TargetPolicy::public_only(), &demoreel::api::validate::builtin_intro_template(body)) {
        Ok(run) => {
            let url = url::Url::parse(&run.target_url).expect("accepted targets parse");
            prop_assert!(matches!(url.scheme(), "http" | "https"));
            prop_assert!(TargetPolicy::public_only().check_url(&url).is_ok());
            prop_assert!(!run.goal.trim().is_empty());
            if let Some(list) = run.options_json.get("workflow").and_then(|w| w.get("steps")) {
                let parsed = steps::parse_with(&serde_json::json!({ "steps": list }), Schemes::Web).expect("accepted steps parse again");
                check_steps(&parsed)?;
                prop_assert_eq!(run.options.workflow.as_ref(), Some(&parsed), "the typed workflow is the stored one");
            }
        }
        Err(ApiError::Invalid { details, .. }) => {
            prop_assert!(!details.is_empty());
            for detail in &details {
                let root = detail.field.split(['.', '[']).next().unwrap_or_default();
                prop_assert!(["body", "target_url", "goal", "options"].contains(&root), "{detail:?} names no field of the request");
            }
        }
        Err(other) => prop_assert!(false, "a run request was answered {other:?}, not 400"),
    }
    Ok(())
}

fn check_steps(parsed: &[Step]) -> Result<(), TestCaseError> {
    prop_assert!(parsed.len() <= steps::MAX_STEPS);
    for step in parsed {
        match step {
            Step::Goto { url, .. } => prop_assert!(steps::url::check(url, Schemes::Web).is_ok()),
            Step::Pause { ms, .. } => prop_assert!(*ms <= steps::MAX_WAIT_MS),
            Step::Type { text, timeout_ms, .. } => {
                prop_assert!(text.chars().count() <= steps::MAX_TYPED_CHARS);
                prop_assert!(timeout_ms.unwrap_or(0) <= steps::MAX_WAIT_MS);
            }
            Step::Click { timeout_ms, .. } | Step::Wait { timeout_ms, .. } | Step::Input { timeout_ms, .. } => {
                prop_assert!(timeout_ms.unwrap_or(0) <= steps::MAX_WAIT_MS)
            }
            _ => {}
        }
    }
    Ok(())
}
