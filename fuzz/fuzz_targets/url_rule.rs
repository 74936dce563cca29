//! Any text through the one URL rule and the default target policy: no panic; an
//! accepted URL is http(s) with a host; an address the policy lets through is public.
#![no_main]
use demoreel::egress::TargetPolicy;
use demoreel::steps::{Schemes, url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(checked) = url::check(text, Schemes::Web) {
        assert!(matches!(checked.url.scheme(), "http" | "https"));
        assert!(checked.host.is_some());
        if TargetPolicy::public_only().check_url(&checked.url).is_ok()
            && let Some(::url::Host::Ipv4(ip)) = checked.url.host()
        {
            assert!(!ip.is_loopback() && !ip.is_private() && !ip.is_link_local(), "{text:?} reached {ip}");
        }
    }
    let _ = url::check(text, Schemes::WebAndFile);
    let _ = TargetPolicy::parse(text, "fuzz");
});
