//! Any bytes as a run request body: parsing never panics; an accepted request has a
//! public http(s) target and steps that parse again for the service.
#![no_main]
use demoreel::egress::TargetPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = demoreel::options::parse(&body);
    let _ = demoreel::steps::parse_with(&body, demoreel::steps::Schemes::Web);
    let intro_template = demoreel::api::validate::builtin_intro_template(&body);
    if let Ok(run) = demoreel::api::validate::new_run(&body, &TargetPolicy::public_only(), &intro_template) {
        let url = url::Url::parse(&run.target_url).expect("accepted targets parse");
        assert!(TargetPolicy::public_only().check_url(&url).is_ok());
        if let Some(steps) = run.options_json.get("workflow").and_then(|w| w.get("steps")) {
            let parsed = demoreel::steps::parse_with(&serde_json::json!({ "steps": steps }), demoreel::steps::Schemes::Web).expect("accepted steps parse again");
            assert_eq!(run.options.workflow.as_ref(), Some(&parsed), "the typed workflow is the stored one");
        }
    }
});
