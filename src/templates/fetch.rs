//! Fetching the images a card shows (`logoUrl`). Input: an http(s) URL and the target
//! policy runs obey. Output: the image's bytes and format, or why not. Invariant: at most
//! [`MAX_IMAGE_BYTES`] are read, within [`FETCH_TIMEOUT`], following at most
//! [`MAX_REDIRECTS`] redirects, each hop checked against the policy before connecting and
//! each resolved address checked before use; the format comes from the bytes.

use super::{Image, ImageFormat};
use crate::egress::TargetPolicy;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_REDIRECTS: usize = 3;
/// Images kept in memory by URL (a run and its previews fetch a logo once).
const CACHE_ENTRIES: usize = 32;

/// Fetches the image at `url`, from the cache when it was fetched before under the same
/// policy.
pub async fn image(url: &str, policy: &TargetPolicy) -> Result<Image, String> {
    static CACHE: OnceLock<Mutex<Vec<(String, Image)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let key = format!("{url}\n{policy:?}");
    if let Some((_, image)) = cache.lock().unwrap().iter().find(|(k, _)| *k == key) {
        return Ok(image.clone());
    }
    let image = fetch(url, policy).await?;
    let mut entries = cache.lock().unwrap();
    if entries.len() == CACHE_ENTRIES {
        entries.remove(0);
    }
    entries.push((key, image.clone()));
    Ok(image)
}

/// Every image field of `content` fetched, keyed by field.
pub async fn images(fields: &[String], content: &serde_json::Map<String, serde_json::Value>, policy: &TargetPolicy) -> Result<HashMap<String, Image>, String> {
    let mut out = HashMap::new();
    for field in fields {
        if let Some(url) = content.get(field).and_then(|v| v.as_str()) {
            let image = image(url, policy).await.map_err(|reason| format!("{field}: {reason}"))?;
            out.insert(field.clone(), image);
        }
    }
    Ok(out)
}

async fn fetch(url: &str, policy: &TargetPolicy) -> Result<Image, String> {
    let parsed = crate::steps::url::check(url, crate::steps::url::Schemes::Web)?.url;
    policy.check_url(&parsed)?;
    let redirect_policy = policy.clone();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .user_agent(concat!("demoreel/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(PolicyResolver { policy: policy.clone() }))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            let next = attempt.url().clone();
            if !matches!(next.scheme(), "http" | "https") {
                return attempt.error(format!("a redirect to {next}: only http and https"));
            }
            match redirect_policy.check_url(&next) {
                Ok(()) => attempt.follow(),
                Err(reason) => attempt.error(format!("a redirect to {next}: {reason}")),
            }
        }))
        .build()
        .map_err(|e| e.to_string())?;
    let work = async {
        let mut response = client.get(parsed.clone()).send().await.map_err(describe)?;
        if !response.status().is_success() {
            return Err(format!("{} answered {}", response.url(), response.status()));
        }
        if response.content_length().is_some_and(|n| n > MAX_IMAGE_BYTES as u64) {
            return Err(format!("{} bytes; at most {MAX_IMAGE_BYTES}", response.content_length().unwrap_or(0)));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if bytes.len() + chunk.len() > MAX_IMAGE_BYTES {
                return Err(format!("more than {MAX_IMAGE_BYTES} bytes"));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    let bytes = tokio::time::timeout(FETCH_TIMEOUT, work).await.map_err(|_| format!("no whole answer within {} s", FETCH_TIMEOUT.as_secs()))??;
    let kind = ImageFormat::sniff(&bytes).ok_or("not a PNG, JPEG or SVG image")?;
    check_decodes(&bytes, kind)?;
    Ok(Image { bytes: Arc::new(bytes), kind })
}

/// The reason of a failed request, with its causes (reqwest's own text says little).
fn describe(error: reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if error.is_timeout() { format!("no answer within {} s", FETCH_TIMEOUT.as_secs()) } else { text }
}

/// An image that does not decode is refused now rather than drawn as nothing.
fn check_decodes(bytes: &[u8], kind: ImageFormat) -> Result<(), String> {
    match kind {
        ImageFormat::Png | ImageFormat::Jpeg => {
            let format = if kind == ImageFormat::Png { image::ImageFormat::Png } else { image::ImageFormat::Jpeg };
            let reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
            let (w, h) = reader.into_dimensions().map_err(|e| format!("the image does not decode: {e}"))?;
            if w == 0 || h == 0 || w > 8192 || h > 8192 {
                return Err(format!("{w}×{h} pixels; at most 8192 on a side"));
            }
            Ok(())
        }
        ImageFormat::Svg => {
            let options = super::scene::sealed_options(&Arc::new(HashMap::new()));
            resvg::usvg::Tree::from_data(bytes, &options).map(|_| ()).map_err(|e| format!("the SVG does not parse: {e}"))
        }
    }
}

/// Resolves names and keeps only the addresses the policy allows, so a name that points
/// inward cannot be used to reach the inside.
struct PolicyResolver {
    policy: TargetPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if policy.allows_name(&host) {
                return Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs);
            }
            let mut refusals = Vec::new();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check_ip(a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refusals.push(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refusals.first().cloned().unwrap_or_else(|| "no address".into());
                return Err(format!("{host} resolves to {why}, which runs may not reach").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
