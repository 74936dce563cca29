//! Where artifacts go, from `--store`. Input: `DIR`, `file://DIR` or
//! `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path_style=true|false&downloads=redirect|stream&presign_ttl_s=N&part_size_mib=N]`.
//! Output: [`StoreSettings`]. Invariant: every setting is checked here, by name, before
//! anything is stored; credentials are never part of the URL.

use std::path::PathBuf;
use std::time::Duration;

pub enum StoreSettings {
    Local(PathBuf),
    S3(S3Settings),
}

/// How the API answers a download of an object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Downloads {
    /// 302 to a presigned GET: the bytes flow from the store, not through the API.
    Redirect,
    /// The API reads the object (with the client's range) and streams it.
    Stream,
}

#[derive(Clone, Debug)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix without slashes at either end ("" for none).
    pub prefix: String,
    /// An S3-compatible server's URL; none for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    /// `http://HOST/BUCKET/KEY` rather than `http://BUCKET.HOST/KEY`: what most
    /// S3-compatible servers expect; the default when an endpoint is given.
    pub path_style: bool,
    pub downloads: Downloads,
    pub presign_ttl: Duration,
    /// Files larger than this go up in parts of this size (S3's least is 5 MiB).
    pub part_size: u64,
}

impl S3Settings {
    /// `s3://BUCKET/PREFIX at ENDPOINT`, for messages.
    pub fn describe(&self) -> String {
        let place = if self.prefix.is_empty() { format!("s3://{}", self.bucket) } else { format!("s3://{}/{}", self.bucket, self.prefix) };
        match &self.endpoint {
            Some(endpoint) => format!("{place} ({endpoint})"),
            None => place,
        }
    }
}

impl StoreSettings {
    /// `flag` names the option in errors (`--store`).
    pub fn parse(value: &str, flag: &str) -> Result<StoreSettings, String> {
        match value.split_once("://") {
            None => Ok(StoreSettings::Local(PathBuf::from(value))),
            Some(("file", path)) if !path.is_empty() => Ok(StoreSettings::Local(PathBuf::from(path))),
            Some(("s3", _)) => parse_s3(value, flag).map(StoreSettings::S3),
            Some((scheme, _)) => Err(format!("{flag} {value}: {scheme}:// is not supported (use DIR, file://DIR or s3://BUCKET/PREFIX)")),
        }
    }
}

fn parse_s3(value: &str, flag: &str) -> Result<S3Settings, String> {
    let bad = |what: String| format!("{flag}: {what}");
    let url = url::Url::parse(value).map_err(|e| bad(format!("{value}: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into()));
    }
    let bucket = url.host_str().unwrap_or_default().to_string();
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok {
        return Err(bad(format!("bucket {bucket:?}: 3-63 lowercase letters, digits, dots and hyphens")));
    }
    // From the text as given: the URL parser would resolve `a/../b` to `b` unseen.
    let after_bucket = value.split(['?', '#']).next().unwrap_or_default().strip_prefix("s3://").and_then(|rest| rest.split_once('/'));
    let prefix = after_bucket.map(|(_, path)| path.trim_matches('/')).unwrap_or_default().to_string();
    let part_ok = |part: &str| !part.is_empty() && part != "." && part != ".." && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !prefix.is_empty() && !prefix.split('/').all(part_ok) {
        return Err(bad(format!("prefix {prefix:?}: parts of letters, digits, '.', '_' and '-' (no empty, . or .. parts)")));
    }
    let mut settings = S3Settings {
        bucket,
        prefix,
        endpoint: None,
        region: std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| "us-east-1".into()),
        path_style: false,
        downloads: Downloads::Redirect,
        presign_ttl: Duration::from_secs(300),
        part_size: 8 << 20,
    };
    let mut path_style = None;
    for (name, setting) in url.query_pairs() {
        let setting = setting.to_string();
        match name.as_ref() {
            "endpoint" => {
                let endpoint = url::Url::parse(&setting).map_err(|e| bad(format!("endpoint {setting:?}: {e}")))?;
                if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
                    return Err(bad(format!("endpoint {setting:?}: must be an http or https URL")));
                }
                settings.endpoint = Some(setting.trim_end_matches('/').to_string());
            }
            "region" if !setting.is_empty() => settings.region = setting,
            "path_style" => path_style = Some(parse_bool(&setting).ok_or_else(|| bad(format!("path_style {setting:?}: true or false")))?),
            "downloads" => {
                settings.downloads = match setting.as_str() {
                    "redirect" => Downloads::Redirect,
                    "stream" => Downloads::Stream,
                    _ => return Err(bad(format!("downloads {setting:?}: redirect or stream"))),
                }
            }
            "presign_ttl_s" => {
                let seconds = setting.parse::<u64>().ok().filter(|s| (1..=604_800).contains(s));
                settings.presign_ttl = Duration::from_secs(seconds.ok_or_else(|| bad(format!("presign_ttl_s {setting:?}: 1 to 604800 seconds")))?);
            }
            "part_size_mib" => {
                let mib = setting.parse::<u64>().ok().filter(|m| (5..=5120).contains(m));
                settings.part_size = mib.ok_or_else(|| bad(format!("part_size_mib {setting:?}: 5 to 5120")))? << 20;
            }
            other => return Err(bad(format!("unknown setting {other:?} (endpoint, region, path_style, downloads, presign_ttl_s, part_size_mib)"))),
        }
    }
    settings.path_style = path_style.unwrap_or(settings.endpoint.is_some());
    Ok(settings)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(value: &str) -> Result<S3Settings, String> {
        match StoreSettings::parse(value, "--store")? {
            StoreSettings::S3(settings) => Ok(settings),
            StoreSettings::Local(_) => panic!("{value} read as a directory"),
        }
    }

    #[test]
    fn an_s3_url_names_bucket_prefix_and_server() {
        let settings = s3("s3://demo-artifacts/team/a?endpoint=http://127.0.0.1:9000/&region=eu-west-1&downloads=stream&part_size_mib=16").unwrap();
        assert_eq!(settings.bucket, "demo-artifacts");
        assert_eq!(settings.prefix, "team/a");
        assert_eq!(settings.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(settings.region, "eu-west-1");
        assert!(settings.path_style, "path style is the default beside an endpoint");
        assert_eq!(settings.downloads, Downloads::Stream);
        assert_eq!(settings.part_size, 16 << 20);
        let plain = s3("s3://demo-artifacts").unwrap();
        assert_eq!((plain.prefix.as_str(), plain.path_style, plain.downloads), ("", false, Downloads::Redirect));
    }

    #[test]
    fn bad_settings_are_named() {
        for (value, named) in [
            ("s3://Bad_Bucket/x", "bucket"),
            ("s3://ok-bucket/a/../b", "prefix"),
            ("s3://ok-bucket?endpoint=ftp://host", "endpoint"),
            ("s3://ok-bucket?downloads=maybe", "downloads"),
            ("s3://ok-bucket?part_size_mib=1", "part_size_mib"),
            ("s3://ok-bucket?presign_ttl_s=0", "presign_ttl_s"),
            ("s3://ok-bucket?colour=blue", "colour"),
            ("s3://key:secret@ok-bucket", "credentials"),
            ("gs://ok-bucket", "gs://"),
        ] {
            let error = StoreSettings::parse(value, "--store").err().unwrap_or_else(|| panic!("{value} accepted"));
            assert!(error.contains(named) && error.starts_with("--store"), "{value}: {error}");
        }
    }

    #[test]
    fn directories_stay_directories() {
        for value in ["artifacts", "/srv/demoreel/artifacts", "file:///srv/a"] {
            assert!(matches!(StoreSettings::parse(value, "--store"), Ok(StoreSettings::Local(_))), "{value}");
        }
    }
}
