//! The one URL rule, for a run's target, a `goto` step and a recording's start page.
//! Input: the text a user gave. Output: the parsed URL and its host, or why it is refused.
//! Invariant: a URL that passes is absolute, has no whitespace, is at most
//! [`MAX_URL_CHARS`] long, uses one of the allowed schemes, and names a host when it is
//! http or https.

pub const MAX_URL_CHARS: usize = 2048;

/// Which schemes a caller accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schemes {
    /// http and https: what the service opens for whoever holds a key.
    Web,
    /// http, https and file: `demoreel record` on the operator's own machine.
    WebAndFile,
}

/// A URL that passed the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedUrl {
    pub url: url::Url,
    /// The host of an http(s) URL; `None` for a file URL.
    pub host: Option<String>,
}

/// Checks `text` against the rule.
pub fn check(text: &str, schemes: Schemes) -> Result<CheckedUrl, String> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(format!("must be at most {MAX_URL_CHARS} characters"));
    }
    let expected = match schemes {
        Schemes::Web => "an absolute http or https URL",
        Schemes::WebAndFile => "an absolute http, https or file URL",
    };
    // The parser would quietly drop or encode spaces; a URL with one is a typo.
    if text.chars().any(char::is_whitespace) {
        return Err(format!("{text:?} is not {expected} (it holds whitespace)"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not {expected} ({e})"))?;
    match (url.scheme(), schemes) {
        ("http" | "https", _) => {
            let host = url.host_str().filter(|h| !h.is_empty()).map(str::to_string).ok_or_else(|| format!("{text:?} has no host"))?;
            Ok(CheckedUrl { host: Some(host), url })
        }
        ("file", Schemes::WebAndFile) if text.starts_with("file:///") && text.len() > "file:///".len() => Ok(CheckedUrl { host: None, url }),
        (scheme, _) => Err(format!("must be {expected}, not {scheme}")),
    }
}

/// Whether `host` is `domain` or one of its subdomains: the one rule for which saved
/// login serves a target (`example.com` serves `app.example.com`, not `badexample.com`).
pub fn host_within(host: &str, domain: &str) -> bool {
    let (host, domain) = (host.trim_end_matches('.').to_ascii_lowercase(), domain.trim_end_matches('.').to_ascii_lowercase());
    !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_names_what_is_wrong() {
        assert_eq!(check("https://app.example.com/login", Schemes::Web).unwrap().host.as_deref(), Some("app.example.com"));
        assert!(check("file:///tmp/page.html", Schemes::WebAndFile).unwrap().host.is_none());
        assert!(check("file:///tmp/page.html", Schemes::Web).unwrap_err().contains("not file"));
        assert!(check("localhost", Schemes::WebAndFile).is_err());
        assert!(check("http://a b/", Schemes::Web).unwrap_err().contains("whitespace"));
        assert!(check("ftp://a/", Schemes::Web).is_err());
        assert!(check(&format!("https://a.test/{}", "x".repeat(MAX_URL_CHARS)), Schemes::Web).unwrap_err().contains("at most"));
    }

    #[test]
    fn a_domain_covers_itself_and_its_subdomains_only() {
        assert!(host_within("app.orbit.test", "orbit.test") && host_within("Orbit.Test", "orbit.test"));
        assert!(!host_within("evilorbit.test", "orbit.test") && !host_within("orbit.test", "app.orbit.test"));
    }
}
